package region

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"slices"
)

// KindSnapshot is a storage snapshot an image copy left behind when the
// copy was deregistered without it (on aws, an EBS snapshot).
const KindSnapshot Kind = "snapshot"

// SnapshotCleaner is implemented by Resources whose image copies keep
// snapshots of their own that can outlive them (the aws provider: EBS
// snapshots). Configure and clear remove the ones of this installation
// whose image is gone; check reports them as drift.
type SnapshotCleaner interface {
	// OrphanSnapshots returns the snapshots in region that carry tags and
	// whose image no longer exists, by snapshot id with the image's id.
	// It changes nothing.
	OrphanSnapshots(ctx context.Context, region string, tags map[string]string) (map[string]string, error)
	// DeleteSnapshot deletes a snapshot; one already gone is not an
	// error. Repeating it is safe.
	DeleteSnapshot(ctx context.Context, region, id string) error
}

// observeSnapshots lists the region's orphaned snapshots of ours into o,
// when the provider has snapshots.
func (s *Service) observeSnapshots(ctx context.Context, region string, o *Observed) error {
	c, ok := s.Resources.(SnapshotCleaner)
	if !ok {
		return nil
	}
	orphans, err := c.OrphanSnapshots(ctx, region, s.ours().Tags)
	if err != nil {
		return fmt.Errorf("list snapshots in %s: %w", region, err)
	}
	o.Orphans = orphans
	return nil
}

// planSnapshots removes the snapshots whose image copy is gone.
func planSnapshots(o Observed) []Step {
	var out []Step
	for _, id := range slices.Sorted(maps.Keys(o.Orphans)) {
		img := o.Orphans[id]
		out = append(out, Step{Kind: KindSnapshot, Action: Remove, Name: img, ID: id, Drift: true,
			Reason: fmt.Sprintf("snapshot of the image copy %s, which is gone", img)})
	}
	return out
}

// deleteSnapshot deletes snapshot id in region.
func (s *Service) deleteSnapshot(ctx context.Context, region, id string) error {
	c, ok := s.Resources.(SnapshotCleaner)
	if !ok {
		return errors.New("the " + s.Provider.Name() + " provider has no snapshots")
	}
	return c.DeleteSnapshot(ctx, region, id)
}
