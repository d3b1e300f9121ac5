package metrics

import (
	"context"
	"time"

	"github.com/stratus-cloud/stratus/internal/cost"
	"github.com/stratus-cloud/stratus/internal/provider"
)

// instrumented is a provider.Provider decorator that counts and times
// every call.
type instrumented struct {
	p provider.Provider
	m *Metrics
}

var _ provider.Provider = (*instrumented)(nil)

// Provider returns p with every call counted and timed.
func (m *Metrics) Provider(p provider.Provider) provider.Provider { return &instrumented{p: p, m: m} }

func (i *instrumented) Name() string          { return i.p.Name() }
func (i *instrumented) Billing() cost.Billing { return i.p.Billing() }

func (i *instrumented) Regions(ctx context.Context) ([]string, error) {
	start := time.Now()
	out, err := i.p.Regions(ctx)
	i.m.observe(i.p.Name(), "regions", start, err)
	return out, err
}

func (i *instrumented) Launch(ctx context.Context, spec provider.LaunchSpec) (provider.Instance, error) {
	start := time.Now()
	out, err := i.p.Launch(ctx, spec)
	i.m.observe(i.p.Name(), "launch", start, err)
	return out, err
}

func (i *instrumented) Describe(ctx context.Context, region string, f provider.Filter) ([]provider.Instance, error) {
	start := time.Now()
	out, err := i.p.Describe(ctx, region, f)
	i.m.observe(i.p.Name(), "describe", start, err)
	return out, err
}

func (i *instrumented) Start(ctx context.Context, region, id string) error {
	start := time.Now()
	err := i.p.Start(ctx, region, id)
	i.m.observe(i.p.Name(), "start", start, err)
	return err
}

func (i *instrumented) Stop(ctx context.Context, region, id string) error {
	start := time.Now()
	err := i.p.Stop(ctx, region, id)
	i.m.observe(i.p.Name(), "stop", start, err)
	return err
}

func (i *instrumented) Terminate(ctx context.Context, region, id string) error {
	start := time.Now()
	err := i.p.Terminate(ctx, region, id)
	i.m.observe(i.p.Name(), "terminate", start, err)
	return err
}
