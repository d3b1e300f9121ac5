package providertest

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/binary"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/stratus-cloud/stratus/internal/provider"
)

// ResourcesHarness tells RunResources how to make and steer the
// provider.Resources under test.
type ResourcesHarness struct {
	// New returns a fresh provider. Required. It is called once per
	// subtest; subtests run in parallel.
	New func(t *testing.T) provider.Resources
	// Regions are two or more regions the provider offers. Required.
	Regions []string
	// BaseImage is the id of an available image in Regions[0] that the
	// suite may copy. Required.
	BaseImage string
	// WaitTimeout bounds, in real time, how long the suite polls for a
	// copied image to become available. Default 10s.
	WaitTimeout time.Duration
	// Advance, when set, moves r's clock forward by d between polls.
	Advance func(r provider.Resources, d time.Duration)
}

// RunResources runs the conformance suite of provider.Resources: image
// copies (pending until available, idempotent by client token, tags,
// source recorded, missing sources not found), key pairs (fingerprints
// equal for the same key in every region, duplicates and malformed keys
// invalid), security groups (duplicate names invalid, rules added and
// revoked idempotently, bad rules invalid), instance profiles (created
// once), tag filters, region isolation, unknown regions, deletes that are
// safe to repeat, copies of tags and concurrent copies with one token.
func RunResources(t *testing.T, h ResourcesHarness) {
	t.Helper()
	if h.New == nil || len(h.Regions) < 2 || h.BaseImage == "" {
		t.Fatal("providertest: ResourcesHarness needs New, two Regions and BaseImage")
	}
	if h.WaitTimeout <= 0 {
		h.WaitTimeout = 10 * time.Second
	}
	tests := []struct {
		name string
		fn   func(t *testing.T, s *resSuite)
	}{
		{"CopyImageBecomesAvailable", testCopyImage},
		{"CopyImageSameTokenIsIdempotent", testCopyImageToken},
		{"CopyImageMissingSourceIsNotFound", testCopyImageMissing},
		{"DeregisterImage", testDeregisterImage},
		{"KeyPairs", testKeyPairs},
		{"KeyPairDuplicateAndMalformedAreInvalid", testKeyPairInvalid},
		{"SecurityGroupRules", testSecurityGroupRules},
		{"SecurityGroupDuplicateAndBadRuleAreInvalid", testSecurityGroupInvalid},
		{"InstanceProfileCreatedOnce", testInstanceProfile},
		{"UnknownRegionIsInvalid", testResourcesUnknownRegion},
		{"TagFiltersAndRegionIsolation", testResourcesTags},
		{"ConcurrentCopySameToken", testConcurrentCopy},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			s := &resSuite{h: h, r: h.New(t), run: randomHex(6)}
			t.Cleanup(func() { s.cleanup(t) })
			tc.fn(t, s)
		})
	}
}

type resSuite struct {
	h   ResourcesHarness
	r   provider.Resources
	run string

	mu       sync.Mutex
	cleanups []func() error
}

func (s *resSuite) later(fn func() error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.cleanups = append(s.cleanups, fn)
}

func (s *resSuite) cleanup(t *testing.T) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for i := len(s.cleanups) - 1; i >= 0; i-- {
		if err := s.cleanups[i](); err != nil {
			t.Errorf("cleanup: %v", err)
		}
	}
}

func (s *resSuite) tags(extra ...string) map[string]string {
	m := map[string]string{tagSuite: s.run}
	for i := 0; i+1 < len(extra); i += 2 {
		m[extra[i]] = extra[i+1]
	}
	return m
}

func (s *resSuite) name(what string) string { return "pt-" + what + "-" + s.run }

