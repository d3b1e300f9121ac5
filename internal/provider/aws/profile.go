package aws

import (
	"context"
	"fmt"

	awssdk "github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/iam"

	"github.com/stratus-cloud/stratus/internal/provider"
)

var _ provider.InstanceProfileGetter = (*Provider)(nil)

// GetInstanceProfile implements provider.InstanceProfileGetter with one
// iam:GetInstanceProfile: NoSuchEntity is provider.ErrNotFound.
func (p *Provider) GetInstanceProfile(ctx context.Context, name string) (provider.InstanceProfile, error) {
	if name == "" {
		return provider.InstanceProfile{}, &provider.InvalidError{Field: "instance_profile", Reason: "an instance profile needs a name"}
	}
	c, err := p.iam(ctx)
	if err != nil {
		return provider.InstanceProfile{}, err
	}
	got, err := c.GetInstanceProfile(ctx, &iam.GetInstanceProfileInput{InstanceProfileName: awssdk.String(name)})
	switch {
	case err != nil && codeOf(err) == "NoSuchEntity":
		return provider.InstanceProfile{}, fmt.Errorf("instance profile %q: %w", name, provider.ErrNotFound)
	case err != nil:
		return provider.InstanceProfile{}, iamError("GetInstanceProfile", err)
	case got.InstanceProfile == nil:
		return provider.InstanceProfile{}, fmt.Errorf("instance profile %q: %w", name, provider.ErrNotFound)
	}
	out := provider.InstanceProfile{Name: awssdk.ToString(got.InstanceProfile.InstanceProfileName), Tags: map[string]string{}}
	for _, r := range got.InstanceProfile.Roles {
		out.Roles = append(out.Roles, awssdk.ToString(r.RoleName))
	}
	for _, t := range got.InstanceProfile.Tags {
		out.Tags[awssdk.ToString(t.Key)] = awssdk.ToString(t.Value)
	}
	return out, nil
}
