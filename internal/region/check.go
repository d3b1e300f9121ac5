package region

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/stratus-cloud/stratus/api"
	"github.com/stratus-cloud/stratus/internal/provider"
)

// Check lists every resource stratus manages in each region and reports
// how the region differs from what configure would make of it now (from
// its stored configuration and the home region as it is): missing or
// failed images, changed rules, a different key, a missing, unregistered
// or extra worker, a worker launched with another security group, key pair
// or instance profile than the region's, resources that are no longer
// configured, snapshots of image copies that are gone. A region never
// configured is clean if stratus manages nothing there. The configured
// instance profile (global, not per region) is listed with each region as
// present or missing where the provider can look profiles up
// (provider.InstanceProfileGetter); a missing one, or one without a role,
// is drift. Check changes nothing.
func (s *Service) Check(ctx context.Context, regions []string) (api.RegionCheckResponse, error) {
	var resp api.RegionCheckResponse
	if err := s.ready(); err != nil {
		return resp, err
	}
	regions, err := s.checkRegions(ctx, regions)
	if err != nil {
		return resp, err
	}
	type input struct {
		cfg        Config
		configured bool
	}
	inputs := map[string]input{}
	homes := map[string]home{}
	homeErrs := map[string]error{}
	for _, r := range regions {
		cfg, ok, err := s.loadConfig(ctx, r)
		if err != nil {
			return resp, err
		}
		inputs[r] = input{cfg, ok}
		if !ok {
			continue
		}
		key := cfg.Home + "\x00" + cfg.Image + "\x00" + cfg.SecurityGroup
		if _, done := homes[key]; done {
			continue
		}
		if _, done := homeErrs[key]; done {
			continue
		}
		h, _, err := s.resolveHome(ctx, cfg, false)
		if err != nil {
			homeErrs[key] = err
		} else {
			homes[key] = h
		}
	}
	resp.Regions = forEach(s, regions, func(r string) api.RegionCheck {
		in := inputs[r]
		out := api.RegionCheck{Region: r, Configured: in.configured, Home: in.cfg.Home, Resources: []api.RegionResource{}, Drift: []api.RegionDrift{}}
		obs, err := s.observe(ctx, r)
		if err != nil {
			out.Error = err.Error()
			return out
		}
		out.Resources = s.listed(obs)
		if !in.configured {
			for _, res := range out.Resources {
				out.Drift = append(out.Drift, api.RegionDrift{Kind: res.Kind, Name: res.Name, ID: res.ID,
					Problem: "made by stratus but the region is not configured (configure it, or clear it)"})
			}
			return out
		}
		key := in.cfg.Home + "\x00" + in.cfg.Image + "\x00" + in.cfg.SecurityGroup
		if err := homeErrs[key]; err != nil {
			out.Error = fmt.Sprintf("home region %s: %v", in.cfg.Home, err)
			return out
		}
		res, err := s.observeProfile(ctx, in.cfg.InstanceProfile, &obs)
		if err != nil {
			out.Error = err.Error()
			return out
		}
		out.Resources = append(out.Resources, res)
		for _, st := range Plan(s.desired(r, in.cfg, homes[key]), obs) {
			if st.Drift {
				out.Drift = append(out.Drift, api.RegionDrift{Kind: string(st.Kind), Name: st.Name, ID: st.ID, Problem: st.Reason})
			}
		}
		return out
	})
	return resp, nil
}

// observeProfile looks the instance profile name up, if the provider can,
// into o, and returns how check lists it.
func (s *Service) observeProfile(ctx context.Context, name string, o *Observed) (api.RegionResource, error) {
	res := api.RegionResource{Kind: string(KindInstanceProfile), Name: name}
	g, ok := s.Resources.(provider.InstanceProfileGetter)
	if !ok {
		res.State = "not checked: the " + s.Provider.Name() + " provider cannot look instance profiles up"
		return res, nil
	}
	p, err := g.GetInstanceProfile(ctx, name)
	switch {
	case errors.Is(err, provider.ErrNotFound):
		o.ProfileMissing = true
		res.State = "missing"
	case err != nil:
		return res, fmt.Errorf("look up the instance profile %s: %w", name, err)
	default:
		o.Profile = &p
		res.ID = p.Name
		res.State = "exists"
		if len(p.Roles) == 0 {
			res.State = "exists, no role"
		} else {
			res.State = "exists, role " + strings.Join(p.Roles, ", ")
		}
	}
	return res, nil
}

