package region

import (
	"fmt"
	"slices"
	"strings"

	"github.com/stratus-cloud/stratus/internal/provider"
	"github.com/stratus-cloud/stratus/internal/store"
)

// Kind is the kind of resource a step is about. The values are the API's
// step names.
type Kind string

// Kinds, in the order configure handles them.
const (
	KindImage           Kind = "image"
	KindKeyPair         Kind = "key_pair"
	KindSecurityGroup   Kind = "security_group"
	KindInstanceProfile Kind = "instance_profile"
	KindWorker          Kind = "worker"
)

// Action is what a step does.
type Action string

// Actions.
const (
	// Create makes a missing resource.
	Create Action = "create"
	// Keep leaves a resource that is as wanted.
	Keep Action = "keep"
	// Wait waits for an image copy that is pending.
	Wait Action = "wait"
	// Repair brings a resource that differs back to what is wanted.
	Repair Action = "repair"
	// Remove deletes a managed resource that is not wanted (an extra).
	Remove Action = "remove"
	// Ensure makes sure a resource that cannot be listed exists.
	Ensure Action = "ensure"
	// Blocked means a resource that is not ours stands in the way.
	Blocked Action = "blocked"
)

// Desired is what configure makes of one region.
type Desired struct {
	Region       string
	Installation string
	// Home is set for the home region itself: its image and security group
	// are the sources, used as they are rather than copied.
	Home    bool
	Image   ImageSpec
	Key     *KeySpec // nil: no key pair
	Group   GroupSpec
	Profile string
	Worker  WorkerSpec
}

// ImageSpec is the image to copy.
type ImageSpec struct {
	// Name is the copy's name: the home image's name.
	Name         string
	SourceRegion string
	SourceID     string
}

// KeySpec is the key pair to import.
type KeySpec struct {
	Name      string
	PublicKey []byte
	// Fingerprint is Fingerprint(PublicKey); the imported key pair carries
	// it as its TagKeyFingerprint tag, whatever the provider's own
	// fingerprint algorithm is.
	Fingerprint string
	// Reported is the fingerprint the provider reports for a key pair
	// imported from PublicKey (provider.ReportedKeyFingerprint: OpenSSH's
	// SHA-256 form locally, EC2's own on aws). The key pair in the region
	// is compared by it, so a key replaced behind stratus's back is seen
	// even if its tags were kept. Empty when the provider cannot tell;
	// the tag is compared then.
	Reported string
}

// GroupSpec is the security group to make.
type GroupSpec struct {
	Name  string
	Rules []provider.Rule
	// SourceID is the home group's id, set only for the home region when
	// the group exists there.
	SourceID string
}

// WorkerSpec is the region's worker instance.
type WorkerSpec struct {
	Type string
}

// Observed is what a region holds.
type Observed struct {
	// Images are the region's images with this installation's region tags.
	Images []provider.Image
	// KeyPairs and Groups are every key pair and security group in the
	// region, ours or not (a name taken by someone else blocks us).
	KeyPairs []provider.KeyPair
	Groups   []provider.SecurityGroup
	// Workers are the region's worker records (role worker, no cluster),
	// oldest first.
	Workers []*store.Node
	// Instances are this installation's worker instances in the region.
	Instances []provider.Instance
	// Busy holds the workers that something else (a schedule's run) is
	// using now; configure leaves their instance as it is.
	Busy map[string]bool
	// Profile is the instance profile as the provider reports it, and
	// ProfileMissing says the provider has none of that name; both are
	// unset when it was not looked up (configure makes sure of it anyway)
	// or the provider cannot look profiles up.
	Profile        *provider.InstanceProfile
	ProfileMissing bool
	// Orphans are the snapshots with this installation's region tags whose
	// image copy is gone, by snapshot id with the copy's id (see
	// SnapshotCleaner); nil where the provider has none.
	Orphans map[string]string
}

