// Package sqlite is stratus's embedded state store: store.Store on a single
// SQLite file, through the pure-Go driver modernc.org/sqlite (no cgo).
//
// # Connections
//
// A Store holds two connection pools on the same file:
//
//   - a writer pool of exactly one connection, opened with _txlock=immediate,
//     on which every write runs: WithTx, and each write method called on the
//     Store directly (run as a one-statement WithTx). Because there is one
//     writer connection, transactions in this process are serialised in Go,
//     before SQLite is asked for its write lock: concurrent read-modify-write
//     transactions never lose an update, never deadlock, and never see
//     SQLITE_BUSY (busy_timeout still covers another process on the file).
//     BEGIN IMMEDIATE takes the write lock at the start, so a transaction
//     can never fail half-way on a lock upgrade.
//   - a reader pool of several query_only connections for the read methods
//     called on the Store directly. In WAL mode readers see the last
//     committed state and are not blocked by a running transaction, so an
//     HTTP handler never waits for a controller's transaction to finish.
//
// No method keeps a connection after it returns (results are read into
// memory before returning), so a long-poll handler that calls the store in a
// loop never pins one.
//
// The catch of a single writer: a write method called on the Store from
// inside a WithTx fn waits for the connection that fn's own transaction
// holds. The store.Store contract forbids this (fn must use only the Queries
// it is given); rather than hang, such a call fails after writerWait with an
// error saying so.
//
// # Durability
//
// The journal is WAL with synchronous=FULL: every commit is fsynced to the
// WAL before Commit returns. synchronous=NORMAL would already survive a
// kill -9 of the control plane (the WAL is in the OS page cache), but not a
// power loss or kernel crash, after which the last commits could roll back.
// stratus launches cloud instances right after committing their records, and
// a lost record means a leaked, billing instance, so the few milliseconds per
// commit are worth paying; stratus's write rate is low.
//
// # File mode
//
// The database holds token hashes and everything else stratus knows, so
// Open creates it with mode 0600 and sets an existing one, with its -wal
// and -shm files, to 0600; SQLite creates the -wal and -shm files with the
// database file's mode.
//
// # Times
//
// Times are stored as INTEGER Unix nanoseconds (exact, and ordered correctly
// by SQLite; RFC 3339 text with trimmed zeros does not sort), and read back
// in UTC. The zero time.Time is stored as NULL and reads back as the zero
// time. Times outside the years 1678–2262 cannot be stored and are an error.
//
// # In-memory databases
//
// ":memory:" is refused: each pool connection would get its own empty
// database. Tests use a file in t.TempDir().
package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"time"

	"modernc.org/sqlite"
	sqlite3 "modernc.org/sqlite/lib"

	"github.com/stratus-cloud/stratus/internal/store"
)

var _ store.Store = (*Store)(nil)

const (
	// busyTimeout is how long SQLite waits for a lock held by another
	// process before returning SQLITE_BUSY.
	busyTimeout = 10 * time.Second
	// defaultWriterWait is how long a write waits for the writer connection
	// before failing loudly (see the package doc).
	defaultWriterWait = 30 * time.Second
)

// Store is a store.Store on one SQLite file. It is safe for concurrent use.
type Store struct {
	path string
	// wdb has exactly one connection; every write goes through it.
	wdb *sql.DB
	// rdb has several read-only connections for reads outside WithTx.
	rdb *sql.DB
	// writerWait bounds the wait for the writer connection.
	writerWait time.Duration
	// now is the clock for the timestamps the store sets itself.
	now func() time.Time
}

// Open opens (creating if needed) the SQLite database at path and brings its
// schema up to date. The caller closes the Store.
func Open(ctx context.Context, path string) (*Store, error) {
	if path == "" {
		return nil, errors.New("open store: empty path: give the database file's path")
	}
	if strings.Contains(path, ":memory:") || strings.Contains(path, "mode=memory") {
		return nil, fmt.Errorf("open store %q: in-memory SQLite databases are not supported (each connection would see its own database); use a file path, e.g. in t.TempDir()", path)
	}
	abs, err := filepath.Abs(path)
	if err != nil {
		return nil, fmt.Errorf("open store %s: %w", path, err)
	}
	s := &Store{path: abs, writerWait: defaultWriterWait, now: time.Now}
	if err := createPrivate(abs); err != nil {
		return nil, fmt.Errorf("open store %s: cannot open the file (does its directory exist, and is it writable?): %w", abs, err)
	}

	pragmas := []string{
		fmt.Sprintf("busy_timeout(%d)", busyTimeout.Milliseconds()),
		"foreign_keys(1)",
		"synchronous(FULL)",
	}
	// The writer sets WAL mode: it is persistent in the file, so the readers,
	// opened afterwards, need not (and as query_only connections cannot).
	s.wdb, err = sql.Open("sqlite", dsn(abs, append(pragmas, "journal_mode(WAL)"), "_txlock=immediate"))
	if err != nil {
		return nil, s.openErr(err)
	}
	s.wdb.SetMaxOpenConns(1)
	s.wdb.SetMaxIdleConns(1)
	s.wdb.SetConnMaxLifetime(0)
	s.wdb.SetConnMaxIdleTime(0)

	if err := s.checkWriter(ctx); err != nil {
		s.wdb.Close()
		return nil, s.openErr(err)
	}
	if err := restrictFiles(abs); err != nil {
		s.wdb.Close()
		return nil, s.openErr(err)
	}
	if err := migrate(ctx, s.wdb, s.now); err != nil {
		s.wdb.Close()
		return nil, s.openErr(err)
	}

	s.rdb, err = sql.Open("sqlite", dsn(abs, append(pragmas, "query_only(1)")))
	if err != nil {
		s.wdb.Close()
		return nil, s.openErr(err)
	}
	n := max(4, runtime.GOMAXPROCS(0))
	s.rdb.SetMaxOpenConns(n)
	s.rdb.SetMaxIdleConns(n)
	if err := s.rdb.PingContext(ctx); err != nil {
		s.Close()
		return nil, s.openErr(err)
	}
	return s, nil
}

