package store

import (
	"context"
	"encoding/json"
)

// Customisation is what the policy installed on a cluster's nodes,
// captured when the cluster was created so that a later policy edit does
// not change it: Data is an api.Customisation as JSON (ssh keys and the
// scripts' content). The record goes with its cluster's record.
type Customisation struct {
	Cluster string
	Data    json.RawMessage
}

// CustomisationQueries are the per-table operations on clusters'
// customisations and the nodes' reports of them.
type CustomisationQueries interface {
	// CreateCustomisation stores c; its cluster's record must exist.
	// ErrConflict if the cluster has one already.
	CreateCustomisation(ctx context.Context, c *Customisation) error
	// GetCustomisation returns a cluster's customisation; ErrNotFound if
	// it has none.
	GetCustomisation(ctx context.Context, cluster string) (*Customisation, error)
	// RecordCustomisationReport notes that the node's instance of that
	// generation has reported its customisation, and says whether this is
	// the first report (false: recorded before; repeating it is harmless).
	// The note goes with the cluster's record.
	RecordCustomisationReport(ctx context.Context, cluster, node string, generation int) (first bool, err error)
}
