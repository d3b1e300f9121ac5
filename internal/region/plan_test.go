package region_test

import (
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/stratus-cloud/stratus/internal/provider"
	"github.com/stratus-cloud/stratus/internal/region"
	"github.com/stratus-cloud/stratus/internal/store"
)

const inst = "inst1"

var (
	ssh   = provider.Rule{Protocol: "tcp", FromPort: 22, ToPort: 22, CIDR: "0.0.0.0/0"}
	https = provider.Rule{Protocol: "tcp", FromPort: 443, ToPort: 443, CIDR: "10.0.0.0/8"}
	t0    = time.Date(2026, 11, 1, 12, 0, 0, 0, time.UTC)
)

// desired is a target region local-2 configured from local-1 with a key.
func desired() region.Desired {
	return region.Desired{
		Region:       "local-2",
		Installation: inst,
		Image:        region.ImageSpec{Name: "stratus-base", SourceRegion: "local-1", SourceID: "ami-base"},
		Key:          &region.KeySpec{Name: "stratus-key", PublicKey: []byte("ssh-ed25519 AAAA"), Fingerprint: "SHA256:want", Reported: "provider-fp"},
		Group:        region.GroupSpec{Name: "stratus", Rules: []provider.Rule{ssh}},
		Profile:      "stratus-worker",
		Worker:       region.WorkerSpec{Type: "t3.micro"},
	}
}

func ours(extra ...string) map[string]string {
	t := map[string]string{provider.TagInstallation: inst, region.TagManagedBy: region.ManagedByRegion}
	for i := 0; i+1 < len(extra); i += 2 {
		t[extra[i]] = extra[i+1]
	}
	return t
}

func copyOf(id, src string, state provider.ImageState) provider.Image {
	return provider.Image{ID: id, Region: "local-2", Name: "stratus-base", State: state,
		Tags: ours(region.TagSourceRegion, "local-1", region.TagSourceImage, src)}
}

func key(name, fp string, tags map[string]string) provider.KeyPair {
	t := map[string]string{}
	for k, v := range tags {
		t[k] = v
	}
	if fp != "" {
		t[region.TagKeyFingerprint] = fp
	}
	return provider.KeyPair{Name: name, Region: "local-2", Fingerprint: "provider-fp", Tags: t}
}

func group(id, name string, tags map[string]string, rules ...provider.Rule) provider.SecurityGroup {
	return provider.SecurityGroup{ID: id, Region: "local-2", Name: name, Rules: rules, Tags: tags}
}

func worker(id, instance string, registered bool) *store.Node {
	n := &store.Node{ID: id, Role: store.RoleWorker, Region: "local-2", Type: "t3.micro", Generation: 1, InstanceID: instance}
	if registered {
		n.RegisteredAt = t0
	}
	return n
}

// instance is a worker instance launched with the region's group, key and
// profile.
func instance(id, node string, s provider.State) provider.Instance {
	return provider.Instance{ID: id, Region: "local-2", State: s,
		Tags:           ours(provider.TagRole, "worker", provider.TagNode, node),
		SecurityGroups: []string{"sg-1"}, KeyName: "stratus-key", InstanceProfile: "stratus-worker"}
}

// inPlace is local-2 as configure leaves it.
func inPlace() region.Observed {
	return region.Observed{
		Images:    []provider.Image{copyOf("ami-copy", "ami-base", provider.ImageAvailable)},
		KeyPairs:  []provider.KeyPair{key("stratus-key", "SHA256:want", ours())},
		Groups:    []provider.SecurityGroup{group("sg-1", "stratus", ours(), ssh)},
		Workers:   []*store.Node{worker("n-1", "i-1", true)},
		Instances: []provider.Instance{instance("i-1", "n-1", provider.StateStopped)},
	}
}

