package schedule

import (
	"context"
	"fmt"
	"strings"

	"github.com/stratus-cloud/stratus/internal/notify"
	"github.com/stratus-cloud/stratus/internal/store"
)

// endRun is updateRun for the write that ends a run: when that write ends
// a run that failed or timed out, the schedule's owner and the admins are
// told, in the same transaction, so the event is recorded exactly once
// whatever crashes.
func (c *Controller) endRun(ctx context.Context, r *store.ScheduleRun, fn func(*store.ScheduleRun)) error {
	return c.Store.WithTx(ctx, func(q store.Queries) error {
		x, err := q.GetScheduleRun(ctx, r.Schedule, r.Number)
		if err != nil {
			return err
		}
		wasEnded := !x.EndedAt.IsZero()
		fn(x)
		if err := q.UpdateScheduleRun(ctx, x); err != nil {
			return err
		}
		*r = *x
		if !wasEnded && !x.EndedAt.IsZero() && (x.State == store.RunFailed || x.State == store.RunTimedOut) {
			c.notifyFailed(ctx, q, x)
		}
		return nil
	})
}

// notifyFailed tells of a failed run; a failure to do so is logged only.
func (c *Controller) notifyFailed(ctx context.Context, q store.Queries, r *store.ScheduleRun) {
	if c.Notify == nil {
		return
	}
	owner := ""
	if sc, err := q.GetSchedule(ctx, r.Schedule); err == nil {
		owner = sc.Owner
	}
	what := "failed"
	if r.State == store.RunTimedOut {
		what = "timed out"
	}
	var b strings.Builder
	fmt.Fprintf(&b, "Run %d of schedule %s %s: %s\n\n", r.Number, r.Schedule, what, r.Reason)
	fmt.Fprintf(&b, "Region:   %s\nStarted:  %s\n", r.Region, r.StartedAt.UTC().Format("2006-01-02 15:04:05 MST"))
	if r.ExitCode >= 0 {
		fmt.Fprintf(&b, "Exit code: %d\n", r.ExitCode)
	}
	fmt.Fprintf(&b, "\nIts worker is stopped. See its output with:\n  stratus schedule logs %s %d\n", r.Schedule, r.Number)
	e := notify.Event{
		Key:  fmt.Sprintf("%s/%s/run-%d", notify.ScheduleFailed, r.Schedule, r.ID),
		Kind: notify.ScheduleFailed, Severity: notify.Warning, User: owner, Schedule: r.Schedule,
		Subject: fmt.Sprintf("Schedule %s: run %d %s", r.Schedule, r.Number, what),
		Body:    b.String(), Time: r.EndedAt,
		Data: map[string]string{
			"run": fmt.Sprint(r.Number), "state": string(r.State), "reason": r.Reason,
			"region": r.Region, "exit_code": fmt.Sprint(r.ExitCode),
		},
	}
	if err := notify.InTx(ctx, c.Notify, q, e); err != nil {
		c.Logger.Warn("cannot record notification", "schedule", r.Schedule, "run", r.Number, "err", err)
	}
}
