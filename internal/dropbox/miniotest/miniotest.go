// Package miniotest runs a real MinIO server for tests: built from the Go
// module proxy at a pinned version (cached under the user's cache
// directory, built once at a time across test processes), started on
// loopback with a temporary data directory and, optionally, a webhook
// notification target. Only tests import it.
package miniotest

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"time"

	awssdk "github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/s3/types"
)

// Version is the MinIO server module version built for tests.
const Version = "v0.0.0-20260212201848-7aac2a2c5b7c"

// Root credentials of the servers Start runs.
const (
	User     = "stratus-test"
	Password = "stratus-test-secret"
	Region   = "us-east-1"
)

// BuildTimeout bounds a cold build of MinIO (about 5 minutes).
const BuildTimeout = 20 * time.Minute

var (
	buildOnce sync.Once
	buildPath string
	buildErr  error
)

// Binary returns the path of the MinIO server binary, building it on first
// use. Call it early (in TestMain, in a goroutine) so that the build runs
// alongside other tests; later calls wait for the first.
func Binary() (string, error) {
	buildOnce.Do(func() { buildPath, buildErr = build() })
	return buildPath, buildErr
}

func build() (string, error) {
	cache, err := os.UserCacheDir()
	if err != nil {
		return "", fmt.Errorf("minio: no cache directory: %w", err)
	}
	dir := filepath.Join(cache, "stratus-test", "minio-"+Version)
	bin := filepath.Join(dir, "minio")
	if fi, err := os.Stat(bin); err == nil && fi.Mode().IsRegular() {
		return bin, nil
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return "", fmt.Errorf("minio: %w", err)
	}
	// One build at a time across processes (go test runs packages in
	// parallel); the others wait for it and find the binary.
	lock, err := os.OpenFile(filepath.Join(dir, "build.lock"), os.O_CREATE|os.O_RDWR, 0o644)
	if err != nil {
		return "", fmt.Errorf("minio: build lock: %w", err)
	}
	defer lock.Close()
	if err := syscall.Flock(int(lock.Fd()), syscall.LOCK_EX); err != nil {
		return "", fmt.Errorf("minio: build lock: %w", err)
	}
	defer syscall.Flock(int(lock.Fd()), syscall.LOCK_UN)
	if fi, err := os.Stat(bin); err == nil && fi.Mode().IsRegular() {
		return bin, nil
	}
	tmp, err := os.MkdirTemp(dir, "build-")
	if err != nil {
		return "", fmt.Errorf("minio: %w", err)
	}
	defer os.RemoveAll(tmp)
	ctx, cancel := context.WithTimeout(context.Background(), BuildTimeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, "go", "install", "github.com/minio/minio@"+Version)
	cmd.Dir = tmp
	cmd.Env = append(os.Environ(), "GOBIN="+tmp, "GOWORK=off", "GOFLAGS=-mod=mod", "CGO_ENABLED=0")
	// A test binary that ends mid-build takes the build with it.
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	out, err := cmd.CombinedOutput()
	if err != nil {
		return "", fmt.Errorf("minio: go install github.com/minio/minio@%s: %v\n%s", Version, err, tail(out, 4000))
	}
	if err := os.Rename(filepath.Join(tmp, "minio"), bin); err != nil {
		return "", fmt.Errorf("minio: %w", err)
	}
	return bin, nil
}

func tail(b []byte, n int) []byte {
	if len(b) > n {
		return b[len(b)-n:]
	}
	return b
}

// Webhook is a webhook notification target configured at start.
type Webhook struct {
	// ID names the target: its ARN is arn:minio:sqs::ID:webhook.
	ID       string
	Endpoint string
	// Token is sent as "Authorization: Bearer TOKEN".
	Token string
}

// ARN is the target's ARN for bucket notification configurations (the
// server has no region configured, so the ARN has none).
func (w Webhook) ARN() string { return "arn:minio:sqs::" + strings.ToUpper(w.ID) + ":webhook" }

// Server is a running MinIO server.
type Server struct {
	// URL is the S3 endpoint, http://127.0.0.1:PORT.
	URL     string
	Webhook *Webhook
	cmd     *exec.Cmd
	done    chan struct{}
	log     *os.File
}