// Step is one thing to do (or leave) in a region.
type Step struct {
	Kind   Kind
	Action Action
	Name   string
	// ID is the existing resource's id (a key pair's name is its id).
	ID     string
	Reason string
	// Drift is set when the step means the region differs from its
	// configuration (check reports it). Waiting for a pending copy, making
	// sure of the instance profile and stopping a running worker are not
	// drift.
	Drift bool
	// Add and Revoke are the rules a security group step adds and removes.
	Add, Revoke []provider.Rule
	// Node is a worker step's record ("" when Create must make one);
	// Instance its live instance, if any.
	Node     string
	Instance string
	// Relaunch asks for a new instance with the record's next generation,
	// because the one it had is gone.
	Relaunch bool
	// Replace asks to terminate the worker's stopped instance, which was
	// launched with other settings than the region's, and launch a new
	// one with the record's next generation.
	Replace bool
}

// Ours reports whether tags mark a resource this installation made for a
// region.
func Ours(tags map[string]string, installation string) bool {
	return tags[provider.TagInstallation] == installation && tags[TagManagedBy] == ManagedByRegion
}

// Plan decides what configure does in one region: for each resource,
// create it, keep it, wait for it, repair it or report that something not
// ours blocks it; then remove managed resources that are not wanted. Steps
// come in the order they must run: image, key pair, security group,
// instance profile, worker, removals (snapshots whose image copy is gone
// among them). It is a pure function.
func Plan(d Desired, o Observed) []Step {
	var steps, removals []Step
	add := func(s Step) {
		if s.Action == Remove {
			removals = append(removals, s)
		} else {
			steps = append(steps, s)
		}
	}
	for _, s := range planImage(d, o) {
		add(s)
	}
	for _, s := range planKey(d, o) {
		add(s)
	}
	for _, s := range planGroup(d, o) {
		add(s)
	}
	add(planProfile(d, o))
	for _, s := range planWorker(d, o) {
		add(s)
	}
	for _, s := range planSnapshots(o) {
		add(s)
	}
	return append(steps, removals...)
}

func planProfile(d Desired, o Observed) Step {
	s := Step{Kind: KindInstanceProfile, Action: Ensure, Name: d.Profile}
	switch {
	case o.ProfileMissing:
		s.Drift, s.Reason = true, "no instance profile "+d.Profile
	case o.Profile != nil && len(o.Profile.Roles) == 0:
		s.Drift, s.Reason = true, fmt.Sprintf("the instance profile %s has no role", d.Profile)
	}
	return s
}

func planImage(d Desired, o Observed) []Step {
	var out []Step
	var matches, others []provider.Image
	for _, img := range o.Images {
		if !Ours(img.Tags, d.Installation) {
			continue
		}
		if !d.Home && img.Tags[TagSourceImage] == d.Image.SourceID && img.Tags[TagSourceRegion] == d.Image.SourceRegion {
			matches = append(matches, img)
		} else {
			others = append(others, img)
		}
	}
	rank := map[provider.ImageState]int{provider.ImageAvailable: 0, provider.ImagePending: 1}
	slices.SortStableFunc(matches, func(a, b provider.Image) int {
		ra, ok := rank[a.State]
		if !ok {
			ra = 2
		}
		rb, ok := rank[b.State]
		if !ok {
			rb = 2
		}
		return ra - rb
	})
	src := fmt.Sprintf("%s (%s in %s)", d.Image.Name, d.Image.SourceID, d.Image.SourceRegion)
	switch {
	case d.Home:
		out = append(out, Step{Kind: KindImage, Action: Keep, Name: d.Image.Name, ID: d.Image.SourceID, Reason: "the home image"})
	case len(matches) == 0:
		out = append(out, Step{Kind: KindImage, Action: Create, Name: d.Image.Name, Drift: true, Reason: "no copy of " + src})
	case matches[0].State == provider.ImageAvailable:
		out = append(out, Step{Kind: KindImage, Action: Keep, Name: d.Image.Name, ID: matches[0].ID})
	case matches[0].State == provider.ImagePending:
		out = append(out, Step{Kind: KindImage, Action: Wait, Name: d.Image.Name, ID: matches[0].ID, Reason: "the copy is pending"})
	default:
		out = append(out, Step{Kind: KindImage, Action: Repair, Name: d.Image.Name, ID: matches[0].ID, Drift: true,
			Reason: fmt.Sprintf("the copy %s is %s", matches[0].ID, matches[0].State)})
	}
	if len(matches) > 1 {
		others = slices.Concat(matches[1:], others)
	}
	for _, img := range others {
		why := "extra copy of " + src
		if img.Tags[TagSourceImage] != d.Image.SourceID || img.Tags[TagSourceRegion] != d.Image.SourceRegion {
			why = fmt.Sprintf("copy of %s in %s, which is no longer configured", img.Tags[TagSourceImage], img.Tags[TagSourceRegion])
		}
		out = append(out, Step{Kind: KindImage, Action: Remove, Name: img.Name, ID: img.ID, Drift: true, Reason: why})
	}
	return out
}

