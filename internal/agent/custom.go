package agent

// Per-user customisation. Before it registers, an agent fetches what the
// policy gave its cluster's owner (GET /v1/agent/customisation): ssh keys,
// which it adds to the login user's ~/.ssh/authorized_keys, and its role's
// bootstrap scripts, which it runs in order, each with a time limit, with
// STRATUS_CLUSTER, STRATUS_NODE_ROLE and STRATUS_OWNER in their
// environment; the first that fails stops the rest. It then reports the
// results (POST /v1/agent/customisation/report), retrying until the
// control plane takes them, and registers. So a node counts as registered
// only once its customisation has run, and a cluster is running only once
// every node's has.
//
// It happens once per instance: the progress is kept in CustomisationFile
// in the instance (or config) directory, written before each script starts
// and after it ends. An agent restarted later does not run anything again;
// one that stopped while a script ran reports that script as interrupted
// rather than running it a second time.
//
// The login user is Config.LoginUser (EC2: the image's user, like
// ec2-user): the keys go to their home directory and are owned by them.
// Without one (the local provider) the login user's home is the agent's
// home directory, InstanceDir/home, where commands and jobs run too.

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/user"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/stratus-cloud/stratus/api"
	"github.com/stratus-cloud/stratus/internal/atomicfile"
)

// CustomisationFile, inside an instance directory, records how far the
// instance's customisation has got.
const CustomisationFile = "customisation.json"

// DefaultScriptTimeout bounds one bootstrap script's run.
const DefaultScriptTimeout = 10 * time.Minute

// maxOutputTail is how much of a script's output is reported.
const maxOutputTail = 2 << 10

// customState is CustomisationFile's content.
type customState struct {
	// Running names the script running now (set before it starts).
	Running string `json:"running,omitempty"`
	// Done is set once keys and scripts are dealt with; Report says how.
	Done   bool                    `json:"done"`
	Report api.CustomisationReport `json:"report"`
	// Reported is set once the control plane took the report.
	Reported bool `json:"reported"`
}

func (a *Agent) customStatePath() string {
	return filepath.Join(a.opts.InstanceDir, CustomisationFile)
}

func (a *Agent) loadCustomState() (customState, error) {
	var st customState
	data, err := os.ReadFile(a.customStatePath())
	if errors.Is(err, os.ErrNotExist) {
		return st, nil
	}
	if err != nil {
		return st, err
	}
	if err := json.Unmarshal(data, &st); err != nil {
		return st, fmt.Errorf("%s: %w", a.customStatePath(), err)
	}
	return st, nil
}

func (a *Agent) saveCustomState(st customState) error {
	data, err := json.MarshalIndent(st, "", "  ")
	if err != nil {
		return err
	}
	return atomicfile.WriteFile(a.customStatePath(), data, 0o600)
}

// customise carries out this instance's customisation once and reports
// it. It returns an error only if ctx ended or the progress file cannot be
// kept (then nothing more is run).
func (a *Agent) customise(ctx context.Context) error {
	st, err := a.loadCustomState()
	if err != nil {
		return fmt.Errorf("customisation: %w", err)
	}
	if st.Reported {
		return nil
	}
	if !st.Done {
		var c api.NodeCustomisation
		ok := a.retry(ctx, "fetch customisation", func() error {
			var err error
			c, err = a.client.Customisation(ctx)
			return err
		})
		if ctx.Err() != nil {
			return ctx.Err()
		}
		if !ok {
			return nil // the control plane does not know the node's cluster
		}
		if len(c.SSHKeys) == 0 && len(c.Scripts) == 0 {
			return a.saveCustomState(customState{Done: true, Reported: true})
		}
		if err := a.applyCustomisation(ctx, c, &st); err != nil {
			return err
		}
	}
	a.retry(ctx, "report customisation", func() error { return a.client.ReportCustomisation(ctx, st.Report) })
	if ctx.Err() != nil {
		return ctx.Err()
	}
	st.Reported = true
	return a.saveCustomState(st)
}

