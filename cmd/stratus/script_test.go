package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/rogpeppe/go-internal/testscript"
	"github.com/stratus-cloud/stratus/api"
	"github.com/stratus-cloud/stratus/internal/dropbox/miniotest"
	"github.com/stratus-cloud/stratus/internal/notify"
	"github.com/stratus-cloud/stratus/internal/notify/smtptest"
	"github.com/stratus-cloud/stratus/internal/provider"
	"github.com/stratus-cloud/stratus/internal/provider/local"
)

// binDir holds the stratus binary built for the end-to-end scripts.
var binDir string

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "stratus-e2e-bin")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	build := exec.Command("go", "build", "-o", filepath.Join(dir, "stratus"), ".")
	build.Stdout, build.Stderr = os.Stderr, os.Stderr
	if err := build.Run(); err != nil {
		fmt.Fprintln(os.Stderr, "building stratus for the end-to-end tests:", err)
		os.Exit(1)
	}
	binDir = dir
	// MinIO (for the drop-box scripts) builds alongside the other scripts.
	go func() { _, _ = miniotest.Binary() }()
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

// TestScripts runs testdata/script/*.txtar against the real stratus binary,
// the local provider and SQLite, the way a user types.
func TestScripts(t *testing.T) {
	testscript.Run(t, testscript.Params{
		Dir:                 filepath.Join("..", "..", "testdata", "script"),
		RequireExplicitExec: true,
		Condition: func(cond string) (bool, error) {
			if cond == "minio" {
				return condMinio()
			}
			return false, fmt.Errorf("unknown condition %q", cond)
		},
		Setup: func(env *testscript.Env) error {
			env.Setenv("PATH", binDir+string(os.PathListSeparator)+os.Getenv("PATH"))
			env.Setenv("HOME", filepath.Join(env.WorkDir, "home"))
			env.Setenv("EXAMPLES", filepath.Join(repoRoot(), "..", "shared", "examples"))
			work := env.WorkDir
			// Instances are detached processes that outlive the server, as
			// VMs would: terminate whatever a script left behind.
			env.Defer(func() { terminateAll(filepath.Join(work, "stratus-data", "cloud")) })
			return nil
		},
		Cmds: map[string]func(ts *testscript.TestScript, neg bool, args []string){
			"waitserver":    cmdWaitServer,
			"freeport":      cmdFreePort,
			"instances":     cmdInstances,
			"cloudlaunch":   cmdCloudLaunch,
			"sleep":         cmdSleep,
			"jobdone":       cmdJobDone,
			"fleetsays":     cmdFleetSays,
			"reclaim":       cmdReclaim,
			"cloudres":      cmdCloudRes,
			"envfile":       cmdEnvFile,
			"minio":         cmdMinio,
			"s3put":         cmdS3Put,
			"s3get":         cmdS3Get,
			"s3wait":        cmdS3Wait,
			"s3ls":          cmdS3Ls,
			"s3notify":      cmdS3Notify,
			"dropboxevent":  cmdDropboxEvent,
			"smtpserver":    cmdSMTPServer,
			"waitfile":      cmdWaitFile,
			"webhookserver": cmdWebhookServer,
		},
	})
}

func repoRoot() string {
	wd, _ := os.Getwd()
	return filepath.Join(wd, "..", "..")
}

// cmdWaitServer waits until the server using DATA (default stratus-data)
// writes its URL, then sets STRATUS_URL and STRATUS_LISTEN.
//
//	waitserver [DATA]
func cmdWaitServer(ts *testscript.TestScript, neg bool, args []string) {
	if neg {
		ts.Fatalf("unsupported: ! waitserver")
	}
	data := "stratus-data"
	if len(args) > 0 {
		data = args[0]
	}
	path := ts.MkAbs(filepath.Join(data, "server.url"))
	poll(ts, 60*time.Second, func() (bool, func() string) {
		b, err := os.ReadFile(path)
		if err != nil || !strings.HasSuffix(string(b), "\n") {
			return false, said("server did not write %s within 60s", path)
		}
		url := strings.TrimSpace(string(b))
		ts.Setenv("STRATUS_URL", url)
		ts.Setenv("STRATUS_LISTEN", strings.TrimPrefix(url, "http://"))
		return true, nil
	})
}

