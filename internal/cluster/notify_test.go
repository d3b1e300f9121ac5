package cluster_test

import (
	"context"
	"encoding/json"
	"errors"
	"strings"
	"testing"

	"github.com/stratus-cloud/stratus/internal/notify"
	"github.com/stratus-cloud/stratus/internal/provider"
	"github.com/stratus-cloud/stratus/internal/store"
)

// outboxEvents returns the events in the store's notifications outbox.
func outboxEvents(t *testing.T, e *env) []map[string]any {
	t.Helper()
	ns, err := e.st.ListNotifications(context.Background(), store.NotificationFilter{})
	if err != nil {
		t.Fatal(err)
	}
	var out []map[string]any
	for _, n := range ns {
		var m map[string]any
		if err := json.Unmarshal(n.Payload, &m); err != nil {
			t.Fatal(err)
		}
		out = append(out, m)
	}
	return out
}

func TestController_NotifiesCreatedWithLoginAddressAndDeleted(t *testing.T) {
	e := newEnv(t)
	e.ctrl.Notify = &notify.Outbox{Store: e.st, Clock: e.clk}
	nodes := e.running(t, "lab", reqHeadOnly)
	e.mustPass(t) // a later pass tells no one again
	evs := outboxEvents(t, e)
	if len(evs) != 1 {
		t.Fatalf("outbox after the cluster is running: %v, want one event", evs)
	}
	ev := evs[0]
	head := nodes[0].Address
	data, _ := ev["data"].(map[string]any)
	if ev["kind"] != notify.ClusterCreated || ev["user"] != "ann" || ev["cluster"] != "lab" || head == "" || data["login_address"] != head {
		t.Errorf("created event %v; want cluster.created for ann's lab with login address %q", ev, head)
	}
	if body, _ := ev["body"].(string); !strings.Contains(body, "ssh "+head) {
		t.Errorf("body %q lacks the login address", body)
	}

	if _, err := e.svc.Delete(context.Background(), ann, "lab"); err != nil {
		t.Fatal(err)
	}
	for i := 0; i < 10 && len(e.nodes(t, "lab")) > 0; i++ {
		e.mustPass(t)
	}
	e.mustPass(t)
	evs = outboxEvents(t, e)
	if len(evs) != 2 || evs[1]["kind"] != notify.ClusterDeleted || evs[1]["cluster"] != "lab" || evs[1]["user"] != "ann" {
		t.Fatalf("outbox after deletion: %v; want created, then deleted", evs)
	}
}

func TestController_NotifiesFailedWithReason(t *testing.T) {
	e := newEnv(t)
	var got []notify.Event
	e.ctrl.Notify = notify.Func(func(_ context.Context, ev notify.Event) error {
		got = append(got, ev)
		return errors.New("the notifier's errors do not fail the change")
	})
	e.prov.FailNext("Launch", 1, &provider.InvalidError{Field: "image", Reason: "image ami-1 does not exist"})
	e.create(t, "lab", reqHeadOnly)
	_ = e.pass(t) // the launch fails
	if st := e.get(t, "lab").State; st != "failed" {
		t.Fatalf("cluster is %s, want failed", st)
	}
	if len(got) != 1 {
		t.Fatalf("events %v, want one", got)
	}
	ev := got[0]
	if ev.Kind != notify.ClusterFailed || ev.Severity != notify.Critical || ev.User != "ann" || !strings.Contains(ev.Body, "image ami-1 does not exist") || ev.Key == "" {
		t.Errorf("failed event %+v", ev)
	}
}
