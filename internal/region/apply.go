package region

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/stratus-cloud/stratus/api"
	"github.com/stratus-cloud/stratus/internal/auth"
	"github.com/stratus-cloud/stratus/internal/provider"
	"github.com/stratus-cloud/stratus/internal/store"
)

// applier applies the steps of one region's plan, in order.
type applier struct {
	s      *Service
	region string
	cfg    Config
	d      Desired
	// image is the region's image once the image step is done; group
	// its security group's id and key its key pair's name once theirs
	// are. The worker is launched with them.
	image string
	group string
	key   string
}

func (a *applier) apply(ctx context.Context, st Step) api.RegionStep {
	out := api.RegionStep{Region: a.region, Step: string(st.Kind), Name: st.Name, ID: st.ID}
	var result string
	var err error
	switch st.Kind {
	case KindImage:
		result, err = a.applyImage(ctx, st, &out)
	case KindKeyPair:
		if a.d.Key != nil && st.Name == a.d.Key.Name {
			// The fingerprint as the provider shows it, as check lists it.
			out.ID = a.d.Key.Fingerprint
			if a.d.Key.Reported != "" {
				out.ID = a.d.Key.Reported
			}
		}
		result, err = a.applyKey(ctx, st)
	case KindSecurityGroup:
		result, err = a.applyGroup(ctx, st, &out)
	case KindInstanceProfile:
		var created bool
		created, err = a.s.Resources.EnsureInstanceProfile(ctx, st.Name, a.s.tags(a.cfg.Home, a.cfg.Owner))
		out.ID = st.Name // a profile is known by its name, as check lists it
		result = api.RegionFound
		if created {
			result = api.RegionCreated
		}
	case KindWorker:
		result, err = a.applyWorker(ctx, st, &out)
	case KindSnapshot:
		if st.Action != Remove {
			err = fmt.Errorf("snapshot: unexpected action %s", st.Action)
			break
		}
		result, err = api.RegionRemoved, a.s.deleteSnapshot(ctx, a.region, st.ID)
	default:
		err = fmt.Errorf("unknown step kind %q", st.Kind)
	}
	if err != nil {
		out.Result, out.Reason = api.RegionFailed, err.Error()
		return out
	}
	if st.Action != Remove {
		switch {
		case st.Kind == KindSecurityGroup && st.Name == a.d.Group.Name:
			a.group = out.ID
		case st.Kind == KindKeyPair && a.d.Key != nil && st.Name == a.d.Key.Name:
			a.key = st.Name
		}
	}
	out.Result = result
	if out.Reason == "" && result != api.RegionCreated {
		out.Reason = st.Reason
	}
	return out
}

func (a *applier) applyImage(ctx context.Context, st Step, out *api.RegionStep) (string, error) {
	s := a.s
	switch st.Action {
	case Keep:
		a.image = st.ID
		return api.RegionFound, nil
	case Wait:
		if err := a.waitImage(ctx, st.ID); err != nil {
			return "", err
		}
		a.image = st.ID
		out.Reason = "the copy was pending; now available"
		return api.RegionFound, nil
	case Remove:
		return api.RegionRemoved, s.Resources.DeregisterImage(ctx, a.region, st.ID)
	case Create, Repair:
		record := "image:" + a.region + ":" + a.d.Image.SourceRegion + ":" + a.d.Image.SourceID
		result := api.RegionCreated
		if st.Action == Repair {
			if err := s.Resources.DeregisterImage(ctx, a.region, st.ID); err != nil {
				return "", fmt.Errorf("deregister the failed copy %s: %w", st.ID, err)
			}
			record += ":after:" + st.ID
			result = api.RegionRepaired
		}
		tags := s.tags(a.cfg.Home, a.cfg.Owner, TagSourceRegion, a.d.Image.SourceRegion, TagSourceImage, a.d.Image.SourceID)
		img, err := s.Resources.CopyImage(ctx, a.d.Image.SourceRegion, a.d.Image.SourceID, a.region, a.d.Image.Name,
			auth.ClientToken(s.Installation, record, 1), tags)
		if err != nil {
			return "", fmt.Errorf("copy image %s from %s: %w", a.d.Image.SourceID, a.d.Image.SourceRegion, err)
		}
		out.ID = img.ID
		if err := a.waitImage(ctx, img.ID); err != nil {
			return "", err
		}
		a.image = img.ID
		out.Reason = fmt.Sprintf("copied from %s in %s", a.d.Image.SourceID, a.d.Image.SourceRegion)
		return result, nil
	}
	return "", fmt.Errorf("image: unexpected action %s", st.Action)
}

