package fake_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/stratus-cloud/stratus/internal/clock"
	"github.com/stratus-cloud/stratus/internal/provider"
	"github.com/stratus-cloud/stratus/internal/provider/fake"
	"github.com/stratus-cloud/stratus/internal/provider/providertest"
)

func TestResourcesConformance(t *testing.T) {
	providertest.RunResources(t, providertest.ResourcesHarness{
		New: func(t *testing.T) provider.Resources {
			p, _ := newFake(t, 0)
			p.SetImageCopyDelay(5 * time.Second)
			return p
		},
		Regions:   []string{"fake-1", "fake-2"},
		BaseImage: fake.BaseImageID,
		Advance: func(r provider.Resources, d time.Duration) {
			r.(*fake.Provider).Clock().(*clock.Fake).Advance(d)
		},
	})
}

func TestFakeResources_FailNextAndCalls(t *testing.T) {
	p, _ := newFake(t, 0)
	ctx := context.Background()
	boom := errors.New("boom")
	p.FailNext(fake.MethodCopyImage, 1, boom)
	if _, err := p.CopyImage(ctx, "fake-1", fake.BaseImageID, "fake-2", "img", "tok", nil); !errors.Is(err, boom) {
		t.Fatalf("CopyImage = %v, want the injected error", err)
	}
	img, err := p.CopyImage(ctx, "fake-1", fake.BaseImageID, "fake-2", "img", "tok", nil)
	if err != nil {
		t.Fatal(err)
	}
	if got := p.Calls(fake.MethodCopyImage); got != 2 {
		t.Errorf("Calls(CopyImage) = %d, want 2", got)
	}
	if !p.SetImageState("fake-2", img.ID, provider.ImageFailed) {
		t.Fatal("SetImageState: image not found")
	}
	imgs, _ := p.ListImages(ctx, "fake-2", provider.Filter{Tags: map[string]string{}})
	if len(imgs) != 2 || imgs[1].State != provider.ImageFailed {
		t.Errorf("images = %+v, want the base image and the failed copy", imgs)
	}
}
