package aws

import (
	"errors"
	"fmt"
	"strings"

	"github.com/aws/aws-sdk-go-v2/aws/retry"
	"github.com/aws/smithy-go"

	"github.com/stratus-cloud/stratus/internal/provider"
)

// PermissionError means the AWS identity stratus runs as may not make a
// call (UnauthorizedOperation), its credentials were refused (AuthFailure),
// or the account is blocked (Blocked). Repeating the call will not help;
// it is never retried.
type PermissionError struct {
	// Action is the IAM action that was refused, such as "ec2:RunInstances".
	Action string
	// Code is EC2's error code; Message its message (for
	// UnauthorizedOperation it carries an encoded authorization failure
	// message that `aws sts decode-authorization-message` expands).
	Code    string
	Message string
	// Err is the SDK's error.
	Err error
}

func (e *PermissionError) Error() string {
	switch e.Code {
	case "AuthFailure":
		return fmt.Sprintf("aws: %s refused: the AWS credentials were not accepted (%s: %s); check the credentials stratus uses (environment, profile, SSO or instance role)", e.Action, e.Code, e.Message)
	case "Blocked":
		return fmt.Sprintf("aws: %s refused: the AWS account is blocked (%s: %s); contact AWS support", e.Action, e.Code, e.Message)
	}
	return fmt.Sprintf("aws: permission denied: stratus needs %s (%s: %s); attach the policy that `stratus aws policy` prints to the identity stratus runs as", e.Action, e.Code, e.Message)
}

func (e *PermissionError) Unwrap() error { return e.Err }

// ErrThrottled is wrapped by errors from calls that EC2 kept throttling
// until the retryer's budget ran out.
var ErrThrottled = errors.New("EC2 request rate limit exceeded")

type throttledError struct {
	action, region string
	err            error
}

func (e *throttledError) Error() string {
	return fmt.Sprintf("aws: ec2:%s in %s: EC2 kept throttling the request and the retry budget ran out; lower the request rate (fewer concurrent operations) or try again later: %v", e.action, e.region, e.err)
}

func (e *throttledError) Unwrap() []error { return []error{ErrThrottled, e.err} }

// Error codes by what they mean to the caller.
var (
	capacityCodes = map[string]bool{
		"InsufficientInstanceCapacity": true,
		"InstanceLimitExceeded":        true,
		"VcpuLimitExceeded":            true,
		"SpotMaxPriceTooLow":           true,
		"MaxSpotInstanceCountExceeded": true,
		"InsufficientCapacity":         true,
		"Unsupported":                  true,
	}
	permissionCodes = map[string]bool{
		"UnauthorizedOperation": true,
		"AuthFailure":           true,
		"Blocked":               true,
	}
	notFoundCodes = map[string]bool{
		"InvalidInstanceID.NotFound":  true,
		"InvalidInstanceID.Malformed": true,
	}
)

// invalidField returns the LaunchSpec field an EC2 error code blames, and
// whether the code means the request itself was wrong.
func invalidField(code string) (string, bool) {
	switch {
	case code == "IdempotentParameterMismatch":
		return "client_token", true
	case code == "InvalidParameterValue", code == "InvalidParameterCombination", code == "InvalidParameter",
		code == "MissingParameter", code == "UnsupportedOperation", code == "InvalidUserData.Malformed":
		return "request", true
	case strings.HasPrefix(code, "InvalidAMIID."):
		return "image", true
	case strings.HasPrefix(code, "InvalidSubnetID."), strings.HasPrefix(code, "InvalidSubnet."):
		return "region.subnet_id", true
	case strings.HasPrefix(code, "InvalidGroup."), strings.HasPrefix(code, "InvalidGroupId."):
		return "region.security_group_ids", true
	case strings.HasPrefix(code, "InvalidKeyPair."):
		return "region.key_name", true
	case code == "InvalidParameterValue.InstanceProfile", strings.HasPrefix(code, "InvalidInstanceProfile"):
		return "region.instance_profile", true
	}
	return "", false
}

// apiCode returns the EC2 error code in err, if any.
func apiCode(err error) (string, string, bool) {
	var ae smithy.APIError
	if !errors.As(err, &ae) {
		return "", "", false
	}
	return ae.ErrorCode(), ae.ErrorMessage(), true
}

// finalError reports whether err is an EC2 error that repeating the same
// request cannot fix: no capacity, a bad request, no permission.
func finalError(err error) bool {
	code, _, ok := apiCode(err)
	if !ok {
		return false
	}
	if _, bad := invalidField(code); bad {
		return true
	}
	return capacityCodes[code] || permissionCodes[code]
}

func isNotFound(err error) bool {
	code, _, _ := apiCode(err)
	return notFoundCodes[code]
}

// mapError turns an error from the EC2 call action (such as
// "RunInstances") in region into stratus's typed errors:
//
//	capacity codes (see capacityCodes)      → *provider.CapacityError
//	IdempotentParameterMismatch, Invalid*   → *provider.InvalidError
//	UnauthorizedOperation, AuthFailure, ... → *PermissionError
//	throttling codes, retries exhausted     → error wrapping ErrThrottled
//	InvalidInstanceID.NotFound / Malformed  → error wrapping provider.ErrNotFound
//
// typ is the instance type of a launch, "" otherwise. Anything else is
// wrapped with the action and region.
func mapError(action, region, typ string, err error) error {
	if err == nil {
		return nil
	}
	code, msg, ok := apiCode(err)
	if !ok {
		return fmt.Errorf("aws: ec2:%s in %s: %w", action, region, err)
	}
	switch {
	case capacityCodes[code]:
		return &provider.CapacityError{Region: region, Type: typ, Reason: code + ": " + msg}
	case permissionCodes[code]:
		return &PermissionError{Action: "ec2:" + action, Code: code, Message: msg, Err: err}
	case notFoundCodes[code]:
		return fmt.Errorf("aws: ec2:%s in %s: %s: %w", action, region, msg, provider.ErrNotFound)
	}
	if field, ok := invalidField(code); ok {
		return &provider.InvalidError{Field: field, Reason: fmt.Sprintf("EC2 %s refused it: %s: %s", action, code, msg)}
	}
	if _, ok := retry.DefaultThrottleErrorCodes[code]; ok {
		return &throttledError{action: action, region: region, err: err}
	}
	return fmt.Errorf("aws: ec2:%s in %s: %w", action, region, err)
}