// applyCustomisation installs c's keys and runs the scripts not run yet,
// recording progress in st and its file.
func (a *Agent) applyCustomisation(ctx context.Context, c api.NodeCustomisation, st *customState) error {
	rep := &st.Report
	if st.Running != "" {
		a.log.Warn("the agent stopped while a bootstrap script ran; it is not run again", "script", st.Running)
		rep.Results = append(rep.Results, api.ScriptResult{Name: st.Running, ExitCode: -1,
			Output: "the agent stopped while the script ran; it was not run again"})
		st.Running, st.Done = "", true
		return a.saveCustomState(*st)
	}
	if len(c.SSHKeys) > 0 && rep.KeysFile == "" && rep.KeysError == "" {
		file, err := a.installKeys(c.SSHKeys)
		rep.KeysFile = file
		if err != nil {
			rep.KeysError = err.Error()
			a.log.Error("cannot install ssh keys", "err", err)
		} else {
			rep.KeysInstalled = len(c.SSHKeys)
			a.log.Info("ssh keys installed", "file", file, "keys", len(c.SSHKeys))
		}
		if err := a.saveCustomState(*st); err != nil {
			return fmt.Errorf("customisation: %w", err)
		}
	}
	if rep.KeysError == "" {
		for i := len(rep.Results); i < len(c.Scripts); i++ {
			sc := c.Scripts[i]
			st.Running = sc.Name
			if err := a.saveCustomState(*st); err != nil {
				return fmt.Errorf("customisation: %w", err)
			}
			res, err := a.runScript(ctx, c, i, sc)
			if err != nil {
				return err // ctx ended: the script is recorded as running
			}
			a.log.Info("bootstrap script finished", "script", sc.Name, "exit", res.ExitCode, "timed_out", res.TimedOut)
			st.Running = ""
			rep.Results = append(rep.Results, res)
			if err := a.saveCustomState(*st); err != nil {
				return fmt.Errorf("customisation: %w", err)
			}
			if !res.OK() {
				break
			}
		}
	}
	st.Done = true
	if err := a.saveCustomState(*st); err != nil {
		return fmt.Errorf("customisation: %w", err)
	}
	return nil
}

// runScript writes script i to the instance directory and runs it with
// the customisation's environment and the script time limit. An error
// means ctx ended (the script was killed).
func (a *Agent) runScript(ctx context.Context, c api.NodeCustomisation, i int, sc api.BootstrapScript) (api.ScriptResult, error) {
	res := api.ScriptResult{Name: sc.Name}
	dir := filepath.Join(a.opts.InstanceDir, "bootstrap")
	if err := os.MkdirAll(dir, 0o700); err != nil {
		res.ExitCode, res.Output = 127, err.Error()
		return res, nil
	}
	path := filepath.Join(dir, fmt.Sprintf("%02d-%s", i+1, safeName(sc.Name)))
	if err := atomicfile.WriteFile(path, sc.Content, 0o700); err != nil {
		res.ExitCode, res.Output = 127, err.Error()
		return res, nil
	}
	timeout := a.opts.ScriptTimeout
	if timeout <= 0 {
		timeout = DefaultScriptTimeout
	}
	sctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	out := &tailBuffer{max: maxOutputTail}
	env := []string{"STRATUS_CLUSTER=" + c.Cluster, "STRATUS_NODE_ROLE=" + c.Role, "STRATUS_OWNER=" + c.Owner}
	res.ExitCode = a.run(sctx, []string{path}, nil, env, out, out)
	if ctx.Err() != nil {
		return res, ctx.Err()
	}
	if errors.Is(sctx.Err(), context.DeadlineExceeded) {
		res.TimedOut = true
		fmt.Fprintf(out, "\nstratus agent: killed after %s\n", timeout)
	}
	res.Output = out.String()
	return res, nil
}

// safeName turns a script's name into a file name.
func safeName(name string) string {
	base := filepath.Base(name)
	return strings.Map(func(r rune) rune {
		if r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '.' || r == '-' || r == '_' {
			return r
		}
		return '_'
	}, base)
}

