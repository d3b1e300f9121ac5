package dropbox

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"path"
	"sync"
	"time"

	"github.com/stratus-cloud/stratus/api"
	"github.com/stratus-cloud/stratus/internal/clock"
	"github.com/stratus-cloud/stratus/internal/cluster"
	"github.com/stratus-cloud/stratus/internal/failpoint"
	"github.com/stratus-cloud/stratus/internal/spec"
	"github.com/stratus-cloud/stratus/internal/store"
)

// Defaults of Watcher's intervals.
const (
	DefaultInterval = 30 * time.Second
	DefaultPoll     = time.Second
	// DirSettle is how long a directory's request file must be left
	// unchanged before it is taken: a file being copied in may be seen
	// empty or half written.
	DirSettle = 2 * time.Second
)

// Finished requests are kept for KeepFinished, so that their history can
// be looked at, and pruned at most every PruneEvery.
const (
	KeepFinished = 30 * 24 * time.Hour
	PruneEvery   = time.Hour
)

// Watcher carries out the requests that arrive in a drop-box. It learns of
// request objects from event notifications (Notify) and from a listing of
// the whole drop-box every Interval, so a lost event delays a request but
// never loses it. Each request object (key and ETag) is recorded in the
// store before anything is done about it, and every step after is
// recorded when done, so a restart finishes what a crash interrupted and
// the same object seen twice is carried out once.
type Watcher struct {
	Bucket Bucket
	// BucketName, if set, is the bucket events must name to be heeded.
	BucketName string
	// Prefix is the drop-box's folder in the bucket ("" for its root),
	// without slashes at either end.
	Prefix   string
	Store    store.Store
	Clusters *cluster.Service
	Clock    clock.Clock
	Logger   *slog.Logger
	// Interval is how often the drop-box is listed (DefaultInterval).
	Interval time.Duration
	// Poll is how often requests waiting for their cluster are looked at
	// again (DefaultPoll).
	Poll time.Duration
	// Settle, if set, is how long an object with a modification time
	// (a directory's file) must be left unchanged before it is taken
	// (DirSettle for a directory). A younger one is looked at again once
	// it is old enough.
	Settle time.Duration

	once   sync.Once
	wake   chan struct{}
	mu     sync.Mutex
	queued map[string]bool
	// settling holds the objects left for being too young, and when
	// each is old enough to be looked at again.
	settling map[string]time.Time
	pass     sync.Mutex // one Scan, Drain or Advance at a time
}

func (w *Watcher) init() {
	w.once.Do(func() {
		w.wake = make(chan struct{}, 1)
		w.queued = map[string]bool{}
		w.settling = map[string]time.Time{}
		if w.Interval <= 0 {
			w.Interval = DefaultInterval
		}
		if w.Poll <= 0 {
			w.Poll = DefaultPoll
		}
		if w.Clock == nil {
			w.Clock = clock.Real{}
		}
		if w.Logger == nil {
			w.Logger = slog.New(slog.DiscardHandler)
		}
	})
}

// listPrefix is what listings of the drop-box start with.
func (w *Watcher) listPrefix() string {
	if w.Prefix == "" {
		return ""
	}
	return w.Prefix + "/"
}

// Notify queues the objects of an event notification and wakes the
// watcher; objects of other buckets or outside the drop-box are left
// out. It returns how many were queued. It never blocks.
func (w *Watcher) Notify(objs []EventObject) int {
	w.init()
	n := 0
	w.mu.Lock()
	for _, o := range objs {
		if w.BucketName != "" && o.Bucket != w.BucketName {
			continue
		}
		if _, _, _, err := ParseKey(w.Prefix, o.Key); errors.Is(err, ErrNotRequest) {
			continue
		}
		w.queued[o.Key] = true
		n++
	}
	w.mu.Unlock()
	if n > 0 {
		select {
		case w.wake <- struct{}{}:
		default:
		}
	}
	return n
}

