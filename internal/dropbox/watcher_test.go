package dropbox

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/stratus-cloud/stratus/api"
	"github.com/stratus-cloud/stratus/internal/clock"
	"github.com/stratus-cloud/stratus/internal/cluster"
	"github.com/stratus-cloud/stratus/internal/cost"
	"github.com/stratus-cloud/stratus/internal/spec"
	"github.com/stratus-cloud/stratus/internal/store"
	"github.com/stratus-cloud/stratus/internal/store/sqlite/sqlitetest"
)

const request = `{
  "MasterInstanceType": "t3.micro",
  "ComputeInstanceType": "t3.micro",
  "ComputeMaxNodes": "2"
}`

type fixture struct {
	w    *Watcher
	st   store.Store
	dir  *Dir
	root string
}

// newFixture is a watcher over a directory, a real SQLite store and the
// real cluster service, with users ann and bob (and a disabled carol).
func newFixture(t *testing.T) *fixture {
	t.Helper()
	ctx := context.Background()
	st := sqlitetest.Open(t)
	for _, u := range []*store.User{{Name: "ann", Role: "user"}, {Name: "bob", Role: "user"}, {Name: "carol", Role: "user", Disabled: true}} {
		if err := st.CreateUser(ctx, u); err != nil {
			t.Fatal(err)
		}
	}
	log := slog.New(slog.DiscardHandler)
	svc := &cluster.Service{
		Store: st, Catalog: cost.DefaultCatalog(), Template: spec.DefaultTemplate(),
		DefaultRegion: "local-1", Regions: []string{"local-1"},
		Clock: clock.Real{}, Logger: log, AgentSecret: "secret", HeartbeatTimeout: 30 * time.Second,
	}
	root := t.TempDir()
	d := &Dir{Root: root}
	return &fixture{w: &Watcher{Bucket: d, Store: st, Clusters: svc, Logger: log}, st: st, dir: d, root: root}
}

func (f *fixture) put(t *testing.T, key, data string) {
	t.Helper()
	if err := f.dir.Put(context.Background(), key, []byte(data)); err != nil {
		t.Fatal(err)
	}
}

func (f *fixture) read(t *testing.T, key string) (string, bool) {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(f.root, filepath.FromSlash(key)))
	if errors.Is(err, os.ErrNotExist) {
		return "", false
	}
	if err != nil {
		t.Fatal(err)
	}
	return string(b), true
}

func (f *fixture) scan(t *testing.T) {
	t.Helper()
	if err := f.w.Scan(context.Background()); err != nil {
		t.Fatalf("Scan: %v", err)
	}
}

func (f *fixture) advance(t *testing.T) {
	t.Helper()
	if _, err := f.w.Advance(context.Background()); err != nil {
		t.Fatalf("Advance: %v", err)
	}
}

// run marks a cluster running with its head node at addr, as the cluster
// controller does once every agent has registered.
func (f *fixture) run(t *testing.T, name, addr string) {
	t.Helper()
	ctx := context.Background()
	cl, err := f.st.GetCluster(ctx, name)
	if err != nil {
		t.Fatal(err)
	}
	nodes, err := f.st.ListNodes(ctx, store.NodeFilter{Cluster: name})
	if err != nil {
		t.Fatal(err)
	}
	for _, n := range nodes {
		n.InstanceID, n.InstanceState, n.Address, n.RegisteredAt = "i-"+n.ID, "running", addr, time.Now()
		if err := f.st.UpdateNode(ctx, n); err != nil {
			t.Fatal(err)
		}
	}
	cl.State = store.ClusterRunning
	if err := f.st.UpdateCluster(ctx, cl); err != nil {
		t.Fatal(err)
	}
}

