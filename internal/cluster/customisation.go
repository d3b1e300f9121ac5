package cluster

// Per-user customisation: at creation the service captures what the
// owner's policy entry installs (Service.Customisation) into the store, so
// later policy edits do not change the cluster's nodes and restarts keep
// it. Each node's agent fetches its part before it registers
// (NodeCustomisation), installs the keys, runs the scripts and reports
// (ReportCustomisation): one event per script, and a failure fails a
// cluster still being created, fails the cluster when it is the head node,
// and otherwise takes the compute node out of service (it is terminated;
// the fleet launches another if work waits).

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"

	"golang.org/x/crypto/ssh"

	"github.com/stratus-cloud/stratus/api"
	"github.com/stratus-cloud/stratus/internal/store"
)

// captureCustomisation returns the record of the customisation user's
// new cluster name gets, or nil if there is none.
func (s *Service) captureCustomisation(name, user string) (*store.Customisation, error) {
	if s.Customisation == nil {
		return nil, nil
	}
	c := s.Customisation(user)
	if c.Empty() {
		return nil, nil
	}
	data, err := json.Marshal(c)
	if err != nil {
		return nil, err
	}
	return &store.Customisation{Cluster: name, Data: data}, nil
}

// loadCustomisation returns a cluster's captured customisation; none is
// the zero value.
func loadCustomisation(ctx context.Context, q store.Queries, cluster string) (api.Customisation, error) {
	var c api.Customisation
	rec, err := q.GetCustomisation(ctx, cluster)
	if errors.Is(err, store.ErrNotFound) {
		return c, nil
	}
	if err != nil {
		return c, err
	}
	if err := json.Unmarshal(rec.Data, &c); err != nil {
		return c, fmt.Errorf("customisation of %q: %w", cluster, err)
	}
	return c, nil
}

// summary says what c installs without the scripts' bodies: key
// fingerprints (with their comments) and script names.
func summary(c api.Customisation) *api.CustomisationSummary {
	if c.Empty() {
		return nil
	}
	out := &api.CustomisationSummary{}
	for _, line := range c.SSHKeys {
		pk, comment, _, _, err := ssh.ParseAuthorizedKey([]byte(line))
		if err != nil {
			out.SSHKeys = append(out.SSHKeys, "(unreadable key)")
			continue
		}
		fp := ssh.FingerprintSHA256(pk)
		if comment != "" {
			fp += " " + comment
		}
		out.SSHKeys = append(out.SSHKeys, fp)
	}
	for _, sc := range c.Head {
		out.HeadScripts = append(out.HeadScripts, sc.Name)
	}
	for _, sc := range c.Compute {
		out.ComputeScripts = append(out.ComputeScripts, sc.Name)
	}
	return out
}

// NodeCustomisation returns what the node of an agent token installs and
// runs: the keys and its role's scripts. A node of a cluster without a
// customisation (or of no cluster) gets an empty one.
func (s *Service) NodeCustomisation(ctx context.Context, n *store.Node) (api.NodeCustomisation, error) {
	out := api.NodeCustomisation{Cluster: n.Cluster, Role: string(n.Role)}
	if n.Cluster == "" {
		return out, nil
	}
	cl, err := s.Store.GetCluster(ctx, n.Cluster)
	if err != nil {
		return out, fmt.Errorf("cluster %q of node %s: %w", n.Cluster, n.ID, err)
	}
	out.Owner = cl.Owner
	c, err := loadCustomisation(ctx, s.Store, n.Cluster)
	if err != nil {
		return out, err
	}
	out.SSHKeys = c.SSHKeys
	switch n.Role {
	case store.RoleHead:
		out.Scripts = c.Head
	case store.RoleCompute:
		out.Scripts = c.Compute
	}
	return out, nil
}

// maxTail bounds the output a script's event quotes.
const maxTail = 400

