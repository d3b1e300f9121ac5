// Package spec turns a user's cluster request file into a validated
// api.ClusterSpec: it parses the request (Parse), merges it onto an
// administrator's template (Merge, ParseTemplate, DefaultTemplate) and
// checks the result (Validate). Build does all three. The package does no
// I/O.
//
// # Formats
//
// A request is either a cf-create request or a native spec. The document
// is read as JSON when the file name ends in .json or .cf-create, as YAML
// when it ends in .yaml or .yml, and otherwise as JSON when its first
// non-blank character is '{' or '[', else as YAML (so a YAML flow mapping,
// {region: x}, needs a .yaml name). The format is then decided by the
// keys: a top-level mapping with any key starting with an upper-case
// letter (A-Z) is cf-create; anything else is native. {} sets nothing:
// the result is the template. A document with nothing in it but white
// space or comments is refused (an empty file is more likely a mistake).
// A null value (JSON null, an empty YAML value) counts as not set.
//
// # cf-create requests
//
// The keys of the CfnCluster templates, verbatim. Numbers may be given as
// strings ("16") or JSON numbers. Instance types may carry a description
// after a dash, which is dropped: "r4.large-2C-15.25GB" is r4.large (only
// when the part before the dash looks like family.size and every
// dash-separated part after it starts with a digit).
//
//	Region                   region; lower-case letters, digits, dashes
//	MasterInstanceType       head.type; "other" means: use MasterInstanceTypeOther
//	MasterInstanceTypeOther  head.type, only when MasterInstanceType is "other"
//	MasterSystemVolumeSize   head.volume_gb
//	ComputeInstanceType      compute.types; a comma-separated list, preferred
//	                         first, later ones are fallbacks; "other" means:
//	                         use ComputeInstanceTypeOther
//	ComputeInstanceTypeOther compute.types, only when ComputeInstanceType is "other"
//	ComputeSystemVolumeSize  compute.volume_gb
//	ComputeSpotPrice         compute.spot_price; "" means on-demand
//	ComputeInitialNodes      compute.initial_nodes, and compute.min_nodes
//	                         unless ComputeMinNodes is given
//	ComputeMinNodes          compute.min_nodes (a stratus extension)
//	ComputeMaxNodes          compute.max_nodes
//	AutoscalingPolicy        compute.autoscaling: enabled or disabled
//	ClusterType              ondemand or spot. ondemand drops the template's
//	                         spot price and may not be combined with a
//	                         non-empty ComputeSpotPrice; spot requires a price
//	                         (from ComputeSpotPrice or the template). Without
//	                         ClusterType, a spot price means spot.
//	ScaleDownPolicy          compute.scale_down: stratus, immediate, idle or
//	                         billing-hour
//	ScaledownIdletime        compute.idle_timeout in whole minutes (10 or
//	                         "10"), 0 to 1440, as in ParallelCluster; it
//	                         also sets compute.scale_down to idle (with a
//	                         ScaleDownPolicy other than idle it is an error)
//	JobDefaultTimeLimit      compute.default_time_limit: a duration ("1h30m")
//	                         or whole minutes (90 or "90"), 1 to 43200
//	MaxRequeues              compute.max_requeues
//
// Any other key is an error naming it, with the closest known key when one
// is a likely typo. "other" without its *Other key is an error, and so is
// an *Other key when the main key is not "other".
//
// # Native specs
//
// The shape of api.ClusterSpec, in YAML or JSON; any subset of the fields:
//
//	region: us-east-1
//	head: {type: m5.large, volume_gb: 32}
//	compute:
//	  types: [m5.large, m5.xlarge]   # preferred first, then fallbacks
//	  initial_nodes: 0
//	  min_nodes: 0
//	  max_nodes: 10
//	  volume_gb: 16
//	  spot_price: "0.03"             # or 0.03; leave out (or "") for on-demand
//	  autoscaling: enabled           # or disabled
//	  scale_down: stratus            # or immediate, idle, billing-hour
//	  idle_timeout: 10m              # how long a node may idle, for idle
//	  batch_window: 10s              # how long to gather queued work
//	  default_time_limit: 1h         # for jobs submitted without one
//	  max_requeues: 3                # requeues of a job whose node was lost
//
// Numbers must be numbers, not strings. Durations are Go durations (90s,
// 10m, 1h30m), quoted or not in YAML; a bare number is an error except 0.
// Unknown keys at any level are errors naming the full path, such as
// compute.max_node.
//
// # Merging
//
// Merge replaces the template's fields with those the request sets, then:
// a cf-create ComputeInitialNodes is the cluster's minimum too, so it sets
// min_nodes unless the request also sets ComputeMinNodes ("ComputeInitialNodes":
// "2" keeps at least two nodes; "0" on a template with min_nodes 1 lets the
// fleet go to zero); initial_nodes below min_nodes is raised to min_nodes
// unless the request set both (then it is an error), so a native
// min_nodes 2 starts two nodes; a request that lowers
// max_nodes below the template's initial_nodes, without setting
// initial_nodes, lowers initial_nodes too; an initial_nodes above
// max_nodes that the request set is an error. ClusterType ondemand drops
// the template's spot price. Build writes the spot price in canonical form
// ("0.05", "1.00"), and the durations as time.Duration prints them
// ("10m0s", "1h30m0s", "0s"). DefaultTemplate, and so every template,
// sets scale_down stratus, idle_timeout 10m, batch_window 10s,
// default_time_limit 1h and max_requeues 3, so a built spec has them all.
//
// # Rules
//
// Validate checks, and Build reports, every problem at once:
//
//   - region: empty (the provider's default) or lower-case letters, digits
//     and dashes, at most 63 characters;
//   - head.type and every compute.types entry: an instance type of the
//     catalog (unknown ones get suggestions); compute.types not empty and
//     without repeats;
//   - head.volume_gb, compute.volume_gb: 8 to 16384 (GB);
//   - compute node counts: not negative; max_nodes at most 1000;
//     min_nodes <= max_nodes; min_nodes <= initial_nodes <= max_nodes;
//   - compute.spot_price: empty, or a dollar amount like 0.03 (digits, at
//     most six decimals), more than 0 and at most 100 per hour;
//   - compute.autoscaling: enabled or disabled;
//   - compute.scale_down: stratus, immediate, idle or billing-hour;
//   - compute.idle_timeout: a duration from 0s to 24h (used only by the
//     idle policy; the other policies ignore it);
//   - compute.batch_window: a duration from 0s to 10m;
//   - compute.default_time_limit: a duration from 1s to 720h (30 days);
//   - compute.max_requeues: 0 to 100.
//
// Errors are an Errors value (use errors.As): each FieldError names the
// field as the user wrote it (the cf-create key, or the native path such as
// compute.types[1]), its line when known, and the rule. Syntax errors give
// the line, and for JSON the column. At most MaxErrors (100) problems
// are listed. Cluster names are checked by ValidateName.
package spec