// waitImage waits until the copy id is available.
func (a *applier) waitImage(ctx context.Context, id string) error {
	s := a.s
	deadline := s.Clock.Now().Add(s.imageTimeout())
	for {
		imgs, err := s.Resources.ListImages(ctx, a.region, s.ours())
		if err != nil {
			return fmt.Errorf("wait for the copy %s: %w", id, err)
		}
		i := slices.IndexFunc(imgs, func(img provider.Image) bool { return img.ID == id })
		switch {
		case i < 0:
			return fmt.Errorf("the copy %s disappeared while pending", id)
		case imgs[i].State == provider.ImageAvailable:
			return nil
		case imgs[i].State != provider.ImagePending:
			return fmt.Errorf("the copy %s is %s; configure again to copy anew", id, imgs[i].State)
		}
		if !s.Clock.Now().Before(deadline) {
			return fmt.Errorf("the copy %s is still pending after %s; configure again later to wait for it", id, s.imageTimeout())
		}
		if err := s.sleep(ctx); err != nil {
			return err
		}
	}
}

func (a *applier) applyKey(ctx context.Context, st Step) (string, error) {
	s := a.s
	switch st.Action {
	case Keep:
		return api.RegionFound, nil
	case Blocked:
		return "", errors.New(st.Reason)
	case Remove:
		return api.RegionRemoved, s.Resources.DeleteKeyPair(ctx, a.region, st.Name)
	case Create, Repair:
		result := api.RegionCreated
		if st.Action == Repair {
			if err := s.Resources.DeleteKeyPair(ctx, a.region, st.Name); err != nil {
				return "", fmt.Errorf("delete the old key pair: %w", err)
			}
			result = api.RegionRepaired
		}
		k := a.d.Key
		if _, err := s.Resources.ImportKeyPair(ctx, a.region, k.Name, k.PublicKey,
			s.tags(a.cfg.Home, a.cfg.Owner, TagKeyFingerprint, k.Fingerprint)); err != nil {
			return "", fmt.Errorf("import key pair %s: %w", k.Name, err)
		}
		return result, nil
	}
	return "", fmt.Errorf("key pair: unexpected action %s", st.Action)
}

func (a *applier) applyGroup(ctx context.Context, st Step, out *api.RegionStep) (string, error) {
	s := a.s
	switch st.Action {
	case Keep:
		return api.RegionFound, nil
	case Blocked:
		return "", errors.New(st.Reason)
	case Remove:
		return api.RegionRemoved, s.Resources.DeleteSecurityGroup(ctx, a.region, st.ID)
	case Create:
		g, err := s.Resources.CreateSecurityGroup(ctx, a.region, st.Name, "stratus workers", s.tags(a.cfg.Home, a.cfg.Owner))
		if err != nil {
			return "", fmt.Errorf("create security group %s: %w", st.Name, err)
		}
		out.ID = g.ID
		if len(st.Add) > 0 {
			if err := s.Resources.AuthorizeIngress(ctx, a.region, g.ID, st.Add); err != nil {
				return "", fmt.Errorf("add rules to %s: %w", g.ID, err)
			}
		}
		out.Reason = "rules: " + orNothing([]string{FormatRules(st.Add)})
		return api.RegionCreated, nil
	case Repair:
		if len(st.Add) > 0 {
			if err := s.Resources.AuthorizeIngress(ctx, a.region, st.ID, st.Add); err != nil {
				return "", fmt.Errorf("add rules to %s: %w", st.ID, err)
			}
		}
		if len(st.Revoke) > 0 {
			if err := s.Resources.RevokeIngress(ctx, a.region, st.ID, st.Revoke); err != nil {
				return "", fmt.Errorf("remove rules from %s: %w", st.ID, err)
			}
		}
		return api.RegionRepaired, nil
	}
	return "", fmt.Errorf("security group: unexpected action %s", st.Action)
}

