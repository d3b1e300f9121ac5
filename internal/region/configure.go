package region

import (
	"context"
	"fmt"
	"slices"
	"strings"

	"github.com/stratus-cloud/stratus/api"
	"github.com/stratus-cloud/stratus/internal/provider"
	"github.com/stratus-cloud/stratus/internal/store"
)

// home is what the home region provides: the image to copy and the rules
// to copy.
type home struct {
	Region    string
	ImageName string
	ImageID   string
	GroupID   string // "" when the group does not exist (check only)
	Rules     []provider.Rule
}

// Configure replicates req.Home to every region of req.Regions, in
// parallel, and reports each step. A request that is wrong (an unknown
// region, a malformed key, no such home image) is an
// *provider.InvalidError and changes nothing; failures in a region are
// reported in its result, and a rerun finishes the job. owner is the
// caller, recorded in the owner tag.
func (s *Service) Configure(ctx context.Context, owner string, req api.RegionConfigureRequest) (api.RegionConfigureResponse, error) {
	var resp api.RegionConfigureResponse
	if err := s.ready(); err != nil {
		return resp, err
	}
	regions, err := s.checkRegions(ctx, req.Regions)
	if err != nil {
		return resp, err
	}
	if req.Home == "" {
		return resp, invalid("home", "name the home region to copy from (--from)")
	}
	if known, err := s.Provider.Regions(ctx); err != nil {
		return resp, fmt.Errorf("list the provider's regions: %w", err)
	} else if !slices.Contains(known, req.Home) {
		return resp, invalid("home", "unknown region %q; the %s provider has %s", req.Home, s.Provider.Name(), strings.Join(known, ", "))
	}
	cfg := Config{
		Home: req.Home, Image: req.Image, KeyName: req.KeyName, PublicKey: strings.TrimSpace(req.PublicKey),
		SecurityGroup: req.SecurityGroup, InstanceProfile: req.InstanceProfile, WorkerType: req.WorkerType, Owner: owner,
	}
	cfg.defaults(s.Installation)
	if cfg.PublicKey != "" {
		if _, err := Fingerprint([]byte(cfg.PublicKey)); err != nil {
			return resp, err
		}
		// A key type the provider cannot import is refused up front.
		if _, err := provider.ReportedKeyFingerprint(s.Resources, []byte(cfg.PublicKey)); err != nil {
			return resp, err
		}
	}
	if s.Catalog != nil {
		if _, ok := s.Catalog.Lookup(cfg.WorkerType); !ok {
			reason := fmt.Sprintf("unknown instance type %q", cfg.WorkerType)
			if sug := s.Catalog.Suggest(cfg.WorkerType); len(sug) > 0 {
				reason += fmt.Sprintf("; did you mean %s?", strings.Join(sug, " or "))
			}
			return resp, invalid("worker_type", "%s", reason)
		}
	}
	h, homeSteps, err := s.resolveHome(ctx, cfg, true)
	resp.Home, resp.HomeSteps = cfg.Home, homeSteps
	if err != nil {
		return resp, err
	}
	// The configuration is desired state: store it first. A region
	// configured before with a key keeps that key when none is given.
	cfgs := make(map[string]Config, len(regions))
	for _, r := range regions {
		c := cfg
		if c.PublicKey == "" {
			if old, ok, err := s.loadConfig(ctx, r); err != nil {
				return resp, err
			} else if ok && old.PublicKey != "" {
				c.PublicKey, c.KeyName = old.PublicKey, old.KeyName
			}
		}
		if err := s.saveConfig(ctx, r, &c); err != nil {
			return resp, fmt.Errorf("store the configuration of %s: %w", r, err)
		}
		cfgs[r] = c
	}
	resp.Regions = forEach(s, regions, func(r string) api.RegionResult {
		return s.configureRegion(ctx, r, cfgs[r], h)
	})
	return resp, nil
}

func (c *Config) defaults(installation string) {
	if c.Image == "" {
		c.Image = DefaultImage
	}
	if c.SecurityGroup == "" {
		c.SecurityGroup = DefaultSecurityGroup
	}
	if c.InstanceProfile == "" {
		c.InstanceProfile = DefaultInstanceProfile
	}
	if c.WorkerType == "" {
		c.WorkerType = DefaultWorkerType
	}
	if c.KeyName == "" {
		c.KeyName = DefaultKeyPrefix + installation
	}
}

