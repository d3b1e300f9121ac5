package store

import (
	"context"
	"time"
)

// DropboxStage is how far the drop-box has got with one request object.
type DropboxStage string

// Drop-box stages. A request is seen (recorded before anything is done
// about it), then submitted (the cluster was created or its deletion
// asked for), then waiting (the request object is deleted; the response
// is written once the cluster is running, failed or gone), then done. A
// request that is invalid or refused goes from seen to refused (its
// reason kept), and is done once the failure response is written and the
// request object deleted.
const (
	DropboxSeen      DropboxStage = "seen"
	DropboxSubmitted DropboxStage = "submitted"
	DropboxWaiting   DropboxStage = "waiting"
	DropboxRefused   DropboxStage = "refused"
	DropboxDone      DropboxStage = "done"
)

// DropboxRequest is one request object the drop-box has seen. An object
// is known by its key and its version (the ETag, or a directory's file
// modification time and size): the same version seen twice is the same
// request, so it is carried out once.
type DropboxRequest struct {
	// ID is assigned by CreateDropboxRequest; IDs increase in order seen.
	ID   int64
	Key  string
	ETag string
	// User and Cluster are what the key names (User is empty for a key
	// outside home/<user>/); Kind is "create" or "delete".
	User    string
	Cluster string
	Kind    string
	Stage   DropboxStage
	// Reason says why the request failed ("" while it has not).
	Reason    string
	SeenAt    time.Time
	UpdatedAt time.Time
	Version   int64
}

// DropboxFilter selects drop-box requests. Empty fields match everything;
// Unfinished keeps requests that are not done. Requests come in ID order.
type DropboxFilter struct {
	User       string
	Cluster    string
	Unfinished bool
}

// DropboxQueries are the per-table operations on drop-box requests.
type DropboxQueries interface {
	// CreateDropboxRequest inserts r, assigning r.ID (Version becomes 1,
	// a zero SeenAt and UpdatedAt are set to the current time);
	// ErrConflict if a request with the same Key and ETag exists.
	CreateDropboxRequest(ctx context.Context, r *DropboxRequest) error
	// GetDropboxRequest returns the request of key at version etag;
	// ErrNotFound if there is none.
	GetDropboxRequest(ctx context.Context, key, etag string) (*DropboxRequest, error)
	ListDropboxRequests(ctx context.Context, f DropboxFilter) ([]*DropboxRequest, error)
	// UpdateDropboxRequest writes r if its Version is current and
	// increments it, setting UpdatedAt to the current time; ErrConflict
	// otherwise, ErrNotFound if it is gone.
	UpdateDropboxRequest(ctx context.Context, r *DropboxRequest) error
	// PruneDropboxRequests deletes the done requests last updated before
	// before and returns how many it deleted; requests not done are kept
	// whatever their age. Repeating it is safe.
	PruneDropboxRequests(ctx context.Context, before time.Time) (int64, error)
}
