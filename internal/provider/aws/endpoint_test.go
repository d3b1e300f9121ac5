package aws_test

import (
	"context"
	"net"
	"net/http"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/stratus-cloud/stratus/internal/provider"
	"github.com/stratus-cloud/stratus/internal/provider/aws"
	"github.com/stratus-cloud/stratus/internal/provider/providertest"
)

// Environment of the opt-in run against a real EC2-compatible endpoint.
const (
	envEndpoint = "STRATUS_AWS_ENDPOINT" // base URL; unset: the test skips
	envRegion   = "STRATUS_AWS_REGION"   // default us-east-1
	envImage    = "STRATUS_AWS_IMAGE"    // AMI id; default a placeholder
	envSubnet   = "STRATUS_AWS_SUBNET"   // optional
	envCI       = "CI"                   // set: an unreachable endpoint fails
)

// TestConformanceEndpoint runs the conformance suite against the endpoint
// in STRATUS_AWS_ENDPOINT with credentials from the standard chain. Unset,
// it skips; set but not answering, it fails in CI (CI set) and skips
// elsewhere, so that CI never silently skips a run it was configured for.
func TestConformanceEndpoint(t *testing.T) {
	endpoint := os.Getenv(envEndpoint)
	if endpoint == "" {
		t.Skipf("%s is not set: set it to an EC2-compatible endpoint (and %s, %s, %s) to run the conformance suite against it", envEndpoint, envRegion, envImage, envSubnet)
	}
	if err := answers(endpoint, 5*time.Second); err != nil {
		if os.Getenv(envCI) != "" {
			t.Fatalf("%s=%s does not answer: %v (CI is set, so this is a failure, not a skip)", envEndpoint, endpoint, err)
		}
		t.Skipf("%s=%s does not answer: %v", envEndpoint, endpoint, err)
	}
	region := os.Getenv(envRegion)
	if region == "" {
		region = "us-east-1"
	}
	image := os.Getenv(envImage)
	if image == "" {
		image = testImage
	}
	providertest.Run(t, providertest.Harness{
		New: func(t *testing.T) provider.Provider {
			p, err := aws.New(context.Background(), aws.Options{
				Regions:  []aws.RegionConfig{{Name: region, ImageID: image, SubnetID: os.Getenv(envSubnet)}},
				Endpoint: endpoint,
			})
			if err != nil {
				t.Fatalf("aws.New: %v", err)
			}
			return p
		},
		WaitTimeout: 5 * time.Minute,
	})
}

// answers reports whether an HTTP server answers at endpoint within
// timeout; any HTTP response counts.
func answers(endpoint string, timeout time.Duration) error {
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, endpoint, nil)
	if err != nil {
		return err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return err
	}
	return resp.Body.Close()
}

// TestConformanceEndpoint_UnreachableInCIFails runs TestConformanceEndpoint
// in a child process against a closed loopback port.
func TestConformanceEndpoint_UnreachableInCIFails(t *testing.T) {
	t.Parallel()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	closed := "http://" + l.Addr().String()
	l.Close()

	for _, tc := range []struct {
		name     string
		env      []string
		wantFail bool
		want     string
	}{
		{"CI, unreachable", []string{envCI + "=true", envEndpoint + "=" + closed}, true, "--- FAIL: TestConformanceEndpoint"},
		{"not CI, unreachable", []string{envEndpoint + "=" + closed}, false, "--- SKIP: TestConformanceEndpoint"},
		{"CI, not configured", []string{envCI + "=true"}, false, "--- SKIP: TestConformanceEndpoint"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			cmd := exec.Command(os.Args[0], "-test.run=^TestConformanceEndpoint$", "-test.v", "-test.count=1")
			for _, kv := range os.Environ() {
				if k, _, _ := strings.Cut(kv, "="); k != envCI && k != envEndpoint {
					cmd.Env = append(cmd.Env, kv)
				}
			}
			cmd.Env = append(cmd.Env, tc.env...)
			out, err := cmd.CombinedOutput()
			if failed := err != nil; failed != tc.wantFail {
				t.Errorf("child failed = %v (%v), want %v; output:\n%s", failed, err, tc.wantFail, out)
			}
			if !strings.Contains(string(out), tc.want) {
				t.Errorf("child output lacks %q:\n%s", tc.want, out)
			}
		})
	}
}
