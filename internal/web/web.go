// Package web serves stratus's web pages: a signed-in user's clusters,
// their instances, jobs and events, what they cost (totals, and charts of
// cost over time drawn as inline SVG), schedules, health checks and, for
// administrators, the regions. The pages are rendered on the server
// (html/template), refresh themselves with a meta refresh and use only the
// project's own small stylesheet; there is no JavaScript.
//
// A page is signed in to with an API token, kept in an HttpOnly,
// SameSite=Strict cookie and checked on every request the way the API
// checks its bearer token; what a page shows goes through the same
// services as the API, which enforce who may see what.
package web

import (
	"context"
	"embed"
	"errors"
	"html/template"
	"io/fs"
	"log/slog"
	"net/http"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/stratus-cloud/stratus/api"
	"github.com/stratus-cloud/stratus/internal/cluster"
	"github.com/stratus-cloud/stratus/internal/cost"
	"github.com/stratus-cloud/stratus/internal/region"
	"github.com/stratus-cloud/stratus/internal/schedule"
	"github.com/stratus-cloud/stratus/internal/scheduler"
	"github.com/stratus-cloud/stratus/internal/store"
)

// CookieName is the cookie that holds the signed-in user's token.
const CookieName = "stratus_token"

// refreshSeconds is how often the pages reload themselves.
const refreshSeconds = 10

//go:embed templates/*.html static/*
var files embed.FS

// Config is what the pages are served from. Auth, Store and Clusters are
// needed; a nil Jobs, Cost, Schedules or Regions leaves that part out.
type Config struct {
	// Auth returns the caller an API token stands for, or an error if the
	// token is not accepted.
	Auth      func(ctx context.Context, token string) (cluster.Caller, error)
	Store     store.Store
	Clusters  *cluster.Service
	Jobs      *scheduler.Service
	Cost      *cost.Reporter
	Schedules *schedule.Service
	// Regions is checked for the regions page (administrators only).
	Regions *region.Service
	Logger  *slog.Logger
}

type handler struct {
	Config
	pages map[string]*template.Template
	mux   *http.ServeMux
}

var funcs = template.FuncMap{
	"when": func(t time.Time) string {
		if t.IsZero() {
			return ""
		}
		return t.UTC().Format("2006-01-02 15:04:05Z")
	},
	"join": strings.Join,
}

// Handler returns the web pages' handler. Paths under /v1/ are the API's:
// it answers them with a plain 404.
func Handler(c Config) http.Handler {
	if c.Logger == nil {
		c.Logger = slog.New(slog.DiscardHandler)
	}
	h := &handler{Config: c, pages: map[string]*template.Template{}}
	for _, p := range []string{"signin", "overview", "cluster", "job", "costs", "events", "schedules", "checks", "regions", "notfound", "error"} {
		h.pages[p] = template.Must(template.New("layout.html").Funcs(funcs).ParseFS(files, "templates/layout.html", "templates/"+p+".html"))
	}
	static, _ := fs.Sub(files, "static")
	m := http.NewServeMux()
	m.Handle("GET /static/", http.StripPrefix("/static/", http.FileServerFS(static)))
	m.HandleFunc("GET /signin", h.signinForm)
	m.HandleFunc("POST /signin", h.signin)
	m.HandleFunc("POST /signout", h.signout)
	m.HandleFunc("GET /{$}", h.auth(h.overview))
	m.HandleFunc("GET /clusters/{name}", h.auth(h.cluster))
	m.HandleFunc("GET /jobs/{id}", h.auth(h.job))
	m.HandleFunc("GET /costs", h.auth(h.costs))
	m.HandleFunc("GET /events", h.auth(h.events))
	m.HandleFunc("GET /schedules", h.auth(h.schedules))
	m.HandleFunc("GET /checks", h.auth(h.checks))
	m.HandleFunc("GET /regions", h.auth(h.regions))
	m.HandleFunc("/", h.auth(func(w http.ResponseWriter, r *http.Request, c cluster.Caller) {
		h.notFound(w, r, c, "There is no page here.")
	}))
	h.mux = m
	return h
}

func (h *handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.URL.Path == "/v1" || strings.HasPrefix(r.URL.Path, "/v1/") {
		http.NotFound(w, r)
		return
	}
	w.Header().Set("X-Content-Type-Options", "nosniff")
	w.Header().Set("X-Frame-Options", "DENY")
	w.Header().Set("Referrer-Policy", "same-origin")
	w.Header().Set("Content-Security-Policy", "default-src 'self'; style-src 'self'; img-src 'self' data:; frame-ancestors 'none'; form-action 'self'")
	h.mux.ServeHTTP(w, r)
}

// page is what every page template gets.
type page struct {
	Title   string
	User    string
	Admin   bool
	Refresh int
	Nav     string
	Error   string
	Data    any
}