func (f *fixture) clusters(t *testing.T) []string {
	t.Helper()
	cls, err := f.st.ListClusters(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, c := range cls {
		names = append(names, c.Name+"/"+c.Owner)
	}
	return names
}

func TestWatcher_CreateRespondDelete(t *testing.T) {
	f := newFixture(t)
	f.put(t, "home/ann/lab.cf-create", request)
	f.put(t, "home/ann/notes.txt", "mine")
	f.scan(t)
	if got := f.clusters(t); len(got) != 1 || got[0] != "lab/ann" {
		t.Fatalf("clusters = %v, want lab owned by ann", got)
	}
	if _, ok := f.read(t, "home/ann/lab.cf-create"); ok {
		t.Errorf("the request is still there after its cluster was created")
	}
	if _, ok := f.read(t, "home/ann/lab.cf-created"); ok {
		t.Errorf("cf-created written before the cluster runs")
	}
	busy, err := f.w.Advance(context.Background())
	if err != nil || !busy {
		t.Errorf("Advance while the cluster is creating = %v, %v; want busy", busy, err)
	}
	f.run(t, "lab", "10.0.0.7")
	f.advance(t)
	body, ok := f.read(t, "home/ann/lab.cf-created")
	if !ok {
		t.Fatalf("no cf-created once the cluster runs")
	}
	first, rest, _ := strings.Cut(body, "\n")
	if first != "10.0.0.7" || !strings.Contains(rest, `"name": "lab"`) || !strings.Contains(rest, `"state": "running"`) {
		t.Errorf("cf-created = %q, want the login address then the cluster's JSON", body)
	}
	if busy, err := f.w.Advance(context.Background()); err != nil || busy {
		t.Errorf("Advance with nothing left = %v, %v", busy, err)
	}
	if _, ok := f.read(t, "home/ann/notes.txt"); !ok {
		t.Errorf("another file was removed")
	}

	f.put(t, "home/ann/lab.cf-delete", "")
	f.scan(t)
	cl, err := f.st.GetCluster(context.Background(), "lab")
	if err != nil || cl.State != store.ClusterDeleting {
		t.Fatalf("after cf-delete the cluster is %v, %v; want deleting", cl, err)
	}
	if _, ok := f.read(t, "home/ann/lab.cf-deleted"); ok {
		t.Errorf("cf-deleted written before the cluster is gone")
	}
	// The cluster controller removes the record once the instances are gone.
	if err := f.st.DeleteCluster(context.Background(), "lab"); err != nil {
		t.Fatal(err)
	}
	f.advance(t)
	if _, ok := f.read(t, "home/ann/lab.cf-deleted"); !ok {
		t.Errorf("no cf-deleted once the cluster is gone")
	}
	if _, ok := f.read(t, "home/ann/lab.cf-created"); ok {
		t.Errorf("the stale cf-created is still there")
	}
	if _, ok := f.read(t, "home/ann/lab.cf-delete"); ok {
		t.Errorf("the delete request is still there")
	}
}

func TestWatcher_SeenTwiceCreatesOnce(t *testing.T) {
	f := newFixture(t)
	f.put(t, "home/ann/lab.cf-create", request)
	objs, err := f.dir.List(context.Background(), "")
	if err != nil {
		t.Fatal(err)
	}
	// An event and the listing, then the same event again.
	f.w.Notify([]EventObject{{Key: "home/ann/lab.cf-create"}, {Key: "home/ann/lab.cf-create"}})
	if err := f.w.Drain(context.Background()); err != nil {
		t.Fatal(err)
	}
	f.pass(t, objs)
	f.w.Notify([]EventObject{{Key: "home/ann/lab.cf-create"}})
	if err := f.w.Drain(context.Background()); err != nil {
		t.Fatal(err)
	}
	f.scan(t)
	rs, err := f.st.ListDropboxRequests(context.Background(), store.DropboxFilter{})
	if err != nil {
		t.Fatal(err)
	}
	if len(rs) != 1 {
		t.Errorf("%d requests recorded, want 1: %+v", len(rs), rs)
	}
	if got := f.clusters(t); len(got) != 1 {
		t.Errorf("clusters = %v, want one", got)
	}
	if _, ok := f.read(t, "home/ann/lab.cf-failed"); ok {
		t.Errorf("a duplicate made a cf-failed")
	}
}

// pass records objects as a listing would have seen them.
func (f *fixture) pass(t *testing.T, objs []Object) {
	t.Helper()
	f.w.init()
	for _, o := range objs {
		if err := f.w.see(context.Background(), o.Key, o.ETag, "listing"); err != nil {
			t.Fatal(err)
		}
	}
	f.advance(t)
}

func TestWatcher_Refusals(t *testing.T) {
	f := newFixture(t)
	f.put(t, "home/bob/taken.cf-create", request)
	f.scan(t)
	for _, tc := range []struct {
		key, data, want string
	}{
		{"home/ann/broken.cf-create", "{\n  \"ComputeMaxNodes\": \"2\",\n  \"MasterInstanceType\" \"t3.micro\"\n}", "line 3: invalid JSON"},
		{"home/ann/big.cf-create", `{"ComputeMaxNodes": "-1"}`, "ComputeMaxNodes"},
		{"home/ann/taken.cf-create", request, `a cluster named "taken" already exists`},
		{"stray.cf-create", request, "home/<user>/"},
		{"home/ann/deep/er.cf-create", request, "directly in your own folder"},
		{"home/zed/z.cf-create", request, "zed is not a stratus user"},
		{"home/carol/c.cf-create", request, "user carol is disabled"},
		{"home/ann/Bad_Name.cf-create", request, "cluster name: must match"},
		{"home/ann/ghost.cf-delete", "", `ann has no cluster named "ghost"`},
		{"home/ann/taken.cf-delete", "", `ann has no cluster named "taken"`},
	} {
		f.put(t, tc.key, tc.data)
		f.scan(t)
		failed := ResponseKey(tc.key, SuffixFailed)
		body, ok := f.read(t, failed)
		if !ok || !strings.Contains(body, tc.want) {
			t.Errorf("%s: %s = %q (exists %v), want the reason %q", tc.key, failed, body, ok, tc.want)
		}
		if _, ok := f.read(t, tc.key); ok {
			t.Errorf("%s: the refused request is still there", tc.key)
		}
	}
	if got := f.clusters(t); len(got) != 1 || got[0] != "taken/bob" {
		t.Errorf("clusters = %v, want only bob's", got)
	}
	cl, err := f.st.GetCluster(context.Background(), "taken")
	if err != nil || cl.State != store.ClusterCreating {
		t.Errorf("bob's cluster = %v, %v; ann's delete must not touch it", cl, err)
	}
}

func TestWatcher_PolicyApplies(t *testing.T) {
	f := newFixture(t)
	f.w.Clusters.Policy = func(ctx context.Context, user string, sp api.ClusterSpec) error {
		if user == "ann" {
			return spec.Errors{{Field: "user", Message: "ann may not create clusters by policy"}}
		}
		return nil
	}
	f.put(t, "home/ann/lab.cf-create", request)
	f.put(t, "home/bob/lab.cf-create", request)
	f.scan(t)
	if body, _ := f.read(t, "home/ann/lab.cf-failed"); !strings.Contains(body, "user: ann may not create clusters by policy") {
		t.Errorf("ann's cf-failed = %q, want the policy's reason", body)
	}
	if got := f.clusters(t); len(got) != 1 || got[0] != "lab/bob" {
		t.Errorf("clusters = %v, want bob's only", got)
	}
	audit, err := f.st.ListAudit(context.Background(), store.AuditFilter{})
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, e := range audit {
		got = append(got, fmt.Sprintf("%s %s %s %s %d", e.User, e.Method, e.Path, e.Object, e.Status))
	}
	want := []string{"ann DROPBOX home/ann/lab.cf-create lab 400", "bob DROPBOX home/bob/lab.cf-create lab 201"}
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("audit log:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
}

func TestWatcher_FinishesEveryInterruptedStep(t *testing.T) {
	// A crash after each step, before it was recorded, leaves the record
	// one stage behind what was done; a new watcher finishes the job.
	for _, tc := range []struct {
		name  string
		setup func(t *testing.T, f *fixture, r *store.DropboxRequest)
	}{
		{"cluster created, not recorded", func(t *testing.T, f *fixture, r *store.DropboxRequest) {
			create(t, f, "lab", "ann")
		}},
		{"request deleted, not recorded", func(t *testing.T, f *fixture, r *store.DropboxRequest) {
			create(t, f, "lab", "ann")
			r.Stage = store.DropboxSubmitted
			if err := f.dir.Delete(context.Background(), r.Key); err != nil {
				t.Fatal(err)
			}
		}},
		{"response written, not recorded", func(t *testing.T, f *fixture, r *store.DropboxRequest) {
			create(t, f, "lab", "ann")
			r.Stage = store.DropboxWaiting
			if err := f.dir.Delete(context.Background(), r.Key); err != nil {
				t.Fatal(err)
			}
			f.put(t, "home/ann/lab.cf-created", "old\n")
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := newFixture(t)
			f.put(t, "home/ann/lab.cf-create", request)
			_, etag, err := f.dir.Get(context.Background(), "home/ann/lab.cf-create")
			if err != nil {
				t.Fatal(err)
			}
			r := &store.DropboxRequest{Key: "home/ann/lab.cf-create", ETag: etag, User: "ann", Cluster: "lab", Kind: KindCreate,
				Stage: store.DropboxSeen, SeenAt: time.Now().Add(-time.Second)}
			tc.setup(t, f, r)
			if err := f.st.CreateDropboxRequest(context.Background(), r); err != nil {
				t.Fatal(err)
			}
			f.run(t, "lab", "10.0.0.9")
			f.scan(t)
			body, ok := f.read(t, "home/ann/lab.cf-created")
			if !ok || !strings.HasPrefix(body, "10.0.0.9\n") {
				t.Errorf("cf-created = %q (exists %v), want the login address first", body, ok)
			}
			if body, ok := f.read(t, "home/ann/lab.cf-failed"); ok {
				t.Errorf("cf-failed written: %q", body)
			}
			if _, ok := f.read(t, "home/ann/lab.cf-create"); ok {
				t.Errorf("the request is still there")
			}
			if got := f.clusters(t); len(got) != 1 {
				t.Errorf("clusters = %v, want one", got)
			}
		})
	}
}

func create(t *testing.T, f *fixture, name, user string) {
	t.Helper()
	u, err := f.st.GetUser(context.Background(), user)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.w.Clusters.Create(context.Background(), cluster.Caller{User: u.Name}, api.CreateClusterRequest{Name: name, Request: request, Filename: name + SuffixCreate}); err != nil {
		t.Fatal(err)
	}
}

func TestWatcher_NewVersionIsItsOwnRequest(t *testing.T) {
	f := newFixture(t)
	f.put(t, "home/ann/lab.cf-create", request)
	_, etag, err := f.dir.Get(context.Background(), "home/ann/lab.cf-create")
	if err != nil {
		t.Fatal(err)
	}
	// The first version was carried out up to the cluster; then ann wrote
	// the file again (a bad version) before its deletion.
	create(t, f, "lab", "ann")
	r := &store.DropboxRequest{Key: "home/ann/lab.cf-create", ETag: etag, User: "ann", Cluster: "lab", Kind: KindCreate, Stage: store.DropboxSubmitted}
	if err := f.st.CreateDropboxRequest(context.Background(), r); err != nil {
		t.Fatal(err)
	}
	f.put(t, "home/ann/lab.cf-create", `{"ComputeMaxNodes": "x"}`) // another size: another version
	f.advance(t)
	if _, ok := f.read(t, "home/ann/lab.cf-create"); !ok {
		t.Fatalf("the new version was deleted with the old one")
	}
	f.scan(t)
	if body, _ := f.read(t, "home/ann/lab.cf-failed"); !strings.Contains(body, "ComputeMaxNodes") {
		t.Errorf("the new version's cf-failed = %q, want its own reason", body)
	}
}

func TestWatcher_RefusesEmptyRequest(t *testing.T) {
	f := newFixture(t)
	for _, data := range []string{"", " \n\t\n"} {
		f.put(t, "home/ann/zero.cf-create", data)
		f.scan(t)
		body, ok := f.read(t, "home/ann/zero.cf-failed")
		if !ok || !strings.HasPrefix(body, "empty request: zero.cf-create") {
			t.Errorf("request %q: cf-failed = %q (exists %v), want it to say the request is empty", data, body, ok)
		}
		if _, ok := f.read(t, "home/ann/zero.cf-create"); ok {
			t.Errorf("request %q: the refused request is still there", data)
		}
		if body, ok := f.read(t, "home/ann/zero.cf-created"); ok {
			t.Errorf("request %q: cf-created written: %q", data, body)
		}
	}
	if got := f.clusters(t); len(got) != 0 {
		t.Errorf("clusters = %v, want none", got)
	}
}

func TestWatcher_OtherRequestForExistingClusterIsRefused(t *testing.T) {
	f := newFixture(t)
	f.put(t, "home/ann/lab.cf-create", request)
	f.scan(t)
	f.run(t, "lab", "10.0.0.7")
	f.advance(t)
	if _, ok := f.read(t, "home/ann/lab.cf-created"); !ok {
		t.Fatal("no cf-created for the first request")
	}
	if err := f.dir.Delete(context.Background(), "home/ann/lab.cf-created"); err != nil {
		t.Fatal(err)
	}
	// Another request for the same name: not the cluster that exists.
	f.put(t, "home/ann/lab.cf-create", `{"MasterInstanceType": "t3.micro", "ComputeInstanceType": "t3.micro", "ComputeMaxNodes": "3"}`)
	f.scan(t)
	if body, ok := f.read(t, "home/ann/lab.cf-created"); ok {
		t.Errorf("a different request for lab was answered with cf-created: %q", body)
	}
	if body, _ := f.read(t, "home/ann/lab.cf-failed"); !strings.Contains(body, `a cluster named "lab" already exists`) {
		t.Errorf("cf-failed = %q, want the name taken", body)
	}
	// The same request again is the cluster already made for it.
	f.put(t, "home/ann/lab.cf-create", request)
	f.scan(t)
	if body, ok := f.read(t, "home/ann/lab.cf-created"); !ok || !strings.HasPrefix(body, "10.0.0.7\n") {
		t.Errorf("the same request again: cf-created = %q (exists %v), want the cluster's", body, ok)
	}
	if _, ok := f.read(t, "home/ann/lab.cf-failed"); ok {
		t.Errorf("the earlier cf-failed was left next to the new cf-created")
	}
	cl, err := f.st.GetCluster(context.Background(), "lab")
	if err != nil || !strings.Contains(string(cl.Spec), `"max_nodes":2`) {
		t.Errorf("lab = %s, %v; want the first request's spec", cl.Spec, err)
	}
}

// setMtime sets the modification time of key's file.
func (f *fixture) setMtime(t *testing.T, key string, mt time.Time) {
	t.Helper()
	if err := os.Chtimes(filepath.Join(f.root, filepath.FromSlash(key)), mt, mt); err != nil {
		t.Fatal(err)
	}
}

func (f *fixture) requests(t *testing.T) []*store.DropboxRequest {
	t.Helper()
	rs, err := f.st.ListDropboxRequests(context.Background(), store.DropboxFilter{})
	if err != nil {
		t.Fatal(err)
	}
	return rs
}

func TestWatcher_LeavesYoungFilesUntilSettled(t *testing.T) {
	f := newFixture(t)
	clk := clock.NewFake(time.Now().Truncate(time.Second))
	f.w.Clock, f.w.Settle = clk, DirSettle
	// cp into the folder: the file is seen empty, then filled in.
	f.put(t, "home/ann/lab.cf-create", "")
	f.setMtime(t, "home/ann/lab.cf-create", clk.Now().Add(-DirSettle/2))
	f.scan(t)
	if rs := f.requests(t); len(rs) != 0 {
		t.Fatalf("a file written %v ago was taken: %+v", DirSettle/2, rs)
	}
	if due, ok := f.w.nextSettled(); !ok || !due.Equal(clk.Now().Add(DirSettle/2)) {
		t.Errorf("nextSettled = %v, %v; want when the file is %v old", due, ok, DirSettle)
	}
	f.put(t, "home/ann/lab.cf-create", request)
	f.setMtime(t, "home/ann/lab.cf-create", clk.Now())
	clk.Advance(DirSettle / 2)
	f.w.requeueSettled()
	if err := f.w.Drain(context.Background()); err != nil {
		t.Fatal(err)
	}
	if rs := f.requests(t); len(rs) != 0 {
		t.Fatalf("a file rewritten %v ago was taken: %+v", DirSettle/2, rs)
	}
	clk.Advance(DirSettle / 2)
	f.w.requeueSettled()
	if err := f.w.Drain(context.Background()); err != nil {
		t.Fatal(err)
	}
	f.advance(t)
	if got := f.clusters(t); len(got) != 1 || got[0] != "lab/ann" {
		t.Fatalf("clusters = %v, want lab once the file has settled", got)
	}
	if _, ok := f.read(t, "home/ann/lab.cf-failed"); ok {
		t.Errorf("the empty first version was answered")
	}
	// A modification time far ahead (a clock set wrong) holds nothing back.
	f.put(t, "home/ann/far.cf-create", request)
	f.setMtime(t, "home/ann/far.cf-create", clk.Now().Add(time.Hour))
	f.scan(t)
	if got := f.clusters(t); len(got) != 2 {
		t.Errorf("clusters = %v, want far too", got)
	}
}

func TestWatcher_RunTakesASettledFileBeforeTheNextListing(t *testing.T) {
	f := newFixture(t)
	clk := clock.NewFake(time.Now().Truncate(time.Second))
	f.w.Clock, f.w.Settle, f.w.Interval = clk, DirSettle, time.Hour
	f.put(t, "home/ann/lab.cf-create", request)
	f.setMtime(t, "home/ann/lab.cf-create", clk.Now())
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); f.w.Run(ctx) }()
	defer func() { cancel(); <-done }()
	waitFor(t, "the file to be left for settling", func() bool { _, ok := f.w.nextSettled(); return ok })
	start := clk.Now()
	clk.Advance(DirSettle)
	// The fake clock creeps on (should the watcher have asked for its
	// timer just after the jump), but stays far from the next listing.
	waitFor(t, "the cluster", func() bool {
		if len(f.clusters(t)) == 1 {
			return true
		}
		clk.Advance(100 * time.Millisecond)
		return false
	})
	if waited := clk.Now().Sub(start); waited >= f.w.Interval {
		t.Errorf("the file was taken after %v, by the listing", waited)
	}
}

