package local_test

import (
	"context"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/stratus-cloud/stratus/internal/clock"
	"github.com/stratus-cloud/stratus/internal/provider"
	"github.com/stratus-cloud/stratus/internal/provider/local"
	"github.com/stratus-cloud/stratus/internal/provider/providertest"
)

func TestResourcesConformance(t *testing.T) {
	providertest.RunResources(t, providertest.ResourcesHarness{
		New: func(t *testing.T) provider.Resources {
			return newLocal(t, local.Options{})
		},
		Regions:   local.DefaultRegions,
		BaseImage: local.BaseImageID,
	})
}

func TestLocalResources_BaseImageInEveryRegion(t *testing.T) {
	p := newLocal(t, local.Options{})
	ctx := context.Background()
	for _, region := range local.DefaultRegions {
		imgs, err := p.ListImages(ctx, region, provider.Filter{})
		if err != nil {
			t.Fatal(err)
		}
		if len(imgs) != 1 || imgs[0].ID != local.BaseImageID || imgs[0].Name != local.BaseImageName || imgs[0].State != provider.ImageAvailable {
			t.Errorf("images in %s = %+v, want only the base image", region, imgs)
		}
		tagged, err := p.ListImages(ctx, region, provider.Filter{Tags: map[string]string{"k": ""}})
		if err != nil || len(tagged) != 0 {
			t.Errorf("a tag filter lists %+v, %v; want nothing (the base image has no tags)", tagged, err)
		}
	}
	var inv *provider.InvalidError
	if err := p.DeregisterImage(ctx, "local-2", local.BaseImageID); !errors.As(err, &inv) {
		t.Errorf("DeregisterImage(base) = %v, want *InvalidError", err)
	}
}

func TestLocalResources_CopyPendingForDelayOnClock(t *testing.T) {
	clk := clock.NewFake(time.Date(2026, 11, 1, 12, 0, 0, 0, time.UTC))
	p := newLocal(t, local.Options{Clock: clk})
	ctx := context.Background()
	img, err := p.CopyImage(ctx, "local-1", local.BaseImageID, "local-3", "stratus-base", "tok", map[string]string{"k": "v"})
	if err != nil {
		t.Fatal(err)
	}
	state := func() provider.ImageState {
		imgs, err := p.ListImages(ctx, "local-3", provider.Filter{Tags: map[string]string{"k": "v"}})
		if err != nil || len(imgs) != 1 {
			t.Fatalf("ListImages = %+v, %v", imgs, err)
		}
		return imgs[0].State
	}
	if img.State != provider.ImagePending || state() != provider.ImagePending {
		t.Fatalf("copy is %s, want pending", img.State)
	}
	clk.Advance(local.ImageCopyDelay - time.Millisecond)
	if s := state(); s != provider.ImagePending {
		t.Errorf("before the delay the copy is %s, want pending", s)
	}
	clk.Advance(time.Millisecond)
	if s := state(); s != provider.ImageAvailable {
		t.Errorf("after the delay the copy is %s, want available", s)
	}
}

func TestLocalResources_PersistedAcrossProviders(t *testing.T) {
	root := t.TempDir()
	p1 := newLocal(t, local.Options{Root: root})
	ctx := context.Background()
	tags := map[string]string{"stratus:installation": "x"}
	pub := providertest.TestPublicKey("me")
	if _, err := p1.ImportKeyPair(ctx, "local-2", "k", pub, tags); err != nil {
		t.Fatal(err)
	}
	g, err := p1.CreateSecurityGroup(ctx, "local-2", "sg", "", tags)
	if err != nil {
		t.Fatal(err)
	}
	rule := provider.Rule{Protocol: "tcp", FromPort: 22, ToPort: 22, CIDR: "0.0.0.0/0"}
	if err := p1.AuthorizeIngress(ctx, "local-2", g.ID, []provider.Rule{rule}); err != nil {
		t.Fatal(err)
	}

	p2 := newLocal(t, local.Options{Root: root})
	kps, err := p2.ListKeyPairs(ctx, "local-2", provider.Filter{Tags: tags})
	if err != nil || len(kps) != 1 || kps[0].Name != "k" {
		t.Errorf("another provider on the root lists key pairs %+v, %v", kps, err)
	}
	gs, err := p2.ListSecurityGroups(ctx, "local-2", provider.Filter{Tags: tags})
	if err != nil || len(gs) != 1 || len(gs[0].Rules) != 1 || gs[0].Rules[0] != rule {
		t.Errorf("another provider on the root lists groups %+v, %v", gs, err)
	}
	if created, err := p2.EnsureInstanceProfile(ctx, "prof", nil); err != nil || !created {
		t.Fatalf("EnsureInstanceProfile = %v, %v", created, err)
	}
	if created, err := p1.EnsureInstanceProfile(ctx, "prof", nil); err != nil || created {
		t.Errorf("EnsureInstanceProfile from the other provider = %v, %v; want found", created, err)
	}
}

func TestLocalResources_FingerprintIsOpenSSHSHA256(t *testing.T) {
	pub := providertest.TestPublicKey("me@host")
	blob, err := base64.StdEncoding.DecodeString(strings.Fields(string(pub))[1])
	if err != nil {
		t.Fatal(err)
	}
	sum := sha256.Sum256(blob)
	want := "SHA256:" + base64.RawStdEncoding.EncodeToString(sum[:])
	got, err := provider.KeyFingerprint(pub)
	if err != nil || got != want {
		t.Errorf("KeyFingerprint = %q, %v; want %q", got, err, want)
	}
	// The comment does not matter.
	other, _ := provider.KeyFingerprint([]byte(strings.Replace(string(pub), "me@host", "someone-else", 1)))
	if other != want {
		t.Errorf("fingerprint depends on the comment: %s vs %s", other, want)
	}
}

func TestLocalResources_RuleMustBeNetworkAddress(t *testing.T) {
	err := provider.CheckRule(provider.Rule{Protocol: "tcp", FromPort: 22, ToPort: 22, CIDR: "10.1.2.3/8"})
	if err == nil || !strings.Contains(err.Error(), "10.0.0.0/8") {
		t.Errorf("CheckRule(10.1.2.3/8) = %v, want a hint at 10.0.0.0/8", err)
	}
}

func TestLocalResources_BehaviourFailsResourceCalls(t *testing.T) {
	p := newLocal(t, local.Options{})
	if err := local.WriteBehaviour(p.Root(), local.Behaviour{FailRate: 1, FailCalls: []string{local.CallCopyImage}}); err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	_, err := p.CopyImage(ctx, "local-1", local.BaseImageID, "local-2", "x", "t", nil)
	var inj *local.InjectedError
	if !errors.As(err, &inj) {
		t.Errorf("CopyImage with fail_calls [copy_image] = %v, want *InjectedError", err)
	}
	if _, err := p.ListImages(ctx, "local-2", provider.Filter{}); err != nil {
		t.Errorf("ListImages is not in fail_calls but failed: %v", err)
	}
}