func (a *applier) applyWorker(ctx context.Context, st Step, out *api.RegionStep) (string, error) {
	s := a.s
	if st.Action == Remove {
		return api.RegionRemoved, s.removeWorker(ctx, a.region, st.Node, st.Instance)
	}
	if st.Action == Keep {
		out.Reason = "stopped"
		if st.Reason != "" {
			out.Reason = st.Reason
		}
		return api.RegionFound, nil
	}
	if a.image == "" {
		return "", errors.New("no image to launch from")
	}
	n, created, err := s.workerRecord(ctx, a.region, st.Node, a.d.Worker.Type)
	if err != nil {
		return "", err
	}
	out.Name = n.ID
	if st.Replace {
		// The stopped instance was launched with other settings: it goes
		// first, then the record's next generation launches from the spec.
		if err := s.Provider.Terminate(ctx, a.region, st.Instance); err != nil {
			return "", fmt.Errorf("terminate the worker's instance %s to replace it: %w", st.Instance, err)
		}
		if err := s.waitGone(ctx, a.region, st.Instance); err != nil {
			return "", err
		}
		s.event(ctx, n.ID, "region.worker_replaced", fmt.Sprintf("worker %s: instance %s terminated to be replaced (%s)", n.ID, st.Instance, st.Reason))
		st.Instance = ""
	}
	if st.Relaunch || st.Replace {
		if n, err = s.nextGeneration(ctx, n.ID); err != nil {
			return "", err
		}
	}
	inst := provider.Instance{ID: st.Instance}
	if inst.ID == "" {
		if inst, err = a.launch(ctx, n); err != nil {
			return "", err
		}
	}
	out.ID = inst.ID
	if err := a.settle(ctx, n.ID, inst.ID); err != nil {
		return "", err
	}
	if st.Action == Create {
		out.Reason = "launched from " + a.image + ", its agent registered, stopped"
		if !created {
			out.Reason = st.Reason + "; " + out.Reason
		}
		return api.RegionCreated, nil
	}
	out.Reason = st.Reason + "; now stopped"
	if st.Replace {
		out.Reason = st.Reason + "; replaced by " + inst.ID + ", its agent registered, stopped"
	}
	return api.RegionRepaired, nil
}

// workerRecord returns the worker record id, or, when id is "", the
// region's worker record, creating it if there is none. The check and the
// creation are one transaction, so two configures never make two workers.
func (s *Service) workerRecord(ctx context.Context, region, id, typ string) (*store.Node, bool, error) {
	if id != "" {
		n, err := s.Store.GetNode(ctx, id)
		return n, false, err
	}
	var n *store.Node
	created := false
	err := s.Store.WithTx(ctx, func(q store.Queries) error {
		ns, err := q.ListNodes(ctx, store.NodeFilter{Role: store.RoleWorker, Region: region})
		if err != nil {
			return err
		}
		for _, x := range ns {
			if x.Cluster == "" && !x.Terminate {
				n = x
				return nil
			}
		}
		n = &store.Node{
			ID: store.NewNodeID(), Role: store.RoleWorker, Region: region, Type: typ, RootVolumeGB: WorkerVolumeGB,
			Generation: 1, CreatedAt: s.Clock.Now(),
		}
		n.TokenHash = auth.AgentTokenHash(s.AgentSecret, n.ID, n.Generation)
		created = true
		return q.CreateNode(ctx, n)
	})
	if err != nil {
		return nil, false, fmt.Errorf("record the worker of %s: %w", region, err)
	}
	if created {
		s.event(ctx, n.ID, "region.worker_created", fmt.Sprintf("worker %s (%s) recorded for %s", n.ID, typ, region))
	}
	return n, created, nil
}