// TestPublicKey returns a well-formed ssh-ed25519 public key line with
// random key material.
func TestPublicKey(comment string) []byte {
	key := make([]byte, 32)
	if _, err := rand.Read(key); err != nil {
		panic(err)
	}
	var blob []byte
	blob = binary.BigEndian.AppendUint32(blob, uint32(len("ssh-ed25519")))
	blob = append(blob, "ssh-ed25519"...)
	blob = binary.BigEndian.AppendUint32(blob, uint32(len(key)))
	blob = append(blob, key...)
	return []byte(fmt.Sprintf("ssh-ed25519 %s %s\n", base64.StdEncoding.EncodeToString(blob), comment))
}

func (s *resSuite) copy(t *testing.T, region, token string, tags map[string]string) provider.Image {
	t.Helper()
	img, err := s.r.CopyImage(context.Background(), s.h.Regions[0], s.h.BaseImage, region, s.name("img"), token, tags)
	if err != nil {
		t.Fatalf("CopyImage(%s → %s): %v", s.h.BaseImage, region, err)
	}
	s.later(func() error { return s.r.DeregisterImage(context.Background(), region, img.ID) })
	return img
}

// findImage lists region's images with the suite's tag and returns id.
func (s *resSuite) findImage(t *testing.T, region, id string) (provider.Image, bool) {
	t.Helper()
	imgs, err := s.r.ListImages(context.Background(), region, provider.Filter{Tags: s.tags()})
	if err != nil {
		t.Fatalf("ListImages(%s): %v", region, err)
	}
	for _, img := range imgs {
		if img.ID == id {
			return img, true
		}
	}
	return provider.Image{}, false
}

