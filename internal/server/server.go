package server

import (
	"context"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/stratus-cloud/stratus/api"
	"github.com/stratus-cloud/stratus/internal/atomicfile"
	"github.com/stratus-cloud/stratus/internal/auth"
	"github.com/stratus-cloud/stratus/internal/clock"
	"github.com/stratus-cloud/stratus/internal/cluster"
	"github.com/stratus-cloud/stratus/internal/cost"
	"github.com/stratus-cloud/stratus/internal/dispatch"
	"github.com/stratus-cloud/stratus/internal/gc"
	"github.com/stratus-cloud/stratus/internal/health"
	"github.com/stratus-cloud/stratus/internal/httpapi"
	"github.com/stratus-cloud/stratus/internal/limits"
	"github.com/stratus-cloud/stratus/internal/metrics"
	"github.com/stratus-cloud/stratus/internal/notify"
	"github.com/stratus-cloud/stratus/internal/policy"
	"github.com/stratus-cloud/stratus/internal/provider"
	awsprovider "github.com/stratus-cloud/stratus/internal/provider/aws"
	"github.com/stratus-cloud/stratus/internal/provider/local"
	"github.com/stratus-cloud/stratus/internal/reconcile"
	"github.com/stratus-cloud/stratus/internal/region"
	"github.com/stratus-cloud/stratus/internal/schedule"
	"github.com/stratus-cloud/stratus/internal/scheduler"
	"github.com/stratus-cloud/stratus/internal/spec"
	"github.com/stratus-cloud/stratus/internal/store"
	"github.com/stratus-cloud/stratus/internal/store/sqlite"
)

// Version is stratus's version, set at build time with
// -ldflags "-X github.com/stratus-cloud/stratus/internal/server.Version=...".
var Version = "dev"

// Files in the data directory.
const (
	AdminTokenFile = "admin.token"
	// AgentSecretFile holds the secret agent tokens are derived from. It
	// is kept out of the database, which holds the tokens' hashes, and
	// belongs with it: back them up together.
	AgentSecretFile = "agent.secret"
	// URLFile holds the URL the API listens on, written once listening (so
	// that a server started on port 0 can be found).
	URLFile      = "server.url"
	databaseFile = "stratus.db"
	cloudDir     = "cloud"
)

// Meta keys.
const (
	metaInstallation = "installation"
	// metaAgentSecret is where databases made before AgentSecretFile kept
	// the agent secret; ensureAgentSecret moves it to the file.
	metaAgentSecret = "agent_secret"
)

func (o *Options) defaults() {
	if o.DataDir == "" {
		o.DataDir = "stratus-data"
	}
	if o.Listen == "" {
		o.Listen = "127.0.0.1:7070"
	}
	if o.Provider == "" {
		o.Provider = "local"
	}
	if o.HeartbeatTimeout <= 0 {
		o.HeartbeatTimeout = 30 * time.Second
	}
	if o.ReconcileInterval <= 0 {
		o.ReconcileInterval = 2 * time.Second
	}
	if o.Stdout == nil {
		o.Stdout = io.Discard
	}
	if o.Stderr == nil {
		o.Stderr = os.Stderr
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.NewTextHandler(o.Stderr, nil))
	}
}

