package sqlite

import (
	"path/filepath"
	"strings"
	"testing"
)

// The job summary reads only indexes: no part of it scans the jobs table
// or all of a cluster's jobs.
func TestClusterJobSummary_UsesIndexes(t *testing.T) {
	s, err := Open(t.Context(), filepath.Join(t.TempDir(), "stratus.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	rows, err := s.rdb.QueryContext(t.Context(), `EXPLAIN QUERY PLAN `+jobSummaryQuery, "demo")
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	var plan []string
	for rows.Next() {
		var id, parent, notused int
		var detail string
		if err := rows.Scan(&id, &parent, &notused, &detail); err != nil {
			t.Fatal(err)
		}
		plan = append(plan, detail)
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	all := strings.Join(plan, "\n")
	t.Logf("plan:\n%s", all)
	for _, idx := range []string{"jobs_by_cluster_submitted", "jobs_by_cluster_ended", "jobs_by_cluster_state"} {
		if !strings.Contains(all, idx) {
			t.Errorf("plan does not use %s:\n%s", idx, all)
		}
	}
	if strings.Contains(all, "SCAN jobs") {
		t.Errorf("plan scans jobs:\n%s", all)
	}
}
