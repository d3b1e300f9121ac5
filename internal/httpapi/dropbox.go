package httpapi

import (
	"crypto/subtle"
	"fmt"
	"io"
	"net/http"

	"github.com/stratus-cloud/stratus/internal/auth"
	"github.com/stratus-cloud/stratus/internal/dropbox"
	"github.com/stratus-cloud/stratus/internal/store"
)

// DropboxEvents receives the drop-box bucket's event notifications (the
// webhook an S3 server such as MinIO calls): authenticated by a shared
// token, each event only wakes the drop-box watcher for its objects, which
// then reads them like a listing would.
type DropboxEvents struct {
	// Token is what the sender puts after "Bearer " in Authorization.
	Token string
	// Notify hands the objects to the watcher and says how many it took.
	Notify func([]dropbox.EventObject) int
}

func (h *Handler) dropboxRoutes(m *http.ServeMux) {
	m.HandleFunc("POST /v1/dropbox/events", h.dropboxEvents)
}

var errNoDropbox = fmt.Errorf("this server's drop-box takes no event notifications (start it with --dropbox s3://BUCKET): %w", store.ErrNotFound)

func (h *Handler) dropboxEvents(w http.ResponseWriter, r *http.Request) {
	d := h.Dropbox
	if d == nil || d.Token == "" {
		writeError(w, h.Logger, errNoDropbox)
		return
	}
	tok, ok := auth.BearerToken(r.Header.Get("Authorization"))
	if !ok || subtle.ConstantTimeCompare([]byte(tok), []byte(d.Token)) != 1 {
		writeError(w, h.Logger, errUnauthorized)
		return
	}
	body, err := io.ReadAll(io.LimitReader(r.Body, maxBody+1))
	if err != nil {
		writeError(w, h.Logger, badRequest{"reading the event: " + err.Error()})
		return
	}
	if len(body) > maxBody {
		writeError(w, h.Logger, badRequest{"event notification larger than 1 MiB"})
		return
	}
	objs, err := dropbox.ParseEvent(body)
	if err != nil {
		writeError(w, h.Logger, badRequest{err.Error()})
		return
	}
	n := d.Notify(objs)
	writeJSON(w, http.StatusAccepted, map[string]int{"queued": n})
}