// Run starts the control plane and serves until ctx is cancelled, then shuts
// down cleanly: the listener closes, requests in flight finish (long polls
// are cut), controllers finish their pass, and the store is closed.
// Instances keep running: they are the cloud's, not the process's.
func Run(ctx context.Context, opts Options) error {
	opts.defaults()
	log := opts.Logger
	tmpl := spec.DefaultTemplate()
	if opts.TemplateFile != "" {
		data, err := os.ReadFile(opts.TemplateFile)
		if err != nil {
			return fmt.Errorf("template: %w", err)
		}
		if tmpl, err = spec.ParseTemplate(data, opts.TemplateFile); err != nil {
			return fmt.Errorf("template %s: %w", opts.TemplateFile, err)
		}
	}
	// Every file given is checked before anything starts: a broken one
	// changes nothing, not even the data directory.
	var notifyConfig *notify.Config
	if opts.Notify != "" {
		var err error
		if notifyConfig, err = notify.Load(opts.Notify); err != nil {
			return fmt.Errorf("notifications file %s: %w", opts.Notify, err)
		}
	}
	catalog := cost.DefaultCatalog()
	if opts.CatalogFile != "" {
		data, err := os.ReadFile(opts.CatalogFile)
		if err != nil {
			return fmt.Errorf("catalog: %w", err)
		}
		if catalog, err = cost.ParseCatalog(data); err != nil {
			return fmt.Errorf("%s: %w", opts.CatalogFile, err)
		}
	}
	// The policy is loaded once here; the enforcer is given the rest of
	// what it needs below, once the store is open.
	var enf *policy.Enforcer
	if opts.PolicyFile != "" {
		enf = &policy.Enforcer{Path: opts.PolicyFile}
		if err := enf.Load(); err != nil {
			return err
		}
	}
	var checksConfig *health.Config
	if opts.ChecksFile != "" {
		data, err := os.ReadFile(opts.ChecksFile)
		if err != nil {
			return fmt.Errorf("checks: %w", err)
		}
		if checksConfig, err = health.Parse(data); err != nil {
			return fmt.Errorf("checks file %s: %w", opts.ChecksFile, err)
		}
	}
	if err := os.MkdirAll(opts.DataDir, 0o700); err != nil {
		return fmt.Errorf("data directory: %w", err)
	}
	st, err := sqlite.Open(ctx, filepath.Join(opts.DataDir, databaseFile))
	if err != nil {
		return err
	}
	defer st.Close()

	installation, err := ensureMeta(ctx, st, metaInstallation, func() string { return auth.NewSecret()[:12] })
	if err != nil {
		return err
	}
	agentSecret, err := ensureAgentSecret(ctx, st, opts.DataDir)
	if err != nil {
		return err
	}
	clk := clock.Real{}
	if err := ensureAdminToken(ctx, st, opts, clk); err != nil {
		return err
	}

	binary := &httpapi.Binary{}
	// advertise is the URL agents reach the API at, set once listening.
	var advertise string
	var prov provider.Provider
	// grace is how long a launched instance may be missing from listings.
	var grace time.Duration
	switch opts.Provider {
	case "local":
		billing := cost.PerSecond
		if opts.Billing != "" {
			if billing, err = cost.ParseBilling(opts.Billing); err != nil {
				return fmt.Errorf("--billing: %w", err)
			}
		}
		prov, err = local.New(local.Options{
			Root: filepath.Join(opts.DataDir, cloudDir), Catalog: catalog, Clock: clk,
			Logger: log.With("provider", "local"), BootDelay: opts.BootDelay, Billing: billing,
		})
		if err != nil {
			return fmt.Errorf("local provider: %w", err)
		}
	case "aws":
		// EC2's listing is eventually consistent: a new instance may be
		// missing from it for a while, also after a restart of ours.
		grace = awsprovider.DefaultConsistencyGrace
		if prov, err = newAWS(ctx, opts.AWS, catalog, clk, log.With("provider", "aws"), binary, &advertise); err != nil {
			return fmt.Errorf("aws provider: %w", err)
		}
	default:
		return fmt.Errorf("unknown provider %q: use local or aws", opts.Provider)
	}
	regions, err := prov.Regions(ctx)
	if err != nil {
		return fmt.Errorf("provider regions: %w", err)
	}

	ln, err := listen(ctx, opts.Listen)
	if err != nil {
		return fmt.Errorf("listen on %s: %w", opts.Listen, err)
	}
	url := "http://" + ln.Addr().String()
	advertise = opts.AdvertiseURL
	if advertise == "" {
		advertise = url
	}

	reporter := &cost.Reporter{Store: st, Billing: prov.Billing(), Catalog: catalog, SpotPricing: cost.SpotPricingOf(prov)}
	// Metrics: every provider call is counted and timed; the provider's
	// resources (regions) are used as they are.
	mets := metrics.New(st, reporter, clk)
	regionRes, _ := prov.(provider.Resources)
	prov = mets.Provider(prov)
	runner := &reconcile.Runner{Interval: opts.ReconcileInterval, Clock: clk, Logger: log, Observe: mets.ObserveReconcile}
	// Notifications (capability 6): controllers hand events to notifier,
	// which writes them to the store's outbox; the dispatcher mails and
	// posts them, retrying with backoff. Without --notify they are dropped.
	var notifier notify.Notifier = notify.Discard{}
	var dispatcher *notify.Dispatcher
	if notifyConfig != nil {
		notifier = &notify.Outbox{Store: st, Clock: clk, Wake: runner.Wake}
		hostname, _ := os.Hostname()
		dispatcher = &notify.Dispatcher{Store: st, Config: notifyConfig, Clock: clk, Logger: log.With("component", "notify"), Hostname: hostname}
	}
	hub := dispatch.NewHub()
	capacity := &scheduler.Capacity{Clock: clk}
	jobSvc := &scheduler.Service{Store: st, Clock: clk, Logger: log, Hub: hub, Wake: runner.Wake}
	sched := &scheduler.Controller{
		Store: st, Clock: clk, Logger: log, Hub: hub, Jobs: jobSvc, Billing: prov.Billing(),
		Capacity: capacity, AgentSecret: agentSecret, OnScale: mets.FleetDecision,
	}
	clusters := &cluster.Service{
		Store: st, Catalog: catalog, Template: tmpl, DefaultRegion: regions[0], Regions: regions,
		Clock: clk, Logger: log, AgentSecret: agentSecret, HeartbeatTimeout: opts.HeartbeatTimeout,
		Wake: runner.Wake, CostSoFar: reporter.SoFar, FleetStatus: sched.FleetStatus, Notify: notifier,
	}
	// Schedules (capability 4) run on their own clock, which tests can
	// move through a file (serve --clock-file).
	schedClock := clock.Clock(clk)
	if opts.ClockFile != "" {
		schedClock = &clock.File{Path: opts.ClockFile}
	}
	// Limits on running clusters (lifetime, idle stop, budget) are
	// enforced by their own controller. It runs on the schedules' clock,
	// so that a test can move a cluster past its lifetime, idle time or
	// budget.
	var lim *limits.Controller
	if enf != nil {
		enf.Catalog, enf.Store, enf.Now = catalog, st, clk.Now
		enf.Logger, enf.Spent = log.With("component", "policy"), ownerSpent(reporter, clk)
		clusters.Policy = enf.Check
		lim = &limits.Controller{
			Store: st, Policy: enf.Current, Clusters: clusters, Spent: ownerSpent(reporter, schedClock), Notify: notifier,
			Clock: schedClock, Logger: log.With("component", "limits"), SpendEvery: time.Minute,
		}
		clusters.StartPolicy = lim.CheckStart
		clusters.Customisation = enf.Customisation
	}
	// Health checks (capability 7): probes and replica groups from a checks
	// file, probed by their own controller.
	var checks []reconcile.Controller
	if checksConfig != nil {
		checks = append(checks, &health.Controller{
			Store: st, Config: checksConfig, Clock: clk, Logger: log.With("component", "health"), OnState: mets.CheckUp,
			Notify: notifier,
		})
	}
	stopping := make(chan struct{})
	handler := &httpapi.Handler{
		Store: st, Clusters: clusters, Jobs: jobSvc, Cost: reporter, Hub: hub, Logger: log, Stopping: stopping,
		Binary: binary, Metrics: mets.Handler(),
		Version: api.Version{Version: Version, Installation: installation, Provider: prov.Name()},
	}
	// Regions (capability 3): replication, check and clear, through the
	// provider's images, key pairs and security groups.
	handler.Regions = &region.Service{
		Store: st, Provider: prov, Resources: regionRes, Catalog: catalog, Clock: clk, Logger: log.With("component", "region"),
		Installation: installation, AgentSecret: agentSecret, AdvertiseURL: advertise, Busy: workerBusy(st),
	}
	var limitsControllers []reconcile.Controller
	if lim != nil {
		limitsControllers = append(limitsControllers, lim)
	}
	schedules := &schedule.Controller{
		Store: st, Provider: prov, Hub: hub, Clock: schedClock, Logger: log.With("component", "schedule"),
		Launcher: cluster.Launcher{Installation: installation, AgentSecret: agentSecret, AdvertiseURL: advertise},
		Workers:  handler.Regions, // a configured region's worker launches as configure launches it
		Billing:  prov.Billing(), StorageMicros: catalog.StorageMicrosPerGBMonth, Stopping: stopping,
		Notify: notifier,
	}
	handler.Schedules = &schedule.Service{
		Store: st, Clock: schedClock, Logger: log, Regions: regions, Wake: runner.Wake,
		Billing: prov.Billing(), StorageMicros: catalog.StorageMicrosPerGBMonth,
	}
	// The drop-box (capability 6): requests dropped into a bucket or
	// directory, created as their folder's user.
	dbox, dboxEvents, err := newDropbox(ctx, opts, st, clusters, clk, log)
	if err != nil {
		ln.Close()
		return err
	}
	handler.Dropbox = dboxEvents
	handler.Init()
	srv := &http.Server{Handler: handler, ReadHeaderTimeout: 10 * time.Second}

	ctrlCtx, stopControllers := context.WithCancel(context.WithoutCancel(ctx))
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		runner.Run(ctrlCtx, append([]reconcile.Controller{
			&cluster.Controller{
				Store: st, Provider: prov, Clock: clk, Logger: log, Installation: installation,
				AgentSecret: agentSecret, AdvertiseURL: advertise, CreateTimeout: 15 * time.Minute,
				OnCapacity: capacity.Report, ConsistencyGrace: grace, Usage: &cluster.UsageRecorder{Store: st, Clock: clk, Billing: prov.Billing()},
				Notify: notifier,
			},
			sched,
			schedules,
			&gc.Collector{Store: st, Provider: prov, Installation: installation, Clock: clk, Logger: log},
		}, append(checks, limitsControllers...)...)...)
		schedules.Wait() // runs cut short by the shutdown stop their workers
	}()

	if dispatcher != nil {
		wg.Add(1)
		go func() {
			defer wg.Done()
			runner.Run(ctrlCtx, dispatcher)
		}()
	}
	if dbox != nil {
		wg.Add(1)
		go func() {
			defer wg.Done()
			dbox.Run(ctrlCtx)
		}()
	}

	serveErr := make(chan error, 1)
	go func() { serveErr <- srv.Serve(ln) }()
	if err := atomicfile.WriteFile(filepath.Join(opts.DataDir, URLFile), []byte(url+"\n"), 0o600); err != nil {
		log.Warn("cannot write server URL file", "err", err)
	}
	log.Info("stratus serving", "url", url, "data", opts.DataDir, "provider", prov.Name(), "installation", installation)
	fmt.Fprintf(opts.Stdout, "stratus %s listening on %s (data in %s, provider %s)\n", Version, url, opts.DataDir, prov.Name())

	var result error
	select {
	case <-ctx.Done():
	case err := <-serveErr:
		result = fmt.Errorf("http server: %w", err)
	}
	log.Info("shutting down")
	close(stopping)
	shutCtx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := srv.Shutdown(shutCtx); err != nil && !errors.Is(err, http.ErrServerClosed) {
		_ = srv.Close()
	}
	stopControllers()
	wg.Wait()
	_ = os.Remove(filepath.Join(opts.DataDir, URLFile))
	log.Info("stopped")
	return result
}

