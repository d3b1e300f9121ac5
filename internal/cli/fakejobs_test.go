package cli

import (
	"encoding/json"
	"net/http"
	"net/url"
	"strconv"
	"testing"

	"github.com/stratus-cloud/stratus/api"
)

// fakeJobs is the part of fakeAPI that serves the job and cost endpoints.
// Its fields are guarded by fakeAPI.mu.
type fakeJobs struct {
	jobs []api.Job
	// submits records the submit requests.
	submits []fakeSubmit
	// output is the output of every job, in seq order (seq from 1);
	// outputDone says the job has ended and output is all of it.
	// outputPage, when set, limits the chunks of one answer.
	output     []api.OutputChunk
	outputDone bool
	outputPage int
	// onOutput, when set, is called before each output answer, n counting
	// from 0; it may add output or set outputDone.
	onOutput   func(n int)
	outputN    int
	outputReqs []url.Values
	// cost answers GET /v1/cost; costReqs records the queries.
	cost     api.Cost
	costReqs []url.Values
}

type fakeSubmit struct {
	Cluster string
	Req     api.SubmitJobRequest
}

func jobNotFound(id string) *api.StatusError {
	return &api.StatusError{Status: 404, Body: api.Error{Code: "not_found", Message: "job " + id + " not found"}}
}

// job returns the job of the request's {id}, or nil after answering 404.
func (f *fakeJobs) job(w http.ResponseWriter, r *http.Request) *api.Job {
	id, err := strconv.ParseInt(r.PathValue("id"), 10, 64)
	if err == nil {
		for i := range f.jobs {
			if f.jobs[i].ID == id {
				return &f.jobs[i]
			}
		}
	}
	writeAPIError(w, jobNotFound(r.PathValue("id")))
	return nil
}

func (f *fakeJobs) jobRoutes(t *testing.T, handle func(string, func(http.ResponseWriter, *http.Request))) {
	handle("POST /v1/clusters/{name}/jobs", func(w http.ResponseWriter, r *http.Request) {
		var req api.SubmitJobRequest
		if err := json.NewDecoder(r.Body).Decode(&req); err != nil {
			t.Errorf("submit: decode request: %v", err)
		}
		f.submits = append(f.submits, fakeSubmit{Cluster: r.PathValue("name"), Req: req})
		j := api.Job{
			ID: int64(len(f.jobs) + 1), Cluster: r.PathValue("name"), Owner: "admin", Name: req.Name,
			Argv: req.Argv, Nodes: max(req.Nodes, 1), TimeLimit: req.TimeLimit, State: "queued", SubmittedAt: testNow,
		}
		if j.TimeLimit == "" {
			j.TimeLimit = "1h0m0s"
		}
		f.jobs = append(f.jobs, j)
		writeJSON(w, 201, j)
	})
	handle("GET /v1/jobs", func(w http.ResponseWriter, r *http.Request) {
		out := []api.Job{}
		for _, j := range f.jobs {
			if c := r.URL.Query().Get("cluster"); c == "" || c == j.Cluster {
				out = append(out, j)
			}
		}
		writeJSON(w, 200, out)
	})
	handle("GET /v1/jobs/{id}", func(w http.ResponseWriter, r *http.Request) {
		if j := f.job(w, r); j != nil {
			writeJSON(w, 200, j)
		}
	})
	handle("POST /v1/jobs/{id}/cancel", func(w http.ResponseWriter, r *http.Request) {
		j := f.job(w, r)
		if j == nil {
			return
		}
		if j.State != "queued" && j.State != "running" {
			writeAPIError(w, &api.StatusError{Status: 409, Body: api.Error{Code: "conflict", Message: "job " + r.PathValue("id") + " has already ended (" + j.State + ")"}})
			return
		}
		j.State, j.Reason = "cancelled", "cancelled by admin"
		ended := testNow
		j.EndedAt = &ended
		writeJSON(w, 200, j)
	})
	handle("GET /v1/jobs/{id}/output", func(w http.ResponseWriter, r *http.Request) {
		if f.job(w, r) == nil {
			return
		}
		f.outputReqs = append(f.outputReqs, r.URL.Query())
		n := f.outputN
		f.outputN++
		if f.onOutput != nil {
			f.onOutput(n)
		}
		after, err := strconv.ParseInt(r.URL.Query().Get("after"), 10, 64)
		if err != nil {
			t.Errorf("output: after=%q", r.URL.Query().Get("after"))
		}
		page := api.JobOutput{Chunks: []api.OutputChunk{}, Next: after}
		rest := 0
		for _, ch := range f.output {
			switch {
			case ch.Seq <= after:
			case f.outputPage > 0 && len(page.Chunks) == f.outputPage:
				rest++
			default:
				page.Chunks = append(page.Chunks, ch)
				page.Next = ch.Seq
			}
		}
		page.Done = f.outputDone && rest == 0
		writeJSON(w, 200, page)
	})
	handle("GET /v1/cost", func(w http.ResponseWriter, r *http.Request) {
		f.costReqs = append(f.costReqs, r.URL.Query())
		writeJSON(w, 200, f.cost)
	})
}