// poll calls check about ten times a second until it says it is done, for
// at most timeout; then it fails the script with what check last said.
// failure is a function so that what it reports (a listing, say) is only
// gathered when the wait has failed.
func poll(ts *testscript.TestScript, timeout time.Duration, check func() (done bool, failure func() string)) {
	deadline := time.Now().Add(timeout)
	for {
		done, failure := check()
		if done {
			return
		}
		if time.Now().After(deadline) {
			ts.Fatalf("%s", failure())
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// said returns a failure message for poll.
func said(format string, args ...any) func() string {
	return func() string { return fmt.Sprintf(format, args...) }
}

// cmdInstances looks at the local cloud directly, as a cloud console would,
// and checks how many live (not terminated) instances carry the given tags,
// waiting up to a timeout for the count to be reached.
//
//	instances [-all] [-wait DURATION] COUNT [KEY=VALUE ...]
//
// With -all, terminated instances count too (to prove none was duplicated).
// Keys without a "stratus:" prefix get one, but type=T selects by instance
// type; the word "untagged" selects instances without an installation tag.
func cmdInstances(ts *testscript.TestScript, neg bool, args []string) {
	wait := time.Duration(0)
	all := false
	for len(args) > 0 && strings.HasPrefix(args[0], "-") {
		switch {
		case args[0] == "-all":
			all, args = true, args[1:]
		case args[0] == "-wait" && len(args) >= 2:
			d, err := time.ParseDuration(args[1])
			ts.Check(err)
			wait, args = d, args[2:]
		default:
			ts.Fatalf("instances: unknown flag %s", args[0])
		}
	}
	if len(args) < 1 {
		ts.Fatalf("usage: instances [-all] [-wait DURATION] COUNT [KEY=VALUE ...]")
	}
	want, err := strconv.Atoi(args[0])
	ts.Check(err)
	tags := map[string]string{}
	untagged := false
	typ := ""
	for _, kv := range args[1:] {
		if kv == "untagged" {
			untagged = true
			continue
		}
		k, v, ok := strings.Cut(kv, "=")
		if !ok {
			ts.Fatalf("tag %q is not KEY=VALUE", kv)
		}
		if k == "type" {
			typ = v
			continue
		}
		if !strings.Contains(k, ":") {
			k = "stratus:" + k
		}
		tags[k] = v
	}
	root := ts.MkAbs(filepath.Join("stratus-data", "cloud"))
	poll(ts, wait, func() (bool, func() string) {
		got, desc := count(ts, root, tags, typ, untagged, all)
		if (got == want) != neg {
			ts.Logf("instances: %d live match %v", got, args[1:])
			return true, nil
		}
		return false, said("instances: %d instances match %v, want %s%d:\n%s", got, args[1:], map[bool]string{true: "not ", false: ""}[neg], want, desc)
	})
}

func count(ts *testscript.TestScript, root string, tags map[string]string, typ string, untagged, all bool) (int, string) {
	p, err := local.New(local.Options{Root: root})
	ts.Check(err)
	ctx := context.Background()
	regions, err := p.Regions(ctx)
	ts.Check(err)
	n := 0
	var desc strings.Builder
	for _, r := range regions {
		insts, err := p.Describe(ctx, r, provider.Filter{Tags: tags})
		ts.Check(err)
		for _, in := range insts {
			if in.State.Gone() && !all {
				continue
			}
			fmt.Fprintf(&desc, "  %s %s %s %v\n", in.ID, in.State, in.Type, in.Tags)
			if (untagged && in.Tags[provider.TagInstallation] != "") || (typ != "" && in.Type != typ) {
				continue
			}
			n++
		}
	}
	return n, desc.String()
}

// terminateAll terminates every instance of a local cloud.
func terminateAll(root string) {
	if _, err := os.Stat(root); err != nil {
		return
	}
	p, err := local.New(local.Options{Root: root})
	if err != nil {
		return
	}
	ctx := context.Background()
	regions, _ := p.Regions(ctx)
	for _, r := range regions {
		insts, _ := p.Describe(ctx, r, provider.Filter{})
		for _, in := range insts {
			if !in.State.Gone() {
				_ = p.Terminate(ctx, r, in.ID)
			}
		}
	}
}

// cmdCloudLaunch launches a t3.micro straight in the local cloud's default
// region, around stratus, with the given tags; -ours adds this
// installation's tag (read from the server at STRATUS_URL).
//
//	cloudlaunch [-ours] [KEY=VALUE ...]
func cmdCloudLaunch(ts *testscript.TestScript, neg bool, args []string) {
	tags := map[string]string{}
	for _, a := range args {
		if a == "-ours" {
			resp, err := http.Get(ts.Getenv("STRATUS_URL") + "/v1/version")
			ts.Check(err)
			var v struct{ Installation string }
			ts.Check(json.NewDecoder(resp.Body).Decode(&v))
			resp.Body.Close()
			tags[provider.TagInstallation] = v.Installation
			continue
		}
		k, v, ok := strings.Cut(a, "=")
		if !ok {
			ts.Fatalf("tag %q is not KEY=VALUE", a)
		}
		tags[k] = v
	}
	p, err := local.New(local.Options{Root: ts.MkAbs(filepath.Join("stratus-data", "cloud"))})
	ts.Check(err)
	regions, err := p.Regions(context.Background())
	ts.Check(err)
	in, err := p.Launch(context.Background(), provider.LaunchSpec{
		Region: regions[0], Type: "t3.micro", Tags: tags,
		ClientToken: fmt.Sprintf("cloudlaunch-%d", time.Now().UnixNano()),
	})
	ts.Check(err)
	ts.Logf("launched %s with tags %v", in.ID, tags)
}

// cmdSleep waits for a duration ("3s"; a bare number is seconds).
//
//	sleep DURATION
func cmdSleep(ts *testscript.TestScript, neg bool, args []string) {
	if len(args) != 1 {
		ts.Fatalf("usage: sleep DURATION")
	}
	d, err := time.ParseDuration(args[0])
	if err != nil {
		secs, err2 := strconv.Atoi(args[0])
		ts.Check(err2)
		d = time.Duration(secs) * time.Second
	}
	time.Sleep(d)
}

// scriptClient is an API client for the server the script started.
func scriptClient(ts *testscript.TestScript) *api.Client {
	tok, err := os.ReadFile(ts.MkAbs(filepath.Join("stratus-data", "admin.token")))
	ts.Check(err)
	return api.NewClient(ts.Getenv("STRATUS_URL"), strings.TrimSpace(string(tok)))
}

// cmdJobDone waits until job ID's state matches the regular expression
// STATE (anchored), failing after TIMEOUT with the job's last state.
//
//	jobdone TIMEOUT ID STATE
func cmdJobDone(ts *testscript.TestScript, neg bool, args []string) {
	if len(args) != 3 {
		ts.Fatalf("usage: jobdone TIMEOUT ID STATE")
	}
	timeout, err := time.ParseDuration(args[0])
	ts.Check(err)
	id, err := strconv.ParseInt(args[1], 10, 64)
	ts.Check(err)
	re, err := regexp.Compile("^(" + args[2] + ")$")
	ts.Check(err)
	c := scriptClient(ts)
	poll(ts, timeout, func() (bool, func() string) {
		j, err := c.GetJob(context.Background(), id)
		if err == nil && re.MatchString(j.State) {
			ts.Logf("job %d is %s", id, j.State)
			return true, nil
		}
		return false, said("job %d: state %q (reason %q, err %v) after %s, want %s", id, j.State, j.Reason, err, timeout, args[2])
	})
}

// cmdFleetSays waits until the cluster's fleet status (the Fleet line of
// cluster show) matches REGEXP; the status is rewritten by each scheduler
// pass, so a script polls it rather than reading it once.
//
//	fleetsays TIMEOUT CLUSTER REGEXP
func cmdFleetSays(ts *testscript.TestScript, neg bool, args []string) {
	if neg || len(args) != 3 {
		ts.Fatalf("usage: fleetsays TIMEOUT CLUSTER REGEXP")
	}
	timeout, err := time.ParseDuration(args[0])
	ts.Check(err)
	re, err := regexp.Compile(args[2])
	ts.Check(err)
	c := scriptClient(ts)
	poll(ts, timeout, func() (bool, func() string) {
		cl, err := c.GetCluster(context.Background(), args[1])
		if err == nil && re.MatchString(cl.Fleet) {
			ts.Logf("fleet of %s: %s", args[1], cl.Fleet)
			return true, nil
		}
		return false, said("fleet of %s says %q (err %v) after %s, want a match of %s", args[1], cl.Fleet, err, timeout, args[2])
	})
}

// cmdReclaim makes the local cloud announce that it will reclaim every
// live spot instance with the given tags after NOTICE.
//
//	reclaim NOTICE KEY=VALUE...
func cmdReclaim(ts *testscript.TestScript, neg bool, args []string) {
	if len(args) < 2 {
		ts.Fatalf("usage: reclaim NOTICE KEY=VALUE...")
	}
	notice, err := time.ParseDuration(args[0])
	ts.Check(err)
	tags := map[string]string{}
	for _, kv := range args[1:] {
		k, v, ok := strings.Cut(kv, "=")
		if !ok {
			ts.Fatalf("tag %q is not KEY=VALUE", kv)
		}
		tags["stratus:"+k] = v
	}
	p, err := local.New(local.Options{Root: ts.MkAbs(filepath.Join("stratus-data", "cloud"))})
	ts.Check(err)
	ctx := context.Background()
	regions, err := p.Regions(ctx)
	ts.Check(err)
	n := 0
	for _, r := range regions {
		insts, err := p.Describe(ctx, r, provider.Filter{Tags: tags})
		ts.Check(err)
		for _, in := range insts {
			if in.State.Gone() || !in.Spot {
				continue
			}
			ts.Check(p.Reclaim(ctx, r, in.ID, notice))
			ts.Logf("reclaiming %s in %s", in.ID, notice)
			n++
		}
	}
	if n == 0 {
		ts.Fatalf("reclaim: no live spot instance matches %v", args[1:])
	}
}

// cmdFreePort sets STRATUS_LISTEN to 127.0.0.1:PORT with a free port below
// Linux's ephemeral range (32768 and up). A server restarted on the port it
// had must find it free, and outgoing connections (the agents' among them)
// take their local ports from the ephemeral range, so one of them could
// otherwise hold the port a killed server used.
//
//	freeport
func cmdFreePort(ts *testscript.TestScript, neg bool, args []string) {
	for i := 0; i < 200; i++ {
		port := 20000 + int(time.Now().UnixNano()/1000%12000)
		ln, err := net.Listen("tcp", fmt.Sprintf("127.0.0.1:%d", port))
		if err != nil {
			continue
		}
		ln.Close()
		ts.Setenv("STRATUS_LISTEN", ln.Addr().String())
		return
	}
	ts.Fatalf("freeport: no free port found")
}

// cmdEnvFile sets the environment variable NAME to the contents of FILE,
// trimmed of surrounding space: envfile NAME FILE. Scripts use it where a
// shell would use $(cat FILE), e.g. for a token `stratus user token` wrote.
func cmdEnvFile(ts *testscript.TestScript, neg bool, args []string) {
	if neg || len(args) != 2 {
		ts.Fatalf("usage: envfile NAME FILE")
	}
	ts.Setenv(args[0], strings.TrimSpace(ts.ReadFile(args[1])))
}

// cmdSMTPServer starts a real SMTP server (github.com/emersion/go-smtp) on
// 127.0.0.1 for the rest of the script: STARTTLS with a self-signed
// certificate, written to $WORK/smtp-ca.pem, and AUTH PLAIN as
// $SMTP_USER with the password in $WORK/smtp.password. Each message it
// accepts is written to $WORK/mail/N.eml (1, 2, ...), after headers
// X-Envelope-To, X-TLS and X-Auth-User saying how it came. It sets
// SMTP_PORT.
//
//	smtpserver
func cmdSMTPServer(ts *testscript.TestScript, neg bool, args []string) {
	if neg || len(args) != 0 {
		ts.Fatalf("usage: smtpserver")
	}
	dir := ts.MkAbs("mail")
	ts.Check(os.MkdirAll(dir, 0o755))
	var mu sync.Mutex
	n := 0
	srv, err := smtptest.Start(smtptest.Options{
		Username: "stratus-mailer", Password: "mail-pass-1",
		OnMessage: func(m smtptest.Message) {
			mu.Lock()
			defer mu.Unlock()
			n++
			head := fmt.Sprintf("X-Envelope-To: %s\r\nX-TLS: %v\r\nX-Auth-User: %s\r\n", strings.Join(m.To, ", "), m.TLS, m.User)
			path := filepath.Join(dir, fmt.Sprintf("%d.eml", n))
			// Written whole under a temporary name, so waitfile never
			// sees half a message.
			if err := os.WriteFile(path+".tmp", append([]byte(head), m.Data...), 0o644); err == nil {
				_ = os.Rename(path+".tmp", path)
			}
		},
	})
	ts.Check(err)
	ts.Defer(func() { srv.Close() })
	ts.Check(os.WriteFile(ts.MkAbs("smtp-ca.pem"), srv.CertPEM, 0o644))
	ts.Check(os.WriteFile(ts.MkAbs("smtp.password"), []byte("mail-pass-1\n"), 0o600))
	ts.Setenv("SMTP_PORT", strconv.Itoa(srv.Port))
	ts.Setenv("SMTP_USER", "stratus-mailer")
}

// cmdWaitFile waits up to TIMEOUT for FILE to exist; ! waitfile waits for
// it to be gone.
//
//	waitfile TIMEOUT FILE
func cmdWaitFile(ts *testscript.TestScript, neg bool, args []string) {
	if len(args) != 2 {
		ts.Fatalf("usage: waitfile TIMEOUT FILE")
	}
	timeout, err := time.ParseDuration(args[0])
	ts.Check(err)
	path := ts.MkAbs(args[1])
	poll(ts, timeout, func() (bool, func() string) {
		_, err := os.Stat(path)
		switch {
		case (err == nil) != neg:
			return true, nil
		case neg:
			return false, said("%s still there after %s", args[1], timeout)
		}
		return false, said("%s did not appear within %s", args[1], timeout)
	})
}

// cmdWebhookServer starts a webhook receiver on 127.0.0.1 for the rest of
// the script. It checks each post's signature with SECRET (notify.Verify);
// a post that fails the check gets 401 and its error is written to
// $WORK/hooks/rejected; the first FAIL good posts get 503 (default 0);
// later ones are written to $WORK/hooks/N.json (1, 2, ...) and get 204.
// It sets WEBHOOK_URL.
//
//	webhookserver SECRET [FAIL]
func cmdWebhookServer(ts *testscript.TestScript, neg bool, args []string) {
	if neg || len(args) < 1 || len(args) > 2 {
		ts.Fatalf("usage: webhookserver SECRET [FAIL]")
	}
	secret, fail := args[0], 0
	if len(args) == 2 {
		var err error
		fail, err = strconv.Atoi(args[1])
		ts.Check(err)
	}
	dir := ts.MkAbs("hooks")
	ts.Check(os.MkdirAll(dir, 0o755))
	var mu sync.Mutex
	n := 0
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	ts.Check(err)
	srv := &http.Server{ReadHeaderTimeout: 10 * time.Second, Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, err := io.ReadAll(io.LimitReader(r.Body, 1<<20))
		if err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		mu.Lock()
		defer mu.Unlock()
		if err := notify.Verify(secret, r.Header, body, time.Now(), 5*time.Minute); err != nil {
			_ = os.WriteFile(filepath.Join(dir, "rejected"), []byte(err.Error()+"\n"), 0o644)
			http.Error(w, err.Error(), http.StatusUnauthorized)
			return
		}
		if fail > 0 {
			fail--
			http.Error(w, "busy", http.StatusServiceUnavailable)
			return
		}
		n++
		path := filepath.Join(dir, fmt.Sprintf("%d.json", n))
		if err := os.WriteFile(path+".tmp", body, 0o644); err == nil {
			_ = os.Rename(path+".tmp", path)
		}
		w.WriteHeader(http.StatusNoContent)
	})}
	go func() { _ = srv.Serve(ln) }()
	ts.Defer(func() { srv.Close() })
	ts.Setenv("WEBHOOK_URL", "http://"+ln.Addr().String()+"/hook")
}
