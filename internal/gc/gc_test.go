package gc

import (
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/stratus-cloud/stratus/internal/provider"
)

func TestOrphans(t *testing.T) {
	tagged := func(id, inst, node string, state provider.State) provider.Instance {
		tags := map[string]string{}
		if inst != "" {
			tags[provider.TagInstallation] = inst
		}
		if node != "" {
			tags[provider.TagNode] = node
		}
		return provider.Instance{ID: id, State: state, Tags: tags}
	}
	insts := []provider.Instance{
		tagged("i-known", "me", "n-1", provider.StateRunning),
		tagged("i-orphan", "me", "n-gone", provider.StateRunning),
		tagged("i-nonode", "me", "", provider.StateStopped),
		tagged("i-untagged", "", "", provider.StateRunning),
		tagged("i-other", "someone-else", "n-x", provider.StateRunning),
		tagged("i-dead", "me", "n-gone", provider.StateTerminated),
		tagged("i-going", "me", "n-gone", provider.StateShuttingDown),
		tagged("i-stopping", "me", "n-gone", provider.StateStopping),
	}
	got := Orphans("me", insts, func(id string) bool { return id == "n-1" })
	var ids []string
	for _, in := range got {
		ids = append(ids, in.ID)
	}
	if diff := cmp.Diff([]string{"i-orphan", "i-nonode", "i-stopping"}, ids); diff != "" {
		t.Errorf("orphans (-want +got):\n%s", diff)
	}
}
