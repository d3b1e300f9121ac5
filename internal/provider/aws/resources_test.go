package aws_test

import (
	"context"
	"crypto/md5"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/hex"
	"errors"
	"reflect"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	awssdk "github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/ec2"
	"github.com/aws/aws-sdk-go-v2/service/ec2/types"
	"golang.org/x/crypto/ssh"

	"github.com/stratus-cloud/stratus/internal/awspolicy"
	"github.com/stratus-cloud/stratus/internal/clock"
	"github.com/stratus-cloud/stratus/internal/provider"
	"github.com/stratus-cloud/stratus/internal/provider/aws"
	"github.com/stratus-cloud/stratus/internal/provider/aws/ec2fake"
	"github.com/stratus-cloud/stratus/internal/provider/providertest"
)

var _ aws.IAMAPI = (*ec2fake.IAM)(nil)

const (
	baseImage     = "ami-0b45e000000000001"
	baseImageName = "stratus-base"
	copyDelay     = 5 * time.Second
)

var resRegions = []string{"us-east-1", "eu-west-1"}

// resWorld is a provider on a fake EC2 and IAM with a base image in the
// first region.
type resWorld struct {
	p     *aws.Provider
	fake  *ec2fake.Fake
	clock *clock.Fake
}

// newResWorld makes one; viaSDK answers through real *ec2.Clients (their
// validation and serialisation stacks) instead of the fake's clients.
func newResWorld(t *testing.T, clk clock.Clock, viaSDK bool) *resWorld {
	t.Helper()
	fc, _ := clk.(*clock.Fake)
	fake := ec2fake.New(ec2fake.Options{Clock: clk, CopyDelay: copyDelay})
	fake.SeedImage(resRegions[0], baseImage, baseImageName)
	newClient := func(region string) aws.EC2API { return fake.Client(region) }
	if viaSDK {
		newClient = func(region string) aws.EC2API {
			return ec2.New(ec2.Options{
				Region:      region,
				Credentials: credentials.NewStaticCredentialsProvider("AKIDSTRATUSTEST", "secret", ""),
				Retryer:     awssdk.NopRetryer{},
			}, fake.ClientOptions())
		}
	}
	var rcs []aws.RegionConfig
	for _, r := range resRegions {
		rcs = append(rcs, aws.RegionConfig{Name: r, ImageID: baseImage})
	}
	p, err := aws.New(context.Background(), aws.Options{
		Regions: rcs, Clock: clk, NewClient: newClient,
		NewIAMClient: func() aws.IAMAPI { return fake.IAM() },
	})
	if err != nil {
		t.Fatal(err)
	}
	return &resWorld{p: p, fake: fake, clock: fc}
}

func runConformance(t *testing.T, viaSDK bool) {
	var mu sync.Mutex
	clocks := map[provider.Resources]*clock.Fake{}
	providertest.RunResources(t, providertest.ResourcesHarness{
		New: func(t *testing.T) provider.Resources {
			w := newResWorld(t, clock.NewFake(time.Date(2026, 11, 2, 9, 0, 0, 0, time.UTC)), viaSDK)
			mu.Lock()
			defer mu.Unlock()
			clocks[w.p] = w.clock
			return w.p
		},
		Regions:   resRegions,
		BaseImage: baseImage,
		Advance: func(r provider.Resources, d time.Duration) {
			mu.Lock()
			c := clocks[r]
			mu.Unlock()
			c.Advance(d)
		},
	})
}

func TestResources_Conformance(t *testing.T) { runConformance(t, false) }

// The same suite through real *ec2.Clients: their parameter validation
// and (de)serialisation see every request.
func TestResources_ConformanceViaSDKClients(t *testing.T) { runConformance(t, true) }

