package cluster

import (
	"github.com/stratus-cloud/stratus/internal/auth"
	"github.com/stratus-cloud/stratus/internal/provider"
	"github.com/stratus-cloud/stratus/internal/store"
)

// Launcher holds what every launch of a node's instance needs: the
// installation (tags and client tokens), the secret agent tokens are derived
// from, and the URL agents reach the control plane at. The cluster
// controller and the schedule runner (which launches regions' workers)
// launch through it, so that every instance is tagged and bootstrapped
// the same way.
type Launcher struct {
	Installation string
	AgentSecret  string
	AdvertiseURL string
}

// Spec returns the launch spec of node n: a client token derived from the
// node and its generation (so a retried launch never makes a duplicate),
// tags for the installation, role and node plus extra (cluster, owner), and
// the agent's bootstrap with the node's own agent token.
func (l Launcher) Spec(n *store.Node, extra map[string]string) provider.LaunchSpec {
	tags := map[string]string{
		provider.TagInstallation: l.Installation,
		provider.TagRole:         string(n.Role),
		provider.TagNode:         n.ID,
	}
	for k, v := range extra {
		tags[k] = v
	}
	return provider.LaunchSpec{
		Region:         n.Region,
		ClientToken:    auth.ClientToken(l.Installation, n.ID, n.Generation),
		Type:           n.Type,
		RootVolumeGB:   n.RootVolumeGB,
		Spot:           n.Spot,
		MaxPriceMicros: n.MaxPriceMicros,
		Tags:           tags,
		Agent: provider.AgentBootstrap{
			ServerURL: l.AdvertiseURL,
			Token:     auth.AgentToken(l.AgentSecret, n.ID, n.Generation),
		},
	}
}