func planKey(d Desired, o Observed) []Step {
	var out []Step
	for _, kp := range o.KeyPairs {
		if d.Key != nil && kp.Name == d.Key.Name {
			continue
		}
		if Ours(kp.Tags, d.Installation) {
			out = append(out, Step{Kind: KindKeyPair, Action: Remove, Name: kp.Name, ID: kp.Name, Drift: true, Reason: "key pair no longer configured"})
		}
	}
	if d.Key == nil {
		return out
	}
	i := slices.IndexFunc(o.KeyPairs, func(kp provider.KeyPair) bool { return kp.Name == d.Key.Name })
	var s Step
	switch {
	case i < 0:
		s = Step{Kind: KindKeyPair, Action: Create, Name: d.Key.Name, Drift: true, Reason: "no key pair " + d.Key.Name}
	case !Ours(o.KeyPairs[i].Tags, d.Installation):
		s = Step{Kind: KindKeyPair, Action: Blocked, Name: d.Key.Name, ID: d.Key.Name, Drift: true,
			Reason: fmt.Sprintf("a key pair named %s exists in %s but stratus did not make it; delete it there or configure another key name", d.Key.Name, d.Region)}
	case d.Key.Reported != "" && o.KeyPairs[i].Fingerprint != d.Key.Reported:
		s = Step{Kind: KindKeyPair, Action: Repair, Name: d.Key.Name, ID: d.Key.Name, Drift: true,
			Reason: fmt.Sprintf("key different: the key pair's fingerprint is %s, want %s", orNone(o.KeyPairs[i].Fingerprint), d.Key.Reported)}
	case d.Key.Reported == "" && o.KeyPairs[i].Tags[TagKeyFingerprint] != d.Key.Fingerprint:
		s = Step{Kind: KindKeyPair, Action: Repair, Name: d.Key.Name, ID: d.Key.Name, Drift: true,
			Reason: fmt.Sprintf("key different: %s, want %s", orNone(o.KeyPairs[i].Tags[TagKeyFingerprint]), d.Key.Fingerprint)}
	default:
		s = Step{Kind: KindKeyPair, Action: Keep, Name: d.Key.Name, ID: d.Key.Name}
	}
	return append([]Step{s}, out...)
}

func orNone(s string) string {
	if s == "" {
		return "no fingerprint"
	}
	return s
}

