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

var epoch = time.Date(2026, 11, 1, 12, 0, 0, 0, time.UTC)

func newFake(t *testing.T, boot time.Duration) (*fake.Provider, *clock.Fake) {
	t.Helper()
	clk := clock.NewFake(epoch)
	return fake.New(fake.Options{Clock: clk, BootDelay: boot}), clk
}

func TestConformance(t *testing.T) {
	providertest.Run(t, providertest.Harness{
		New: func(t *testing.T) provider.Provider {
			p, _ := newFake(t, 30*time.Second)
			return p
		},
		WaitTimeout: 5 * time.Second,
		Advance: func(p provider.Provider, d time.Duration) {
			p.(*fake.Provider).Clock().(*clock.Fake).Advance(d)
		},
		SetNoCapacity: func(t *testing.T, p provider.Provider, typ string) {
			p.(*fake.Provider).SetNoCapacity(typ, true)
		},
		Reclaim: func(t *testing.T, p provider.Provider, region, id string, notice time.Duration) error {
			return p.(*fake.Provider).Reclaim(context.Background(), region, id, notice)
		},
	})
}

func spec(token string) provider.LaunchSpec {
	return provider.LaunchSpec{
		Region:      "fake-1",
		ClientToken: token,
		Type:        "t3.micro",
		Tags:        map[string]string{provider.TagCluster: "c1"},
	}
}

func describe(t *testing.T, p *fake.Provider, id string) provider.Instance {
	t.Helper()
	ins, err := p.Describe(context.Background(), "fake-1", provider.Filter{IDs: []string{id}})
	if err != nil {
		t.Fatalf("Describe: %v", err)
	}
	if len(ins) != 1 {
		t.Fatalf("Describe(%s) listed %d instances", id, len(ins))
	}
	return ins[0]
}

func TestFake_BootDelayOnClock(t *testing.T) {
	p, clk := newFake(t, 45*time.Second)
	in, err := p.Launch(context.Background(), spec("a"))
	if err != nil {
		t.Fatal(err)
	}
	clk.Advance(44 * time.Second)
	if got := describe(t, p, in.ID); got.State != provider.StatePending {
		t.Errorf("after 44s state = %s, want pending", got.State)
	}
	clk.Advance(time.Second)
	got := describe(t, p, in.ID)
	if got.State != provider.StateRunning {
		t.Fatalf("after 45s state = %s, want running", got.State)
	}
	if want := epoch.Add(45 * time.Second); !got.StateChangedAt.Equal(want) {
		t.Errorf("StateChangedAt = %v, want %v", got.StateChangedAt, want)
	}
}

func TestFake_FailNextCountsCalls(t *testing.T) {
	p, _ := newFake(t, 0)
	boom := errors.New("throttled")
	p.FailNext(fake.MethodLaunch, 2, boom)
	for i := range 2 {
		if _, err := p.Launch(context.Background(), spec("a")); !errors.Is(err, boom) {
			t.Fatalf("launch %d: err = %v, want %v", i, err, boom)
		}
	}
	if ins, _ := p.Describe(context.Background(), "fake-1", provider.Filter{}); len(ins) != 0 {
		t.Fatalf("failed launches created %d instances", len(ins))
	}
	if _, err := p.Launch(context.Background(), spec("a")); err != nil {
		t.Fatalf("third launch: %v", err)
	}
	if got := p.Calls(fake.MethodLaunch); got != 3 {
		t.Errorf("Calls(Launch) = %d, want 3", got)
	}
	if got := p.Calls(fake.MethodDescribe); got != 1 {
		t.Errorf("Calls(Describe) = %d, want 1", got)
	}
	if got := len(p.Launches()); got != 3 {
		t.Errorf("Launches() has %d specs, want 3", got)
	}
	p.ResetCalls()
	if got := p.Calls(fake.MethodLaunch); got != 0 {
		t.Errorf("after ResetCalls, Calls(Launch) = %d", got)
	}
}

