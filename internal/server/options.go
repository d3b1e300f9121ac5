// Package server wires the stratus control plane together: the store, the
// provider, the controllers and the HTTP API, with signal handling and a
// clean shutdown.
package server

import (
	"io"
	"log/slog"
	"time"
)

// Options configure the control plane. The zero value plus DataDir runs on
// the embedded defaults: SQLite, the local provider, 127.0.0.1:7070.
type Options struct {
	// DataDir holds the SQLite database, the admin token, the agent secret
	// and the local provider's cloud.
	DataDir string
	// Listen is the HTTP API's address (default 127.0.0.1:7070).
	Listen string
	// AdvertiseURL is the URL agents use to reach the API (default
	// http://<Listen>).
	AdvertiseURL string
	// Provider names the cloud: "local" (default) or "aws".
	Provider string
	// AWS configures the aws provider.
	AWS AWSOptions
	// CatalogFile replaces the built-in instance type catalog (prices).
	CatalogFile string
	// TemplateFile is an admin template (native spec) that requests are
	// merged onto; empty uses the built-in defaults.
	TemplateFile string
	// PolicyFile, if set, is the administrator's policy (see package
	// policy), checked on each cluster creation and reloaded when it changes.
	PolicyFile string
	// ChecksFile, if set, declares health checks (see package health),
	// probed by a controller; the file is validated at start.
	ChecksFile string
	// Billing is the local provider's billing model: second (default) or
	// hour, to try stratus against an hourly-billed cloud.
	Billing string
	// BootDelay is the local provider's simulated boot time.
	BootDelay time.Duration
	// HeartbeatTimeout is how long after its last heartbeat an agent is
	// shown as unhealthy (default 30s).
	HeartbeatTimeout time.Duration
	// ReconcileInterval is how often controllers run when nothing wakes
	// them earlier (default 2s).
	ReconcileInterval time.Duration
	// ClockFile, if set, is read for the schedules' current time (RFC 3339
	// on one line; the wall clock while it holds none), so that end-to-end
	// tests can move schedules through their ticks.
	ClockFile string
	// Dropbox is where users drop cluster requests: dir://PATH or
	// s3://BUCKET[/PREFIX]; "" is dir://DATA/dropbox, "none" turns it off.
	Dropbox string
	// DropboxEndpoint is an S3-compatible server's base URL (default: AWS).
	DropboxEndpoint string
	// DropboxRegion is the S3 region (default us-east-1).
	DropboxRegion string
	// DropboxInterval is how often the drop-box is listed (default 30s).
	DropboxInterval time.Duration
	// DropboxTokenFile holds the token the bucket's event notifications
	// carry (default DATA/dropbox.token, made on first start).
	DropboxTokenFile string
	// Notify, if set, is the notifications file (see package notify):
	// the SMTP server, the admin address and webhooks events go to.
	Notify string
	// Logger receives the server's logs (default: text to Stderr).
	Logger *slog.Logger
	// Stdout receives the messages meant for the person starting the server.
	Stdout io.Writer
	// Stderr receives logs when Logger is nil.
	Stderr io.Writer
}