// ownerSpent says what a user's clusters have cost from since until now.
func ownerSpent(r *cost.Reporter, clk clock.Clock) func(ctx context.Context, user string, since time.Time) (cost.Micros, error) {
	return func(ctx context.Context, user string, since time.Time) (cost.Micros, error) {
		rep, err := r.Report(ctx, cost.ReportQuery{Owner: user, By: "owner", Since: since, Until: clk.Now()})
		if err != nil {
			return 0, err
		}
		var total cost.Micros
		for _, row := range rep.Rows {
			total += cost.Micros(row.CostMicros)
		}
		return total, nil
	}
}

func ensureMeta(ctx context.Context, st store.Store, key string, make func() string) (string, error) {
	var v string
	err := st.WithTx(ctx, func(q store.Queries) error {
		var err error
		v, err = q.GetMeta(ctx, key)
		if errors.Is(err, store.ErrNotFound) {
			v = make()
			return q.SetMeta(ctx, key, v)
		}
		return err
	})
	return v, err
}

// ensureAgentSecret returns the secret agent tokens are derived from
// (auth.AgentToken). It lives in DATA/agent.secret (0600), apart from the
// database that holds the tokens' hashes, so that a copy of the database
// alone cannot make a valid agent token. On first start it is made and
// written before any token is derived from it.
//
// A database made before the file existed holds the secret in its meta
// table. It is moved: the file is written and synced first, the row is
// deleted after, so agents already running keep their tokens. A restart
// in between finds the file and the row alike and deletes the row.
func ensureAgentSecret(ctx context.Context, st store.Store, dataDir string) (string, error) {
	path := filepath.Join(dataDir, AgentSecretFile)
	inDB, err := st.GetMeta(ctx, metaAgentSecret)
	hasDB := err == nil
	if err != nil && !errors.Is(err, store.ErrNotFound) {
		return "", fmt.Errorf("agent secret: %w", err)
	}
	var secret string
	data, err := os.ReadFile(path)
	switch {
	case err == nil:
		secret = strings.TrimSpace(string(data))
		if !validSecret(secret) {
			return "", fmt.Errorf("%s must hold the agent secret, 64 hexadecimal digits, and does not: "+
				"restore it from the backup of the data directory", path)
		}
		if hasDB && inDB != secret {
			return "", fmt.Errorf("%s differs from the agent secret the database still holds: "+
				"restore the data directory's files from one backup", path)
		}
		if err := ownerOnly(path); err != nil {
			return "", fmt.Errorf("agent secret: %w", err)
		}
	case errors.Is(err, os.ErrNotExist):
		switch nodes, err := st.ListNodes(ctx, store.NodeFilter{}); {
		case err != nil:
			return "", fmt.Errorf("agent secret: %w", err)
		case hasDB:
			secret = inDB
		case len(nodes) > 0:
			// A new secret would make every agent's token unknown.
			return "", fmt.Errorf("%s is missing, and the agent tokens of %d node(s) were made with it: "+
				"restore it from the backup of the data directory (it belongs with %s)", path, len(nodes), databaseFile)
		default:
			secret = auth.NewSecret()
		}
		if err := atomicfile.WriteFile(path, []byte(secret+"\n"), 0o600); err != nil {
			return "", fmt.Errorf("write agent secret: %w", err)
		}
	default:
		return "", fmt.Errorf("agent secret: %w", err)
	}
	if hasDB {
		if err := st.DeleteMeta(ctx, metaAgentSecret); err != nil {
			return "", fmt.Errorf("agent secret: %w", err)
		}
	}
	return secret, nil
}

