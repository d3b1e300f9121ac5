package aws_test

import (
	"context"
	"errors"
	"strings"
	"sync"
	"testing"
	"time"

	awssdk "github.com/aws/aws-sdk-go-v2/aws"

	"github.com/stratus-cloud/stratus/internal/provider"
	"github.com/stratus-cloud/stratus/internal/provider/aws"
	"github.com/stratus-cloud/stratus/internal/provider/aws/ec2fake"
)

// stepClock is a clock whose waits pass at once: After moves it forward by
// the wait. It shows how long a caller would have waited, without waiting.
type stepClock struct {
	mu  sync.Mutex
	now time.Time
}

func (c *stepClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *stepClock) After(d time.Duration) <-chan time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = c.now.Add(max(d, 0))
	ch := make(chan time.Time, 1)
	ch <- c.now
	return ch
}

const testProfile = "stratus-worker"

// newProfileEnv returns a provider over a fake where a new instance
// profile is refused by RunInstances unusable times, and the profile,
// made through the provider.
func newProfileEnv(t *testing.T, unusable int, rc aws.RegionConfig) (*aws.Provider, *ec2fake.Fake, *stepClock) {
	t.Helper()
	clk := &stepClock{now: time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)}
	fake := ec2fake.New(ec2fake.Options{ProfileUnusableFor: unusable})
	rc.Name = "us-east-1"
	p, err := aws.New(context.Background(), aws.Options{
		Regions:      []aws.RegionConfig{rc},
		Clock:        clk,
		NewClient:    func(r string) aws.EC2API { return fake.Client(r) },
		NewIAMClient: func() aws.IAMAPI { return fake.IAM() },
	})
	if err != nil {
		t.Fatal(err)
	}
	if created, err := p.EnsureInstanceProfile(context.Background(), testProfile, map[string]string{provider.TagInstallation: "inst1"}); err != nil || !created {
		t.Fatalf("EnsureInstanceProfile = %v, %v", created, err)
	}
	return p, fake, clk
}

func profileSpec() provider.LaunchSpec {
	return provider.LaunchSpec{Region: "us-east-1", Type: "t3.micro", Image: baseImage, ClientToken: "worker-n1-g1",
		InstanceProfile: testProfile, Tags: map[string]string{provider.TagInstallation: "inst1"}}
}

// tokensOf returns the client tokens of every RunInstances the fake got.
func tokensOf(f *ec2fake.Fake) []string {
	var out []string
	for _, in := range f.RunInstancesInputs() {
		out = append(out, awssdk.ToString(in.ClientToken))
	}
	return out
}

func TestLaunch_RetriesANewInstanceProfile(t *testing.T) {
	t.Parallel()
	p, fake, clk := newProfileEnv(t, 3, aws.RegionConfig{})
	start := clk.Now()
	in, err := p.Launch(context.Background(), profileSpec())
	if err != nil {
		t.Fatalf("Launch: %v", err)
	}
	if in.InstanceProfile != testProfile {
		t.Errorf("instance profile = %q, want %s", in.InstanceProfile, testProfile)
	}
	tokens := tokensOf(fake)
	if len(tokens) != 4 {
		t.Fatalf("RunInstances calls = %d, want 4 (3 refused, then the launch)", len(tokens))
	}
	for _, tok := range tokens {
		if tok != tokens[0] || tok == "" {
			t.Errorf("client tokens across retries = %v, want one token", tokens)
			break
		}
	}
	// Waits of 1s, 2s and 4s.
	if waited := clk.Now().Sub(start); waited != 7*time.Second {
		t.Errorf("waited %s, want 7s", waited)
	}
}

func TestLaunch_InstanceProfileNeverUsableFailsAfterTheBound(t *testing.T) {
	t.Parallel()
	p, fake, clk := newProfileEnv(t, 1<<30, aws.RegionConfig{})
	start := clk.Now()
	_, err := p.Launch(context.Background(), profileSpec())
	var inv *provider.InvalidError
	if !errors.As(err, &inv) || inv.Field != "instance_profile" {
		t.Fatalf("Launch error = %v, want an InvalidError on instance_profile", err)
	}
	for _, want := range []string{testProfile, "Invalid IAM Instance Profile name", "after 1m0s"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q does not say %q", err, want)
		}
	}
	if waited := clk.Now().Sub(start); waited != aws.DefaultProfileWait {
		t.Errorf("waited %s, want the bound %s", waited, aws.DefaultProfileWait)
	}
	tokens := tokensOf(fake)
	if len(tokens) < 3 {
		t.Errorf("RunInstances calls = %d, want retries", len(tokens))
	}
	for _, tok := range tokens {
		if tok != tokens[0] {
			t.Errorf("client tokens across retries = %v, want one token", tokens)
			break
		}
	}
	if ins, _ := p.Describe(context.Background(), "us-east-1", provider.Filter{}); len(ins) != 0 {
		t.Errorf("instances after the failed launch: %+v", ins)
	}
}

func TestLaunch_InstanceProfileRetryStopsAtTheContextsDeadline(t *testing.T) {
	t.Parallel()
	p, fake, _ := newProfileEnv(t, 1<<30, aws.RegionConfig{})
	// A deadline nearer than the first wait: no retry is started.
	ctx, cancel := context.WithTimeout(context.Background(), 500*time.Millisecond)
	defer cancel()
	_, err := p.Launch(ctx, profileSpec())
	if err == nil || !strings.Contains(err.Error(), testProfile) {
		t.Fatalf("Launch error = %v, want one naming the profile", err)
	}
	if n := len(tokensOf(fake)); n != 1 {
		t.Errorf("RunInstances calls = %d, want 1", n)
	}
}

// The region's own static profile is not retried: it is configuration,
// not a profile just made.
func TestLaunch_StaticInstanceProfileIsNotRetried(t *testing.T) {
	t.Parallel()
	p, fake, _ := newProfileEnv(t, 1<<30, aws.RegionConfig{InstanceProfile: testProfile})
	spec := profileSpec()
	spec.InstanceProfile = ""
	_, err := p.Launch(context.Background(), spec)
	var inv *provider.InvalidError
	if !errors.As(err, &inv) {
		t.Fatalf("Launch error = %v, want an InvalidError", err)
	}
	if n := len(tokensOf(fake)); n != 1 {
		t.Errorf("RunInstances calls = %d, want 1", n)
	}
}