func TestFake_FailNextAfterEffectKeepsInstance(t *testing.T) {
	p, _ := newFake(t, 0)
	lost := errors.New("connection reset")
	p.FailNextAfterEffect(fake.MethodLaunch, 1, lost)
	if _, err := p.Launch(context.Background(), spec("a")); !errors.Is(err, lost) {
		t.Fatalf("err = %v, want %v", err, lost)
	}
	ins, _ := p.Describe(context.Background(), "fake-1", provider.Filter{})
	if len(ins) != 1 {
		t.Fatalf("a launch whose response was lost made %d instances, want 1", len(ins))
	}
	again, err := p.Launch(context.Background(), spec("a"))
	if err != nil {
		t.Fatal(err)
	}
	if again.ID != ins[0].ID {
		t.Errorf("retry with the same token made %s, want %s", again.ID, ins[0].ID)
	}
}

func TestFake_NoCapacityToggles(t *testing.T) {
	p, _ := newFake(t, 0)
	p.SetNoCapacity("t3.micro", true)
	if _, err := p.Launch(context.Background(), spec("a")); !provider.IsCapacity(err) {
		t.Fatalf("err = %v, want a capacity error", err)
	}
	p.SetNoCapacity("t3.micro", false)
	if _, err := p.Launch(context.Background(), spec("a")); err != nil {
		t.Fatalf("after capacity returned: %v", err)
	}
}

func TestFake_SpotPriceCappedAtMax(t *testing.T) {
	p, _ := newFake(t, 0)
	s := spec("a")
	s.Spot = true
	s.MaxPriceMicros = 5000
	p.SetSpotPrice("t3.micro", 6000)
	in, err := p.Launch(context.Background(), s)
	if err != nil {
		t.Fatal(err)
	}
	if in.PriceMicros != 5000 {
		t.Errorf("spot price above max: PriceMicros = %d, want the max 5000", in.PriceMicros)
	}
	p.SetSpotPrice("t3.micro", 4000)
	s.ClientToken = "a2"
	in, err = p.Launch(context.Background(), s)
	if err != nil {
		t.Fatal(err)
	}
	if in.PriceMicros != 4000 {
		t.Errorf("PriceMicros = %d, want the spot price 4000", in.PriceMicros)
	}
	p.SetSpotPrice("t3.micro", 0)
	s.ClientToken = "b"
	in, err = p.Launch(context.Background(), s)
	if err != nil {
		t.Fatal(err)
	}
	if want := int64(10400 * fake.SpotPercent / 100); in.PriceMicros != want {
		t.Errorf("default spot PriceMicros = %d, want %d", in.PriceMicros, want)
	}
}

func TestFake_ReclaimTerminatesAtInterruption(t *testing.T) {
	p, clk := newFake(t, 0)
	s := spec("a")
	s.Spot = true
	in, err := p.Launch(context.Background(), s)
	if err != nil {
		t.Fatal(err)
	}
	if err := p.Reclaim(context.Background(), "fake-1", in.ID, 2*time.Minute); err != nil {
		t.Fatal(err)
	}
	got := describe(t, p, in.ID)
	if want := epoch.Add(2 * time.Minute); !got.InterruptionAt.Equal(want) || got.State != provider.StateRunning {
		t.Fatalf("after Reclaim: state %s InterruptionAt %v, want running and %v", got.State, got.InterruptionAt, want)
	}
	clk.Advance(2 * time.Minute)
	got = describe(t, p, in.ID)
	if got.State != provider.StateTerminated {
		t.Fatalf("after the notice: state %s, want terminated", got.State)
	}
	if !got.StateChangedAt.Equal(got.InterruptionAt) {
		t.Errorf("terminated at %v, want InterruptionAt %v", got.StateChangedAt, got.InterruptionAt)
	}
}

func TestFake_TerminatedPurgedAfterAnHour(t *testing.T) {
	p, clk := newFake(t, 0)
	in, err := p.Launch(context.Background(), spec("a"))
	if err != nil {
		t.Fatal(err)
	}
	if err := p.Terminate(context.Background(), "fake-1", in.ID); err != nil {
		t.Fatal(err)
	}
	clk.Advance(59 * time.Minute)
	describe(t, p, in.ID)
	clk.Advance(time.Minute)
	ins, _ := p.Describe(context.Background(), "fake-1", provider.Filter{})
	if len(ins) != 0 {
		t.Fatalf("an hour after termination %d instances are listed", len(ins))
	}
	// The token is forgotten with the instance.
	again, err := p.Launch(context.Background(), spec("a"))
	if err != nil {
		t.Fatal(err)
	}
	if again.ID == in.ID {
		t.Errorf("a purged instance came back: %s", again.ID)
	}
}
