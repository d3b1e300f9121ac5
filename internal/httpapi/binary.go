package httpapi

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"net/http"
	"os"
	"sync"
)

// Binary serves the running stratus executable, so that new instances
// (EC2 user-data) can install the agent from the control plane itself; its
// SHA-256 is given to them in their user-data and checked before use.
type Binary struct {
	// Path is the executable's path (default os.Executable()).
	Path string

	once sync.Once
	sum  string
	err  error
}

// SHA256 returns the binary's SHA-256, hex encoded (computed once).
func (b *Binary) SHA256() (string, error) {
	b.once.Do(func() {
		if b.Path == "" {
			b.Path, b.err = os.Executable()
			if b.err != nil {
				return
			}
		}
		f, err := os.Open(b.Path)
		if err != nil {
			b.err = err
			return
		}
		defer f.Close()
		h := sha256.New()
		if _, err := io.Copy(h, f); err != nil {
			b.err = err
			return
		}
		b.sum = hex.EncodeToString(h.Sum(nil))
	})
	return b.sum, b.err
}

func (h *Handler) serveBinary(w http.ResponseWriter, r *http.Request) {
	if h.Binary == nil {
		writeError(w, h.Logger, fmt.Errorf("this server does not serve its binary"))
		return
	}
	sum, err := h.Binary.SHA256()
	if err != nil {
		writeError(w, h.Logger, fmt.Errorf("read own executable: %w", err))
		return
	}
	w.Header().Set("Content-Type", "application/octet-stream")
	w.Header().Set("X-Stratus-SHA256", sum)
	http.ServeFile(w, r, h.Binary.Path)
}
