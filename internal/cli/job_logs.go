package cli

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"sort"
	"time"

	"github.com/spf13/cobra"
	"gopkg.in/yaml.v3"

	"github.com/stratus-cloud/stratus/api"
)

// logsWait is how long one request of `job logs --follow` waits on the
// server for more output (the server may cap it lower).
const logsWait = 25 * time.Second

// jobLogsOptions are the arguments and flags of `stratus job logs`.
type jobLogsOptions struct {
	ID     int64
	Follow bool
	// Ranks prefixes each line of a multi-node job with its rank.
	Ranks  bool
	Output outputFormat
}

func (a *app) newJobLogsCmd() *cobra.Command {
	var opts jobLogsOptions
	cmd := &cobra.Command{
		Use:   "logs ID [--follow] [--ranks]",
		Short: "Print a job's output",
		Long: `Print a job's output as the server has kept it: what the job wrote to
standard output goes to standard output, what it wrote to standard error to
standard error. Output of all ranks (nodes) is printed as it arrived, raw;
with --ranks, each line of a job on more than one node starts with
"[rank N] ".

Without --follow, print the output so far and exit. With --follow, keep
printing new output until the job ends.

Exits 0 once the output is printed, whatever the job's own exit code: see
'stratus job show ID' for how the job ended.

With -o json, print each piece of output (seq, attempt, rank, stream and
data, base64) as one JSON object per line; with -o yaml, as one YAML
document each.`,
		Example: `  stratus job logs 42
  stratus job logs 42 --follow --ranks`,
		Args: jobIDArg,
		RunE: a.runE(func(cmd *cobra.Command, args []string) error {
			opts.ID, _ = parseJobID(args[0])
			return withClient(a, cmd, opts, runJobLogs)
		}),
	}
	f := cmd.Flags()
	f.BoolVarP(&opts.Follow, "follow", "f", false, "keep printing new output until the job ends")
	f.BoolVar(&opts.Ranks, "ranks", false, `prefix each line with "[rank N] " when the job runs on more than one node`)
	addOutputFlag(cmd, &opts.Output)
	return cmd
}

func runJobLogs(ctx context.Context, opts jobLogsOptions, c *api.Client, e *env) error {
	prefix := false
	if opts.Ranks && opts.Output == formatTable {
		j, err := c.GetJob(ctx, opts.ID)
		if err != nil {
			return fmt.Errorf("job %d: %w", opts.ID, err)
		}
		prefix = j.Nodes > 1
	}
	out := newChunkPrinter(e.stdout, e.stderr, opts.Output, prefix)
	err := followOutput(ctx, opts, c, e, out.write)
	if ferr := out.flush(); err == nil {
		err = ferr
	}
	return err
}

// followOutput pages through a job's output from the start, passing each
// chunk to write, until the job has ended and all its output was read or,
// without opts.Follow, no more output is there yet.
func followOutput(ctx context.Context, opts jobLogsOptions, c *api.Client, e *env, write func(api.OutputChunk) error) error {
	var wait time.Duration
	if opts.Follow {
		wait = logsWait
	}
	var after int64
	answered, retrying := false, false
	for {
		page, err := c.JobOutput(ctx, opts.ID, after, wait)
		if err != nil {
			// A server that answered before and now does not may be
			// restarting: a follower keeps trying until interrupted.
			if opts.Follow && answered && isUnreachable(err) && ctx.Err() == nil {
				if !retrying {
					fmt.Fprintln(e.stderr, "stratus: server unreachable, retrying")
					retrying = true
				}
				if err := sleepCtx(ctx, e.pollInterval); err != nil {
					return err
				}
				continue
			}
			return fmt.Errorf("job %d: %w", opts.ID, err)
		}
		answered, retrying = true, false
		for _, ch := range page.Chunks {
			if err := write(ch); err != nil {
				return err
			}
		}
		if page.Next > after {
			after = page.Next
		}
		if page.Done || (!opts.Follow && len(page.Chunks) == 0) {
			return nil
		}
	}
}

func sleepCtx(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}

// chunkPrinter prints job output chunks: raw to stdout and stderr by
// stream, raw with "[rank N] " before each line, or structured.
type chunkPrinter struct {
	stdout, stderr io.Writer
	format         outputFormat
	prefix         bool
	// partial holds, per rank and stream, a line not yet ended by a
	// newline when prefixing (so that ranks' lines do not run together).
	partial map[rankStream][]byte
	yaml    *yaml.Encoder
}

type rankStream struct {
	rank   int
	stream string
}

// logChunk is an output chunk as -o yaml shows it: data as text.
type logChunk struct {
	Seq     int64  `yaml:"seq"`
	Attempt int    `yaml:"attempt"`
	Rank    int    `yaml:"rank"`
	Stream  string `yaml:"stream"`
	Data    string `yaml:"data"`
}

func newChunkPrinter(stdout, stderr io.Writer, format outputFormat, prefix bool) *chunkPrinter {
	return &chunkPrinter{stdout: stdout, stderr: stderr, format: format, prefix: prefix, partial: map[rankStream][]byte{}}
}

func (p *chunkPrinter) write(ch api.OutputChunk) error {
	switch p.format {
	case formatJSON:
		data, err := json.Marshal(ch)
		if err != nil {
			return err
		}
		_, err = fmt.Fprintf(p.stdout, "%s\n", data)
		return err
	case formatYAML:
		if p.yaml == nil {
			p.yaml = yaml.NewEncoder(p.stdout)
			p.yaml.SetIndent(2)
		}
		return p.yaml.Encode(logChunk{Seq: ch.Seq, Attempt: ch.Attempt, Rank: ch.Rank, Stream: ch.Stream, Data: string(ch.Data)})
	}
	w, stream := p.stdout, "stdout"
	if ch.Stream == "stderr" {
		w, stream = p.stderr, "stderr"
	}
	if !p.prefix {
		_, err := w.Write(ch.Data)
		return err
	}
	key := rankStream{ch.Rank, stream}
	data := append(p.partial[key], ch.Data...)
	for {
		i := bytes.IndexByte(data, '\n')
		if i < 0 {
			break
		}
		if _, err := fmt.Fprintf(w, "[rank %d] %s", ch.Rank, data[:i+1]); err != nil {
			return err
		}
		data = data[i+1:]
	}
	p.partial[key] = bytes.Clone(data)
	return nil
}

// flush prints the lines left without a final newline, ending them with
// one, and ends a YAML stream.
func (p *chunkPrinter) flush() error {
	keys := make([]rankStream, 0, len(p.partial))
	for k, data := range p.partial {
		if len(data) > 0 {
			keys = append(keys, k)
		}
	}
	sort.Slice(keys, func(i, j int) bool {
		if keys[i].rank != keys[j].rank {
			return keys[i].rank < keys[j].rank
		}
		return keys[i].stream < keys[j].stream
	})
	for _, k := range keys {
		w := p.stdout
		if k.stream == "stderr" {
			w = p.stderr
		}
		if _, err := fmt.Fprintf(w, "[rank %d] %s\n", k.rank, p.partial[k]); err != nil {
			return err
		}
		delete(p.partial, k)
	}
	if p.yaml != nil {
		return p.yaml.Close()
	}
	return nil
}