// resolveHome finds the home image and the home group's rules. With
// create, a missing home group is created with DefaultRule (and reported
// as a step); without, its rules are taken to be DefaultRule.
func (s *Service) resolveHome(ctx context.Context, cfg Config, create bool) (home, []api.RegionStep, error) {
	h := home{Region: cfg.Home}
	var steps []api.RegionStep
	imgs, err := s.Resources.ListImages(ctx, cfg.Home, provider.Filter{})
	if err != nil {
		return h, nil, fmt.Errorf("list images in the home region %s: %w", cfg.Home, err)
	}
	var found []provider.Image
	for _, img := range imgs {
		if img.Name == cfg.Image || img.ID == cfg.Image {
			found = append(found, img)
		}
	}
	slices.SortStableFunc(found, func(a, b provider.Image) int {
		return boolInt(b.State == provider.ImageAvailable) - boolInt(a.State == provider.ImageAvailable)
	})
	switch {
	case len(found) == 0:
		var names []string
		for _, img := range imgs {
			names = append(names, img.Name)
		}
		return h, nil, invalid("image", "no image named %q in the home region %s (it has %s)", cfg.Image, cfg.Home, orNothing(names))
	case found[0].State != provider.ImageAvailable:
		return h, nil, fmt.Errorf("image %s (%s) in the home region %s is %s; configure again once it is available: %w",
			cfg.Image, found[0].ID, cfg.Home, found[0].State, store.ErrConflict)
	}
	h.ImageName, h.ImageID = found[0].Name, found[0].ID
	steps = append(steps, api.RegionStep{Region: cfg.Home, Step: string(KindImage), Name: h.ImageName, ID: h.ImageID,
		Result: api.RegionFound, Reason: "the image to copy"})

	group, err := s.findGroup(ctx, cfg.Home, cfg.SecurityGroup)
	if err != nil {
		return h, steps, err
	}
	switch {
	case group != nil:
		h.GroupID, h.Rules = group.ID, SortRules(group.Rules)
		steps = append(steps, api.RegionStep{Region: cfg.Home, Step: string(KindSecurityGroup), Name: group.Name, ID: group.ID,
			Result: api.RegionFound, Reason: "rules to copy: " + orNothing([]string{FormatRules(h.Rules)})})
	case !create:
		h.Rules = []provider.Rule{DefaultRule}
	default:
		g, err := s.Resources.CreateSecurityGroup(ctx, cfg.Home, cfg.SecurityGroup, "stratus workers", s.tags(cfg.Home, cfg.Owner))
		if err != nil {
			steps = append(steps, failedStep(cfg.Home, KindSecurityGroup, cfg.SecurityGroup, "", err))
			return h, steps, fmt.Errorf("create the security group %s in the home region %s: %w", cfg.SecurityGroup, cfg.Home, err)
		}
		if err := s.Resources.AuthorizeIngress(ctx, cfg.Home, g.ID, []provider.Rule{DefaultRule}); err != nil {
			steps = append(steps, failedStep(cfg.Home, KindSecurityGroup, g.Name, g.ID, err))
			return h, steps, fmt.Errorf("add the default rule to %s in the home region %s: %w", g.ID, cfg.Home, err)
		}
		h.GroupID, h.Rules = g.ID, []provider.Rule{DefaultRule}
		steps = append(steps, api.RegionStep{Region: cfg.Home, Step: string(KindSecurityGroup), Name: g.Name, ID: g.ID,
			Result: api.RegionCreated, Reason: "not in the home region: created with the default rule " + FormatRule(DefaultRule)})
	}
	return h, steps, nil
}

func boolInt(b bool) int {
	if b {
		return 1
	}
	return 0
}

func orNothing(s []string) string {
	if len(s) == 0 || (len(s) == 1 && s[0] == "") {
		return "none"
	}
	return strings.Join(s, ", ")
}

func (s *Service) findGroup(ctx context.Context, region, name string) (*provider.SecurityGroup, error) {
	gs, err := s.Resources.ListSecurityGroups(ctx, region, provider.Filter{})
	if err != nil {
		return nil, fmt.Errorf("list security groups in %s: %w", region, err)
	}
	for _, g := range gs {
		if g.Name == name {
			return &g, nil
		}
	}
	return nil, nil
}