// Run lists the drop-box at once and every Interval, handles notified
// objects when woken, and carries requests forward, until ctx ends.
func (w *Watcher) Run(ctx context.Context) {
	w.init()
	var nextList, nextPrune time.Time
	for {
		if !w.Clock.Now().Before(nextPrune) {
			if err := w.Prune(ctx); err != nil && ctx.Err() == nil {
				w.Logger.Warn("drop-box: pruning finished requests", "err", err)
			}
			nextPrune = w.Clock.Now().Add(PruneEvery)
		}
		if !w.Clock.Now().Before(nextList) {
			if err := w.Scan(ctx); err != nil && ctx.Err() == nil {
				w.Logger.Warn("drop-box listing failed; trying again at the next", "err", err)
			}
			nextList = w.Clock.Now().Add(w.Interval)
		}
		w.requeueSettled()
		if err := w.Drain(ctx); err != nil && ctx.Err() == nil {
			w.Logger.Warn("drop-box: notified objects", "err", err)
		}
		busy, err := w.Advance(ctx)
		if err != nil && ctx.Err() == nil {
			w.Logger.Warn("drop-box: carrying out requests", "err", err)
			busy = true
		}
		wait := nextList.Sub(w.Clock.Now())
		if busy && w.Poll < wait {
			wait = w.Poll
		}
		if due, ok := w.nextSettled(); ok && due.Sub(w.Clock.Now()) < wait {
			// A young file is taken once old enough, not at the next
			// listing.
			wait = max(due.Sub(w.Clock.Now()), 0)
		}
		select {
		case <-ctx.Done():
			return
		case <-w.wake:
		case <-w.Clock.After(wait):
		}
	}
}

// Scan lists the drop-box, records the requests not seen before, and
// carries every request as far as it goes.
func (w *Watcher) Scan(ctx context.Context) error {
	w.init()
	objs, err := w.Bucket.List(ctx, w.listPrefix())
	if err != nil {
		return err
	}
	w.pass.Lock()
	for _, o := range objs {
		if w.young(o) {
			continue
		}
		if err := w.see(ctx, o.Key, o.ETag, "listing"); err != nil {
			w.pass.Unlock()
			return err
		}
	}
	w.pass.Unlock()
	_, err = w.Advance(ctx)
	return err
}