// waitFor waits, at most 10 seconds, until cond holds.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("gave up waiting for %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// countingBucket counts the reads of a Bucket.
type countingBucket struct {
	Bucket
	mu   sync.Mutex
	gets map[string]int
}

func (b *countingBucket) Get(ctx context.Context, key string) ([]byte, string, error) {
	b.mu.Lock()
	b.gets[key]++
	b.mu.Unlock()
	return b.Bucket.Get(ctx, key)
}

func TestWatcher_ReadsEachRequestOnce(t *testing.T) {
	f := newFixture(t)
	cb := &countingBucket{Bucket: f.dir, gets: map[string]int{}}
	f.w.Bucket = cb
	f.put(t, "home/ann/lab.cf-create", request)
	f.put(t, "stray.cf-create", request)
	f.w.Notify([]EventObject{{Key: "home/ann/lab.cf-create"}, {Key: "stray.cf-create"}})
	if err := f.w.Drain(context.Background()); err != nil {
		t.Fatal(err)
	}
	f.scan(t)
	f.run(t, "lab", "10.0.0.7")
	f.advance(t)
	if _, ok := f.read(t, "home/ann/lab.cf-created"); !ok {
		t.Fatal("no cf-created")
	}
	if d := cmp.Diff(map[string]int{"home/ann/lab.cf-create": 1}, cb.gets); d != "" {
		t.Errorf("objects read (-want +got):\n%s", d)
	}
}