func (h *handler) render(w http.ResponseWriter, status int, name string, p page) {
	if p.User != "" && p.Refresh == 0 {
		p.Refresh = refreshSeconds
	}
	p.Nav = name
	var b strings.Builder
	if err := h.pages[name].Execute(&b, p); err != nil {
		h.Logger.Error("web page", "page", name, "err", err)
		http.Error(w, "internal error rendering the page", http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	_, _ = w.Write([]byte(b.String()))
}

type pageHandler func(w http.ResponseWriter, r *http.Request, c cluster.Caller)

// auth checks the token cookie like the API checks its bearer token; with
// none, or one not accepted, it shows the sign-in form.
func (h *handler) auth(next pageHandler) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		ck, err := r.Cookie(CookieName)
		if err != nil || ck.Value == "" {
			h.render(w, http.StatusUnauthorized, "signin", page{Title: "Sign in"})
			return
		}
		c, err := h.Auth(r.Context(), ck.Value)
		if err != nil {
			h.Logger.Info("web token not accepted", "err", err)
			clearCookie(w, r)
			h.render(w, http.StatusUnauthorized, "signin", page{Title: "Sign in", Error: "Your token was not accepted (unknown, revoked or disabled): sign in again."})
			return
		}
		next(w, r, c)
	}
}

func (h *handler) signinForm(w http.ResponseWriter, r *http.Request) {
	h.render(w, http.StatusOK, "signin", page{Title: "Sign in"})
}

func (h *handler) signin(w http.ResponseWriter, r *http.Request) {
	r.Body = http.MaxBytesReader(w, r.Body, 1<<14)
	tok := strings.TrimSpace(r.PostFormValue("token"))
	if tok == "" {
		h.render(w, http.StatusUnauthorized, "signin", page{Title: "Sign in", Error: "Enter a token."})
		return
	}
	if _, err := h.Auth(r.Context(), tok); err != nil {
		h.Logger.Info("web sign-in refused", "err", err)
		h.render(w, http.StatusUnauthorized, "signin", page{Title: "Sign in", Error: "That token was not accepted (unknown, revoked or disabled)."})
		return
	}
	http.SetCookie(w, &http.Cookie{
		Name: CookieName, Value: tok, Path: "/", HttpOnly: true, SameSite: http.SameSiteStrictMode,
		Secure: r.TLS != nil,
	})
	http.Redirect(w, r, "/", http.StatusSeeOther)
}

func (h *handler) signout(w http.ResponseWriter, r *http.Request) {
	clearCookie(w, r)
	http.Redirect(w, r, "/signin", http.StatusSeeOther)
}

func clearCookie(w http.ResponseWriter, r *http.Request) {
	http.SetCookie(w, &http.Cookie{
		Name: CookieName, Value: "", Path: "/", MaxAge: -1, HttpOnly: true, SameSite: http.SameSiteStrictMode,
		Secure: r.TLS != nil,
	})
}

func (h *handler) fail(w http.ResponseWriter, r *http.Request, c cluster.Caller, err error) {
	if errors.Is(err, store.ErrNotFound) {
		h.notFound(w, r, c, "Not found, or not yours to see.")
		return
	}
	h.Logger.Error("web page", "path", r.URL.Path, "err", err)
	h.render(w, http.StatusInternalServerError, "error", page{Title: "Error", User: c.User, Admin: c.Admin, Refresh: -1, Error: "Something went wrong; the server's log has the details."})
}

func (h *handler) notFound(w http.ResponseWriter, r *http.Request, c cluster.Caller, msg string) {
	h.render(w, http.StatusNotFound, "notfound", page{Title: "Not found", User: c.User, Admin: c.Admin, Refresh: -1, Error: msg})
}

func (h *handler) base(c cluster.Caller, title string, data any) page {
	return page{Title: title, User: c.User, Admin: c.Admin, Data: data}
}

func (h *handler) overview(w http.ResponseWriter, r *http.Request, c cluster.Caller) {
	cls, err := h.Clusters.List(r.Context(), c)
	if err != nil {
		h.fail(w, r, c, err)
		return
	}
	h.render(w, http.StatusOK, "overview", h.base(c, "Clusters", cls))
}

type clusterData struct {
	Cluster api.Cluster
	Jobs    []api.Job
	HasJobs bool
}

func (h *handler) cluster(w http.ResponseWriter, r *http.Request, c cluster.Caller) {
	cl, err := h.Clusters.Get(r.Context(), c, r.PathValue("name"))
	if err != nil {
		h.fail(w, r, c, err)
		return
	}
	d := clusterData{Cluster: cl}
	if h.Jobs != nil {
		d.HasJobs = true
		if d.Jobs, err = h.Jobs.List(r.Context(), c, cl.Name); err != nil {
			h.fail(w, r, c, err)
			return
		}
	}
	h.render(w, http.StatusOK, "cluster", h.base(c, "Cluster "+cl.Name, d))
}

type jobData struct {
	Job    api.Job
	Output string
	More   bool
}

// maxLog bounds the log shown on a job's page.
const maxLog = 1 << 20