// Drain records the requests among the notified objects that were not
// seen before. An object already gone was dealt with (or withdrawn).
func (w *Watcher) Drain(ctx context.Context) error {
	w.init()
	w.mu.Lock()
	keys := make([]string, 0, len(w.queued))
	for k := range w.queued {
		keys = append(keys, k)
	}
	clear(w.queued)
	w.mu.Unlock()
	w.pass.Lock()
	defer w.pass.Unlock()
	var errs []error
	for _, k := range keys {
		o, err := w.Bucket.Stat(ctx, k)
		if errors.Is(err, ErrNotFound) {
			continue
		}
		if err == nil && w.young(o) {
			continue
		}
		if err == nil {
			err = w.see(ctx, k, o.ETag, "notification")
		}
		if err != nil {
			// Keep the key for the next pass; the listing finds it too.
			w.mu.Lock()
			w.queued[k] = true
			w.mu.Unlock()
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

// young reports whether o was written too recently to be taken (it may
// still be being written), and if so notes when to look at it again. A
// modification time far in the future (a clock set wrong) does not hold
// the object back.
func (w *Watcher) young(o Object) bool {
	if w.Settle <= 0 || o.Modified.IsZero() {
		return false
	}
	if _, _, _, err := ParseKey(w.Prefix, o.Key); errors.Is(err, ErrNotRequest) {
		return false
	}
	age := w.Clock.Now().Sub(o.Modified)
	if age >= w.Settle || age <= -w.Settle {
		return false
	}
	w.mu.Lock()
	w.settling[o.Key] = o.Modified.Add(w.Settle)
	w.mu.Unlock()
	return true
}

// requeueSettled queues the objects left for being young that are now
// old enough, for Drain to look at again.
func (w *Watcher) requeueSettled() {
	w.init()
	now := w.Clock.Now()
	w.mu.Lock()
	defer w.mu.Unlock()
	for k, due := range w.settling {
		if !now.Before(due) {
			delete(w.settling, k)
			w.queued[k] = true
		}
	}
}

// nextSettled is when the first object left for being young is old
// enough.
func (w *Watcher) nextSettled() (time.Time, bool) {
	w.init()
	w.mu.Lock()
	defer w.mu.Unlock()
	var first time.Time
	for _, due := range w.settling {
		if first.IsZero() || due.Before(first) {
			first = due
		}
	}
	return first, !first.IsZero()
}

// Prune deletes the records of requests finished more than KeepFinished
// ago. A request is finished only once its object is gone (deleted by the
// drop-box, removed by the user before it was read) or replaced by a
// newer version, which is a request of its own; so no listing can show a
// pruned version again, and forgetting it cannot make it be carried out a
// second time.
func (w *Watcher) Prune(ctx context.Context) error {
	w.init()
	n, err := w.Store.PruneDropboxRequests(ctx, w.Clock.Now().Add(-KeepFinished))
	if err != nil {
		return err
	}
	if n > 0 {
		w.Logger.Info("drop-box: pruned finished requests", "count", n)
	}
	return nil
}

// see records request object key at version etag unless it is known.
func (w *Watcher) see(ctx context.Context, key, etag, how string) error {
	user, name, kind, perr := ParseKey(w.Prefix, key)
	if errors.Is(perr, ErrNotRequest) {
		return nil
	}
	if _, err := w.Store.GetDropboxRequest(ctx, key, etag); err == nil {
		return nil
	} else if !errors.Is(err, store.ErrNotFound) {
		return err
	}
	r := &store.DropboxRequest{Key: key, ETag: etag, User: user, Cluster: name, Kind: kind, Stage: store.DropboxSeen, SeenAt: w.Clock.Now()}
	if perr != nil {
		r.Stage, r.Reason = store.DropboxRefused, perr.Error()
	}
	err := w.Store.CreateDropboxRequest(ctx, r)
	if errors.Is(err, store.ErrConflict) {
		return nil
	}
	if err != nil {
		return err
	}
	w.Logger.Info("drop-box request seen", "key", key, "etag", etag, "by", how, "user", user, "cluster", name, "kind", kind)
	return nil
}

// Advance carries every unfinished request as far as it can go now. It
// reports whether any is left waiting (for its cluster, or after an
// error).
func (w *Watcher) Advance(ctx context.Context) (bool, error) {
	w.init()
	w.pass.Lock()
	defer w.pass.Unlock()
	rs, err := w.Store.ListDropboxRequests(ctx, store.DropboxFilter{Unfinished: true})
	if err != nil {
		return true, err
	}
	var errs []error
	for _, r := range rs {
		for r.Stage != store.DropboxDone {
			moved, err := w.step(ctx, r)
			if err != nil {
				errs = append(errs, fmt.Errorf("%s: %w", r.Key, err))
				break
			}
			if !moved {
				break
			}
		}
	}
	for _, r := range rs {
		if r.Stage != store.DropboxDone {
			return true, errors.Join(errs...)
		}
	}
	return false, errors.Join(errs...)
}

// step does the next step of r and records it; it reports whether r
// moved on. Each step may be repeated: a crash between doing and
// recording it repeats it on restart.
func (w *Watcher) step(ctx context.Context, r *store.DropboxRequest) (bool, error) {
	switch r.Stage {
	case store.DropboxSeen:
		return w.submit(ctx, r)
	case store.DropboxSubmitted:
		if err := w.deleteRequest(ctx, r); err != nil {
			return false, err
		}
		return true, w.move(ctx, r, store.DropboxWaiting, "")
	case store.DropboxWaiting:
		if r.Kind == KindDelete {
			return w.awaitDeleted(ctx, r)
		}
		return w.awaitCreated(ctx, r)
	case store.DropboxRefused:
		if err := w.respond(ctx, r, SuffixFailed, []byte(r.Reason+"\n")); err != nil {
			return false, err
		}
		if err := w.deleteRequest(ctx, r); err != nil {
			return false, err
		}
		w.Logger.Info("drop-box request refused", "key", r.Key, "reason", r.Reason)
		if err := w.move(ctx, r, store.DropboxDone, r.Reason); err != nil {
			return false, err
		}
		w.audit(ctx, r, http.StatusBadRequest)
		return true, nil
	}
	return false, fmt.Errorf("unknown stage %q", r.Stage)
}

// deleteRequest deletes r's object unless it was written again since (the
// new version is a request of its own, seen by the next listing or event).
func (w *Watcher) deleteRequest(ctx context.Context, r *store.DropboxRequest) error {
	o, err := w.Bucket.Stat(ctx, r.Key)
	if errors.Is(err, ErrNotFound) {
		return nil
	}
	if err != nil {
		return err
	}
	if o.ETag != r.ETag {
		return nil
	}
	return w.Bucket.Delete(ctx, r.Key)
}

// move records r's next stage.
func (w *Watcher) move(ctx context.Context, r *store.DropboxRequest, stage store.DropboxStage, reason string) error {
	cp := *r
	cp.Stage, cp.Reason = stage, reason
	if err := w.Store.UpdateDropboxRequest(ctx, &cp); err != nil {
		return err
	}
	*r = cp
	return nil
}

// refuse records that r is refused for reason.
func (w *Watcher) refuse(ctx context.Context, r *store.DropboxRequest, reason string) (bool, error) {
	return true, w.move(ctx, r, store.DropboxRefused, reason)
}

// submit reads the request and creates the cluster, or asks for its
// deletion, as the user the folder names.
func (w *Watcher) submit(ctx context.Context, r *store.DropboxRequest) (bool, error) {
	data, etag, err := w.Bucket.Get(ctx, r.Key)
	if errors.Is(err, ErrNotFound) {
		// Withdrawn before it was read: there is nothing to answer.
		return true, w.move(ctx, r, store.DropboxDone, "the request object was removed before it was read")
	}
	if err != nil {
		return false, err
	}
	if etag != r.ETag {
		// Written again: the new version is a request of its own.
		return true, w.move(ctx, r, store.DropboxDone, "replaced by a newer version of the object")
	}
	caller, reason, err := w.caller(ctx, r.User)
	if err != nil {
		return false, err
	}
	if reason != "" {
		return w.refuse(ctx, r, reason)
	}
	switch r.Kind {
	case KindCreate:
		if len(data) > MaxObject {
			return w.refuse(ctx, r, fmt.Sprintf("the request is larger than %d bytes", MaxObject))
		}
		if len(bytes.TrimSpace(data)) == 0 {
			return w.refuse(ctx, r, fmt.Sprintf("empty request: %s has nothing in it; write the cluster request (JSON or YAML) into it, then move or copy it into the folder", path.Base(r.Key)))
		}
		req := api.CreateClusterRequest{Name: r.Cluster, Request: string(data), Filename: path.Base(r.Key)}
		_, err := w.Clusters.Create(ctx, caller, req)
		var se spec.Errors
		switch {
		case err == nil:
			w.Logger.Info("drop-box: cluster requested", "cluster", r.Cluster, "user", r.User, "key", r.Key)
		case errors.Is(err, store.ErrConflict):
			ours, oerr := w.ours(ctx, r, req)
			if oerr != nil {
				return false, oerr
			}
			if !ours {
				return w.refuse(ctx, r, fmt.Sprintf("a cluster named %q already exists; choose another name", r.Cluster))
			}
		case errors.As(err, &se):
			return w.refuse(ctx, r, "invalid request:\n"+se.Error())
		default:
			return false, err
		}
	case KindDelete:
		_, err := w.Clusters.Delete(ctx, caller, r.Cluster)
		switch {
		case err == nil:
			w.Logger.Info("drop-box: cluster deletion requested", "cluster", r.Cluster, "user", r.User, "key", r.Key)
		case errors.Is(err, store.ErrNotFound):
			return w.refuse(ctx, r, fmt.Sprintf("%s has no cluster named %q to delete", r.User, r.Cluster))
		default:
			return false, err
		}
	default:
		return w.refuse(ctx, r, fmt.Sprintf("unknown request kind %q", r.Kind))
	}
	failpoint.Hit("dropbox.after-submit")
	if err := w.move(ctx, r, store.DropboxSubmitted, ""); err != nil {
		return false, err
	}
	if r.Kind == KindCreate {
		w.audit(ctx, r, http.StatusCreated)
	} else {
		w.audit(ctx, r, http.StatusAccepted)
	}
	return true, nil
}

// audit records a request carried out or refused in the audit log, as the
// API records its calls: method DROPBOX, the key as the path, the status
// the API would have answered.
func (w *Watcher) audit(ctx context.Context, r *store.DropboxRequest, status int) {
	if r.User == "" {
		return
	}
	e := &store.AuditEntry{User: r.User, Method: "DROPBOX", Path: r.Key, Object: r.Cluster, Status: status}
	if err := w.Store.AppendAudit(ctx, e); err != nil {
		w.Logger.Error("audit log", "err", err, "key", r.Key)
	}
}

// caller is the user the request's folder names; reason says why that
// user may not make requests ("" if they may).
func (w *Watcher) caller(ctx context.Context, name string) (cluster.Caller, string, error) {
	u, err := w.Store.GetUser(ctx, name)
	if errors.Is(err, store.ErrNotFound) {
		return cluster.Caller{}, fmt.Sprintf("home/%s/: %s is not a stratus user (an administrator adds users with `stratus user add`)", name, name), nil
	}
	if err != nil {
		return cluster.Caller{}, "", err
	}
	if u.Disabled {
		return cluster.Caller{}, fmt.Sprintf("home/%s/: user %s is disabled", name, name), nil
	}
	return cluster.Caller{User: u.Name, Admin: u.Role == "admin"}, "", nil
}

// ours reports whether the existing cluster r names was made by the
// drop-box from this very request: it belongs to r's user, its stored
// spec is the one r's content makes (so a different request for the same
// name is refused, not answered for the other cluster), and it was made
// by r itself before a crash (it was created after r was recorded) or by
// an earlier create request of the same user (while that request's record
// is kept, KeepFinished).
func (w *Watcher) ours(ctx context.Context, r *store.DropboxRequest, req api.CreateClusterRequest) (bool, error) {
	cl, err := w.Store.GetCluster(ctx, r.Cluster)
	if errors.Is(err, store.ErrNotFound) {
		return false, nil
	}
	if err != nil {
		return false, err
	}
	if cl.Owner != r.User || cl.State == store.ClusterDeleting {
		return false, nil
	}
	if same, err := w.sameSpec(cl, req); err != nil || !same {
		return false, err
	}
	if !cl.CreatedAt.Before(r.SeenAt) {
		return true, nil
	}
	others, err := w.Store.ListDropboxRequests(ctx, store.DropboxFilter{User: r.User, Cluster: r.Cluster})
	if err != nil {
		return false, err
	}
	for _, o := range others {
		if o.ID != r.ID && o.Kind == KindCreate && o.Reason == "" && o.Stage != store.DropboxSeen &&
			o.Stage != store.DropboxRefused && !o.SeenAt.After(cl.CreatedAt) {
			return true, nil
		}
	}
	return false, nil
}

// sameSpec reports whether cl's stored spec is the one req makes
// (cluster.Service.BuildSpec).
func (w *Watcher) sameSpec(cl *store.Cluster, req api.CreateClusterRequest) (bool, error) {
	sp, err := w.Clusters.BuildSpec(req)
	if err != nil {
		return false, nil
	}
	var stored api.ClusterSpec
	if err := json.Unmarshal(cl.Spec, &stored); err != nil {
		return false, fmt.Errorf("cluster %s: stored spec: %w", cl.Name, err)
	}
	a, err := json.Marshal(stored)
	if err != nil {
		return false, err
	}
	b, err := json.Marshal(sp)
	if err != nil {
		return false, err
	}
	return bytes.Equal(a, b), nil
}

// awaitCreated writes the response once the cluster is running or failed.
// It is asked every Poll while the cluster is created, so it reads only
// the cluster's record; the full view (nodes, events, cost) is read once,
// for the response.
func (w *Watcher) awaitCreated(ctx context.Context, r *store.DropboxRequest) (bool, error) {
	rec, err := w.Store.GetCluster(ctx, r.Cluster)
	if err == nil && rec.Owner != r.User {
		err = store.ErrNotFound // a later cluster of the same name
	}
	if errors.Is(err, store.ErrNotFound) {
		reason := fmt.Sprintf("cluster %q was deleted before it was running", r.Cluster)
		return w.fail(ctx, r, reason)
	}
	if err != nil {
		return false, err
	}
	switch rec.State {
	case store.ClusterRunning:
		cl, err := w.Clusters.Get(ctx, cluster.Caller{User: r.User}, r.Cluster)
		if err != nil {
			return false, err
		}
		var buf bytes.Buffer
		buf.WriteString(cl.LoginAddress + "\n")
		enc := json.NewEncoder(&buf)
		enc.SetIndent("", "  ")
		if err := enc.Encode(cl); err != nil {
			return false, err
		}
		if err := w.respond(ctx, r, SuffixCreated, buf.Bytes(), SuffixFailed, SuffixDeleted); err != nil {
			return false, err
		}
		w.Logger.Info("drop-box: cluster running, response written", "cluster", r.Cluster, "key", ResponseKey(r.Key, SuffixCreated))
		return true, w.move(ctx, r, store.DropboxDone, "")
	case store.ClusterFailed:
		return w.fail(ctx, r, fmt.Sprintf("cluster %q failed: %s", r.Cluster, rec.Reason))
	}
	return false, nil
}

// fail writes a failure response for a request already carried out.
func (w *Watcher) fail(ctx context.Context, r *store.DropboxRequest, reason string) (bool, error) {
	if err := w.respond(ctx, r, SuffixFailed, []byte(reason+"\n")); err != nil {
		return false, err
	}
	return true, w.move(ctx, r, store.DropboxDone, reason)
}

// awaitDeleted writes the response once the cluster is gone.
func (w *Watcher) awaitDeleted(ctx context.Context, r *store.DropboxRequest) (bool, error) {
	cl, err := w.Store.GetCluster(ctx, r.Cluster)
	switch {
	case errors.Is(err, store.ErrNotFound):
	case err != nil:
		return false, err
	case cl.Owner == r.User && cl.CreatedAt.Before(r.SeenAt):
		return false, nil // still being deleted
	}
	msg := fmt.Sprintf("cluster %s deleted\n", r.Cluster)
	if err := w.respond(ctx, r, SuffixDeleted, []byte(msg), SuffixCreated, SuffixFailed); err != nil {
		return false, err
	}
	w.Logger.Info("drop-box: cluster deleted, response written", "cluster", r.Cluster, "key", ResponseKey(r.Key, SuffixDeleted))
	return true, w.move(ctx, r, store.DropboxDone, "")
}

// respond writes r's response with suffix and removes the responses with
// the stale suffixes, which describe an earlier state of the cluster.
func (w *Watcher) respond(ctx context.Context, r *store.DropboxRequest, suffix string, body []byte, stale ...string) error {
	if err := w.Bucket.Put(ctx, ResponseKey(r.Key, suffix), body); err != nil {
		return err
	}
	failpoint.Hit("dropbox.after-respond")
	for _, s := range stale {
		if err := w.Bucket.Delete(ctx, ResponseKey(r.Key, s)); err != nil {
			return err
		}
	}
	if suffix == SuffixCreated {
		_ = w.Store.AppendEvent(ctx, &store.Event{Time: w.Clock.Now(), Cluster: r.Cluster, Kind: "dropbox.response",
			Message: "drop-box: wrote " + ResponseKey(r.Key, suffix)})
	}
	return nil
}
