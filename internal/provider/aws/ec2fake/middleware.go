package ec2fake

import (
	"context"

	awsmiddleware "github.com/aws/aws-sdk-go-v2/aws/middleware"
	"github.com/aws/aws-sdk-go-v2/service/ec2"
	"github.com/aws/smithy-go/middleware"
)

type paramsKey struct{}

// ClientOptions makes a real *ec2.Client answer from the fake: every
// operation runs the client's own stack (input validation, idempotency
// token, endpoint resolution, retryer, signing) and then, in place of the
// HTTP round trip, the fake's method for the client's region. So the SDK's
// retryer sees the fake's errors exactly as it would see the service's:
//
//	client := ec2.New(ec2.Options{Region: "us-east-1", Credentials: creds}, fake.ClientOptions())
//
// Operations the fake does not serve fail with InvalidAction.
func (f *Fake) ClientOptions() func(*ec2.Options) {
	return func(o *ec2.Options) {
		o.APIOptions = append(o.APIOptions, f.addMiddleware)
	}
}

func (f *Fake) addMiddleware(stack *middleware.Stack) error {
	// Initialize runs once per operation, after validation and the
	// idempotency token: remember the final input.
	capture := middleware.InitializeMiddlewareFunc("ec2fake.Capture", func(ctx context.Context, in middleware.InitializeInput, next middleware.InitializeHandler) (middleware.InitializeOutput, middleware.Metadata, error) {
		return next.HandleInitialize(middleware.WithStackValue(ctx, paramsKey{}, in.Parameters), in)
	})
	if err := stack.Initialize.Add(capture, middleware.After); err != nil {
		return err
	}
	// Finalize's last middleware runs once per attempt, below the retryer
	// and the signer: answer from the fake instead of sending.
	answer := middleware.FinalizeMiddlewareFunc("ec2fake.Answer", func(ctx context.Context, _ middleware.FinalizeInput, _ middleware.FinalizeHandler) (middleware.FinalizeOutput, middleware.Metadata, error) {
		c := f.Client(awsmiddleware.GetRegion(ctx))
		var (
			out any
			err error
		)
		switch p := middleware.GetStackValue(ctx, paramsKey{}).(type) {
		case *ec2.RunInstancesInput:
			out, err = c.RunInstances(ctx, p)
		case *ec2.DescribeInstancesInput:
			out, err = c.DescribeInstances(ctx, p)
		case *ec2.StartInstancesInput:
			out, err = c.StartInstances(ctx, p)
		case *ec2.StopInstancesInput:
			out, err = c.StopInstances(ctx, p)
		case *ec2.TerminateInstancesInput:
			out, err = c.TerminateInstances(ctx, p)
		case *ec2.DescribeSpotPriceHistoryInput:
			out, err = c.DescribeSpotPriceHistory(ctx, p)
		default:
			var ok bool
			if out, ok, err = answerResources(ctx, c, p); !ok {
				err = APIError("InvalidAction", "The action "+awsmiddleware.GetOperationName(ctx)+" is not valid for this web service.")
			}
		}
		if err != nil {
			return middleware.FinalizeOutput{}, middleware.Metadata{}, err
		}
		return middleware.FinalizeOutput{Result: out}, middleware.Metadata{}, nil
	})
	return stack.Finalize.Add(answer, middleware.After)
}