func (s *Service) event(ctx context.Context, node, kind, msg string) {
	e := &store.Event{Time: s.Clock.Now(), Node: node, Kind: kind, Message: msg}
	if err := s.Store.AppendEvent(ctx, e); err != nil {
		s.log().Warn("cannot record event", "kind", kind, "err", err)
	}
}

// updateNode reads node id, applies fn and writes it in one transaction.
func (s *Service) updateNode(ctx context.Context, id string, fn func(n *store.Node)) (*store.Node, error) {
	var out *store.Node
	err := s.Store.WithTx(ctx, func(q store.Queries) error {
		n, err := q.GetNode(ctx, id)
		if err != nil {
			return err
		}
		fn(n)
		out = n
		return q.UpdateNode(ctx, n)
	})
	return out, err
}

// nextGeneration gives a worker whose instance is gone a new generation:
// a new launch token and agent token, and nothing observed.
func (s *Service) nextGeneration(ctx context.Context, id string) (*store.Node, error) {
	return s.updateNode(ctx, id, func(n *store.Node) {
		n.Generation++
		n.TokenHash = auth.AgentTokenHash(s.AgentSecret, n.ID, n.Generation)
		n.InstanceID, n.InstanceState, n.Address, n.PriceMicros = "", "", "", 0
		n.LaunchedAt, n.RegisteredAt, n.LastHeartbeat = time.Time{}, time.Time{}, time.Time{}
		n.LastError = ""
	})
}

// launch launches the worker n from the region's image. The client token
// comes from the record and its generation, so a retry returns the same
// instance; if that instance is gone, the record moves to its next
// generation and launches once more.
func (a *applier) launch(ctx context.Context, n *store.Node) (provider.Instance, error) {
	s := a.s
	for attempt := 0; ; attempt++ {
		if _, err := s.updateNode(ctx, n.ID, func(x *store.Node) {
			if x.LaunchedAt.IsZero() {
				x.LaunchedAt = s.Clock.Now()
			}
		}); err != nil {
			return provider.Instance{}, err
		}
		spec := s.workerSpec(n, a.cfg, launchFrom{Image: a.image, Group: a.group, KeyName: a.key, Profile: a.d.Profile}, nil)
		inst, lerr := s.Provider.Launch(ctx, spec)
		if lerr != nil {
			_, _ = s.updateNode(ctx, n.ID, func(x *store.Node) { x.LastError = lerr.Error() })
			return provider.Instance{}, fmt.Errorf("launch the worker %s (%s): %w", n.ID, n.Type, lerr)
		}
		if inst.State.Gone() && attempt == 0 {
			var err error
			if n, err = s.nextGeneration(ctx, n.ID); err != nil {
				return provider.Instance{}, err
			}
			continue
		}
		if _, err := s.updateNode(ctx, n.ID, func(x *store.Node) {
			x.InstanceID, x.InstanceState, x.Address, x.PriceMicros, x.LastError = inst.ID, string(inst.State), inst.Address, inst.PriceMicros, ""
		}); err != nil {
			return inst, err
		}
		s.event(ctx, n.ID, "region.worker_launched", fmt.Sprintf("worker %s launched as %s in %s from %s", n.ID, inst.ID, a.region, a.image))
		return inst, nil
	}
}