// Start runs MinIO on a free loopback port with data in dataDir (its log
// goes to dataDir/../minio.log) and waits until it is ready.
func Start(ctx context.Context, bin, dataDir string, hook *Webhook) (*Server, error) {
	port, err := freePort()
	if err != nil {
		return nil, err
	}
	console, err := freePort()
	if err != nil {
		return nil, err
	}
	if err := os.MkdirAll(dataDir, 0o755); err != nil {
		return nil, err
	}
	logf, err := os.Create(filepath.Join(filepath.Dir(dataDir), "minio.log"))
	if err != nil {
		return nil, err
	}
	addr := fmt.Sprintf("127.0.0.1:%d", port)
	cmd := exec.Command(bin, "server", "--quiet", "--address", addr, "--console-address", fmt.Sprintf("127.0.0.1:%d", console), dataDir)
	cmd.Env = append(os.Environ(),
		"MINIO_ROOT_USER="+User, "MINIO_ROOT_PASSWORD="+Password, "MINIO_BROWSER=off",
		"MINIO_UPDATE=off",
	)
	if hook != nil {
		queue := filepath.Join(filepath.Dir(dataDir), "minio-queue")
		if err := os.MkdirAll(queue, 0o755); err != nil {
			return nil, err
		}
		id := strings.ToUpper(hook.ID)
		cmd.Env = append(cmd.Env,
			"MINIO_NOTIFY_WEBHOOK_ENABLE_"+id+"=on",
			"MINIO_NOTIFY_WEBHOOK_ENDPOINT_"+id+"="+hook.Endpoint,
			"MINIO_NOTIFY_WEBHOOK_AUTH_TOKEN_"+id+"="+hook.Token,
			"MINIO_NOTIFY_WEBHOOK_QUEUE_DIR_"+id+"="+queue,
		)
	}
	cmd.Stdout, cmd.Stderr = logf, logf
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := cmd.Start(); err != nil {
		logf.Close()
		return nil, fmt.Errorf("minio: start: %w", err)
	}
	s := &Server{URL: "http://" + addr, Webhook: hook, cmd: cmd, done: make(chan struct{}), log: logf}
	go func() { _ = cmd.Wait(); close(s.done) }()
	ready := time.Now().Add(60 * time.Second)
	for {
		resp, err := http.Get(s.URL + "/minio/health/ready")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return s, nil
			}
		}
		select {
		case <-s.done:
			logf.Close()
			log, _ := os.ReadFile(logf.Name())
			return nil, fmt.Errorf("minio exited at start:\n%s", tail(log, 4000))
		case <-ctx.Done():
			s.Stop()
			return nil, ctx.Err()
		case <-time.After(100 * time.Millisecond):
		}
		if time.Now().After(ready) {
			s.Stop()
			return nil, fmt.Errorf("minio not ready within 60s (log in %s)", logf.Name())
		}
	}
}

// Stop ends the server and waits for it (at most 10 seconds).
func (s *Server) Stop() {
	_ = syscall.Kill(-s.cmd.Process.Pid, syscall.SIGTERM)
	select {
	case <-s.done:
	case <-time.After(10 * time.Second):
		_ = syscall.Kill(-s.cmd.Process.Pid, syscall.SIGKILL)
		<-s.done
	}
	s.log.Close()
}

// Client returns an S3 client of the server with the root credentials.
func (s *Server) Client() *s3.Client {
	return s3.New(s3.Options{
		Region:                     Region,
		BaseEndpoint:               awssdk.String(s.URL),
		UsePathStyle:               true,
		Credentials:                credentials.NewStaticCredentialsProvider(User, Password, ""),
		RequestChecksumCalculation: awssdk.RequestChecksumCalculationWhenRequired,
		ResponseChecksumValidation: awssdk.ResponseChecksumValidationWhenRequired,
	})
}

// CreateBucket makes a bucket (an existing one of ours is fine).
func (s *Server) CreateBucket(ctx context.Context, name string) error {
	_, err := s.Client().CreateBucket(ctx, &s3.CreateBucketInput{Bucket: &name})
	var owned *types.BucketAlreadyOwnedByYou
	if err != nil && !errors.As(err, &owned) {
		return fmt.Errorf("create bucket %s: %w", name, err)
	}
	return nil
}

// Notify turns the bucket's notifications of created objects to the
// server's webhook on or off.
func (s *Server) Notify(ctx context.Context, bucket string, on bool) error {
	if s.Webhook == nil {
		return errors.New("minio: started without a webhook")
	}
	cfg := &types.NotificationConfiguration{}
	if on {
		cfg.QueueConfigurations = []types.QueueConfiguration{{
			QueueArn: awssdk.String(s.Webhook.ARN()),
			Events:   []types.Event{types.Event("s3:ObjectCreated:*")},
		}}
	}
	// The server loads its notification targets after it says it is
	// ready: until then their ARNs are unknown to it.
	deadline := time.Now().Add(30 * time.Second)
	for {
		_, err := s.Client().PutBucketNotificationConfiguration(ctx, &s3.PutBucketNotificationConfigurationInput{
			Bucket: &bucket, NotificationConfiguration: cfg,
		})
		if err == nil {
			return nil
		}
		if !strings.Contains(err.Error(), "ARN") || time.Now().After(deadline) {
			return fmt.Errorf("bucket %s notifications: %w", bucket, err)
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(200 * time.Millisecond):
		}
	}
}

func freePort() (int, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port, nil
}