func (s *resSuite) waitAvailable(t *testing.T, region, id string) provider.Image {
	t.Helper()
	deadline := time.Now().Add(s.h.WaitTimeout)
	for {
		img, ok := s.findImage(t, region, id)
		if !ok {
			t.Fatalf("image %s is not listed in %s", id, region)
		}
		switch img.State {
		case provider.ImageAvailable:
			return img
		case provider.ImagePending:
		default:
			t.Fatalf("image %s is %s, want pending then available", id, img.State)
		}
		if time.Now().After(deadline) {
			t.Fatalf("image %s still pending after %v", id, s.h.WaitTimeout)
		}
		if s.h.Advance != nil {
			s.h.Advance(s.r, pollStep)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func testCopyImage(t *testing.T, s *resSuite) {
	dst := s.h.Regions[1]
	img := s.copy(t, dst, "tok-"+randomHex(8), s.tags("pt:kind", "copy"))
	if img.ID == "" || img.Region != dst || img.Name != s.name("img") {
		t.Errorf("CopyImage = %+v; want an id, region %s, name %s", img, dst, s.name("img"))
	}
	if img.State != provider.ImagePending && img.State != provider.ImageAvailable {
		t.Errorf("new copy is %q, want pending or available", img.State)
	}
	if img.SourceRegion != s.h.Regions[0] || img.SourceImage != s.h.BaseImage {
		t.Errorf("copy's source = %s/%s, want %s/%s", img.SourceRegion, img.SourceImage, s.h.Regions[0], s.h.BaseImage)
	}
	if img.Tags["pt:kind"] != "copy" || img.Tags[tagSuite] != s.run {
		t.Errorf("copy's tags = %v", img.Tags)
	}
	got := s.waitAvailable(t, dst, img.ID)
	if got.Tags["pt:kind"] != "copy" || got.SourceImage != s.h.BaseImage {
		t.Errorf("listed copy = %+v", got)
	}
}

func testCopyImageToken(t *testing.T, s *resSuite) {
	dst := s.h.Regions[1]
	tok := "tok-" + randomHex(8)
	a := s.copy(t, dst, tok, s.tags())
	b := s.copy(t, dst, tok, s.tags())
	if a.ID != b.ID {
		t.Errorf("CopyImage twice with token %s made %s and %s; want the same image", tok, a.ID, b.ID)
	}
	c := s.copy(t, dst, "tok-"+randomHex(8), s.tags())
	if c.ID == a.ID {
		t.Errorf("CopyImage with another token returned the first copy %s", a.ID)
	}
	imgs, err := s.r.ListImages(context.Background(), dst, provider.Filter{Tags: s.tags()})
	if err != nil {
		t.Fatal(err)
	}
	if len(imgs) != 2 {
		t.Errorf("ListImages lists %d copies, want 2", len(imgs))
	}
}

func testCopyImageMissing(t *testing.T, s *resSuite) {
	_, err := s.r.CopyImage(context.Background(), s.h.Regions[0], "ami-00000000000000000", s.h.Regions[1], s.name("img"), "", s.tags())
	if !errors.Is(err, provider.ErrNotFound) {
		t.Errorf("CopyImage of a missing image: %v, want ErrNotFound", err)
	}
}

func testDeregisterImage(t *testing.T, s *resSuite) {
	ctx := context.Background()
	dst := s.h.Regions[1]
	img := s.copy(t, dst, "", s.tags())
	s.waitAvailable(t, dst, img.ID)
	if err := s.r.DeregisterImage(ctx, dst, img.ID); err != nil {
		t.Fatalf("DeregisterImage: %v", err)
	}
	if _, ok := s.findImage(t, dst, img.ID); ok {
		t.Errorf("image %s still listed after DeregisterImage", img.ID)
	}
	if err := s.r.DeregisterImage(ctx, dst, img.ID); err != nil {
		t.Errorf("DeregisterImage again: %v, want nil", err)
	}
}

func testKeyPairs(t *testing.T, s *resSuite) {
	ctx := context.Background()
	pub := TestPublicKey("pt@example")
	var fps []string
	for _, region := range s.h.Regions[:2] {
		kp, err := s.r.ImportKeyPair(ctx, region, s.name("key"), pub, s.tags("pt:kind", "key"))
		if err != nil {
			t.Fatalf("ImportKeyPair(%s): %v", region, err)
		}
		s.later(func() error { return s.r.DeleteKeyPair(ctx, region, kp.Name) })
		if kp.Name != s.name("key") || kp.Region != region || kp.Fingerprint == "" || kp.Tags["pt:kind"] != "key" {
			t.Errorf("ImportKeyPair = %+v", kp)
		}
		fps = append(fps, kp.Fingerprint)
		kps, err := s.r.ListKeyPairs(ctx, region, provider.Filter{Tags: s.tags()})
		if err != nil {
			t.Fatal(err)
		}
		if len(kps) != 1 || kps[0].Name != kp.Name || kps[0].Fingerprint != kp.Fingerprint {
			t.Errorf("ListKeyPairs(%s) = %+v, want the imported key", region, kps)
		}
	}
	if fps[0] != fps[1] {
		t.Errorf("the same key has fingerprints %s and %s in two regions", fps[0], fps[1])
	}
	other, err := s.r.ImportKeyPair(ctx, s.h.Regions[0], s.name("other"), TestPublicKey("x"), s.tags())
	if err != nil {
		t.Fatal(err)
	}
	s.later(func() error { return s.r.DeleteKeyPair(ctx, s.h.Regions[0], other.Name) })
	if other.Fingerprint == fps[0] {
		t.Errorf("two different keys have the same fingerprint %s", other.Fingerprint)
	}
	if err := s.r.DeleteKeyPair(ctx, s.h.Regions[0], s.name("key")); err != nil {
		t.Fatalf("DeleteKeyPair: %v", err)
	}
	if err := s.r.DeleteKeyPair(ctx, s.h.Regions[0], s.name("key")); err != nil {
		t.Errorf("DeleteKeyPair again: %v, want nil", err)
	}
	kps, err := s.r.ListKeyPairs(ctx, s.h.Regions[0], provider.Filter{Tags: s.tags()})
	if err != nil {
		t.Fatal(err)
	}
	if len(kps) != 1 || kps[0].Name != other.Name {
		t.Errorf("after delete, ListKeyPairs = %+v, want only %s", kps, other.Name)
	}
}

func isInvalid(err error, field string) bool {
	var inv *provider.InvalidError
	return errors.As(err, &inv) && (field == "" || inv.Field == field)
}

func testKeyPairInvalid(t *testing.T, s *resSuite) {
	ctx := context.Background()
	region := s.h.Regions[0]
	kp, err := s.r.ImportKeyPair(ctx, region, s.name("key"), TestPublicKey("a"), s.tags())
	if err != nil {
		t.Fatal(err)
	}
	s.later(func() error { return s.r.DeleteKeyPair(ctx, region, kp.Name) })
	if _, err := s.r.ImportKeyPair(ctx, region, s.name("key"), TestPublicKey("b"), s.tags()); !isInvalid(err, "name") {
		t.Errorf("ImportKeyPair with a taken name: %v, want *InvalidError on name", err)
	}
	for _, bad := range []string{"", "not a key", "ssh-ed25519 !!!notbase64", "ssh-rsa " + base64.StdEncoding.EncodeToString([]byte("\x00\x00\x00\x0bssh-ed25519xxxx"))} {
		if _, err := s.r.ImportKeyPair(ctx, region, s.name("bad"), []byte(bad), s.tags()); !isInvalid(err, "") {
			t.Errorf("ImportKeyPair(%q): %v, want *InvalidError", bad, err)
			_ = s.r.DeleteKeyPair(ctx, region, s.name("bad"))
		}
	}
}

func testSecurityGroupRules(t *testing.T, s *resSuite) {
	ctx := context.Background()
	region := s.h.Regions[0]
	g, err := s.r.CreateSecurityGroup(ctx, region, s.name("sg"), "providertest", s.tags("pt:kind", "sg"))
	if err != nil {
		t.Fatalf("CreateSecurityGroup: %v", err)
	}
	s.later(func() error { return s.r.DeleteSecurityGroup(ctx, region, g.ID) })
	if g.ID == "" || g.Name != s.name("sg") || len(g.Rules) != 0 || g.Tags["pt:kind"] != "sg" {
		t.Errorf("CreateSecurityGroup = %+v, want an empty group with tags", g)
	}
	ssh := provider.Rule{Protocol: "tcp", FromPort: 22, ToPort: 22, CIDR: "0.0.0.0/0"}
	web := provider.Rule{Protocol: "tcp", FromPort: 80, ToPort: 443, CIDR: "10.0.0.0/8"}
	if err := s.r.AuthorizeIngress(ctx, region, g.ID, []provider.Rule{ssh, web}); err != nil {
		t.Fatalf("AuthorizeIngress: %v", err)
	}
	if err := s.r.AuthorizeIngress(ctx, region, g.ID, []provider.Rule{ssh}); err != nil {
		t.Errorf("AuthorizeIngress of a rule already there: %v, want nil", err)
	}
	rules := func() []provider.Rule {
		gs, err := s.r.ListSecurityGroups(ctx, region, provider.Filter{Tags: s.tags()})
		if err != nil {
			t.Fatal(err)
		}
		if len(gs) != 1 || gs[0].ID != g.ID {
			t.Fatalf("ListSecurityGroups = %+v, want %s", gs, g.ID)
		}
		return gs[0].Rules
	}
	if got := rules(); len(got) != 2 || !containsRule(got, ssh) || !containsRule(got, web) {
		t.Errorf("rules = %+v, want %+v and %+v once each", got, ssh, web)
	}
	if err := s.r.RevokeIngress(ctx, region, g.ID, []provider.Rule{ssh}); err != nil {
		t.Fatalf("RevokeIngress: %v", err)
	}
	if err := s.r.RevokeIngress(ctx, region, g.ID, []provider.Rule{ssh}); err != nil {
		t.Errorf("RevokeIngress of a rule not there: %v, want nil", err)
	}
	if got := rules(); len(got) != 1 || got[0] != web {
		t.Errorf("rules after revoke = %+v, want only %+v", got, web)
	}
	if err := s.r.AuthorizeIngress(ctx, region, "sg-00000000000000000", []provider.Rule{ssh}); !errors.Is(err, provider.ErrNotFound) {
		t.Errorf("AuthorizeIngress on a missing group: %v, want ErrNotFound", err)
	}
	if err := s.r.DeleteSecurityGroup(ctx, region, g.ID); err != nil {
		t.Fatalf("DeleteSecurityGroup: %v", err)
	}
	if err := s.r.DeleteSecurityGroup(ctx, region, g.ID); err != nil {
		t.Errorf("DeleteSecurityGroup again: %v, want nil", err)
	}
	gs, err := s.r.ListSecurityGroups(ctx, region, provider.Filter{Tags: s.tags()})
	if err != nil || len(gs) != 0 {
		t.Errorf("after delete, ListSecurityGroups = %+v, %v; want none", gs, err)
	}
}

func containsRule(rs []provider.Rule, r provider.Rule) bool {
	for _, x := range rs {
		if x == r {
			return true
		}
	}
	return false
}

func testSecurityGroupInvalid(t *testing.T, s *resSuite) {
	ctx := context.Background()
	region := s.h.Regions[0]
	g, err := s.r.CreateSecurityGroup(ctx, region, s.name("sg"), "", s.tags())
	if err != nil {
		t.Fatal(err)
	}
	s.later(func() error { return s.r.DeleteSecurityGroup(ctx, region, g.ID) })
	if _, err := s.r.CreateSecurityGroup(ctx, region, s.name("sg"), "", s.tags()); !isInvalid(err, "name") {
		t.Errorf("CreateSecurityGroup with a taken name: %v, want *InvalidError on name", err)
	}
	// The same name in another region is another group.
	g2, err := s.r.CreateSecurityGroup(ctx, s.h.Regions[1], s.name("sg"), "", s.tags())
	if err != nil {
		t.Fatalf("CreateSecurityGroup with the name in another region: %v", err)
	}
	s.later(func() error { return s.r.DeleteSecurityGroup(ctx, s.h.Regions[1], g2.ID) })
	for _, bad := range []provider.Rule{
		{Protocol: "tcpx", FromPort: 22, ToPort: 22, CIDR: "0.0.0.0/0"},
		{Protocol: "tcp", FromPort: 23, ToPort: 22, CIDR: "0.0.0.0/0"},
		{Protocol: "tcp", FromPort: 22, ToPort: 70000, CIDR: "0.0.0.0/0"},
		{Protocol: "tcp", FromPort: 22, ToPort: 22, CIDR: "nowhere"},
	} {
		if err := s.r.AuthorizeIngress(ctx, region, g.ID, []provider.Rule{bad}); !isInvalid(err, "") {
			t.Errorf("AuthorizeIngress(%+v): %v, want *InvalidError", bad, err)
		}
	}
}

func testInstanceProfile(t *testing.T, s *resSuite) {
	ctx := context.Background()
	name := s.name("profile")
	getter, canGet := s.r.(provider.InstanceProfileGetter)
	if canGet {
		if got, err := getter.GetInstanceProfile(ctx, name); !errors.Is(err, provider.ErrNotFound) {
			t.Errorf("GetInstanceProfile before it exists = %+v, %v; want provider.ErrNotFound", got, err)
		}
	}
	created, err := s.r.EnsureInstanceProfile(ctx, name, s.tags())
	if err != nil || !created {
		t.Fatalf("EnsureInstanceProfile first = %v, %v; want created", created, err)
	}
	created, err = s.r.EnsureInstanceProfile(ctx, name, s.tags())
	if err != nil || created {
		t.Errorf("EnsureInstanceProfile again = %v, %v; want found (false)", created, err)
	}
	if canGet {
		got, err := getter.GetInstanceProfile(ctx, name)
		if err != nil || got.Name != name || len(got.Roles) != 1 {
			t.Errorf("GetInstanceProfile after Ensure = %+v, %v; want %s with one role", got, err, name)
		}
	}
}

func testResourcesUnknownRegion(t *testing.T, s *resSuite) {
	ctx := context.Background()
	const nowhere = "no-such-region-9"
	checks := map[string]error{}
	_, checks["ListImages"] = s.r.ListImages(ctx, nowhere, provider.Filter{})
	_, checks["CopyImage"] = s.r.CopyImage(ctx, s.h.Regions[0], s.h.BaseImage, nowhere, s.name("img"), "", s.tags())
	_, checks["ListKeyPairs"] = s.r.ListKeyPairs(ctx, nowhere, provider.Filter{})
	_, checks["ImportKeyPair"] = s.r.ImportKeyPair(ctx, nowhere, s.name("key"), TestPublicKey("a"), s.tags())
	_, checks["ListSecurityGroups"] = s.r.ListSecurityGroups(ctx, nowhere, provider.Filter{})
	_, checks["CreateSecurityGroup"] = s.r.CreateSecurityGroup(ctx, nowhere, s.name("sg"), "", s.tags())
	for call, err := range checks {
		if !isInvalid(err, "region") {
			t.Errorf("%s in an unknown region: %v, want *InvalidError on region", call, err)
		}
	}
}

func testResourcesTags(t *testing.T, s *resSuite) {
	ctx := context.Background()
	src, dst := s.h.Regions[0], s.h.Regions[1]
	tags := s.tags("pt:kind", "a")
	img := s.copy(t, dst, "", tags)
	tags["pt:kind"] = "changed" // the provider keeps its own copy
	g, err := s.r.CreateSecurityGroup(ctx, dst, s.name("sg"), "", s.tags("pt:kind", "a"))
	if err != nil {
		t.Fatal(err)
	}
	s.later(func() error { return s.r.DeleteSecurityGroup(ctx, dst, g.ID) })
	g.Tags["pt:kind"] = "mutated"

	match := provider.Filter{Tags: map[string]string{tagSuite: s.run, "pt:kind": "a"}}
	miss := provider.Filter{Tags: map[string]string{tagSuite: s.run, "pt:kind": "b"}}
	anyKind := provider.Filter{Tags: map[string]string{tagSuite: s.run, "pt:kind": ""}}
	for _, tc := range []struct {
		region string
		f      provider.Filter
		want   int
	}{{dst, match, 1}, {dst, anyKind, 1}, {dst, miss, 0}, {src, match, 0}} {
		imgs, err := s.r.ListImages(ctx, tc.region, tc.f)
		if err != nil {
			t.Fatal(err)
		}
		gs, err := s.r.ListSecurityGroups(ctx, tc.region, tc.f)
		if err != nil {
			t.Fatal(err)
		}
		if len(imgs) != tc.want || len(gs) != tc.want {
			t.Errorf("in %s with tags %v: %d images, %d groups; want %d each", tc.region, tc.f.Tags, len(imgs), len(gs), tc.want)
		}
		if tc.want == 1 && (imgs[0].ID != img.ID || imgs[0].Tags["pt:kind"] != "a" || gs[0].Tags["pt:kind"] != "a") {
			t.Errorf("listed %+v and %+v; want the tags as created", imgs[0], gs[0])
		}
	}
}

func testConcurrentCopy(t *testing.T, s *resSuite) {
	dst := s.h.Regions[1]
	tok := "tok-" + randomHex(8)
	const n = 8
	ids := make([]string, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			img, err := s.r.CopyImage(context.Background(), s.h.Regions[0], s.h.BaseImage, dst, s.name("img"), tok, s.tags())
			if err != nil {
				t.Errorf("CopyImage: %v", err)
				return
			}
			ids[i] = img.ID
		}()
	}
	wg.Wait()
	if ids[0] != "" {
		s.later(func() error { return s.r.DeregisterImage(context.Background(), dst, ids[0]) })
	}
	for _, id := range ids {
		if id != ids[0] {
			t.Fatalf("concurrent copies with one token made %v; want one image", ids)
		}
	}
}