// ownerOnly makes a secret file readable by its owner only (0600), again
// if it was opened to others, say by a restore from a backup.
func ownerOnly(path string) error {
	return os.Chmod(path, 0o600)
}

// validSecret reports whether s looks like auth.NewSecret's output.
func validSecret(s string) bool {
	if len(s) != 64 {
		return false
	}
	_, err := hex.DecodeString(s)
	return err == nil
}

// ensureAdminToken makes sure an admin token exists: on first start it is
// created and written to DATA/admin.token (0600); later its hash is checked
// to be in the store.
func ensureAdminToken(ctx context.Context, st store.Store, opts Options, clk clock.Clock) error {
	path := filepath.Join(opts.DataDir, AdminTokenFile)
	data, err := os.ReadFile(path)
	created := false
	var tok string
	switch {
	case err == nil:
		tok = strings.TrimSpace(string(data))
		if tok == "" {
			return fmt.Errorf("%s is empty: remove it to have a new admin token made", path)
		}
		if err := ownerOnly(path); err != nil {
			return fmt.Errorf("admin token: %w", err)
		}
	case errors.Is(err, os.ErrNotExist):
		tok = auth.NewToken("stk")
		created = true
	default:
		return fmt.Errorf("admin token: %w", err)
	}
	err = st.WithTx(ctx, func(q store.Queries) error {
		// The admin token's user has a record, like every user.
		if _, err := q.GetUser(ctx, "admin"); errors.Is(err, store.ErrNotFound) {
			if err := q.CreateUser(ctx, &store.User{Name: "admin", Role: "admin"}); err != nil {
				return err
			}
		} else if err != nil {
			return err
		}
		_, err := q.GetTokenByHash(ctx, auth.Hash(tok))
		if errors.Is(err, store.ErrNotFound) {
			return q.CreateToken(ctx, &store.Token{Hash: auth.Hash(tok), User: "admin", Role: "admin", CreatedAt: clk.Now()})
		}
		return err
	})
	if err != nil {
		return fmt.Errorf("admin token: %w", err)
	}
	if created {
		if err := atomicfile.WriteFile(path, []byte(tok+"\n"), 0o600); err != nil {
			return fmt.Errorf("write admin token: %w", err)
		}
		fmt.Fprintf(opts.Stdout, "created an admin token and wrote it to %s (mode 0600)\n", path)
	}
	return nil
}

// workerBusy reports whether a schedule's run that has not ended is on a
// region's worker, so that configure leaves its instance running.
func workerBusy(st store.Store) func(ctx context.Context, node string) (bool, error) {
	return func(ctx context.Context, node string) (bool, error) {
		runs, err := st.ListScheduleRuns(ctx, store.ScheduleRunFilter{Unended: true})
		if err != nil {
			return false, err
		}
		for _, r := range runs {
			if r.Node == node {
				return true, nil
			}
		}
		return false, nil
	}
}

// listen listens on addr, retrying for a few seconds while the address is
// in use: a control plane restarted right after it was killed may find its
// port not yet released.
func listen(ctx context.Context, addr string) (net.Listener, error) {
	deadline := time.Now().Add(10 * time.Second)
	for {
		ln, err := net.Listen("tcp", addr)
		if err == nil || !errors.Is(err, syscall.EADDRINUSE) || time.Now().After(deadline) {
			return ln, err
		}
		select {
		case <-ctx.Done():
			return nil, err
		case <-time.After(200 * time.Millisecond):
		}
	}
}