// summary shows a step as "kind action name [id=..] [node=..] [+rules] [-rules] [relaunch] [drift]".
func summary(steps []region.Step) []string {
	var out []string
	for _, s := range steps {
		parts := []string{string(s.Kind), string(s.Action)}
		if s.Name != "" {
			parts = append(parts, s.Name)
		}
		if s.ID != "" {
			parts = append(parts, "id="+s.ID)
		}
		if s.Node != "" {
			parts = append(parts, "node="+s.Node)
		}
		if len(s.Add) > 0 {
			parts = append(parts, "+"+region.FormatRules(s.Add))
		}
		if len(s.Revoke) > 0 {
			parts = append(parts, "-"+region.FormatRules(s.Revoke))
		}
		if s.Relaunch {
			parts = append(parts, "relaunch")
		}
		if s.Replace {
			parts = append(parts, "replace")
		}
		if s.Drift {
			parts = append(parts, "drift")
		}
		out = append(out, strings.Join(parts, " "))
	}
	return out
}

func TestPlan(t *testing.T) {
	t.Parallel()
	const (
		profile = "instance_profile ensure stratus-worker"
		imgKeep = "image keep stratus-base id=ami-copy"
		keyKeep = "key_pair keep stratus-key id=stratus-key"
		sgKeep  = "security_group keep stratus id=sg-1"
		wrkKeep = "worker keep n-1 id=i-1 node=n-1"
	)
	tests := []struct {
		name   string
		d      func(d *region.Desired)
		o      func(o *region.Observed)
		want   []string
		reason map[int]string // step index → substring of its reason
	}{
		{
			name: "EmptyRegionCreatesEverything",
			o:    func(o *region.Observed) { *o = region.Observed{} },
			want: []string{
				"image create stratus-base drift",
				"key_pair create stratus-key drift",
				"security_group create stratus +tcp 22 from 0.0.0.0/0 drift",
				profile,
				"worker create drift",
			},
			reason: map[int]string{0: "no copy of stratus-base (ami-base in local-1)", 4: "no worker"},
		},
		{
			name: "ConfiguredRegionKeepsEverything",
			want: []string{imgKeep, keyKeep, sgKeep, profile, wrkKeep},
		},
		{
			name: "PendingCopyIsWaitedForNotDrift",
			o:    func(o *region.Observed) { o.Images[0].State = provider.ImagePending },
			want: []string{"image wait stratus-base id=ami-copy", keyKeep, sgKeep, profile, wrkKeep},
		},
		{
			name: "FailedCopyIsRepaired",
			o:    func(o *region.Observed) { o.Images[0].State = provider.ImageFailed },
			want: []string{"image repair stratus-base id=ami-copy drift", keyKeep, sgKeep, profile, wrkKeep},
		},
		{
			name: "AvailableCopyPreferredOverFailedOne",
			o: func(o *region.Observed) {
				o.Images = []provider.Image{copyOf("ami-bad", "ami-base", provider.ImageFailed), copyOf("ami-copy", "ami-base", provider.ImageAvailable)}
			},
			want: []string{imgKeep, keyKeep, sgKeep, profile, wrkKeep, "image remove stratus-base id=ami-bad drift"},
		},
		{
			name: "CopyOfAnotherImageIsReplaced",
			o: func(o *region.Observed) {
				o.Images = []provider.Image{copyOf("ami-old", "ami-older", provider.ImageAvailable)}
			},
			want:   []string{"image create stratus-base drift", keyKeep, sgKeep, profile, wrkKeep, "image remove stratus-base id=ami-old drift"},
			reason: map[int]string{5: "copy of ami-older in local-1, which is no longer configured"},
		},
		{
			name: "ImagesOfOthersAreIgnored",
			o: func(o *region.Observed) {
				o.Images = append(o.Images, provider.Image{ID: "ami-theirs", Name: "stratus-base", State: provider.ImageAvailable,
					Tags: map[string]string{provider.TagInstallation: "other", region.TagManagedBy: region.ManagedByRegion}})
			},
			want: []string{imgKeep, keyKeep, sgKeep, profile, wrkKeep},
		},
		{
			name:   "RevokedRuleIsRepaired",
			o:      func(o *region.Observed) { o.Groups[0].Rules = nil },
			want:   []string{imgKeep, keyKeep, "security_group repair stratus id=sg-1 +tcp 22 from 0.0.0.0/0 drift", profile, wrkKeep},
			reason: map[int]string{2: "rules changed: missing tcp 22 from 0.0.0.0/0"},
		},
		{
			name:   "RuleAddedByHandIsRevoked",
			o:      func(o *region.Observed) { o.Groups[0].Rules = []provider.Rule{https, ssh} },
			want:   []string{imgKeep, keyKeep, "security_group repair stratus id=sg-1 -tcp 443 from 10.0.0.0/8 drift", profile, wrkKeep},
			reason: map[int]string{2: "extra tcp 443 from 10.0.0.0/8"},
		},
		{
			name: "HomeRulesChangedAreCopied",
			d:    func(d *region.Desired) { d.Group.Rules = []provider.Rule{https, ssh} },
			want: []string{imgKeep, keyKeep, "security_group repair stratus id=sg-1 +tcp 443 from 10.0.0.0/8 drift", profile, wrkKeep},
		},
		{
			// Another key under our name and with our tags (the tag
			// copied, or kept while the key was replaced): the provider's
			// fingerprint tells.
			name:   "DifferentKeyWithOurTagsIsReimported",
			o:      func(o *region.Observed) { o.KeyPairs[0].Fingerprint = "other-fp" },
			want:   []string{imgKeep, "key_pair repair stratus-key id=stratus-key drift", sgKeep, profile, wrkKeep},
			reason: map[int]string{1: "key different: the key pair's fingerprint is other-fp, want provider-fp"},
		},
		{
			name: "KeyComparedByFingerprintNotTag",
			o:    func(o *region.Observed) { o.KeyPairs[0].Tags[region.TagKeyFingerprint] = "SHA256:old" },
			want: []string{imgKeep, keyKeep, sgKeep, profile, wrkKeep},
		},
		{
			name:   "WithoutReportedFingerprintTheTagIsCompared",
			d:      func(d *region.Desired) { d.Key.Reported = "" },
			o:      func(o *region.Observed) { o.KeyPairs[0].Tags[region.TagKeyFingerprint] = "SHA256:old" },
			want:   []string{imgKeep, "key_pair repair stratus-key id=stratus-key drift", sgKeep, profile, wrkKeep},
			reason: map[int]string{1: "key different: SHA256:old, want SHA256:want"},
		},
		{
			name:   "MissingProfileIsDrift",
			o:      func(o *region.Observed) { o.ProfileMissing = true },
			want:   []string{imgKeep, keyKeep, sgKeep, profile + " drift", wrkKeep},
			reason: map[int]string{3: "no instance profile stratus-worker"},
		},
		{
			name:   "ProfileWithoutRoleIsDrift",
			o:      func(o *region.Observed) { o.Profile = &provider.InstanceProfile{Name: "stratus-worker"} },
			want:   []string{imgKeep, keyKeep, sgKeep, profile + " drift", wrkKeep},
			reason: map[int]string{3: "has no role"},
		},
		{
			name: "ProfileWithRoleIsNotDrift",
			o: func(o *region.Observed) {
				o.Profile = &provider.InstanceProfile{Name: "stratus-worker", Roles: []string{"stratus-worker"}}
			},
			want: []string{imgKeep, keyKeep, sgKeep, profile, wrkKeep},
		},
		{
			name: "DeletedKeyIsCreated",
			o:    func(o *region.Observed) { o.KeyPairs = nil },
			want: []string{imgKeep, "key_pair create stratus-key drift", sgKeep, profile, wrkKeep},
		},
		{
			name: "KeyNameTakenByOthersBlocks",
			o: func(o *region.Observed) {
				o.KeyPairs = []provider.KeyPair{key("stratus-key", "", map[string]string{"owner": "someone"})}
			},
			want:   []string{imgKeep, "key_pair blocked stratus-key id=stratus-key drift", sgKeep, profile, wrkKeep},
			reason: map[int]string{1: "stratus did not make it"},
		},
		{
			name: "GroupNameTakenByAnotherInstallationBlocks",
			o: func(o *region.Observed) {
				o.Groups = []provider.SecurityGroup{group("sg-x", "stratus", map[string]string{provider.TagInstallation: "other"}, ssh)}
			},
			want: []string{imgKeep, keyKeep, "security_group blocked stratus id=sg-x drift", profile, wrkKeep},
		},
		{
			name: "NoKeyConfiguredLeavesOthersKeysAlone",
			d:    func(d *region.Desired) { d.Key = nil },
			o: func(o *region.Observed) {
				o.KeyPairs = []provider.KeyPair{key("mine", "", nil)}
			},
			want: []string{imgKeep, sgKeep, profile, wrkKeep},
		},
		{
			name: "OurKeyOfAnotherNameIsRemoved",
			o: func(o *region.Observed) {
				o.KeyPairs = append(o.KeyPairs, key("old-key", "SHA256:x", ours()), key("users-key", "", nil))
			},
			want: []string{imgKeep, keyKeep, sgKeep, profile, wrkKeep, "key_pair remove old-key id=old-key drift"},
		},
		{
			name: "OurGroupOfAnotherNameIsRemoved",
			o: func(o *region.Observed) {
				o.Groups = append(o.Groups, group("sg-old", "old", ours()), group("sg-u", "users", nil))
			},
			want: []string{imgKeep, keyKeep, sgKeep, profile, wrkKeep, "security_group remove old id=sg-old drift"},
		},
		{
			name: "WorkerRecordWithoutInstanceIsLaunched",
			o: func(o *region.Observed) {
				o.Workers = []*store.Node{worker("n-1", "", false)}
				o.Instances = nil
			},
			want: []string{imgKeep, keyKeep, sgKeep, profile, "worker create n-1 node=n-1 drift"},
		},
		{
			name:   "WorkerWhoseInstanceIsGoneIsRelaunched",
			o:      func(o *region.Observed) { o.Instances[0].State = provider.StateTerminated },
			want:   []string{imgKeep, keyKeep, sgKeep, profile, "worker create n-1 id=i-1 node=n-1 relaunch drift"},
			reason: map[int]string{4: "instance i-1 is gone"},
		},
		{
			name: "RunningRegisteredWorkerIsStoppedWithoutDrift",
			o:    func(o *region.Observed) { o.Instances[0].State = provider.StateRunning },
			want: []string{imgKeep, keyKeep, sgKeep, profile, "worker repair n-1 id=i-1 node=n-1"},
		},
		{
			name:   "WorkerOfAnotherTypeIsDriftNotReplaced",
			d:      func(d *region.Desired) { d.Worker.Type = "t3.small" },
			want:   []string{imgKeep, keyKeep, sgKeep, profile, "worker keep n-1 id=i-1 node=n-1 drift"},
			reason: map[int]string{4: "the worker is a t3.micro, configured t3.small"},
		},
		{
			name: "BusyWorkerIsLeftRunning",
			o: func(o *region.Observed) {
				o.Instances[0].State = provider.StateRunning
				o.Busy = map[string]bool{"n-1": true}
			},
			want: []string{imgKeep, keyKeep, sgKeep, profile, "worker keep n-1 id=i-1 node=n-1"},
		},
		{
			name: "RunningUnregisteredWorkerIsDrift",
			o: func(o *region.Observed) {
				o.Instances[0].State = provider.StatePending
				o.Workers[0].RegisteredAt = time.Time{}
			},
			want:   []string{imgKeep, keyKeep, sgKeep, profile, "worker repair n-1 id=i-1 node=n-1 drift"},
			reason: map[int]string{4: "agent has not registered"},
		},
		{
			name: "StoppedUnregisteredWorkerIsRepaired",
			o:    func(o *region.Observed) { o.Workers[0].RegisteredAt = time.Time{} },
			want: []string{imgKeep, keyKeep, sgKeep, profile, "worker repair n-1 id=i-1 node=n-1 drift"},
		},
		{
			name: "ExtraWorkerAndInstanceWithoutRecordAreRemoved",
			o: func(o *region.Observed) {
				o.Workers = append(o.Workers, worker("n-2", "i-2", true))
				o.Instances = append(o.Instances, instance("i-2", "n-2", provider.StateStopped), instance("i-3", "n-gone", provider.StateRunning),
					instance("i-4", "n-old", provider.StateTerminated))
			},
			want: []string{imgKeep, keyKeep, sgKeep, profile, wrkKeep,
				"worker remove n-gone id=i-3 drift", "worker remove n-2 id=i-2 node=n-2 drift"},
		},
		{
			name: "WorkerBeingRemovedIsReplaced",
			o:    func(o *region.Observed) { o.Workers[0].Terminate = true },
			want: []string{imgKeep, keyKeep, sgKeep, profile, "worker create drift", "worker remove n-1 id=i-1 node=n-1 drift"},
		},
		{
			name: "HomeRegionUsesItsImageAndGroup",
			d: func(d *region.Desired) {
				d.Region, d.Home, d.Group.SourceID = "local-1", true, "sg-home"
			},
			o: func(o *region.Observed) {
				o.Images = nil
				o.Groups = []provider.SecurityGroup{group("sg-home", "stratus", nil, ssh)}
				o.Instances[0].SecurityGroups = []string{"sg-home"}
			},
			want: []string{"image keep stratus-base id=ami-base", keyKeep, "security_group keep stratus id=sg-home", profile, wrkKeep},
		},
		{
			name:   "StoppedWorkerWithAnotherGroupIsReplaced",
			o:      func(o *region.Observed) { o.Instances[0].SecurityGroups = []string{"sg-old"} },
			want:   []string{imgKeep, keyKeep, sgKeep, profile, "worker repair n-1 id=i-1 node=n-1 replace drift"},
			reason: map[int]string{4: "worker launched with security group sg-old, the region's is sg-1"},
		},
		{
			name: "StoppedWorkerWithAnotherKeyAndProfileIsReplaced",
			o: func(o *region.Observed) {
				o.Instances[0].KeyName, o.Instances[0].InstanceProfile = "", "other"
			},
			want: []string{imgKeep, keyKeep, sgKeep, profile, "worker repair n-1 id=i-1 node=n-1 replace drift"},
			reason: map[int]string{4: "worker launched with key pair none, the region's is stratus-key; " +
				"with instance profile other, the region's is stratus-worker"},
		},
		{
			name: "RunningWorkerWithAnotherKeyIsReportedNotReplaced",
			o: func(o *region.Observed) {
				o.Instances[0].State, o.Instances[0].KeyName = provider.StateRunning, "old-key"
			},
			want:   []string{imgKeep, keyKeep, sgKeep, profile, "worker repair n-1 id=i-1 node=n-1 drift"},
			reason: map[int]string{4: "key pair old-key, the region's is stratus-key; not replaced while it is running"},
		},
		{
			name: "BusyWorkerWithAnotherProfileIsReportedOnly",
			o: func(o *region.Observed) {
				o.Instances[0].State, o.Instances[0].InstanceProfile = provider.StateRunning, "other"
				o.Busy = map[string]bool{"n-1": true}
			},
			want:   []string{imgKeep, keyKeep, sgKeep, profile, "worker keep n-1 id=i-1 node=n-1 drift"},
			reason: map[int]string{4: "not replaced while a schedule's run uses it"},
		},
		{
			name: "BusyStoppedWorkerWithAnotherGroupIsNotReplaced",
			o: func(o *region.Observed) {
				o.Instances[0].SecurityGroups = []string{"sg-old"}
				o.Busy = map[string]bool{"n-1": true}
			},
			want: []string{imgKeep, keyKeep, sgKeep, profile, "worker keep n-1 id=i-1 node=n-1 drift"},
		},
		{
			name: "GroupNotMadeYetIsNotComparedWithTheWorker",
			o:    func(o *region.Observed) { o.Groups = nil },
			want: []string{imgKeep, keyKeep, "security_group create stratus +tcp 22 from 0.0.0.0/0 drift", profile, wrkKeep},
		},
		{
			name: "SnapshotsOfCopiesThatAreGoneAreRemoved",
			o:    func(o *region.Observed) { o.Orphans = map[string]string{"snap-2": "ami-old", "snap-1": "ami-older"} },
			want: []string{imgKeep, keyKeep, sgKeep, profile, wrkKeep,
				"snapshot remove ami-older id=snap-1 drift", "snapshot remove ami-old id=snap-2 drift"},
			reason: map[int]string{6: "snapshot of the image copy ami-old, which is gone"},
		},
		{
			name: "HomeRegionWithoutItsGroupCreatesIt",
			d:    func(d *region.Desired) { d.Region, d.Home = "local-1", true },
			o:    func(o *region.Observed) { o.Images, o.Groups = nil, nil },
			want: []string{"image keep stratus-base id=ami-base", keyKeep, "security_group create stratus +tcp 22 from 0.0.0.0/0 drift", profile, wrkKeep},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			d, o := desired(), inPlace()
			if tc.d != nil {
				tc.d(&d)
			}
			if tc.o != nil {
				tc.o(&o)
			}
			steps := region.Plan(d, o)
			if diff := cmp.Diff(tc.want, summary(steps)); diff != "" {
				t.Errorf("Plan (-want +got):\n%s", diff)
			}
			for i, want := range tc.reason {
				if i >= len(steps) || !strings.Contains(steps[i].Reason, want) {
					got := "(no step)"
					if i < len(steps) {
						got = steps[i].Reason
					}
					t.Errorf("step %d reason = %q, want it to contain %q", i, got, want)
				}
			}
		})
	}
}

