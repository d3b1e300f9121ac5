package aws_test

import (
	"context"
	"errors"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/ec2"

	"github.com/stratus-cloud/stratus/internal/provider"
	"github.com/stratus-cloud/stratus/internal/provider/aws"
	"github.com/stratus-cloud/stratus/internal/provider/aws/ec2fake"
)

// isolateAWSEnv keeps the default client from reading the developer's AWS
// configuration or asking an instance metadata service for credentials.
func isolateAWSEnv(t *testing.T) {
	t.Helper()
	none := filepath.Join(t.TempDir(), "none")
	for k, v := range map[string]string{
		"AWS_CONFIG_FILE":             none,
		"AWS_SHARED_CREDENTIALS_FILE": none,
		"AWS_EC2_METADATA_DISABLED":   "true",
		"AWS_PROFILE":                 "",
		"AWS_ACCESS_KEY_ID":           "",
		"AWS_SECRET_ACCESS_KEY":       "",
		"AWS_SESSION_TOKEN":           "",
		"AWS_REGION":                  "",
		"AWS_ENDPOINT_URL":            "",
		"AWS_ENDPOINT_URL_EC2":        "",
		"AWS_RETRY_MODE":              "",
		"AWS_MAX_ATTEMPTS":            "",
		"AWS_NEW_RETRIES_2026":        "",
	} {
		t.Setenv(k, v)
	}
}

func staticCredentials(o *ec2.Options) {
	o.Credentials = credentials.NewStaticCredentialsProvider("AKIDSTRATUSTEST", "secret", "")
}

// newSDKProvider returns a provider whose clients are made by the default
// NewClient (config.LoadDefaultConfig, the adaptive retryer) and answered
// by the fake below their retry and signing middleware.
func newSDKProvider(t *testing.T, fake *ec2fake.Fake, maxAttempts int) *aws.Provider {
	t.Helper()
	p, err := aws.New(context.Background(), aws.Options{
		Regions:       []aws.RegionConfig{{Name: "us-east-1", ImageID: testImage}},
		MaxAttempts:   maxAttempts,
		MaxBackoff:    time.Millisecond, // tiny backoff: the test is about counts, not time
		ClientOptions: []func(*ec2.Options){staticCredentials, fake.ClientOptions()},
	})
	if err != nil {
		t.Fatalf("aws.New: %v", err)
	}
	return p
}

// TestRetry runs the provider's default clients (real *ec2.Client, adaptive
// retryer) against the fake. The subtests share one isolated environment
// and run in parallel, since after a throttle the adaptive retryer waits
// in real time.
func TestRetry(t *testing.T) {
	isolateAWSEnv(t)
	for name, fn := range map[string]func(*testing.T){
		"ThrottledCallsAreRetriedBySDK": testRetryThrottledCallsAreRetriedBySDK,
		"ThrottlingOutlastsTheBudget":   testRetryThrottlingOutlastsTheBudget,
		"PermissionErrorIsNotRetried":   testRetryPermissionErrorIsNotRetried,
		"CapacityErrorIsNotRetried":     testRetryCapacityErrorIsNotRetried,
	} {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			fn(t)
		})
	}
}

func testRetryThrottledCallsAreRetriedBySDK(t *testing.T) {
	fake := ec2fake.New(ec2fake.Options{})
	p := newSDKProvider(t, fake, 4)
	ctx := context.Background()

	fake.Throttle(2)
	in, err := p.Launch(ctx, testSpec())
	if err != nil {
		t.Fatalf("Launch after 2 throttled attempts: %v", err)
	}
	if n := fake.Calls(ec2fake.ActionRunInstances); n != 3 {
		t.Errorf("RunInstances reached EC2 %d times, want 3 (2 throttled + 1)", n)
	}
	// The retries carried the same client token: one instance.
	for _, ri := range fake.RunInstancesInputs() {
		if got := *ri.ClientToken; got != testSpec().ClientToken {
			t.Errorf("attempt carried ClientToken %q", got)
		}
	}
	got, err := p.Describe(ctx, "us-east-1", provider.Filter{})
	if err != nil || len(got) != 1 || got[0].ID != in.ID {
		t.Errorf("Describe = %v, %v; want just %s", got, err, in.ID)
	}

}

func testRetryThrottlingOutlastsTheBudget(t *testing.T) {
	fake := ec2fake.New(ec2fake.Options{})
	// Two attempts: after a throttle the adaptive retryer lets a fresh
	// client send only about one request per two seconds.
	p := newSDKProvider(t, fake, 2)
	fake.Throttle(100)
	_, err := p.Describe(context.Background(), "us-east-1", provider.Filter{})
	if !errors.Is(err, aws.ErrThrottled) || !strings.Contains(err.Error(), "retry budget ran out") {
		t.Errorf("Describe throttled past the budget: %v, want ErrThrottled", err)
	}
	if n := fake.Calls(ec2fake.ActionDescribeInstances); n != 2 {
		t.Errorf("DescribeInstances attempted %d times, want MaxAttempts = 2", n)
	}
}

func testRetryPermissionErrorIsNotRetried(t *testing.T) {
	fake := ec2fake.New(ec2fake.Options{})
	p := newSDKProvider(t, fake, 8)
	fake.Deny(ec2fake.ActionRunInstances)
	_, err := p.Launch(context.Background(), testSpec())
	var pe *aws.PermissionError
	if !errors.As(err, &pe) {
		t.Fatalf("Launch without permission: %v (%T), want *aws.PermissionError", err, err)
	}
	if pe.Action != "ec2:RunInstances" || pe.Code != "UnauthorizedOperation" {
		t.Errorf("PermissionError = %+v, want ec2:RunInstances / UnauthorizedOperation", pe)
	}
	if msg := err.Error(); !strings.Contains(msg, "ec2:RunInstances") || !strings.Contains(msg, "stratus aws policy") {
		t.Errorf("message %q should name ec2:RunInstances and `stratus aws policy`", msg)
	}
	if n := fake.Calls(ec2fake.ActionRunInstances); n != 1 {
		t.Errorf("a refused RunInstances was sent %d times, want 1", n)
	}
}

func testRetryCapacityErrorIsNotRetried(t *testing.T) {
	fake := ec2fake.New(ec2fake.Options{})
	p := newSDKProvider(t, fake, 8)
	fake.NoCapacity("t3.micro", "InsufficientInstanceCapacity")
	_, err := p.Launch(context.Background(), testSpec())
	if !provider.IsCapacity(err) {
		t.Fatalf("Launch: %v, want a *provider.CapacityError", err)
	}
	if n := fake.Calls(ec2fake.ActionRunInstances); n != 1 {
		t.Errorf("RunInstances without capacity was sent %d times, want 1: the caller falls back, not the retryer", n)
	}
}