// ReportCustomisation records how a node's customisation went: an event
// for the keys and one per script ("bootstrap.ok" or "bootstrap.failed",
// with the script's name and exit code). A failure fails the cluster if it
// is still being created or the node is its head node, with the reason;
// a failed compute node of a running cluster is marked for termination.
// Only a node instance's first report counts: repeating it is harmless.
func (s *Service) ReportCustomisation(ctx context.Context, n *store.Node, r api.CustomisationReport) error {
	if n.Cluster == "" {
		return nil
	}
	var failed bool
	err := s.Store.WithTx(ctx, func(q store.Queries) error {
		first, err := q.RecordCustomisationReport(ctx, n.Cluster, n.ID, n.Generation)
		if err != nil || !first {
			return err
		}
		now := s.Clock.Now()
		var events []*store.Event
		event := func(kind, msg string) {
			events = append(events, &store.Event{Time: now, Cluster: n.Cluster, Node: n.ID, Kind: kind, Message: msg})
		}
		reason := ""
		switch {
		case r.KeysError != "":
			reason = fmt.Sprintf("ssh keys could not be installed on the %s node: %s", n.Role, tail(r.KeysError))
			event("bootstrap.failed", reason)
		case r.KeysInstalled > 0:
			event("bootstrap.ok", fmt.Sprintf("%d ssh key(s) installed in %s on the %s node", r.KeysInstalled, r.KeysFile, n.Role))
		}
		for _, res := range r.Results {
			if res.OK() {
				event("bootstrap.ok", fmt.Sprintf("script %s exited 0 on the %s node", res.Name, n.Role))
				continue
			}
			how := fmt.Sprintf("exited %d", res.ExitCode)
			if res.TimedOut {
				how = "timed out (killed)"
			}
			msg := fmt.Sprintf("script %s %s on the %s node", res.Name, how, n.Role)
			if t := tail(res.Output); t != "" {
				msg += ": " + t
			}
			event("bootstrap.failed", msg)
			if reason == "" {
				reason = "bootstrap " + msg
			}
		}
		for _, e := range events {
			if err := q.AppendEvent(ctx, e); err != nil {
				return err
			}
		}
		if reason == "" {
			return nil
		}
		failed = true
		cl, err := q.GetCluster(ctx, n.Cluster)
		if err != nil {
			return err
		}
		switch {
		case cl.State == store.ClusterCreating || (n.Role == store.RoleHead && cl.State == store.ClusterRunning):
			cl.State, cl.Reason = store.ClusterFailed, reason
			if err := q.UpdateCluster(ctx, cl); err != nil {
				return err
			}
			notifyClusterTx(ctx, s.Notify, q, cl, failedEvent(cl), now, s.Logger)
			return q.AppendEvent(ctx, &store.Event{Time: now, Cluster: n.Cluster, Kind: "cluster.failed", Message: "cluster is failed: " + reason})
		case n.Role == store.RoleCompute:
			node, err := q.GetNode(ctx, n.ID)
			if err != nil {
				return err
			}
			if !node.Terminate {
				node.Terminate = true
				if err := q.UpdateNode(ctx, node); err != nil {
					return err
				}
			}
			return q.AppendEvent(ctx, &store.Event{Time: now, Cluster: n.Cluster, Node: n.ID, Kind: "node.terminating",
				Message: "compute node taken out of service: its bootstrap failed"})
		}
		return nil
	})
	if err != nil {
		return err
	}
	if failed {
		s.Logger.Warn("node bootstrap failed", "cluster", n.Cluster, "node", n.ID, "role", n.Role)
		s.wake()
	}
	return nil
}

// tail returns the last line or so of a script's output, bounded.
func tail(s string) string {
	s = strings.TrimSpace(strings.ToValidUTF8(s, "?"))
	if len(s) > maxTail {
		s = "..." + s[len(s)-maxTail:]
		s = strings.ToValidUTF8(s, "")
	}
	return strings.Join(strings.Fields(strings.ReplaceAll(s, "\n", " | ")), " ")
}