func planGroup(d Desired, o Observed) []Step {
	var out []Step
	for _, g := range o.Groups {
		if g.Name != d.Group.Name && Ours(g.Tags, d.Installation) {
			out = append(out, Step{Kind: KindSecurityGroup, Action: Remove, Name: g.Name, ID: g.ID, Drift: true, Reason: "security group no longer configured"})
		}
	}
	if d.Home && d.Group.SourceID != "" {
		return append([]Step{{Kind: KindSecurityGroup, Action: Keep, Name: d.Group.Name, ID: d.Group.SourceID, Reason: "the home group"}}, out...)
	}
	i := slices.IndexFunc(o.Groups, func(g provider.SecurityGroup) bool { return g.Name == d.Group.Name })
	var s Step
	switch {
	case i < 0:
		s = Step{Kind: KindSecurityGroup, Action: Create, Name: d.Group.Name, Drift: true, Add: SortRules(d.Group.Rules),
			Reason: "no security group " + d.Group.Name}
	case !Ours(o.Groups[i].Tags, d.Installation):
		s = Step{Kind: KindSecurityGroup, Action: Blocked, Name: d.Group.Name, ID: o.Groups[i].ID, Drift: true,
			Reason: fmt.Sprintf("a security group named %s exists in %s (%s) but stratus did not make it; delete it there or configure another group name", d.Group.Name, d.Region, o.Groups[i].ID)}
	default:
		g := o.Groups[i]
		missing, extra := diffRules(d.Group.Rules, g.Rules)
		if len(missing)+len(extra) == 0 {
			s = Step{Kind: KindSecurityGroup, Action: Keep, Name: g.Name, ID: g.ID}
			break
		}
		var why []string
		if len(missing) > 0 {
			why = append(why, "missing "+FormatRules(missing))
		}
		if len(extra) > 0 {
			why = append(why, "extra "+FormatRules(extra))
		}
		s = Step{Kind: KindSecurityGroup, Action: Repair, Name: g.Name, ID: g.ID, Drift: true, Add: missing, Revoke: extra,
			Reason: "rules changed: " + strings.Join(why, "; ")}
	}
	return append([]Step{s}, out...)
}

// diffRules returns the rules of want that have are missing and the rules
// of have that want lacks, sorted.
func diffRules(want, have []provider.Rule) (missing, extra []provider.Rule) {
	for _, r := range SortRules(want) {
		if !slices.Contains(have, r) && !slices.Contains(missing, r) {
			missing = append(missing, r)
		}
	}
	for _, r := range SortRules(have) {
		if !slices.Contains(want, r) && !slices.Contains(extra, r) {
			extra = append(extra, r)
		}
	}
	return missing, extra
}

// SortRules returns a sorted copy of rules.
func SortRules(rules []provider.Rule) []provider.Rule {
	out := slices.Clone(rules)
	slices.SortFunc(out, provider.CompareRules)
	return out
}

// FormatRule shows a rule as "tcp 22 from 0.0.0.0/0".
func FormatRule(r provider.Rule) string {
	proto := r.Protocol
	if proto == "-1" {
		proto = "all"
	}
	ports := fmt.Sprintf(" %d", r.FromPort)
	switch {
	case r.Protocol == "-1":
		ports = ""
	case r.FromPort != r.ToPort:
		ports = fmt.Sprintf(" %d-%d", r.FromPort, r.ToPort)
	}
	return fmt.Sprintf("%s%s from %s", proto, ports, r.CIDR)
}

// FormatRules shows rules separated by commas.
func FormatRules(rs []provider.Rule) string {
	s := make([]string, len(rs))
	for i, r := range rs {
		s[i] = FormatRule(r)
	}
	return strings.Join(s, ", ")
}

