package cli

import (
	"encoding/json"
	"fmt"
	"io"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"
	"gopkg.in/yaml.v3"

	"github.com/stratus-cloud/stratus/api"
)

// outputFormat is the value of -o/--output. It implements pflag.Value, so
// a wrong value is a flag error (a usage error) naming the allowed values.
type outputFormat string

const (
	formatTable outputFormat = "table"
	formatJSON  outputFormat = "json"
	formatYAML  outputFormat = "yaml"
)

var outputFormats = []outputFormat{formatTable, formatJSON, formatYAML}

func (f *outputFormat) String() string { return string(*f) }

func (f *outputFormat) Type() string { return "format" }

func (f *outputFormat) Set(s string) error {
	for _, ok := range outputFormats {
		if strings.EqualFold(s, string(ok)) {
			*f = ok
			return nil
		}
	}
	return fmt.Errorf("unknown output format %q: use table, json or yaml", s)
}

// addOutputFlag adds -o/--output to cmd, defaulting to table.
func addOutputFlag(cmd *cobra.Command, f *outputFormat) {
	*f = formatTable
	cmd.Flags().VarP(f, "output", "o", "output format: table, json or yaml")
}

// writeStructured writes v as indented JSON or as YAML.
func writeStructured(w io.Writer, format outputFormat, v any) error {
	switch format {
	case formatJSON:
		enc := json.NewEncoder(w)
		enc.SetIndent("", "  ")
		return enc.Encode(v)
	case formatYAML:
		enc := yaml.NewEncoder(w)
		enc.SetIndent(2)
		if err := enc.Encode(v); err != nil {
			return err
		}
		return enc.Close()
	}
	return fmt.Errorf("output format %q is not structured", format)
}

func newTabWriter(w io.Writer) *tabwriter.Writer {
	return tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
}

// writeClusterTable writes clusters as the table of `cluster list`.
func writeClusterTable(w io.Writer, clusters []api.Cluster, now time.Time) error {
	tw := newTabWriter(w)
	fmt.Fprintln(tw, "NAME\tOWNER\tSTATE\tNODES\tLOGIN\tHOURLY\tAGE")
	for _, c := range clusters {
		fmt.Fprintf(tw, "%s\t%s\t%s\t%d/%d\t%s\t%s\t%s\n",
			c.Name, dash(c.Owner), c.State, c.Nodes.Registered, c.Nodes.Total,
			dash(c.LoginAddress), dollars(c.HourlyCost), age(now, c.CreatedAt))
	}
	return tw.Flush()
}

// age is how long ago t was, in the largest whole unit: 45s, 3m, 2h, 5d.
func age(now, t time.Time) string {
	if t.IsZero() {
		return "-"
	}
	d := now.Sub(t)
	switch {
	case d < 0:
		return "0s"
	case d < time.Minute:
		return fmt.Sprintf("%ds", int(d/time.Second))
	case d < time.Hour:
		return fmt.Sprintf("%dm", int(d/time.Minute))
	case d < 48*time.Hour:
		return fmt.Sprintf("%dh", int(d/time.Hour))
	}
	return fmt.Sprintf("%dd", int(d/(24*time.Hour)))
}

// dollars shows an exact decimal dollar amount from the API.
func dollars(s string) string {
	if s == "" {
		return "-"
	}
	return "$" + s
}

func dash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

// nodeProgress summarises node counts: "3 nodes — 1 pending, 2 running,
// 1 registered".
func nodeProgress(n api.NodeCounts) string {
	noun := "nodes"
	if n.Total == 1 {
		noun = "node"
	}
	s := fmt.Sprintf("%d %s — %d pending, %d running, %d registered", n.Total, noun, n.Pending, n.Running, n.Registered)
	if n.Unhealthy > 0 {
		s += fmt.Sprintf(", %d unhealthy", n.Unhealthy)
	}
	return s
}

// progress shows a changing status line on a terminal by rewriting one
// line, or elsewhere by printing a line each time the status changes.
type progress struct {
	w     io.Writer
	tty   bool
	last  string
	shown bool
}

func (p *progress) update(line string) {
	if line == p.last {
		return
	}
	p.last = line
	if p.tty {
		// \r returns to the line's start; ESC[K clears what a longer
		// previous line left behind.
		fmt.Fprintf(p.w, "\r%s\x1b[K", line)
		p.shown = true
		return
	}
	fmt.Fprintln(p.w, line)
}

// done ends the rewritten line so that what follows starts on its own line.
func (p *progress) done() {
	if p.tty && p.shown {
		fmt.Fprintln(p.w)
		p.shown = false
	}
}