func (h *handler) job(w http.ResponseWriter, r *http.Request, c cluster.Caller) {
	id, err := strconv.ParseInt(r.PathValue("id"), 10, 64)
	if err != nil || h.Jobs == nil {
		h.notFound(w, r, c, "No such job.")
		return
	}
	j, err := h.Jobs.Get(r.Context(), c, id)
	if err != nil {
		h.fail(w, r, c, err)
		return
	}
	d := jobData{Job: j}
	var b strings.Builder
	var after int64
	for {
		out, err := h.Jobs.Output(r.Context(), c, id, after, 0)
		if err != nil {
			h.fail(w, r, c, err)
			return
		}
		for _, ch := range out.Chunks {
			b.Write(ch.Data)
		}
		if len(out.Chunks) == 0 || out.Next == after {
			break
		}
		after = out.Next
		if b.Len() > maxLog {
			d.More = true
			break
		}
	}
	d.Output = b.String()
	h.render(w, http.StatusOK, "job", h.base(c, "Job "+strconv.FormatInt(id, 10), d))
}

type bar struct {
	Key     string
	Cost    string
	Percent int
}

type costData struct {
	Available bool
	Total     string
	ByCluster []bar
	ByOwner   []bar
	Notes     []string
	// Charts are the cost over time by cluster and by owner.
	Charts []chart
}

// chartRange is how far back the cost charts reach (less when the usage
// starts later).
const chartRange = 30 * 24 * time.Hour

func bars(rows []api.CostRow) []bar {
	rows = append([]api.CostRow(nil), rows...)
	sort.SliceStable(rows, func(i, j int) bool { return rows[i].CostMicros > rows[j].CostMicros })
	var max int64
	for _, r := range rows {
		max = maxInt(max, r.CostMicros)
	}
	out := make([]bar, 0, len(rows))
	for _, r := range rows {
		p := 0
		if max > 0 {
			p = int(r.CostMicros * 100 / max)
		}
		out = append(out, bar{Key: r.Key, Cost: r.Cost, Percent: p})
	}
	return out
}

func maxInt(a, b int64) int64 {
	if a > b {
		return a
	}
	return b
}

func (h *handler) costs(w http.ResponseWriter, r *http.Request, c cluster.Caller) {
	var d costData
	if h.Cost != nil {
		d.Available = true
		q := cost.ReportQuery{Until: h.Clusters.Clock.Now()}
		if !c.Admin {
			q.Owner = c.User
		}
		// One read of the usage serves the two reports and two charts
		// (the page refreshes itself).
		usage, err := h.Store.ListUsage(r.Context(), store.UsageFilter{Owner: q.Owner})
		if err != nil {
			h.fail(w, r, c, err)
			return
		}
		for _, by := range []string{"cluster", "owner"} {
			q.By = by
			rep, err := h.Cost.ReportOf(usage, q)
			if err != nil {
				h.fail(w, r, c, err)
				return
			}
			if by == "cluster" {
				d.ByCluster, d.Total, d.Notes = bars(rep.Rows), rep.Total, rep.Notes
			} else {
				d.ByOwner = bars(rep.Rows)
			}
			s, err := h.Cost.SeriesOf(usage, cost.SeriesQuery{Owner: q.Owner, By: by, Since: q.Until.Add(-chartRange), Until: q.Until})
			if err != nil {
				h.fail(w, r, c, err)
				return
			}
			d.Charts = append(d.Charts, newChart("by "+by, s))
		}
	}
	h.render(w, http.StatusOK, "costs", h.base(c, "Costs", d))
}

// eventsShown is how many recent events the events page shows.
const eventsShown = 100

func (h *handler) events(w http.ResponseWriter, r *http.Request, c cluster.Caller) {
	evs, err := h.Store.ListEvents(r.Context(), store.EventFilter{Limit: 1000})
	if err != nil {
		h.fail(w, r, c, err)
		return
	}
	visible := map[string]bool{}
	if !c.Admin {
		cls, err := h.Clusters.List(r.Context(), c)
		if err != nil {
			h.fail(w, r, c, err)
			return
		}
		for _, cl := range cls {
			visible[cl.Name] = true
		}
	}
	var out []*store.Event
	for _, e := range evs {
		// A user sees the events of the clusters they can see now, and
		// nothing that is not a cluster's.
		if c.Admin || (e.Cluster != "" && visible[e.Cluster]) {
			out = append(out, e)
		}
		if len(out) == eventsShown {
			break
		}
	}
	h.render(w, http.StatusOK, "events", h.base(c, "Events", out))
}

func (h *handler) schedules(w http.ResponseWriter, r *http.Request, c cluster.Caller) {
	var scs []api.Schedule
	if h.Schedules != nil {
		var err error
		if scs, err = h.Schedules.List(r.Context(), c); err != nil {
			h.fail(w, r, c, err)
			return
		}
	}
	h.render(w, http.StatusOK, "schedules", h.base(c, "Schedules", struct {
		Available bool
		List      []api.Schedule
	}{h.Schedules != nil, scs}))
}

// checks shows the health checks: each probe's and replica group's state,
// and every member of a group with its value, a member behind marked.
// Checks watch the project's own servers, so every signed-in user sees them.
func (h *handler) checks(w http.ResponseWriter, r *http.Request, c cluster.Caller) {
	states, err := h.Store.ListCheckStates(r.Context())
	if err != nil {
		h.fail(w, r, c, err)
		return
	}
	h.render(w, http.StatusOK, "checks", h.base(c, "Checks", states))
}