func TestResources_CopyImageRequest(t *testing.T) {
	t.Parallel()
	w := newResWorld(t, clock.NewFake(time.Date(2026, 11, 2, 9, 0, 0, 0, time.UTC)), false)
	ctx := context.Background()
	long := strings.Repeat("t", 100) // over EC2's 64: hashed, still idempotent
	img, err := w.p.CopyImage(ctx, "us-east-1", baseImage, "eu-west-1", "copy", long, map[string]string{"k": "v"})
	if err != nil {
		t.Fatal(err)
	}
	again, err := w.p.CopyImage(ctx, "us-east-1", baseImage, "eu-west-1", "copy", long, map[string]string{"k": "v"})
	if err != nil || again.ID != img.ID {
		t.Fatalf("same long token: %+v, %v; want %s", again, err, img.ID)
	}
	// EC2 holds the copy in the destination region, pending, tagged, with
	// its source; the source region has only the base image.
	got, ok := w.fake.Image("eu-west-1", img.ID)
	if !ok || got.State != types.ImageStatePending || awssdk.ToString(got.SourceImageRegion) != "us-east-1" ||
		awssdk.ToString(got.SourceImageId) != baseImage || len(got.Tags) != 1 {
		t.Errorf("fake image = %+v", got)
	}
	w.clock.Advance(copyDelay)
	imgs, err := w.p.ListImages(ctx, "eu-west-1", provider.Filter{Tags: map[string]string{"k": "v"}})
	if err != nil || len(imgs) != 1 || imgs[0].State != provider.ImageAvailable {
		t.Errorf("after the delay: %+v, %v; want available", imgs, err)
	}
	// A copy EC2 fails is failed.
	bad, err := w.p.CopyImage(ctx, "us-east-1", baseImage, "eu-west-1", "copy2", "", map[string]string{"k": "bad"})
	if err != nil {
		t.Fatal(err)
	}
	if err := w.fake.FailImage("eu-west-1", bad.ID); err != nil {
		t.Fatal(err)
	}
	imgs, _ = w.p.ListImages(ctx, "eu-west-1", provider.Filter{Tags: map[string]string{"k": "bad"}})
	if len(imgs) != 1 || imgs[0].State != provider.ImageFailed {
		t.Errorf("failed copy listed as %+v", imgs)
	}
}

func TestResources_HiddenCopyIsListedPending(t *testing.T) {
	t.Parallel()
	w := newResWorld(t, clock.NewFake(time.Date(2026, 11, 2, 9, 0, 0, 0, time.UTC)), false)
	ctx := context.Background()
	img, err := w.p.CopyImage(ctx, "us-east-1", baseImage, "eu-west-1", "copy", "tok", map[string]string{"k": "v"})
	if err != nil {
		t.Fatal(err)
	}
	// EC2 not listing the copy yet (eventual consistency): deregister it
	// behind the provider's back and look within the grace.
	if _, err := w.fake.Client("eu-west-1").DeregisterImage(ctx, &ec2.DeregisterImageInput{ImageId: &img.ID}); err != nil {
		t.Fatal(err)
	}
	imgs, err := w.p.ListImages(ctx, "eu-west-1", provider.Filter{Tags: map[string]string{"k": "v"}})
	if err != nil || len(imgs) != 1 || imgs[0].ID != img.ID || imgs[0].State != provider.ImagePending {
		t.Errorf("within the grace: %+v, %v; want the copy, pending", imgs, err)
	}
	w.clock.Advance(aws.DefaultConsistencyGrace + time.Second)
	if imgs, _ := w.p.ListImages(ctx, "eu-west-1", provider.Filter{}); len(imgs) != 0 {
		t.Errorf("after the grace: %+v, want none", imgs)
	}
}

