package aws

import (
	"context"
	"fmt"
	"time"

	awssdk "github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/aws/retry"
	"github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/service/ec2"
	"github.com/aws/aws-sdk-go-v2/service/iam"
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
	// The spot price paid (spotprice.go).
	DescribeSpotPriceHistory(ctx context.Context, in *ec2.DescribeSpotPriceHistoryInput, optFns ...func(*ec2.Options)) (*ec2.DescribeSpotPriceHistoryOutput, error)

	// provider.Resources (resources.go).
	DescribeImages(ctx context.Context, in *ec2.DescribeImagesInput, optFns ...func(*ec2.Options)) (*ec2.DescribeImagesOutput, error)
	CopyImage(ctx context.Context, in *ec2.CopyImageInput, optFns ...func(*ec2.Options)) (*ec2.CopyImageOutput, error)
	DeregisterImage(ctx context.Context, in *ec2.DeregisterImageInput, optFns ...func(*ec2.Options)) (*ec2.DeregisterImageOutput, error)
	DescribeKeyPairs(ctx context.Context, in *ec2.DescribeKeyPairsInput, optFns ...func(*ec2.Options)) (*ec2.DescribeKeyPairsOutput, error)
	ImportKeyPair(ctx context.Context, in *ec2.ImportKeyPairInput, optFns ...func(*ec2.Options)) (*ec2.ImportKeyPairOutput, error)
	DeleteKeyPair(ctx context.Context, in *ec2.DeleteKeyPairInput, optFns ...func(*ec2.Options)) (*ec2.DeleteKeyPairOutput, error)
	DescribeSecurityGroups(ctx context.Context, in *ec2.DescribeSecurityGroupsInput, optFns ...func(*ec2.Options)) (*ec2.DescribeSecurityGroupsOutput, error)
	CreateSecurityGroup(ctx context.Context, in *ec2.CreateSecurityGroupInput, optFns ...func(*ec2.Options)) (*ec2.CreateSecurityGroupOutput, error)
	AuthorizeSecurityGroupIngress(ctx context.Context, in *ec2.AuthorizeSecurityGroupIngressInput, optFns ...func(*ec2.Options)) (*ec2.AuthorizeSecurityGroupIngressOutput, error)
	RevokeSecurityGroupIngress(ctx context.Context, in *ec2.RevokeSecurityGroupIngressInput, optFns ...func(*ec2.Options)) (*ec2.RevokeSecurityGroupIngressOutput, error)
	DeleteSecurityGroup(ctx context.Context, in *ec2.DeleteSecurityGroupInput, optFns ...func(*ec2.Options)) (*ec2.DeleteSecurityGroupOutput, error)

	// Snapshots left by image copies (snapshots.go).
	DescribeSnapshots(ctx context.Context, in *ec2.DescribeSnapshotsInput, optFns ...func(*ec2.Options)) (*ec2.DescribeSnapshotsOutput, error)
	DeleteSnapshot(ctx context.Context, in *ec2.DeleteSnapshotInput, optFns ...func(*ec2.Options)) (*ec2.DeleteSnapshotOutput, error)
}

var _ EC2API = (*ec2.Client)(nil)

// IAMAPI is the seam to IAM, which is global: the calls EnsureInstanceProfile
// makes. *iam.Client satisfies it; ec2fake.IAM is a fake of it. Adding a
// call here means adding it to the fake and to Policy.
type IAMAPI interface {
	GetInstanceProfile(ctx context.Context, in *iam.GetInstanceProfileInput, optFns ...func(*iam.Options)) (*iam.GetInstanceProfileOutput, error)
	CreateRole(ctx context.Context, in *iam.CreateRoleInput, optFns ...func(*iam.Options)) (*iam.CreateRoleOutput, error)
	CreateInstanceProfile(ctx context.Context, in *iam.CreateInstanceProfileInput, optFns ...func(*iam.Options)) (*iam.CreateInstanceProfileOutput, error)
	AddRoleToInstanceProfile(ctx context.Context, in *iam.AddRoleToInstanceProfileInput, optFns ...func(*iam.Options)) (*iam.AddRoleToInstanceProfileOutput, error)
}

var _ IAMAPI = (*iam.Client)(nil)

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

// newIAMClient is the default Options.NewIAMClient: the standard credential
// chain and the adaptive retryer, as newClient. IAM is global; region only
// picks the partition's endpoint.
func newIAMClient(ctx context.Context, region string, maxAttempts int, maxBackoff time.Duration) (IAMAPI, error) {
	cfg, err := config.LoadDefaultConfig(ctx,
		config.WithRegion(region),
		config.WithRetryer(func() awssdk.Retryer { return newRetryer(maxAttempts, maxBackoff) }),
	)
	if err != nil {
		return nil, fmt.Errorf("aws provider: load AWS configuration for IAM: %w", err)
	}
	return iam.NewFromConfig(cfg), nil
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
