package aws_test

import (
	"context"
	"slices"
	"strings"
	"testing"
	"time"

	awssdk "github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ec2"
	"github.com/aws/aws-sdk-go-v2/service/ec2/types"

	"github.com/stratus-cloud/stratus/api"
	"github.com/stratus-cloud/stratus/internal/provider"
	"github.com/stratus-cloud/stratus/internal/provider/aws"
	"github.com/stratus-cloud/stratus/internal/provider/aws/ec2fake"
	"github.com/stratus-cloud/stratus/internal/provider/providertest"
	"github.com/stratus-cloud/stratus/internal/region"
	"github.com/stratus-cloud/stratus/internal/region/regiontest"
	"github.com/stratus-cloud/stratus/internal/store"
	"github.com/stratus-cloud/stratus/internal/store/sqlite/sqlitetest"
)

const regionInst = "inst1"

var (
	regionHome    = "us-east-1"
	regionTargets = []string{"eu-west-1", "ap-southeast-2"}
)

// regionEnv is a region.Service on the aws provider over ec2fake (real
// clock, short delays), a SQLite store, and a stand-in for agents: a
// worker registers as soon as its instance runs, as in internal/region's
// tests.
type regionEnv struct {
	svc  *region.Service
	p    *aws.Provider
	fake *ec2fake.Fake
	st   store.Store
	pub  string
}

func newRegionEnv(t *testing.T) *regionEnv {
	t.Helper()
	st := sqlitetest.Open(t)
	// A new instance profile is refused by the first launches naming it,
	// as IAM's eventual consistency has EC2 do.
	fake := ec2fake.New(ec2fake.Options{CopyDelay: 20 * time.Millisecond, ProfileUnusableFor: 2})
	fake.SeedImage(regionHome, baseImage, region.DefaultImage)
	var rcs []aws.RegionConfig
	for _, r := range append([]string{regionHome}, regionTargets...) {
		rcs = append(rcs, aws.RegionConfig{Name: r})
	}
	p, err := aws.New(context.Background(), aws.Options{
		Regions:      rcs,
		NewClient:    func(r string) aws.EC2API { return fake.Client(r) },
		NewIAMClient: func() aws.IAMAPI { return fake.IAM() },
		UserData:     testUserData,
		// Short real waits for the instance profile.
		ProfileRetryDelay: time.Millisecond,
	})
	if err != nil {
		t.Fatal(err)
	}
	regiontest.RegisterWorkers(t, st, func(_ context.Context, n *store.Node) bool {
		in, ok := fake.Instance(n.Region, n.InstanceID)
		return ok && in.State != nil && in.State.Name == types.InstanceStateNameRunning
	})
	return &regionEnv{
		svc: regiontest.Service(st, p, regionInst),
		p:   p, fake: fake, st: st, pub: string(providertest.TestPublicKey("me@host")),
	}
}

func (e *regionEnv) configure(t *testing.T) map[string]string {
	t.Helper()
	resp, err := e.svc.Configure(context.Background(), "admin", api.RegionConfigureRequest{Regions: regionTargets, Home: regionHome, PublicKey: e.pub})
	if err != nil {
		t.Fatalf("Configure: %v", err)
	}
	out := map[string]string{}
	for _, r := range resp.Regions {
		if !r.OK {
			t.Errorf("region %s failed: %+v", r.Region, r.Steps)
		}
		for _, s := range r.Steps {
			out[r.Region+" "+s.Step] = s.Result
		}
	}
	return out
}

// driftOnlyIn checks that region check reports drift in target only, and
// that its drift, as "kind: problem" lines, contains every one of want.
func (e *regionEnv) driftOnlyIn(t *testing.T, target string, want ...string) {
	t.Helper()
	for _, c := range e.check(t) {
		var drift []string
		for _, d := range c.Drift {
			drift = append(drift, d.Kind+": "+d.Problem)
		}
		got := strings.Join(drift, "\n")
		if c.Region != target {
			if got != "" {
				t.Errorf("drift in untouched %s:\n%s", c.Region, got)
			}
			continue
		}
		for _, w := range want {
			if !strings.Contains(got, w) {
				t.Errorf("drift in %s:\n%s\nwant %q in it", c.Region, got, w)
			}
		}
	}
}