// settle brings the worker's instance to stopped once its agent has
// registered: a stopped instance whose agent never registered is started,
// a running one whose agent registered is stopped.
func (a *applier) settle(ctx context.Context, nodeID, instID string) error {
	s := a.s
	deadline := s.Clock.Now().Add(s.workerTimeout())
	stopAsked, startAsked := false, false
	for {
		n, err := s.Store.GetNode(ctx, nodeID)
		if err != nil {
			return fmt.Errorf("worker %s: %w", nodeID, err)
		}
		ins, err := s.Provider.Describe(ctx, a.region, provider.Filter{IDs: []string{instID}})
		if err != nil {
			return fmt.Errorf("look at the worker's instance %s: %w", instID, err)
		}
		if len(ins) == 0 || ins[0].State.Gone() || ins[0].State == provider.StateShuttingDown {
			return fmt.Errorf("the worker's instance %s was terminated; configure again to launch another", instID)
		}
		in := ins[0]
		registered := !n.RegisteredAt.IsZero()
		switch {
		case registered && in.State == provider.StateStopped:
			_, err := s.updateNode(ctx, nodeID, func(x *store.Node) { x.InstanceState = string(in.State) })
			return err
		case registered && (in.State == provider.StateRunning || in.State == provider.StatePending) && !stopAsked:
			if err := s.Provider.Stop(ctx, a.region, instID); err != nil {
				return fmt.Errorf("stop the worker's instance %s: %w", instID, err)
			}
			stopAsked = true
			continue
		case !registered && in.State == provider.StateStopped && !startAsked:
			if err := s.Provider.Start(ctx, a.region, instID); err != nil {
				return fmt.Errorf("start the worker's instance %s so that its agent registers: %w", instID, err)
			}
			startAsked = true
			continue
		}
		if !s.Clock.Now().Before(deadline) {
			if !registered {
				return fmt.Errorf("the worker's agent did not register within %s (instance %s is %s); is the control plane reachable at %s from it?",
					s.workerTimeout(), instID, in.State, s.AdvertiseURL)
			}
			return fmt.Errorf("the worker's instance %s did not stop within %s (it is %s)", instID, s.workerTimeout(), in.State)
		}
		if err := s.sleep(ctx); err != nil {
			return err
		}
	}
}

// removeWorker terminates a worker's instances and then forgets its
// record. nodeID may be "" for an instance without a record.
func (s *Service) removeWorker(ctx context.Context, region, nodeID, instID string) error {
	ids := []string{}
	if instID != "" {
		ids = append(ids, instID)
	}
	if nodeID != "" {
		if _, err := s.updateNode(ctx, nodeID, func(n *store.Node) { n.Terminate = true }); err != nil && !errors.Is(err, store.ErrNotFound) {
			return err
		}
		ins, err := s.Provider.Describe(ctx, region, provider.Filter{Tags: map[string]string{
			provider.TagInstallation: s.Installation, provider.TagNode: nodeID}})
		if err != nil {
			return err
		}
		for _, in := range ins {
			if !in.State.Gone() && !slices.Contains(ids, in.ID) {
				ids = append(ids, in.ID)
			}
		}
	}
	for _, id := range ids {
		if err := s.Provider.Terminate(ctx, region, id); err != nil {
			return fmt.Errorf("terminate %s: %w", id, err)
		}
	}
	// A record goes only once the provider confirms its instances are gone.
	for _, id := range ids {
		if err := s.waitGone(ctx, region, id); err != nil {
			return err
		}
	}
	if nodeID != "" {
		if err := s.Store.DeleteNode(ctx, nodeID); err != nil && !errors.Is(err, store.ErrNotFound) {
			return err
		}
		s.event(ctx, nodeID, "region.worker_removed", fmt.Sprintf("worker %s removed from %s", nodeID, region))
	}
	return nil
}

// waitGone waits until the provider reports instance id terminated or no
// longer lists it.
func (s *Service) waitGone(ctx context.Context, region, id string) error {
	deadline := s.Clock.Now().Add(s.workerTimeout())
	for {
		ins, err := s.Provider.Describe(ctx, region, provider.Filter{IDs: []string{id}})
		if err != nil {
			return err
		}
		if len(ins) == 0 || ins[0].State.Gone() {
			return nil
		}
		if !s.Clock.Now().Before(deadline) {
			return fmt.Errorf("instance %s is still %s after %s", id, ins[0].State, s.workerTimeout())
		}
		if err := s.sleep(ctx); err != nil {
			return err
		}
	}
}