// createPrivate creates the database file, empty and readable and
// writable by its owner only, if it does not exist yet: it holds token
// hashes and everything else stratus knows. SQLite gives the -wal and -shm
// files it creates the database file's mode, whatever the umask.
func createPrivate(path string) error {
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE|os.O_EXCL, 0o600)
	if errors.Is(err, os.ErrExist) {
		return nil
	}
	if err != nil {
		return err
	}
	return f.Close()
}

// restrictFiles sets the database file and its -wal and -shm files, as far
// as they exist, to mode 0600: a database made before stratus created it
// so may still be readable by others. It is called once the file is known
// to be a SQLite database.
func restrictFiles(path string) error {
	for _, p := range []string{path, path + "-wal", path + "-shm"} {
		if err := os.Chmod(p, 0o600); err != nil && !errors.Is(err, os.ErrNotExist) {
			return err
		}
	}
	return nil
}

// dsn builds a file: URI for path with the given pragmas and parameters.
// The path is escaped, so names with '?', '#' or '%' work.
func dsn(path string, pragmas []string, params ...string) string {
	u := url.URL{Scheme: "file", Path: filepath.ToSlash(path)}
	q := make([]string, 0, len(pragmas)+len(params))
	for _, p := range pragmas {
		q = append(q, "_pragma="+url.QueryEscape(p))
	}
	q = append(q, params...)
	return u.String() + "?" + strings.Join(q, "&")
}

// checkWriter connects the writer and checks that WAL mode took: SQLite
// silently keeps the old journal mode where WAL is impossible (some network
// file systems), and the concurrency design depends on it.
func (s *Store) checkWriter(ctx context.Context) error {
	var mode string
	if err := s.wdb.QueryRowContext(ctx, "PRAGMA journal_mode").Scan(&mode); err != nil {
		return err
	}
	if !strings.EqualFold(mode, "wal") {
		return fmt.Errorf("could not enable WAL journal mode (got %q); put the database on a local file system", mode)
	}
	return nil
}

// openErr gives errors from Open the path and, for the common mistakes, a
// message saying what is wrong.
func (s *Store) openErr(err error) error {
	var se *sqlite.Error
	if errors.As(err, &se) {
		switch se.Code() & 0xff {
		case sqlite3.SQLITE_NOTADB:
			return fmt.Errorf("open store %s: the file is not a SQLite database (is the path right?): %w", s.path, err)
		case sqlite3.SQLITE_CANTOPEN:
			return fmt.Errorf("open store %s: cannot open the file (does its directory exist, and is it writable?): %w", s.path, err)
		}
	}
	return fmt.Errorf("open store %s: %w", s.path, err)
}

// Close closes both connection pools.
func (s *Store) Close() error {
	var errs []error
	if s.rdb != nil {
		errs = append(errs, s.rdb.Close())
	}
	errs = append(errs, s.wdb.Close())
	return errors.Join(errs...)
}

// writer takes the writer connection, waiting at most s.writerWait.
func (s *Store) writer(ctx context.Context) (*sql.Conn, error) {
	wctx, cancel := context.WithTimeout(ctx, s.writerWait)
	defer cancel()
	// The context bounds only the wait for a connection, not its use.
	conn, err := s.wdb.Conn(wctx)
	if err != nil {
		if ctx.Err() == nil && errors.Is(err, context.DeadlineExceeded) {
			return nil, fmt.Errorf("sqlite store: no write connection after %v: a transaction is running too long, "+
				"or a Store method was called inside a WithTx fn (fn must use only the Queries it is given)", s.writerWait)
		}
		return nil, err
	}
	return conn, nil
}

