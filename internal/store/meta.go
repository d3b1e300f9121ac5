package store

import "context"

// MetaQueries remove installation-wide values (GetMeta and SetMeta are in
// Queries).
type MetaQueries interface {
	// DeleteMeta removes key's value. It is meant also for taking a secret
	// out of the store, so a backend leaves no copy of the value behind in
	// its files (free space, logs) once the deletion is committed, as far
	// as it can. Deleting a key that is not set is not an error, so
	// repeating it is safe.
	DeleteMeta(ctx context.Context, key string) error
}
