package sqlite

import (
	"context"
	"fmt"
)

// DeleteMeta removes an installation-wide value; see store.MetaQueries.
// Called on the Store, it also checkpoints the write-ahead log into the
// database file and truncates it, so that neither file holds the old value
// when it returns. Inside WithTx the value's bytes are overwritten too, but
// earlier log frames holding it stay until SQLite's next checkpoint.
func (s *Store) DeleteMeta(ctx context.Context, key string) error {
	if err := s.write(ctx, func(q *queries) error { return q.DeleteMeta(ctx, key) }); err != nil {
		return err
	}
	return s.checkpoint(ctx)
}

// DeleteMeta deletes the row with secure_delete on, so that SQLite
// overwrites its bytes with zeros instead of leaving them in the page's
// free space.
func (q *queries) DeleteMeta(ctx context.Context, key string) error {
	if _, err := q.db.ExecContext(ctx, `PRAGMA secure_delete = ON`); err != nil {
		return fmt.Errorf("delete meta %q: %w", key, err)
	}
	defer q.db.ExecContext(context.WithoutCancel(ctx), `PRAGMA secure_delete = OFF`)
	if _, err := q.db.ExecContext(ctx, `DELETE FROM meta WHERE key = ?`, key); err != nil {
		return fmt.Errorf("delete meta %q: %w", key, err)
	}
	return nil
}

// checkpoint copies every committed page of the write-ahead log into the
// database file and truncates the log.
func (s *Store) checkpoint(ctx context.Context) error {
	conn, err := s.writer(ctx)
	if err != nil {
		return err
	}
	defer conn.Close()
	var busy, frames, done int
	if err := conn.QueryRowContext(ctx, `PRAGMA wal_checkpoint(TRUNCATE)`).Scan(&busy, &frames, &done); err != nil {
		return fmt.Errorf("checkpoint: %w", err)
	}
	if busy != 0 {
		return fmt.Errorf("checkpoint: the write-ahead log could not be emptied (%d of %d frames copied): a reader is using it; try again", done, frames)
	}
	return nil
}
