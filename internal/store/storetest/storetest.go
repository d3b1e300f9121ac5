// Package storetest is the conformance suite for store.Store: every
// implementation runs Run from its own tests, so all of them keep the same
// contract.
//
// Beyond what the store package's doc comments say, the suite pins down:
//
//   - Times. Each time field round-trips to at least millisecond precision
//     (the suite's fixtures use milliseconds, so a microsecond backend passes)
//     as the same instant (compared with time.Time.Equal; the location need
//     not survive). The zero time.Time round-trips as the zero time.
//   - Timestamps the store sets. Create fills a zero CreatedAt (and a zero
//     Cluster.UpdatedAt, with CreatedAt) and AppendEvent a zero Event.Time,
//     with the current time; times the caller set are kept. UpdateCluster
//     always sets UpdatedAt to the current time. A time the store sets is
//     written back into the struct exactly as it will read back.
//   - Versions. Create sets Version to 1 and each successful Update
//     increments it in the struct passed. A failed Create or Update leaves
//     the struct unchanged. Update does not change CreatedAt.
//   - Spec. Cluster.Spec round-trips as the same JSON value (a backend may
//     reformat it); an empty Spec stays empty; a Spec that is not JSON is an
//     error and nothing is stored.
//   - Keys. An empty cluster name, node id or token hash is an error.
//     A non-empty Node.TokenHash is unique: a second node with the same one
//     is ErrConflict, on Create and on Update.
//   - Events. IDs increase in the order events are appended; ListEvents
//     returns newest (highest ID) first. A negative Limit is an error.
//   - WithTx. fn's reads see its own writes. When fn returns an error,
//     WithTx returns it (wrapped or not: errors.Is holds) and nothing fn
//     wrote is visible. When fn panics, the transaction is rolled back and
//     the panic propagates to WithTx's caller with the same value; the store
//     stays usable. With a context already cancelled, fn is not called.
//     Concurrent read-modify-write transactions lose no update and never
//     fail with a busy/locked error. Reads outside a transaction, running
//     concurrently with transactions, never fail and never see an
//     uncommitted value.
//   - Jobs. CreateJob assigns IDs 1, 2, 3, ... in an empty store (any ID the
//     caller set is ignored) and fills a zero SubmittedAt like CreatedAt;
//     UpdateJob is versioned like UpdateNode and does not change
//     SubmittedAt. TimeLimit round-trips to the nanosecond. Argv and
//     Assigned: a nil and an empty slice are equivalent (either may come
//     back). RankExit round-trips exactly: its values, and nil versus empty.
//     An Argv element that is not valid UTF-8 is stored exactly or refused
//     with an error, never altered. ListJobs returns jobs in ID order; an
//     empty States matches every state.
//   - Job output. Seq increases in append order (one sequence across all
//     jobs, so a job's Seqs need not be consecutive); AppendJobOutput fills
//     a zero Time like AppendEvent. Data round-trips byte for byte (NULs,
//     invalid UTF-8); nil and empty Data are equivalent. A negative limit is
//     an error.
//   - Usage. OpenUsage assigns increasing IDs, fills a zero Start with the
//     current time, and refuses a period whose End is set. CloseUsage
//     refuses a zero end or one before Start (the period stays open);
//     closing a closed or missing period is ErrNotFound. UsageFilter.Since
//     keeps periods open or ending strictly after it; filters combine with
//     AND.
//   - Schedules. CreateSchedule fills a zero CreatedAt like CreateCluster;
//     UpdateSchedule is versioned like UpdateNode. Regions and Argv: nil and
//     empty are equivalent. MaxRuntime round-trips to the nanosecond.
//     DeleteSchedule removes the schedule's runs too. CreateScheduleRun
//     numbers a schedule's runs 1, 2, 3, ... (after DeleteSchedule, from 1
//     again) and assigns increasing IDs; ListScheduleRuns returns ID order
//     and never the output; UpdateScheduleRun keeps the output, which only
//     SetScheduleRunOutput replaces. Output round-trips byte for byte; nil
//     and empty are equivalent.
//   - Notifications. AddNotification with a key already present adds
//     nothing and reports false, without error; IDs increase in add order;
//     a zero CreatedAt is filled like Event.Time. ExpandNotification is all
//     or nothing: a delivery listed twice (same channel and recipient)
//     fails it and nothing is recorded. ListDeliveries' DueBy keeps
//     deliveries whose NextAttempt is at or before it. UpdateDelivery is
//     versioned like UpdateNode.
//   - Drop-box requests. A request is unique by Key and ETag (a second is
//     ErrConflict); IDs increase in creation order; CreateDropboxRequest
//     fills a zero SeenAt, and a zero UpdatedAt with SeenAt;
//     UpdateDropboxRequest is versioned like UpdateNode and sets UpdatedAt.
//   - Not-found and conflict errors satisfy errors.Is with store.ErrNotFound
//     and store.ErrConflict.
//
// The suite does not enforce references between records: a node's or job's
// Cluster need not name an existing cluster, deleting a cluster does not
// delete its nodes, and output may be appended for a job id with no job.
package storetest

