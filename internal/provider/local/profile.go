package local

import (
	"context"
	"fmt"

	"github.com/stratus-cloud/stratus/internal/provider"
)

var _ provider.InstanceProfileGetter = (*Provider)(nil)

// GetInstanceProfile implements provider.InstanceProfileGetter. A local
// profile stands for itself and its role of the same name, as
// EnsureInstanceProfile makes them.
func (p *Provider) GetInstanceProfile(ctx context.Context, name string) (provider.InstanceProfile, error) {
	var out provider.InstanceProfile
	err := p.resCall(ctx, CallGetInstanceProfile, "", func(rs *resourceState, _ tx) error {
		r, ok := rs.Profiles[name]
		if !ok {
			return fmt.Errorf("instance profile %q: %w", name, provider.ErrNotFound)
		}
		out = provider.InstanceProfile{Name: r.Name, Roles: []string{r.Name}, Tags: cloneTags(r.Tags)}
		return nil
	})
	return out, err
}
