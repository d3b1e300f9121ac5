package aws

import (
	"context"
	"fmt"
	"time"

	awssdk "github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/aws/retry"
	"github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/service/ec2"
)

// EC2API is the narrow seam between the provider and the SDK: exactly the
// EC2 calls the provider makes, with the SDK's own types. *ec2.Client
// satisfies it; ec2fake.Client is a programmable fake of it. Adding a call
// here means adding it to the fake and to Policy.
type EC2API interface {
	RunInstances(ctx context.Context, in *ec2.RunInstancesInput, optFns ...func(*ec2.Options)) (*ec2.RunInstancesOutput, error)
	DescribeInstances(ctx context.Context, in *ec2.DescribeInstancesInput, optFns ...func(*ec2.Options)) (*ec2.DescribeInstancesOutput, error)
	StartInstances(ctx context.Context, in *ec2.StartInstancesInput, optFns ...func(*ec2.Options)) (*ec2.StartInstancesOutput, error)
	StopInstances(ctx context.Context, in *ec2.StopInstancesInput, optFns ...func(*ec2.Options)) (*ec2.StopInstancesOutput, error)
	TerminateInstances(ctx context.Context, in *ec2.TerminateInstancesInput, optFns ...func(*ec2.Options)) (*ec2.TerminateInstancesOutput, error)
}

var _ EC2API = (*ec2.Client)(nil)

// Retry defaults of the clients New makes.
const (
	DefaultMaxAttempts = 8
	DefaultMaxBackoff  = 20 * time.Second
)

// newClient is the default Options.NewClient: the standard credential chain
// (environment, shared config and credentials files with profiles, SSO,
// web identity, container and instance roles) and region r, with an
// adaptive retryer.
func newClient(ctx context.Context, r string, o Options) (EC2API, error) {
	cfg, err := config.LoadDefaultConfig(ctx,
		config.WithRegion(r),
		config.WithRetryer(func() awssdk.Retryer { return newRetryer(o.MaxAttempts, o.MaxBackoff) }),
	)
	if err != nil {
		return nil, fmt.Errorf("aws provider: load AWS configuration for %s: %w", r, err)
	}
	opts := make([]func(*ec2.Options), 0, 1+len(o.ClientOptions))
	if o.Endpoint != "" {
		endpoint := o.Endpoint
		opts = append(opts, func(eo *ec2.Options) { eo.BaseEndpoint = &endpoint })
	}
	opts = append(opts, o.ClientOptions...)
	return ec2.NewFromConfig(cfg, opts...), nil
}

// newRetryer returns the SDK's adaptive retryer (client-side rate limiting
// that backs off when EC2 throttles) with at most maxAttempts attempts and
// maxBackoff between them. Errors that repeating cannot fix (see
// finalError) are never retried, even when EC2 sends them as server faults
// (InsufficientInstanceCapacity is an HTTP 500): the caller decides what
// to do instead.
func newRetryer(maxAttempts int, maxBackoff time.Duration) awssdk.Retryer {
	return retry.NewAdaptiveMode(func(ao *retry.AdaptiveModeOptions) {
		ao.StandardOptions = append(ao.StandardOptions, func(so *retry.StandardOptions) {
			so.MaxAttempts = maxAttempts
			so.MaxBackoff = maxBackoff
			so.Retryables = append([]retry.IsErrorRetryable{retry.IsErrorRetryableFunc(func(err error) awssdk.Ternary {
				if finalError(err) {
					return awssdk.FalseTernary
				}
				return awssdk.UnknownTernary
			})}, so.Retryables...)
		})
	})
}
