package fake

import (
	"context"
	"fmt"

	"github.com/stratus-cloud/stratus/internal/provider"
)

// MethodGetInstanceProfile counts GetInstanceProfile calls.
const MethodGetInstanceProfile = "GetInstanceProfile"

var _ provider.InstanceProfileGetter = (*Provider)(nil)

// GetInstanceProfile implements provider.InstanceProfileGetter. A fake
// profile has one role of its own name.
func (p *Provider) GetInstanceProfile(ctx context.Context, name string) (provider.InstanceProfile, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	r, fl, err := p.resBegin(ctx, MethodGetInstanceProfile, "")
	if err != nil {
		return provider.InstanceProfile{}, err
	}
	tags, ok := r.profiles[name]
	if !ok {
		return provider.InstanceProfile{}, fmt.Errorf("instance profile %q: %w", name, provider.ErrNotFound)
	}
	return provider.InstanceProfile{Name: name, Roles: []string{name}, Tags: cloneTags(tags)}, fl.result()
}