func TestPlan_IsPureAndRepeatable(t *testing.T) {
	t.Parallel()
	d, o := desired(), inPlace()
	o.Groups[0].Rules = []provider.Rule{https}
	a := summary(region.Plan(d, o))
	b := summary(region.Plan(d, o))
	if diff := cmp.Diff(a, b); diff != "" {
		t.Errorf("two plans of the same input differ:\n%s", diff)
	}
	if len(o.Groups[0].Rules) != 1 || o.Groups[0].Rules[0] != https {
		t.Errorf("Plan changed its input: %v", o.Groups[0].Rules)
	}
}

func TestFingerprint(t *testing.T) {
	t.Parallel()
	// A key made with ssh-keygen -t ed25519; its fingerprint as ssh-keygen -l prints it.
	const good = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIPuhO6qcyybCpJpKGBIeQiOploqvxU0j3wzaJOTtPbEt me@host"
	const want = "SHA256:4tXNo1yCh1u1giK6IYHASphdvicHYS4i6hmoFC6Dy7A"
	if fp, err := region.Fingerprint([]byte(good + "\n")); err != nil || fp != want {
		t.Errorf("Fingerprint = %q, %v; want %q", fp, err, want)
	}
	for _, bad := range []string{"", "ssh-ed25519", "ssh-rsa AAAAC3NzaC1lZDI1NTE5AAAAIPuhO6qcyybCpJpKGBIeQiOploqvxU0j3wzaJOTtPbEt",
		"-----BEGIN OPENSSH PRIVATE KEY----- x", "ssh-ed25519 !!!", "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5"} {
		if _, err := region.Fingerprint([]byte(bad)); err == nil {
			t.Errorf("Fingerprint(%q) accepted a malformed key", bad)
		} else if !strings.Contains(err.Error(), "public_key") {
			t.Errorf("Fingerprint(%q) error %q does not name public_key", bad, err)
		}
	}
}