// WithTx runs fn in one transaction on the writer connection (BEGIN
// IMMEDIATE), committed if fn returns nil and rolled back otherwise. If fn
// panics, the transaction is rolled back and the panic continues.
func (s *Store) WithTx(ctx context.Context, fn func(q store.Queries) error) error {
	conn, err := s.writer(ctx)
	if err != nil {
		return err
	}
	defer conn.Close()
	tx, err := conn.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("begin transaction: %w", err)
	}
	done := false
	defer func() {
		if !done {
			// Runs when fn fails and when it panics.
			_ = tx.Rollback()
		}
	}()
	if err := fn(&queries{db: tx, now: s.now}); err != nil {
		return err
	}
	done = true
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("commit transaction: %w", err)
	}
	return nil
}

// read returns Queries on the reader pool, for reads outside a transaction.
func (s *Store) read() *queries { return &queries{db: s.rdb, now: s.now} }

// write runs one write in its own transaction.
func (s *Store) write(ctx context.Context, fn func(q *queries) error) error {
	return s.WithTx(ctx, func(q store.Queries) error { return fn(q.(*queries)) })
}

// writeCopy runs fn on a copy of *v in its own transaction and sets *v to
// the copy only once the transaction has committed: a failed write leaves
// *v as it was.
func writeCopy[T any](ctx context.Context, s *Store, v *T, fn func(q *queries, ctx context.Context, v *T) error) error {
	cp := *v
	if err := s.write(ctx, func(q *queries) error { return fn(q, ctx, &cp) }); err != nil {
		return err
	}
	*v = cp
	return nil
}

// dbtx is what queries needs: *sql.DB and *sql.Tx both have it.
type dbtx interface {
	ExecContext(ctx context.Context, query string, args ...any) (sql.Result, error)
	QueryContext(ctx context.Context, query string, args ...any) (*sql.Rows, error)
	QueryRowContext(ctx context.Context, query string, args ...any) *sql.Row
}

// queries implements store.Queries on a pool or a transaction. The per-table
// methods are in meta.go, clusters.go, nodes.go, tokens.go, events.go,
// jobs.go, output.go and usage.go.
type queries struct {
	db  dbtx
	now func() time.Time
}

var _ store.Queries = (*queries)(nil)

// stamp returns the current time as the store records it: UTC, without a
// monotonic reading, exactly as it will read back.
func (q *queries) stamp() time.Time {
	return time.Unix(0, q.now().UnixNano()).UTC()
}

// orStamp returns t, or the current time (stamp) if t is zero: the
// default of a record's creation and event times.
func (q *queries) orStamp(t time.Time) time.Time {
	if t.IsZero() {
		return q.stamp()
	}
	return t
}

// scanner is a *sql.Row or *sql.Rows.
type scanner interface{ Scan(dest ...any) error }

// The storable range of Unix nanoseconds.
var (
	minTime = time.Unix(0, -1<<63)
	maxTime = time.Unix(0, 1<<63-1)
)

// timeArgs converts times to query arguments, keeping the first error.
type timeArgs struct{ err error }

// arg returns t as Unix nanoseconds, or nil (NULL) for the zero time.
func (a *timeArgs) arg(field string, t time.Time) any {
	if t.IsZero() {
		return nil
	}
	if t.Before(minTime) || t.After(maxTime) {
		if a.err == nil {
			a.err = fmt.Errorf("%s %s is out of range: the store keeps times between years 1678 and 2262", field, t)
		}
		return nil
	}
	return t.UnixNano()
}

// timeOf converts a stored time back: NULL is the zero time.
func timeOf(n sql.NullInt64) time.Time {
	if !n.Valid {
		return time.Time{}
	}
	return time.Unix(0, n.Int64).UTC()
}

// isUniqueViolation reports whether err is a primary key or unique
// constraint violation.
func isUniqueViolation(err error) bool {
	var se *sqlite.Error
	if !errors.As(err, &se) {
		return false
	}
	c := se.Code()
	return c == sqlite3.SQLITE_CONSTRAINT_PRIMARYKEY || c == sqlite3.SQLITE_CONSTRAINT_UNIQUE
}

// execCount runs a statement and returns how many rows it changed; its
// errors are wrapped in what ("delete node \"n1\"").
func (q *queries) execCount(ctx context.Context, what, query string, args ...any) (int64, error) {
	res, err := q.db.ExecContext(ctx, query, args...)
	if err != nil {
		return 0, fmt.Errorf("%s: %w", what, err)
	}
	n, err := affected(res)
	if err != nil {
		return 0, fmt.Errorf("%s: %w", what, err)
	}
	return n, nil
}

// affected returns the number of rows a statement changed.
func affected(res sql.Result) (int64, error) {
	n, err := res.RowsAffected()
	if err != nil {
		return 0, fmt.Errorf("rows affected: %w", err)
	}
	return n, nil
}