func planWorker(d Desired, o Observed) []Step {
	var out []Step
	records := map[string]bool{}
	for _, n := range o.Workers {
		records[n.ID] = true
	}
	// The live instance of each record, the first launched if several.
	live := map[string]provider.Instance{}
	for _, in := range o.Instances {
		if in.State.Gone() {
			continue
		}
		node := in.Tags[provider.TagNode]
		if _, seen := live[node]; !seen {
			live[node] = in
		}
		if !records[node] {
			out = append(out, Step{Kind: KindWorker, Action: Remove, Name: node, ID: in.ID, Instance: in.ID, Drift: true,
				Reason: "worker instance without a record"})
		}
	}
	var main *store.Node
	for _, n := range o.Workers {
		if main == nil && !n.Terminate {
			main = n
			continue
		}
		s := Step{Kind: KindWorker, Action: Remove, Name: n.ID, Node: n.ID, Drift: true, Reason: "extra worker"}
		if n.Terminate {
			s.Reason = "worker being removed"
		}
		if in, ok := live[n.ID]; ok {
			s.ID, s.Instance = in.ID, in.ID
		}
		out = append(out, s)
	}
	if main == nil {
		return append([]Step{{Kind: KindWorker, Action: Create, Drift: true, Reason: "no worker"}}, out...)
	}
	s := Step{Kind: KindWorker, Name: main.ID, Node: main.ID, ID: main.InstanceID}
	in, ok := live[main.ID]
	if ok {
		s.ID, s.Instance = in.ID, in.ID
	}
	registered := !main.RegisteredAt.IsZero()
	var mismatch string
	if ok {
		mismatch = workerMismatch(d, o, in)
	}
	switch {
	case mismatch != "" && in.State == provider.StateStopped && !o.Busy[main.ID]:
		s.Action, s.Drift, s.Replace, s.Reason = Repair, true, true, mismatch
		return append([]Step{s}, out...)
	}
	switch {
	case !ok && main.InstanceID == "":
		s.Action, s.Drift, s.Reason = Create, true, "the worker has no instance yet"
	case !ok:
		s.Action, s.Drift, s.Relaunch, s.Reason = Create, true, true, fmt.Sprintf("the worker's instance %s is gone", main.InstanceID)
	case in.State == provider.StateStopped && registered:
		s.Action = Keep
		if d.Worker.Type != "" && main.Type != d.Worker.Type {
			s.Drift, s.Reason = true, fmt.Sprintf("the worker is a %s, configured %s; configure does not replace a worker: clear the region and configure it again", main.Type, d.Worker.Type)
		}
	case o.Busy[main.ID]:
		s.Action, s.Reason = Keep, fmt.Sprintf("%s for a schedule's run; left as it is", in.State)
	case in.State == provider.StateStopped:
		s.Action, s.Drift, s.Reason = Repair, true, "stopped before its agent registered"
	case in.State == provider.StateStopping:
		s.Action, s.Reason = Repair, "stopping"
	case registered:
		s.Action, s.Reason = Repair, fmt.Sprintf("%s; configure leaves workers stopped", in.State)
	default:
		s.Action, s.Drift, s.Reason = Repair, true, fmt.Sprintf("%s and its agent has not registered", in.State)
	}
	if mismatch != "" {
		// Not stopped, or a schedule's run is on it: reported only.
		s.Drift = true
		s.Reason = mismatch + "; not replaced while it is " + string(in.State)
		if o.Busy[main.ID] {
			s.Reason = mismatch + "; not replaced while a schedule's run uses it"
		}
	}
	return append([]Step{s}, out...)
}

// workerMismatch says how the worker's live instance differs from what the
// region's launch spec names: its security group, key pair and instance
// profile ("" when it matches). What the plan cannot know yet (a group not
// made) is not compared.
func workerMismatch(d Desired, o Observed, in provider.Instance) string {
	var why []string
	group := ""
	if d.Home && d.Group.SourceID != "" {
		group = d.Group.SourceID
	} else if i := slices.IndexFunc(o.Groups, func(g provider.SecurityGroup) bool {
		return g.Name == d.Group.Name && Ours(g.Tags, d.Installation)
	}); i >= 0 {
		group = o.Groups[i].ID
	}
	if group != "" && !slices.Equal(in.SecurityGroups, []string{group}) {
		why = append(why, fmt.Sprintf("security group %s, the region's is %s", orDash(strings.Join(in.SecurityGroups, ", ")), group))
	}
	if d.Key != nil && in.KeyName != d.Key.Name {
		why = append(why, fmt.Sprintf("key pair %s, the region's is %s", orDash(in.KeyName), d.Key.Name))
	}
	if d.Profile != "" && in.InstanceProfile != d.Profile {
		why = append(why, fmt.Sprintf("instance profile %s, the region's is %s", orDash(in.InstanceProfile), d.Profile))
	}
	if len(why) == 0 {
		return ""
	}
	return "worker launched with " + strings.Join(why, "; with ")
}

func orDash(s string) string {
	if s == "" {
		return "none"
	}
	return s
}