// listed returns the managed resources of a region, for check.
func (s *Service) listed(o Observed) []api.RegionResource {
	out := []api.RegionResource{}
	for _, img := range o.Images {
		if Ours(img.Tags, s.Installation) {
			out = append(out, api.RegionResource{Kind: string(KindImage), Name: img.Name, ID: img.ID, State: string(img.State)})
		}
	}
	for _, kp := range o.KeyPairs {
		if Ours(kp.Tags, s.Installation) {
			out = append(out, api.RegionResource{Kind: string(KindKeyPair), Name: kp.Name, ID: kp.Fingerprint})
		}
	}
	for _, g := range o.Groups {
		if Ours(g.Tags, s.Installation) {
			rules := FormatRules(g.Rules)
			if rules == "" {
				rules = "no rules"
			}
			out = append(out, api.RegionResource{Kind: string(KindSecurityGroup), Name: g.Name, ID: g.ID, State: rules})
		}
	}
	withRecord := map[string]bool{}
	for _, n := range o.Workers {
		withRecord[n.ID] = true
		r := api.RegionResource{Kind: string(KindWorker), Name: n.ID, State: "no instance"}
		for _, in := range o.Instances {
			if in.Tags[provider.TagNode] == n.ID && !in.State.Gone() {
				r.ID, r.State = in.ID, string(in.State)
				break
			}
		}
		if n.Terminate {
			r.State += " (being removed)"
		}
		out = append(out, r)
	}
	for _, in := range o.Instances {
		if !in.State.Gone() && !withRecord[in.Tags[provider.TagNode]] {
			out = append(out, api.RegionResource{Kind: string(KindWorker), Name: in.Tags[provider.TagNode], ID: in.ID, State: string(in.State) + " (no record)"})
		}
	}
	for _, st := range planSnapshots(o) {
		out = append(out, api.RegionResource{Kind: string(KindSnapshot), Name: st.Name, ID: st.ID, State: "its image copy is gone"})
	}
	return out
}

// Clear removes everything stratus made in each region — workers (their
// instances, then their records), image copies (with their snapshots),
// key pairs, security groups and snapshots of copies already gone, with
// this installation's region tags — and forgets the region's
// configuration. Resources without this installation's tags are never
// touched. Instance profiles are global and stay.
func (s *Service) Clear(ctx context.Context, regions []string) (api.RegionClearResponse, error) {
	var resp api.RegionClearResponse
	if err := s.ready(); err != nil {
		return resp, err
	}
	regions, err := s.checkRegions(ctx, regions)
	if err != nil {
		return resp, err
	}
	resp.Regions = forEach(s, regions, func(r string) api.RegionResult { return s.clearRegion(ctx, r) })
	return resp, nil
}

func (s *Service) clearRegion(ctx context.Context, region string) api.RegionResult {
	defer s.lock(region)()
	res := api.RegionResult{Region: region, OK: true, Steps: []api.RegionStep{}}
	step := func(k Kind, name, id string, err error) {
		st := api.RegionStep{Region: region, Step: string(k), Name: name, ID: id, Result: api.RegionRemoved}
		if err != nil {
			st.Result, st.Reason, res.OK = api.RegionFailed, err.Error(), false
		}
		res.Steps = append(res.Steps, st)
	}
	// The region's configuration (desired state) goes first: if clearing
	// stops half-way, check reports what is left as not configured.
	if err := s.saveConfig(ctx, region, nil); err != nil {
		res.OK = false
		res.Steps = append(res.Steps, api.RegionStep{Region: region, Step: "configuration", Result: api.RegionFailed, Reason: err.Error()})
		return res
	}
	obs, err := s.observe(ctx, region)
	if err != nil {
		res.OK = false
		res.Steps = append(res.Steps, api.RegionStep{Region: region, Step: "observe", Result: api.RegionFailed, Reason: err.Error()})
		return res
	}
	// Instances first: a security group in use cannot go.
	withRecord := map[string]bool{}
	for _, n := range obs.Workers {
		withRecord[n.ID] = true
		step(KindWorker, n.ID, n.InstanceID, s.removeWorker(ctx, region, n.ID, ""))
	}
	for _, in := range obs.Instances {
		if !in.State.Gone() && !withRecord[in.Tags[provider.TagNode]] {
			step(KindWorker, in.Tags[provider.TagNode], in.ID, s.removeWorker(ctx, region, "", in.ID))
		}
	}
	for _, img := range obs.Images {
		if Ours(img.Tags, s.Installation) {
			step(KindImage, img.Name, img.ID, s.Resources.DeregisterImage(ctx, region, img.ID))
		}
	}
	for _, kp := range obs.KeyPairs {
		if Ours(kp.Tags, s.Installation) {
			step(KindKeyPair, kp.Name, kp.Name, s.Resources.DeleteKeyPair(ctx, region, kp.Name))
		}
	}
	for _, g := range obs.Groups {
		if Ours(g.Tags, s.Installation) {
			step(KindSecurityGroup, g.Name, g.ID, s.Resources.DeleteSecurityGroup(ctx, region, g.ID))
		}
	}
	// The copies' snapshots went with them; these are of copies
	// deregistered earlier without theirs.
	for _, st := range planSnapshots(obs) {
		step(KindSnapshot, st.Name, st.ID, s.deleteSnapshot(ctx, region, st.ID))
	}
	s.log().Info("region cleared", "region", region, "removed", len(res.Steps), "ok", res.OK)
	return res
}