func TestWatcher_PrunesFinishedRequests(t *testing.T) {
	f := newFixture(t)
	clk := clock.NewFake(time.Now())
	f.w.Clock = clk
	f.put(t, "stray.cf-create", request)
	f.put(t, "home/ann/lab.cf-create", request)
	f.scan(t)
	if err := f.w.Prune(context.Background()); err != nil {
		t.Fatal(err)
	}
	if rs := f.requests(t); len(rs) != 2 {
		t.Fatalf("requests after a prune at once = %d, want both kept", len(rs))
	}
	clk.Advance(KeepFinished + time.Hour)
	if err := f.w.Prune(context.Background()); err != nil {
		t.Fatal(err)
	}
	rs := f.requests(t)
	if len(rs) != 1 || rs[0].Key != "home/ann/lab.cf-create" {
		t.Fatalf("requests after pruning = %+v, want only lab's (still waiting for its cluster)", rs)
	}
	// The refused object was deleted before its request was finished, so
	// nothing brings it back.
	if err := f.dir.Delete(context.Background(), "stray.cf-failed"); err != nil {
		t.Fatal(err)
	}
	f.scan(t)
	if _, ok := f.read(t, "stray.cf-failed"); ok {
		t.Errorf("the pruned request was carried out again")
	}
	if rs := f.requests(t); len(rs) != 1 {
		t.Errorf("requests = %+v, want lab's only", rs)
	}
}
