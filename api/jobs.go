package api

import "time"

// SubmitJobRequest queues a job on a cluster.
type SubmitJobRequest struct {
	Name string   `json:"name,omitempty"`
	Argv []string `json:"argv"`
	// Nodes is how many compute nodes the job runs on at once (default 1).
	Nodes int `json:"nodes,omitempty"`
	// TimeLimit is a Go duration ("30m"); empty means the cluster's default.
	TimeLimit string `json:"time_limit,omitempty"`
}

// Job is a job as the API shows it.
type Job struct {
	ID      int64    `json:"id" yaml:"id"`
	Cluster string   `json:"cluster" yaml:"cluster"`
	Owner   string   `json:"owner" yaml:"owner"`
	Name    string   `json:"name,omitempty" yaml:"name,omitempty"`
	Argv    []string `json:"argv" yaml:"argv"`
	Nodes   int      `json:"nodes" yaml:"nodes"`
	// TimeLimit is a Go duration string.
	TimeLimit string `json:"time_limit" yaml:"time_limit"`
	// State is queued, running, succeeded, failed, cancelled or timed_out.
	State       string     `json:"state" yaml:"state"`
	Reason      string     `json:"reason,omitempty" yaml:"reason,omitempty"`
	SubmittedAt time.Time  `json:"submitted_at" yaml:"submitted_at"`
	StartedAt   *time.Time `json:"started_at,omitempty" yaml:"started_at,omitempty"`
	EndedAt     *time.Time `json:"ended_at,omitempty" yaml:"ended_at,omitempty"`
	// Attempt counts the runs started; Requeues the times it went back to
	// the queue because a node was lost.
	Attempt  int `json:"attempt" yaml:"attempt"`
	Requeues int `json:"requeues" yaml:"requeues"`
	// Assigned lists the nodes of the current (or last) run, in rank order.
	Assigned        []JobNode `json:"assigned,omitempty" yaml:"assigned,omitempty"`
	ExitCode        *int      `json:"exit_code,omitempty" yaml:"exit_code,omitempty"`
	OutputBytes     int64     `json:"output_bytes" yaml:"output_bytes"`
	OutputTruncated bool      `json:"output_truncated" yaml:"output_truncated"`
}

// JobNode is one node of a job's run.
type JobNode struct {
	Rank    int    `json:"rank" yaml:"rank"`
	Node    string `json:"node" yaml:"node"`
	Address string `json:"address" yaml:"address"`
}

// JobOutput is a piece of a job's output, from GET /v1/jobs/{id}/output.
type JobOutput struct {
	Chunks []OutputChunk `json:"chunks"`
	// Next is the sequence number to ask for after this piece.
	Next int64 `json:"next"`
	// Done is set when the job has ended and every chunk was returned.
	Done bool `json:"done"`
}

// OutputChunk is output of one rank of a job.
type OutputChunk struct {
	Seq     int64  `json:"seq"`
	Attempt int    `json:"attempt"`
	Rank    int    `json:"rank"`
	Stream  string `json:"stream"`
	Data    []byte `json:"data"`
}

// Cost is a cost report, from GET /v1/cost.
type Cost struct {
	Since time.Time `json:"since" yaml:"since"`
	Until time.Time `json:"until" yaml:"until"`
	By    string    `json:"by" yaml:"by"`
	Rows  []CostRow `json:"rows" yaml:"rows"`
	Total string    `json:"total" yaml:"total"`
	Notes []string  `json:"notes,omitempty" yaml:"notes,omitempty"`
}

// CostRow is the cost of one group (a cluster, an owner or a type).
type CostRow struct {
	Key string `json:"key" yaml:"key"`
	// Cost is in dollars, an exact decimal string.
	Cost string `json:"cost" yaml:"cost"`
	// CostMicros is the same in micro-dollars.
	CostMicros int64 `json:"cost_micros" yaml:"cost_micros"`
	// RunningSeconds is the instances' running time; BilledSeconds what the
	// billing model charged for it.
	RunningSeconds int64 `json:"running_seconds" yaml:"running_seconds"`
	BilledSeconds  int64 `json:"billed_seconds" yaml:"billed_seconds"`
	StoppedSeconds int64 `json:"stopped_seconds" yaml:"stopped_seconds"`
	Instances      int   `json:"instances" yaml:"instances"`
}

// Agent protocol for jobs.

// PollRequest is an agent's poll for work: it lists the job ranks it runs.
type PollRequest struct {
	Running []JobRef `json:"running,omitempty"`
}

// JobRef names one rank of one attempt of a job.
type JobRef struct {
	Job     int64 `json:"job"`
	Attempt int   `json:"attempt"`
	Rank    int   `json:"rank"`
}

// JobAssignment is a job rank for an agent to run.
type JobAssignment struct {
	JobRef
	Argv []string `json:"argv"`
	Env  []string `json:"env"`
	// TimeLimit (a Go duration) after which the agent kills the rank.
	TimeLimit string `json:"time_limit"`
}

// JobOutputBatch is output an agent sends for one rank.
type JobOutputBatch struct {
	JobRef
	Frames []ExecFrame `json:"frames"`
}

// JobExit reports how one rank ended. TimedOut is set when the agent killed
// it at its time limit.
type JobExit struct {
	JobRef
	Code     int  `json:"code"`
	TimedOut bool `json:"timed_out,omitempty"`
}

// Notice is a spot interruption notice an agent reports.
type Notice struct {
	Action string    `json:"action"`
	Time   time.Time `json:"time"`
}
