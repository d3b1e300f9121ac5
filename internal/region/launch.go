package region

import (
	"context"
	"fmt"
	"maps"

	"github.com/stratus-cloud/stratus/internal/cluster"
	"github.com/stratus-cloud/stratus/internal/provider"
	"github.com/stratus-cloud/stratus/internal/store"
)

// launchFrom is what a region's worker is launched with: the region's
// image, security group (by id), key pair and instance profile.
type launchFrom struct {
	Image   string
	Group   string
	KeyName string // "" when the region has no key pair
	Profile string
}

// workerSpec is the LaunchSpec of worker n of a region configured as cfg:
// tagged and bootstrapped the way every node's instance is, with the
// region's tags (and extra, which win), launched from f. Configure and
// schedules launch workers with it.
func (s *Service) workerSpec(n *store.Node, cfg Config, f launchFrom, extra map[string]string) provider.LaunchSpec {
	tags := s.tags(cfg.Home, cfg.Owner)
	maps.Copy(tags, extra)
	spec := cluster.Launcher{Installation: s.Installation, AgentSecret: s.AgentSecret, AdvertiseURL: s.AdvertiseURL}.Spec(n, tags)
	spec.Image = f.Image
	if f.Group != "" {
		spec.SecurityGroups = []string{f.Group}
	}
	spec.KeyName = f.KeyName
	spec.InstanceProfile = f.Profile
	return spec
}

// WorkerLaunchSpec returns the LaunchSpec that launches worker n in its
// region the way configure does: from the region's copy of the home image
// (found by its tags), with the region's security group, key pair and
// instance profile, tagged for the region and with extra tags (which
// win). configured is false for a region that was never configured (or
// was cleared): there is nothing of stratus's to launch from and the
// caller launches with the provider's defaults. A configured region whose
// image, group or key pair is missing is an error that says to configure
// it again. It changes nothing.
func (s *Service) WorkerLaunchSpec(ctx context.Context, n *store.Node, extra map[string]string) (spec provider.LaunchSpec, configured bool, err error) {
	if s.Resources == nil {
		return spec, false, nil // a provider without regions' resources
	}
	r := n.Region
	cfg, ok, err := s.loadConfig(ctx, r)
	if err != nil || !ok {
		return spec, false, err
	}
	again := fmt.Sprintf("run `stratus region configure %s --from %s` to make it", r, cfg.Home)
	h, _, err := s.resolveHome(ctx, cfg, false)
	if err != nil {
		return spec, true, fmt.Errorf("the home region %s of %s: %w", cfg.Home, r, err)
	}
	d := s.desired(r, cfg, h)
	var o Observed
	if o.Images, err = s.Resources.ListImages(ctx, r, s.ours()); err != nil {
		return spec, true, fmt.Errorf("list images in %s: %w", r, err)
	}
	if o.Groups, err = s.Resources.ListSecurityGroups(ctx, r, provider.Filter{}); err != nil {
		return spec, true, fmt.Errorf("list security groups in %s: %w", r, err)
	}
	if d.Key != nil {
		if o.KeyPairs, err = s.Resources.ListKeyPairs(ctx, r, provider.Filter{}); err != nil {
			return spec, true, fmt.Errorf("list key pairs in %s: %w", r, err)
		}
	}
	// The same decisions as configure's plan: the copy it keeps, the
	// group it keeps or repairs, the key pair it keeps or repairs.
	f := launchFrom{Profile: d.Profile}
	if st := planImage(d, o)[0]; st.Action == Keep {
		f.Image = st.ID
	} else {
		return spec, true, fmt.Errorf("%s has no available copy of the image %s (%s); %s", r, d.Image.Name, st.Reason, again)
	}
	switch st := planGroup(d, o)[0]; st.Action {
	case Keep, Repair:
		f.Group = st.ID
	default:
		return spec, true, fmt.Errorf("%s: security group %s: %s; %s", r, d.Group.Name, st.Reason, again)
	}
	if d.Key != nil {
		switch st := planKey(d, o)[0]; st.Action {
		case Keep, Repair:
			f.KeyName = d.Key.Name
		default:
			return spec, true, fmt.Errorf("%s: key pair %s: %s; %s", r, d.Key.Name, st.Reason, again)
		}
	}
	return s.workerSpec(n, cfg, f, extra), true, nil
}