// desired is what cfg makes of region, given the home region.
func (s *Service) desired(region string, cfg Config, h home) Desired {
	d := Desired{
		Region:       region,
		Installation: s.Installation,
		Home:         region == cfg.Home,
		Image:        ImageSpec{Name: h.ImageName, SourceRegion: cfg.Home, SourceID: h.ImageID},
		Group:        GroupSpec{Name: cfg.SecurityGroup, Rules: h.Rules},
		Profile:      cfg.InstanceProfile,
		Worker:       WorkerSpec{Type: cfg.WorkerType},
	}
	if d.Home {
		d.Group.SourceID = h.GroupID
	}
	if cfg.PublicKey != "" {
		fp, _ := Fingerprint([]byte(cfg.PublicKey))
		d.Key = &KeySpec{Name: cfg.KeyName, PublicKey: []byte(cfg.PublicKey), Fingerprint: fp}
		// A key the provider cannot take fails its import, which says why.
		d.Key.Reported, _ = provider.ReportedKeyFingerprint(s.Resources, d.Key.PublicKey)
	}
	return d
}

// observe lists what region holds.
func (s *Service) observe(ctx context.Context, region string) (Observed, error) {
	var o Observed
	var err error
	if o.Images, err = s.Resources.ListImages(ctx, region, s.ours()); err != nil {
		return o, fmt.Errorf("list images in %s: %w", region, err)
	}
	if o.KeyPairs, err = s.Resources.ListKeyPairs(ctx, region, provider.Filter{}); err != nil {
		return o, fmt.Errorf("list key pairs in %s: %w", region, err)
	}
	if o.Groups, err = s.Resources.ListSecurityGroups(ctx, region, provider.Filter{}); err != nil {
		return o, fmt.Errorf("list security groups in %s: %w", region, err)
	}
	// Instances before records: a record made in between has no instance
	// yet, so no instance is taken for one without a record.
	if o.Instances, err = s.Provider.Describe(ctx, region, provider.Filter{Tags: map[string]string{
		provider.TagInstallation: s.Installation, provider.TagRole: string(store.RoleWorker)}}); err != nil {
		return o, fmt.Errorf("list instances in %s: %w", region, err)
	}
	if err := s.observeSnapshots(ctx, region, &o); err != nil {
		return o, err
	}
	nodes, err := s.Store.ListNodes(ctx, store.NodeFilter{Role: store.RoleWorker, Region: region})
	if err != nil {
		return o, err
	}
	for _, n := range nodes {
		if n.Cluster != "" {
			continue
		}
		o.Workers = append(o.Workers, n)
		if s.Busy != nil {
			busy, err := s.Busy(ctx, n.ID)
			if err != nil {
				return o, fmt.Errorf("is worker %s in use: %w", n.ID, err)
			}
			if busy {
				if o.Busy == nil {
					o.Busy = map[string]bool{}
				}
				o.Busy[n.ID] = true
			}
		}
	}
	return o, nil
}

func failedStep(region string, k Kind, name, id string, err error) api.RegionStep {
	return api.RegionStep{Region: region, Step: string(k), Name: name, ID: id, Result: api.RegionFailed, Reason: err.Error()}
}

// configureRegion observes, plans and applies one region.
func (s *Service) configureRegion(ctx context.Context, region string, cfg Config, h home) api.RegionResult {
	defer s.lock(region)()
	log := s.log().With("region", region)
	res := api.RegionResult{Region: region, OK: true, Steps: []api.RegionStep{}}
	obs, err := s.observe(ctx, region)
	if err != nil {
		res.OK = false
		res.Steps = append(res.Steps, api.RegionStep{Region: region, Step: "observe", Result: api.RegionFailed, Reason: err.Error()})
		return res
	}
	a := &applier{s: s, region: region, cfg: cfg, d: s.desired(region, cfg, h)}
	for _, st := range Plan(a.d, obs) {
		var out api.RegionStep
		if !res.OK {
			out = api.RegionStep{Region: region, Step: string(st.Kind), Name: st.Name, ID: st.ID, Result: api.RegionSkipped,
				Reason: "an earlier step failed; configure again to finish"}
		} else {
			out = a.apply(ctx, st)
		}
		if out.Result == api.RegionFailed {
			res.OK = false
			log.Warn("region step failed", "step", st.Kind, "name", out.Name, "err", out.Reason)
		} else {
			log.Info("region step", "step", st.Kind, "name", out.Name, "id", out.ID, "result", out.Result)
		}
		res.Steps = append(res.Steps, out)
	}
	return res
}
