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
	fake := ec2fake.New(ec2fake.Options{CopyDelay: 20 * time.Millisecond})
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
	for _, c := range e.check(t) {
		var drift []string
		for _, d := range c.Drift {
			drift = append(drift, d.Kind+": "+d.Problem)
		}
		got := strings.Join(drift, "\n")
		switch {
		case c.Region == target && !strings.Contains(got, "security_group: rules changed: missing tcp 22 from 0.0.0.0/0"):
			t.Errorf("drift in %s:\n%s\nwant the revoked rule", c.Region, got)
		case c.Region != target && got != "":
			t.Errorf("drift in untouched %s:\n%s", c.Region, got)
		}
	}
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
	for _, c := range e.check(t) {
		var drift []string
		for _, d := range c.Drift {
			drift = append(drift, d.Kind+": "+d.Problem)
		}
		got := strings.Join(drift, "\n")
		switch {
		case c.Region == target && !strings.Contains(got, "key_pair: key different: the key pair's fingerprint is ") ||
			c.Region == target && !strings.Contains(got, "want "+ourFP):
			t.Errorf("drift in %s:\n%s\nwant the replaced key", c.Region, got)
		case c.Region != target && got != "":
			t.Errorf("drift in untouched %s:\n%s", c.Region, got)
		}
	}
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
	}
	groups, _ := e.p.ListSecurityGroups(ctx, target, provider.Filter{})
	keys, _ := e.p.ListKeyPairs(ctx, target, provider.Filter{})
	imgs, _ := e.p.ListImages(ctx, target, provider.Filter{})
	if len(groups) != 1 || groups[0].ID != awssdk.ToString(theirGroup.GroupId) || len(keys) != 1 || keys[0].Name != "theirs" ||
		len(imgs) != 1 || imgs[0].ID != awssdk.ToString(theirImage.ImageId) {
		t.Errorf("after clear in %s: groups %+v, keys %+v, images %+v; want only the untagged ones", target, groups, keys, imgs)
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