func (e *regionEnv) check(t *testing.T) []api.RegionCheck {
	t.Helper()
	resp, err := e.svc.Check(context.Background(), regionTargets)
	if err != nil {
		t.Fatalf("Check: %v", err)
	}
	for _, c := range resp.Regions {
		if c.Error != "" {
			t.Fatalf("Check %s: %s", c.Region, c.Error)
		}
	}
	return resp.Regions
}

var mutatingActions = []string{
	ec2fake.ActionCopyImage, ec2fake.ActionDeregisterImage, ec2fake.ActionImportKeyPair, ec2fake.ActionDeleteKeyPair,
	ec2fake.ActionCreateSecurityGroup, ec2fake.ActionAuthorizeSecurityGroupIngress, ec2fake.ActionRevokeSecurityGroupIngress,
	ec2fake.ActionDeleteSecurityGroup, ec2fake.ActionRunInstances, ec2fake.ActionStartInstances, ec2fake.ActionStopInstances,
	ec2fake.ActionTerminateInstances, ec2fake.ActionCreateRole, ec2fake.ActionCreateInstanceProfile, ec2fake.ActionAddRoleToInstanceProfile,
}

func (e *regionEnv) calls() map[string]int {
	out := map[string]int{}
	for _, a := range mutatingActions {
		out[a] = e.fake.Calls(a)
	}
	return out
}