func TestResources_KeyFingerprintsAreEC2s(t *testing.T) {
	t.Parallel()
	w := newResWorld(t, clock.Real{}, false)
	ctx := context.Background()
	edPub := providertest.TestPublicKey("a")
	kp, err := w.p.ImportKeyPair(ctx, "us-east-1", "k", edPub, nil)
	if err != nil {
		t.Fatal(err)
	}
	// ed25519: base64 SHA-256 of the blob, as EC2 reports it (not OpenSSH's
	// "SHA256:" form without padding).
	if strings.HasPrefix(kp.Fingerprint, "SHA256:") || len(kp.Fingerprint) != 44 || !strings.HasSuffix(kp.Fingerprint, "=") {
		t.Errorf("fingerprint %q, want EC2's base64 SHA-256", kp.Fingerprint)
	}
	if len(kp.Tags) != 0 {
		t.Errorf("untagged key has tags %v", kp.Tags)
	}
	if fp, err := aws.KeyPairFingerprint(providertest.TestPublicKey("a")); err != nil || fp == kp.Fingerprint {
		t.Errorf("KeyPairFingerprint of another key = %q, %v; want another fingerprint", fp, err)
	}

	// RSA: the MD5 of the key's DER (PKIX) form, colon-separated, which
	// is not the MD5 of the ssh blob (ssh-keygen -l -E md5).
	key, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	pub, err := ssh.NewPublicKey(&key.PublicKey)
	if err != nil {
		t.Fatal(err)
	}
	line := ssh.MarshalAuthorizedKey(pub)
	der, err := x509.MarshalPKIXPublicKey(&key.PublicKey)
	if err != nil {
		t.Fatal(err)
	}
	sum := md5.Sum(der)
	var hexes []string
	for _, b := range sum {
		hexes = append(hexes, hex.EncodeToString([]byte{b}))
	}
	want := strings.Join(hexes, ":")
	rkp, err := w.p.ImportKeyPair(ctx, "us-east-1", "rsa", line, nil)
	if err != nil {
		t.Fatal(err)
	}
	if rkp.Fingerprint != want {
		t.Errorf("RSA key's fingerprint %q, want EC2's %q", rkp.Fingerprint, want)
	}
	if got, err := aws.KeyPairFingerprint(line); err != nil || got != want {
		t.Errorf("KeyPairFingerprint(RSA) = %q, %v; want %q", got, err, want)
	}
	if got, err := aws.KeyPairFingerprint(edPub); err != nil || got != kp.Fingerprint {
		t.Errorf("KeyPairFingerprint(ed25519) = %q, %v; want %q as imported", got, err, kp.Fingerprint)
	}
	blobSum := md5.Sum(pub.Marshal())
	if hex.EncodeToString(blobSum[:]) == strings.ReplaceAll(want, ":", "") {
		t.Error("the DER and ssh-blob MD5s agree; the test proves nothing")
	}
	var perr *provider.InvalidError
	if _, err := aws.KeyPairFingerprint([]byte("ecdsa-sha2-nistp256 AAAAE2VjZHNhLXNoYTItbmlzdHAyNTYAAAAIbmlzdHAyNTYAAABBBEmKSENjQEezOmxkZMy7opKgwFB9nkt5YRrYMjNuG5N87uRgg6CLrbo5wAdT/y6v0mKV0U2w0WZ2YB/++Tpockg=")); !errors.As(err, &perr) || perr.Field != "public_key" {
		t.Errorf("KeyPairFingerprint(ecdsa) error %v, want an *InvalidError on public_key (EC2 imports no ecdsa keys)", err)
	}
}

func TestResources_ProtocolAllRules(t *testing.T) {
	t.Parallel()
	w := newResWorld(t, clock.Real{}, true)
	ctx := context.Background()
	g, err := w.p.CreateSecurityGroup(ctx, "us-east-1", "all", "", nil)
	if err != nil {
		t.Fatal(err)
	}
	all := provider.Rule{Protocol: "-1", FromPort: -1, ToPort: -1, CIDR: "10.0.0.0/8"}
	if err := w.p.AuthorizeIngress(ctx, "us-east-1", g.ID, []provider.Rule{all, all}); err != nil {
		t.Fatal(err)
	}
	if err := w.p.AuthorizeIngress(ctx, "us-east-1", g.ID, []provider.Rule{{Protocol: "-1", CIDR: "10.0.0.0/8"}}); err != nil {
		t.Errorf("the same rule with other ports: %v", err)
	}
	gs, _ := w.p.ListSecurityGroups(ctx, "us-east-1", provider.Filter{})
	if len(gs) != 1 || !slices.Equal(gs[0].Rules, []provider.Rule{all}) {
		t.Errorf("groups = %+v, want one rule %+v", gs, all)
	}
	if err := w.p.RevokeIngress(ctx, "us-east-1", g.ID, []provider.Rule{{Protocol: "-1", CIDR: "10.0.0.0/8"}}); err != nil {
		t.Fatal(err)
	}
	gs, _ = w.p.ListSecurityGroups(ctx, "us-east-1", provider.Filter{})
	if len(gs[0].Rules) != 0 {
		t.Errorf("rules after revoke: %+v", gs[0].Rules)
	}
}

func TestResources_VpcID(t *testing.T) {
	t.Parallel()
	fake := ec2fake.New(ec2fake.Options{})
	p, err := aws.New(context.Background(), aws.Options{
		Regions:   []aws.RegionConfig{{Name: "us-east-1", VpcID: "vpc-0123456789abcdef0"}},
		NewClient: func(region string) aws.EC2API { return fake.Client(region) },
	})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	// A group of the same name in the default VPC is another group.
	if _, err := fake.Client("us-east-1").CreateSecurityGroup(ctx, &ec2.CreateSecurityGroupInput{GroupName: awssdk.String("sg"), Description: awssdk.String("x")}); err != nil {
		t.Fatal(err)
	}
	g, err := p.CreateSecurityGroup(ctx, "us-east-1", "sg", "", nil)
	if err != nil {
		t.Fatalf("CreateSecurityGroup in the configured VPC: %v", err)
	}
	gs, err := p.ListSecurityGroups(ctx, "us-east-1", provider.Filter{})
	if err != nil || len(gs) != 1 || gs[0].ID != g.ID {
		t.Errorf("ListSecurityGroups = %+v, %v; want only the group in the VPC", gs, err)
	}
}