import (
	"context"
	"encoding/json"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/stratus-cloud/stratus/internal/store"
)

// Run runs the conformance suite. newStore returns a new, empty store for
// one subtest and arranges its closing with t.Cleanup. It is called from
// parallel subtests, so the stores it returns must be independent.
func Run(t *testing.T, newStore func(t *testing.T) store.Store) {
	t.Run("Meta", func(t *testing.T) { t.Parallel(); testMeta(t, newStore) })
	t.Run("MetaDelete", func(t *testing.T) { t.Parallel(); testMetaDelete(t, newStore) })
	t.Run("Clusters", func(t *testing.T) { t.Parallel(); testClusters(t, newStore) })
	t.Run("Nodes", func(t *testing.T) { t.Parallel(); testNodes(t, newStore) })
	t.Run("Tokens", func(t *testing.T) { t.Parallel(); testTokens(t, newStore) })
	t.Run("Events", func(t *testing.T) { t.Parallel(); testEvents(t, newStore) })
	t.Run("Jobs", func(t *testing.T) { t.Parallel(); testJobs(t, newStore) })
	t.Run("JobOutput", func(t *testing.T) { t.Parallel(); testOutput(t, newStore) })
	t.Run("Usage", func(t *testing.T) { t.Parallel(); testUsage(t, newStore) })
	t.Run("Schedules", func(t *testing.T) { t.Parallel(); testSchedules(t, newStore) })
	t.Run("Users", func(t *testing.T) { t.Parallel(); testUsers(t, newStore) })
	t.Run("Audit", func(t *testing.T) { t.Parallel(); testAudit(t, newStore) })
	t.Run("Checks", func(t *testing.T) { t.Parallel(); testChecks(t, newStore) })
	t.Run("Notify", func(t *testing.T) { t.Parallel(); testNotify(t, newStore) })
	t.Run("Dropbox", func(t *testing.T) { t.Parallel(); testDropbox(t, newStore) })
	t.Run("Limits", func(t *testing.T) { t.Parallel(); testLimits(t, newStore) })
	t.Run("JobSummary", func(t *testing.T) { t.Parallel(); testJobSummary(t, newStore) })
	t.Run("Customisation", func(t *testing.T) { t.Parallel(); testCustomisation(t, newStore) })
	t.Run("WithTx", func(t *testing.T) { t.Parallel(); testWithTx(t, newStore) })
}

// opts compare store records: times as instants, Spec as a JSON value.
var opts = cmp.Options{
	cmp.Comparer(func(a, b json.RawMessage) bool {
		if len(a) == 0 || len(b) == 0 {
			return len(a) == len(b)
		}
		var x, y any
		if json.Unmarshal(a, &x) != nil || json.Unmarshal(b, &y) != nil {
			return string(a) == string(b)
		}
		return cmp.Equal(x, y)
	}),
}

// diff is cmp.Diff with opts.
func diff(want, got any) string { return cmp.Diff(want, got, opts) }

// at returns a fixed UTC time with millisecond precision, offset by d.
func at(d time.Duration) time.Time {
	return time.Date(2024, 3, 14, 15, 9, 26, 535_000_000, time.UTC).Add(d)
}

// recent reports whether t is within a minute of now: a time the store set.
func recent(t time.Time) bool {
	d := time.Since(t)
	return d > -time.Minute && d < time.Minute
}

// ctx returns a context cancelled when the test ends.
func ctx(t *testing.T) context.Context { return t.Context() }