// The configure, check and clear flows of internal/region on the aws
// provider's fake.
func TestRegionFlows(t *testing.T) {
	t.Parallel()
	e := newRegionEnv(t)
	ctx := context.Background()

	// Configure makes everything in each target region...
	first := e.configure(t)
	for _, r := range regionTargets {
		for _, step := range []string{"image", "key_pair", "security_group", "worker"} {
			if got := first[r+" "+step]; got != api.RegionCreated {
				t.Errorf("first configure: %s %s = %q, want created", r, step, got)
			}
		}
		imgs, _ := e.p.ListImages(ctx, r, provider.Filter{Tags: map[string]string{provider.TagInstallation: regionInst}})
		ins, _ := e.p.Describe(ctx, r, provider.Filter{Tags: map[string]string{provider.TagInstallation: regionInst}})
		if len(imgs) != 1 || imgs[0].State != provider.ImageAvailable || imgs[0].SourceImage != baseImage || imgs[0].SourceRegion != regionHome {
			t.Errorf("%s images = %+v; want one available copy of %s", r, imgs, baseImage)
		}
		if len(ins) != 1 || ins[0].State != provider.StateStopped {
			t.Errorf("%s instances = %+v; want one stopped worker", r, ins)
		}
		// The copy's snapshot carries the copy's tags, so it is seen as ours.
		if snaps := e.fake.Snapshots(r); len(snaps) != 1 || !region.Ours(tagMap(snaps[0].Tags), regionInst) {
			t.Errorf("%s snapshots = %+v; want the copy's one, with our tags", r, snaps)
		}
		if len(imgs) == 1 && len(ins) == 1 {
			if in, _ := e.fake.Instance(r, ins[0].ID); awssdk.ToString(in.ImageId) != imgs[0].ID {
				t.Errorf("%s worker launched from %s, want the copy %s", r, awssdk.ToString(in.ImageId), imgs[0].ID)
			}
		}
		// The worker has what configure replicated: the region's group,
		// the imported key and the instance profile, as EC2 reports them.
		gs, _ := e.p.ListSecurityGroups(ctx, r, provider.Filter{Tags: map[string]string{provider.TagInstallation: regionInst}})
		if len(ins) == 1 && len(gs) == 1 {
			in, _ := e.fake.Instance(r, ins[0].ID)
			var groups []string
			for _, g := range in.SecurityGroups {
				groups = append(groups, awssdk.ToString(g.GroupId))
			}
			wantKey := region.DefaultKeyPrefix + regionInst
			if got := awssdk.ToString(in.KeyName); got != wantKey {
				t.Errorf("%s worker's KeyName = %q, want %q", r, got, wantKey)
			}
			if len(groups) != 1 || groups[0] != gs[0].ID {
				t.Errorf("%s worker's SecurityGroups = %v, want [%s] (%s)", r, groups, gs[0].ID, gs[0].Name)
			}
			wantARN := "arn:aws:iam::" + ec2fake.OwnerID + ":instance-profile/" + region.DefaultInstanceProfile
			if in.IamInstanceProfile == nil || awssdk.ToString(in.IamInstanceProfile.Arn) != wantARN {
				t.Errorf("%s worker's IamInstanceProfile = %+v, want %s", r, in.IamInstanceProfile, wantARN)
			}
			if ins[0].KeyName != wantKey || len(ins[0].SecurityGroups) != 1 || ins[0].SecurityGroups[0] != gs[0].ID ||
				ins[0].InstanceProfile != region.DefaultInstanceProfile {
				t.Errorf("%s worker as the provider reports it: key %q, groups %v, profile %q", r, ins[0].KeyName, ins[0].SecurityGroups, ins[0].InstanceProfile)
			}
		}
	}
	if _, ok := e.fake.IAM().InstanceProfile(region.DefaultInstanceProfile); !ok {
		t.Errorf("no instance profile %s", region.DefaultInstanceProfile)
	}

	// ...and a second configure finds it all and changes nothing.
	before := e.calls()
	second := e.configure(t)
	for k, v := range second {
		if v != api.RegionFound {
			t.Errorf("second configure: %s = %s, want found", k, v)
		}
	}
	for a, n := range e.calls() {
		if n != before[a] {
			t.Errorf("second configure called %s %d times, want 0", a, n-before[a])
		}
	}

	// Check is clean, and lists the instance profile.
	for _, c := range e.check(t) {
		if !c.Configured || len(c.Drift) != 0 {
			t.Errorf("check %s after configure = %+v, want configured and clean", c.Region, c)
		}
		want := api.RegionResource{Kind: "instance_profile", Name: region.DefaultInstanceProfile, ID: region.DefaultInstanceProfile,
			State: "exists, role " + region.DefaultInstanceProfile}
		if !slices.Contains(c.Resources, want) {
			t.Errorf("check %s lists %+v, want %+v among them", c.Region, c.Resources, want)
		}
	}

	// A rule revoked behind stratus's back is drift, and configure
	// repairs it.
	target := regionTargets[0]
	gs, err := e.p.ListSecurityGroups(ctx, target, provider.Filter{Tags: map[string]string{provider.TagInstallation: regionInst}})
	if err != nil || len(gs) != 1 {
		t.Fatalf("groups in %s: %+v, %v", target, gs, err)
	}
	if _, err := e.fake.Client(target).RevokeSecurityGroupIngress(ctx, &ec2.RevokeSecurityGroupIngressInput{
		GroupId: awssdk.String(gs[0].ID),
		IpPermissions: []types.IpPermission{{IpProtocol: awssdk.String("tcp"), FromPort: awssdk.Int32(22), ToPort: awssdk.Int32(22),
			IpRanges: []types.IpRange{{CidrIp: awssdk.String("0.0.0.0/0")}}}},
	}); err != nil {
		t.Fatal(err)
	}
	e.driftOnlyIn(t, target, "security_group: rules changed: missing tcp 22 from 0.0.0.0/0")
	if got := e.configure(t)[target+" security_group"]; got != api.RegionRepaired {
		t.Errorf("repairing configure: security_group = %q, want repaired", got)
	}
	for _, c := range e.check(t) {
		if len(c.Drift) != 0 {
			t.Errorf("drift in %s after repair: %+v", c.Region, c.Drift)
		}
	}

	// Another key put in place of ours, under its name and with its tags
	// (the fingerprint tag too), is drift: EC2's fingerprint tells, and
	// configure imports our key again.
	c := e.fake.Client(target)
	keyName := region.DefaultKeyPrefix + regionInst
	kps, err := e.p.ListKeyPairs(ctx, target, provider.Filter{Tags: map[string]string{provider.TagInstallation: regionInst}})
	if err != nil || len(kps) != 1 || kps[0].Name != keyName {
		t.Fatalf("key pairs in %s: %+v, %v", target, kps, err)
	}
	ourFP, err := aws.KeyPairFingerprint([]byte(e.pub))
	if err != nil || kps[0].Fingerprint != ourFP {
		t.Fatalf("our key's fingerprint is %s, KeyPairFingerprint says %s (%v)", kps[0].Fingerprint, ourFP, err)
	}
	if _, err := c.DeleteKeyPair(ctx, &ec2.DeleteKeyPairInput{KeyName: awssdk.String(keyName)}); err != nil {
		t.Fatal(err)
	}
	var tags []types.Tag
	for k, v := range kps[0].Tags {
		tags = append(tags, types.Tag{Key: awssdk.String(k), Value: awssdk.String(v)})
	}
	if _, err := c.ImportKeyPair(ctx, &ec2.ImportKeyPairInput{KeyName: awssdk.String(keyName), PublicKeyMaterial: providertest.TestPublicKey("intruder"),
		TagSpecifications: []types.TagSpecification{{ResourceType: types.ResourceTypeKeyPair, Tags: tags}}}); err != nil {
		t.Fatal(err)
	}
	e.driftOnlyIn(t, target, "key_pair: key different: the key pair's fingerprint is ", "want "+ourFP)
	if got := e.configure(t)[target+" key_pair"]; got != api.RegionRepaired {
		t.Errorf("repairing configure: key_pair = %q, want repaired", got)
	}
	if kps, _ := e.p.ListKeyPairs(ctx, target, provider.Filter{}); len(kps) != 1 || kps[0].Fingerprint != ourFP {
		t.Errorf("key pairs in %s after repair: %+v; want ours (%s)", target, kps, ourFP)
	}
	for _, c := range e.check(t) {
		if len(c.Drift) != 0 {
			t.Errorf("drift in %s after the key's repair: %+v", c.Region, c.Drift)
		}
	}

	// A worker launched with other settings (here none: no group, key or
	// profile) is drift, and configure replaces it while it is stopped.
	ws, err := e.p.Describe(ctx, target, provider.Filter{Tags: map[string]string{provider.TagInstallation: regionInst}})
	if err != nil || len(ws) != 1 {
		t.Fatalf("workers in %s: %+v, %v", target, ws, err)
	}
	old, _ := e.fake.Instance(target, ws[0].ID)
	if _, err := c.TerminateInstances(ctx, &ec2.TerminateInstancesInput{InstanceIds: []string{ws[0].ID}}); err != nil {
		t.Fatal(err)
	}
	bare, err := c.RunInstances(ctx, &ec2.RunInstancesInput{MinCount: awssdk.Int32(1), MaxCount: awssdk.Int32(1), ImageId: old.ImageId,
		InstanceType: old.InstanceType, TagSpecifications: []types.TagSpecification{{ResourceType: types.ResourceTypeInstance, Tags: old.Tags}}})
	if err != nil {
		t.Fatal(err)
	}
	bareID := awssdk.ToString(bare.Instances[0].InstanceId)
	if _, err := c.StopInstances(ctx, &ec2.StopInstancesInput{InstanceIds: []string{bareID}}); err != nil {
		t.Fatal(err)
	}
	e.driftOnlyIn(t, target, "worker: worker launched with security group none, the region's is "+gs[0].ID)
	if got := e.configure(t)[target+" worker"]; got != api.RegionRepaired {
		t.Errorf("repairing configure: worker = %q, want repaired", got)
	}
	if in, _ := e.fake.Instance(target, bareID); in.State == nil || in.State.Name != types.InstanceStateNameTerminated {
		t.Errorf("the mismatched worker %s is %+v after configure, want terminated", bareID, in.State)
	}
	ws, _ = e.p.Describe(ctx, target, provider.Filter{Tags: map[string]string{provider.TagInstallation: regionInst}})
	var live []provider.Instance
	for _, w := range ws {
		if !w.State.Gone() {
			live = append(live, w)
		}
	}
	if len(live) != 1 || live[0].State != provider.StateStopped || live[0].KeyName != keyName || live[0].InstanceProfile != region.DefaultInstanceProfile ||
		!slices.Equal(live[0].SecurityGroups, []string{gs[0].ID}) {
		t.Errorf("workers in %s after the replacement: %+v; want one stopped, with the region's group, key and profile", target, live)
	}
	for _, c := range e.check(t) {
		if len(c.Drift) != 0 {
			t.Errorf("drift in %s after the worker's replacement: %+v", c.Region, c.Drift)
		}
	}

	// A copy of ours deregistered by hand without its snapshot leaves the
	// snapshot, with our tags: check reports it and clear removes it. A
	// copy of someone else's deregistered the same way leaves an untagged
	// one, which stays.
	var ourTags []types.Tag
	for k, v := range map[string]string{provider.TagInstallation: regionInst, region.TagManagedBy: region.ManagedByRegion} {
		ourTags = append(ourTags, types.Tag{Key: awssdk.String(k), Value: awssdk.String(v)})
	}
	byHand := func(tags []types.Tag) string {
		t.Helper()
		in := &ec2.CopyImageInput{Name: awssdk.String("by-hand"), SourceImageId: awssdk.String(baseImage), SourceRegion: awssdk.String(regionHome)}
		if tags != nil {
			in.TagSpecifications = []types.TagSpecification{{ResourceType: types.ResourceTypeImage, Tags: tags}, {ResourceType: types.ResourceTypeSnapshot, Tags: tags}}
		}
		out, err := c.CopyImage(ctx, in)
		if err != nil {
			t.Fatal(err)
		}
		img, _ := e.fake.Image(target, awssdk.ToString(out.ImageId))
		if _, err := c.DeregisterImage(ctx, &ec2.DeregisterImageInput{ImageId: out.ImageId}); err != nil {
			t.Fatal(err)
		}
		return awssdk.ToString(img.BlockDeviceMappings[0].Ebs.SnapshotId)
	}
	ourOrphan := byHand(ourTags)
	theirOrphan := byHand(nil)
	for _, c := range e.check(t) {
		var drift []string
		for _, d := range c.Drift {
			drift = append(drift, d.Kind+" "+d.ID+": "+d.Problem)
		}
		got := strings.Join(drift, "\n")
		switch {
		case c.Region == target && (len(drift) != 1 || !strings.HasPrefix(got, "snapshot "+ourOrphan+": snapshot of the image copy ami-")):
			t.Errorf("drift in %s:\n%s\nwant only the snapshot %s", c.Region, got, ourOrphan)
		case c.Region != target && got != "":
			t.Errorf("drift in untouched %s:\n%s", c.Region, got)
		}
	}

	// Clear removes what configure made and leaves untagged resources.
	theirGroup, err := c.CreateSecurityGroup(ctx, &ec2.CreateSecurityGroupInput{GroupName: awssdk.String("theirs"), Description: awssdk.String("not stratus's")})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.ImportKeyPair(ctx, &ec2.ImportKeyPairInput{KeyName: awssdk.String("theirs"), PublicKeyMaterial: []byte(e.pub)}); err != nil {
		t.Fatal(err)
	}
	theirImage, err := c.CopyImage(ctx, &ec2.CopyImageInput{Name: awssdk.String("theirs"), SourceImageId: awssdk.String(baseImage), SourceRegion: awssdk.String(regionHome)})
	if err != nil {
		t.Fatal(err)
	}
	theirSnap := e.fake.SeedSnapshot(target, nil)
	resp, err := e.svc.Clear(ctx, regionTargets)
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range resp.Regions {
		if !r.OK {
			t.Errorf("clear %s failed: %+v", r.Region, r.Steps)
		}
		removed := map[string]bool{}
		for _, s := range r.Steps {
			if s.Result == api.RegionRemoved {
				removed[s.Step] = true
			}
		}
		for _, step := range []string{"image", "key_pair", "security_group", "worker"} {
			if !removed[step] {
				t.Errorf("clear %s: %s not removed: %+v", r.Region, step, r.Steps)
			}
		}
		if r.Region == target && !removed["snapshot"] {
			t.Errorf("clear %s: the orphaned snapshot not removed: %+v", r.Region, r.Steps)
		}
	}
	groups, _ := e.p.ListSecurityGroups(ctx, target, provider.Filter{})
	keys, _ := e.p.ListKeyPairs(ctx, target, provider.Filter{})
	imgs, _ := e.p.ListImages(ctx, target, provider.Filter{})
	if len(groups) != 1 || groups[0].ID != awssdk.ToString(theirGroup.GroupId) || len(keys) != 1 || keys[0].Name != "theirs" ||
		len(imgs) != 1 || imgs[0].ID != awssdk.ToString(theirImage.ImageId) {
		t.Errorf("after clear in %s: groups %+v, keys %+v, images %+v; want only the untagged ones", target, groups, keys, imgs)
	}
	// The copies' snapshots went with them; others' snapshots stay: the
	// one of their image and one of their own.
	for _, r := range regionTargets {
		var ids []string
		for _, snap := range e.fake.Snapshots(r) {
			if region.Ours(tagMap(snap.Tags), regionInst) {
				t.Errorf("snapshot %s of ours left in %s after clear", awssdk.ToString(snap.SnapshotId), r)
			}
			ids = append(ids, awssdk.ToString(snap.SnapshotId))
		}
		if r != target {
			continue
		}
		theirs, _ := e.fake.Image(target, awssdk.ToString(theirImage.ImageId))
		if len(theirs.BlockDeviceMappings) != 1 {
			t.Fatalf("their image has block devices %+v, want one", theirs.BlockDeviceMappings)
		}
		want := []string{awssdk.ToString(theirs.BlockDeviceMappings[0].Ebs.SnapshotId), theirSnap, theirOrphan}
		slices.Sort(ids)
		slices.Sort(want)
		if !slices.Equal(ids, want) {
			t.Errorf("snapshots in %s after clear = %v, want only others' %v", r, ids, want)
		}
	}
	for _, r := range regionTargets {
		ins, _ := e.p.Describe(ctx, r, provider.Filter{Tags: map[string]string{provider.TagInstallation: regionInst}})
		for _, in := range ins {
			if !in.State.Gone() {
				t.Errorf("instance %s in %s is %s after clear", in.ID, r, in.State)
			}
		}
	}
	if nodes, _ := e.st.ListNodes(ctx, store.NodeFilter{Role: store.RoleWorker}); len(nodes) != 0 {
		t.Errorf("worker records after clear: %+v", nodes)
	}
	for _, c := range e.check(t) {
		if c.Configured || len(c.Drift) != 0 || len(c.Resources) != 0 {
			t.Errorf("check %s after clear = %+v; want not configured and clean", c.Region, c)
		}
	}
}

func tagMap(ts []types.Tag) map[string]string {
	m := map[string]string{}
	for _, t := range ts {
		m[awssdk.ToString(t.Key)] = awssdk.ToString(t.Value)
	}
	return m
}
