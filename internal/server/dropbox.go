package server

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strings"

	"github.com/stratus-cloud/stratus/internal/atomicfile"
	"github.com/stratus-cloud/stratus/internal/auth"
	"github.com/stratus-cloud/stratus/internal/clock"
	"github.com/stratus-cloud/stratus/internal/cluster"
	"github.com/stratus-cloud/stratus/internal/dropbox"
	"github.com/stratus-cloud/stratus/internal/httpapi"
	"github.com/stratus-cloud/stratus/internal/store"
)

// Files in the data directory for the drop-box.
const (
	// DropboxTokenFile holds the token the drop-box's event notifications
	// must carry, made on first start unless a token file is given.
	DropboxTokenFile = "dropbox.token"
	dropboxDir       = "dropbox"
)

// newDropbox makes the drop-box watcher opts ask for (nil with "none") and
// the webhook that takes its bucket's event notifications (nil for a
// directory, which has none).
func newDropbox(ctx context.Context, opts Options, st store.Store, clusters *cluster.Service, clk clock.Clock, log *slog.Logger) (*dropbox.Watcher, *httpapi.DropboxEvents, error) {
	where := opts.Dropbox
	if where == "none" {
		return nil, nil, nil
	}
	if where == "" {
		where = "dir://" + filepath.Join(opts.DataDir, dropboxDir)
	}
	loc, err := dropbox.ParseLocation(where)
	if err != nil {
		return nil, nil, err
	}
	w := &dropbox.Watcher{
		Prefix: loc.Prefix, Store: st, Clusters: clusters, Clock: clk,
		Logger: log.With("component", "dropbox"), Interval: opts.DropboxInterval,
	}
	if loc.Scheme == "dir" {
		if err := os.MkdirAll(loc.Path, 0o755); err != nil {
			return nil, nil, fmt.Errorf("drop-box directory: %w", err)
		}
		// A file being copied in is left until it has not changed for
		// a moment, so it is never read empty or half written.
		w.Bucket, w.Settle = &dropbox.Dir{Root: loc.Path}, dropbox.DirSettle
		fmt.Fprintf(opts.Stdout, "drop-box: watching %s\n", loc)
		return w, nil, nil
	}
	client, err := dropbox.NewS3Client(ctx, opts.DropboxEndpoint, opts.DropboxRegion)
	if err != nil {
		return nil, nil, fmt.Errorf("drop-box %s: %w", loc, err)
	}
	w.Bucket, w.BucketName = &dropbox.S3{Client: client, Bucket: loc.Bucket}, loc.Bucket
	tokenFile := opts.DropboxTokenFile
	if tokenFile == "" {
		tokenFile = filepath.Join(opts.DataDir, DropboxTokenFile)
	}
	tok, created, err := dropboxToken(tokenFile, opts.DropboxTokenFile == "")
	if err != nil {
		return nil, nil, err
	}
	if created {
		fmt.Fprintf(opts.Stdout, "created a drop-box webhook token and wrote it to %s (mode 0600)\n", tokenFile)
	}
	fmt.Fprintf(opts.Stdout, "drop-box: watching %s; event notifications go to /v1/dropbox/events with the token in %s\n", loc, tokenFile)
	return w, &httpapi.DropboxEvents{Token: tok, Notify: w.Notify}, nil
}

// dropboxToken reads the webhook token from path; when it is missing and
// make is set, a new one is written there (0600).
func dropboxToken(path string, make bool) (string, bool, error) {
	data, err := os.ReadFile(path)
	switch {
	case err == nil:
		tok := strings.TrimSpace(string(data))
		if tok == "" || strings.ContainsAny(tok, " \t\r\n") {
			return "", false, fmt.Errorf("drop-box webhook token file %s: want one token on one line, without spaces", path)
		}
		return tok, false, nil
	case errors.Is(err, os.ErrNotExist) && make:
		tok := auth.NewToken("dbx")
		if err := atomicfile.WriteFile(path, []byte(tok+"\n"), 0o600); err != nil {
			return "", false, fmt.Errorf("write drop-box webhook token: %w", err)
		}
		return tok, true, nil
	default:
		return "", false, fmt.Errorf("drop-box webhook token: %w", err)
	}
}