func TestResources_InstanceProfile(t *testing.T) {
	t.Parallel()
	w := newResWorld(t, clock.Real{}, false)
	ctx := context.Background()
	iam := w.fake.IAM()
	// A profile left empty by an earlier failure is filled.
	w.fake.Deny(ec2fake.ActionAddRoleToInstanceProfile)
	var perr *aws.PermissionError
	if _, err := w.p.EnsureInstanceProfile(ctx, "stratus-worker", map[string]string{"stratus:installation": "i1"}); !errors.As(err, &perr) || perr.Action != "iam:AddRoleToInstanceProfile" {
		t.Fatalf("denied AddRoleToInstanceProfile: %v, want a *PermissionError naming it", err)
	}
	w.fake.Allow(ec2fake.ActionAddRoleToInstanceProfile)
	created, err := w.p.EnsureInstanceProfile(ctx, "stratus-worker", map[string]string{"stratus:installation": "i1"})
	if err != nil || !created {
		t.Fatalf("EnsureInstanceProfile after the failure = %v, %v; want created", created, err)
	}
	trust, tags, ok := iam.Role("stratus-worker")
	if !ok || trust != awspolicy.InstanceRoleTrust() || tags["stratus:installation"] != "i1" {
		t.Errorf("role: ok %v, trust %s, tags %v", ok, trust, tags)
	}
	if roles, ok := iam.InstanceProfile("stratus-worker"); !ok || !slices.Equal(roles, []string{"stratus-worker"}) {
		t.Errorf("profile roles = %v, %v", roles, ok)
	}
	before := w.fake.Calls(ec2fake.ActionCreateRole)
	if created, err := w.p.EnsureInstanceProfile(ctx, "stratus-worker", nil); err != nil || created {
		t.Errorf("again = %v, %v; want found", created, err)
	}
	if w.fake.Calls(ec2fake.ActionCreateRole) != before {
		t.Errorf("a found profile made CreateRole calls")
	}
}

func TestResources_PermissionAndNotFoundErrors(t *testing.T) {
	t.Parallel()
	w := newResWorld(t, clock.Real{}, false)
	ctx := context.Background()
	w.fake.Deny(ec2fake.ActionCopyImage)
	_, err := w.p.CopyImage(ctx, "us-east-1", baseImage, "eu-west-1", "c", "", nil)
	var perr *aws.PermissionError
	if !errors.As(err, &perr) || perr.Action != "ec2:CopyImage" {
		t.Errorf("denied CopyImage: %v", err)
	}
	if err := w.p.RevokeIngress(ctx, "us-east-1", "sg-00000000000000000", []provider.Rule{{Protocol: "tcp", FromPort: 1, ToPort: 1, CIDR: "0.0.0.0/0"}}); !errors.Is(err, provider.ErrNotFound) {
		t.Errorf("RevokeIngress on a missing group: %v, want ErrNotFound", err)
	}
	if err := w.p.DeleteSecurityGroup(ctx, "us-east-1", "sg-00000000000000000"); err != nil {
		t.Errorf("DeleteSecurityGroup of a missing group: %v", err)
	}
}

// Every IAMAPI call is in Actions and granted by the policy.
func TestPolicy_CoversEveryIAMCall(t *testing.T) {
	t.Parallel()
	policy := awspolicy.ControlPlane(awspolicy.Options{Installation: "abc", InstanceRoleARN: "arn:aws:iam::123456789012:role/stratus-node"})
	api := reflect.TypeFor[aws.IAMAPI]()
	for i := range api.NumMethod() {
		action := "iam:" + api.Method(i).Name
		if !strings.Contains(policy, `"`+action+`"`) {
			t.Errorf("Policy does not grant %s, which IAMAPI calls", action)
		}
		if !slices.Contains(aws.Actions, action) {
			t.Errorf("Actions lacks %s", action)
		}
	}
}