// tailBuffer keeps the last max bytes written to it.
type tailBuffer struct {
	mu  sync.Mutex
	max int
	buf []byte
}

func (t *tailBuffer) Write(p []byte) (int, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.buf = append(t.buf, p...)
	if over := len(t.buf) - t.max; over > 0 {
		t.buf = append(t.buf[:0], t.buf[over:]...)
	}
	return len(p), nil
}

func (t *tailBuffer) String() string {
	t.mu.Lock()
	defer t.mu.Unlock()
	return strings.ToValidUTF8(string(t.buf), "?")
}

// loginUser is whose ~/.ssh/authorized_keys receives the keys.
type loginUser struct {
	home     string
	uid, gid int // -1: leave ownership as it is
}

// loginUser returns the login user: Config.LoginUser's account, or the
// agent's home directory when there is none.
func (a *Agent) loginUser() (loginUser, error) {
	if a.cfg.LoginUser == "" {
		return loginUser{home: a.home, uid: -1, gid: -1}, nil
	}
	u, err := user.Lookup(a.cfg.LoginUser)
	if err != nil {
		return loginUser{}, fmt.Errorf("login user %q: %w", a.cfg.LoginUser, err)
	}
	uid, err1 := strconv.Atoi(u.Uid)
	gid, err2 := strconv.Atoi(u.Gid)
	if err1 != nil || err2 != nil || u.HomeDir == "" {
		return loginUser{}, fmt.Errorf("login user %q has no numeric uid and gid or no home directory", a.cfg.LoginUser)
	}
	return loginUser{home: u.HomeDir, uid: uid, gid: gid}, nil
}

// installKeys adds keys to the login user's authorized_keys and returns
// its path.
func (a *Agent) installKeys(keys []string) (string, error) {
	u, err := a.loginUser()
	if err != nil {
		return "", err
	}
	return InstallAuthorizedKeys(u.home, keys, u.uid, u.gid)
}

// InstallAuthorizedKeys adds each of keys that is not there yet to
// home/.ssh/authorized_keys, keeping the lines it has, and returns the
// file's path. It creates home/.ssh with mode 0700 if missing; the file
// gets mode 0600. With uid and gid not -1 both are owned by that user.
// Repeating it changes nothing.
func InstallAuthorizedKeys(home string, keys []string, uid, gid int) (string, error) {
	sshDir := filepath.Join(home, ".ssh")
	file := filepath.Join(sshDir, "authorized_keys")
	if err := os.MkdirAll(home, 0o755); err != nil {
		return file, err
	}
	if err := os.Mkdir(sshDir, 0o700); err != nil && !errors.Is(err, os.ErrExist) {
		return file, err
	}
	if fi, err := os.Stat(sshDir); err != nil {
		return file, err
	} else if !fi.IsDir() {
		return file, fmt.Errorf("%s is not a directory", sshDir)
	}
	old, err := os.ReadFile(file)
	if err != nil && !errors.Is(err, os.ErrNotExist) {
		return file, err
	}
	have := map[string]bool{}
	sc := bufio.NewScanner(bytes.NewReader(old))
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		have[strings.TrimSpace(sc.Text())] = true
	}
	if err := sc.Err(); err != nil {
		return file, fmt.Errorf("%s: %w", file, err)
	}
	content := old
	if len(content) > 0 && content[len(content)-1] != '\n' {
		content = append(content, '\n')
	}
	added := 0
	for _, k := range keys {
		k = strings.TrimSpace(k)
		if k == "" || have[k] {
			continue
		}
		have[k] = true
		content = append(content, k+"\n"...)
		added++
	}
	if added > 0 {
		if err := atomicfile.WriteFile(file, content, 0o600); err != nil {
			return file, err
		}
	}
	if uid >= 0 && gid >= 0 {
		for _, p := range []string{sshDir, file} {
			if err := os.Lchown(p, uid, gid); err != nil {
				return file, err
			}
		}
	}
	return file, nil
}
