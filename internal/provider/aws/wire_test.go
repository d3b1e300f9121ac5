package aws_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/service/ec2"
	"github.com/google/go-cmp/cmp"

	"github.com/stratus-cloud/stratus/internal/provider"
	"github.com/stratus-cloud/stratus/internal/provider/aws"
)

// The wire test points the real *ec2.Client, as the provider's default
// NewClient makes it, at a loopback server that answers with EC2 Query API
// XML shaped after the EC2 API reference, and checks both directions: the
// requests the SDK sends for the provider's calls, and how the provider
// reads the responses and errors.

const ec2NS = "http://ec2.amazonaws.com/doc/2016-11-15/"

// wireRequest is one request as the server saw it.
type wireRequest struct {
	auth        string
	contentType string
	form        url.Values
}

type wireServer struct {
	t    *testing.T
	srv  *httptest.Server
	mu   sync.Mutex
	reqs []wireRequest
}

func newWireServer(t *testing.T) *wireServer {
	ws := &wireServer{t: t}
	ws.srv = httptest.NewServer(http.HandlerFunc(ws.serve)) // listens on 127.0.0.1
	t.Cleanup(ws.srv.Close)
	return ws
}

func (ws *wireServer) requests(action string) []wireRequest {
	ws.mu.Lock()
	defer ws.mu.Unlock()
	var out []wireRequest
	for _, r := range ws.reqs {
		if r.form.Get("Action") == action {
			out = append(out, r)
		}
	}
	return out
}

func (ws *wireServer) serve(w http.ResponseWriter, r *http.Request) {
	body, err := io.ReadAll(r.Body)
	if err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	form, err := url.ParseQuery(string(body))
	if err != nil || r.Method != http.MethodPost {
		http.Error(w, "want a form-encoded POST", http.StatusBadRequest)
		return
	}
	ws.mu.Lock()
	ws.reqs = append(ws.reqs, wireRequest{auth: r.Header.Get("Authorization"), contentType: r.Header.Get("Content-Type"), form: form})
	ws.mu.Unlock()

	w.Header().Set("Content-Type", "text/xml;charset=UTF-8")
	switch form.Get("Action") {
	case "RunInstances":
		if form.Get("InstanceType") == "c5.large" {
			// EC2 sends capacity errors as server errors (HTTP 500).
			writeEC2Error(w, http.StatusInternalServerError, "InsufficientInstanceCapacity",
				"We currently do not have sufficient c5.large capacity in the Availability Zone you requested (us-east-1a).")
			return
		}
		fmt.Fprintf(w, `<?xml version="1.0" encoding="UTF-8"?>
<RunInstancesResponse xmlns="%s">
  <requestId>6a3a2b4c-1111-4a4a-9c9c-0123456789ab</requestId>
  <reservationId>r-0a1b2c3d4e5f60718</reservationId>
  <ownerId>123456789012</ownerId>
  <groupSet/>
  <instancesSet>
    <item>
      <instanceId>i-0a1b2c3d4e5f60718</instanceId>
      <imageId>%s</imageId>
      <instanceState><code>0</code><name>pending</name></instanceState>
      <privateDnsName>ip-10-0-1-23.ec2.internal</privateDnsName>
      <dnsName/>
      <reason/>
      <amiLaunchIndex>0</amiLaunchIndex>
      <productCodes/>
      <instanceType>%s</instanceType>
      <launchTime>2026-11-02T09:00:00.000Z</launchTime>
      <placement><availabilityZone>us-east-1a</availabilityZone><groupName/><tenancy>default</tenancy></placement>
      <monitoring><state>disabled</state></monitoring>
      <subnetId>subnet-0aaa</subnetId>
      <vpcId>vpc-0aaa</vpcId>
      <privateIpAddress>10.0.1.23</privateIpAddress>
      <sourceDestCheck>true</sourceDestCheck>
      <instanceLifecycle>spot</instanceLifecycle>
      <spotInstanceRequestId>sir-0a1b2c3d</spotInstanceRequestId>
      <tagSet>
        <item><key>stratus:cluster</key><value>c1</value></item>
        <item><key>stratus:root-volume-gb</key><value>30</value></item>
        <item><key>stratus:spot-max-price-micros</key><value>52000</value></item>
      </tagSet>
      <clientToken>%s</clientToken>
    </item>
  </instancesSet>
</RunInstancesResponse>`, ec2NS, form.Get("ImageId"), form.Get("InstanceType"), form.Get("ClientToken"))
	case "DescribeInstances":
		id, next, state, reason := "i-00000000000000001", "<nextToken>page-2-token</nextToken>", "<code>16</code><name>running</name>", ""
		if form.Get("NextToken") == "page-2-token" {
			id, next = "i-00000000000000002", ""
			state, reason = "<code>80</code><name>stopped</name>", "User initiated (2026-11-02 10:30:00 GMT)"
		}
		fmt.Fprintf(w, `<?xml version="1.0" encoding="UTF-8"?>
<DescribeInstancesResponse xmlns="%s">
  <requestId>8f7e6d5c-2222-4b4b-8d8d-0123456789ab</requestId>
  <reservationSet>
    <item>
      <reservationId>r-0000000000000000%s</reservationId>
      <ownerId>123456789012</ownerId>
      <groupSet/>
      <instancesSet>
        <item>
          <instanceId>%s</instanceId>
          <imageId>ami-0123456789abcdef0</imageId>
          <instanceState>%s</instanceState>
          <reason>%s</reason>
          <instanceType>t3.micro</instanceType>
          <launchTime>2026-11-02T09:00:00.000Z</launchTime>
          <placement><availabilityZone>us-east-1a</availabilityZone></placement>
          <privateIpAddress>10.0.1.%s</privateIpAddress>
          <tagSet>
            <item><key>stratus:cluster</key><value>c1</value></item>
            <item><key>stratus:root-volume-gb</key><value>8</value></item>
          </tagSet>
        </item>
      </instancesSet>
    </item>
  </reservationSet>
  %s
</DescribeInstancesResponse>`, ec2NS, id[len(id)-1:], id, state, reason, id[len(id)-1:], next)
	case "TerminateInstances":
		id := form.Get("InstanceId.1")
		if id == "i-0123456789abcdef0" {
			writeEC2Error(w, http.StatusBadRequest, "InvalidInstanceID.NotFound", "The instance ID '"+id+"' does not exist")
			return
		}
		fmt.Fprintf(w, `<?xml version="1.0" encoding="UTF-8"?>
<TerminateInstancesResponse xmlns="%s">
  <requestId>59dbff89-3333-4c4c-8e8e-0123456789ab</requestId>
  <instancesSet>
    <item>
      <instanceId>%s</instanceId>
      <currentState><code>32</code><name>shutting-down</name></currentState>
      <previousState><code>16</code><name>running</name></previousState>
    </item>
  </instancesSet>
</TerminateInstancesResponse>`, ec2NS, id)
	default:
		writeEC2Error(w, http.StatusBadRequest, "InvalidAction", "The action "+form.Get("Action")+" is not valid for this web service.")
	}
}

func writeEC2Error(w http.ResponseWriter, status int, code, msg string) {
	w.WriteHeader(status)
	fmt.Fprintf(w, `<?xml version="1.0" encoding="UTF-8"?>
<Response><Errors><Error><Code>%s</Code><Message>%s</Message></Error></Errors><RequestID>ea966190-f9aa-478e-9ede-0123456789ab</RequestID></Response>`, code, msg)
}

func newWireProvider(t *testing.T, ws *wireServer) *aws.Provider {
	t.Helper()
	p, err := aws.New(context.Background(), aws.Options{
		Regions:       testRegions[:1],
		Endpoint:      ws.srv.URL,
		MaxBackoff:    time.Millisecond,
		ClientOptions: []func(*ec2.Options){staticCredentials},
		UserData:      testUserData,
	})
	if err != nil {
		t.Fatalf("aws.New: %v", err)
	}
	return p
}

func TestWire(t *testing.T) {
	isolateAWSEnv(t)
	ws := newWireServer(t)
	p := newWireProvider(t, ws)
	ctx := context.Background()

	t.Run("RunInstances", func(t *testing.T) {
		spec := testSpec()
		spec.Spot = true
		spec.MaxPriceMicros = 52_000
		spec.Tags = map[string]string{provider.TagCluster: "c1"}
		in, err := p.Launch(ctx, spec)
		if err != nil {
			t.Fatalf("Launch: %v", err)
		}
		reqs := ws.requests("RunInstances")
		if len(reqs) != 1 {
			t.Fatalf("%d RunInstances requests, want 1", len(reqs))
		}
		r := reqs[0]
		if !strings.HasPrefix(r.auth, "AWS4-HMAC-SHA256 Credential=AKIDSTRATUSTEST/") || !strings.Contains(r.auth, "/us-east-1/ec2/aws4_request") || !strings.Contains(r.auth, "Signature=") {
			t.Errorf("Authorization = %q, want a SigV4 signature for service ec2 in us-east-1", r.auth)
		}
		if !strings.HasPrefix(r.contentType, "application/x-www-form-urlencoded") {
			t.Errorf("Content-Type = %q, want a form", r.contentType)
		}
		for k, want := range map[string]string{
			"Action":                              "RunInstances",
			"Version":                             "2016-11-15",
			"ClientToken":                         spec.ClientToken,
			"MinCount":                            "1",
			"MaxCount":                            "1",
			"InstanceType":                        "t3.micro",
			"ImageId":                             testImage,
			"SubnetId":                            "subnet-0aaa",
			"SecurityGroupId.1":                   "sg-0aaa",
			"SecurityGroupId.2":                   "sg-0bbb",
			"KeyName":                             "stratus",
			"IamInstanceProfile.Name":             "stratus-node",
			"BlockDeviceMapping.1.DeviceName":     "/dev/xvda",
			"BlockDeviceMapping.1.Ebs.VolumeSize": "30",
			"BlockDeviceMapping.1.Ebs.VolumeType": "gp3",
			"BlockDeviceMapping.1.Ebs.DeleteOnTermination":                   "true",
			"MetadataOptions.HttpTokens":                                     "required",
			"InstanceMarketOptions.MarketType":                               "spot",
			"InstanceMarketOptions.SpotOptions.MaxPrice":                     "0.052",
			"InstanceMarketOptions.SpotOptions.SpotInstanceType":             "one-time",
			"InstanceMarketOptions.SpotOptions.InstanceInterruptionBehavior": "terminate",
			"TagSpecification.1.ResourceType":                                "instance",
			"TagSpecification.2.ResourceType":                                "volume",
			"TagSpecification.2.Tag.1.Key":                                   provider.TagCluster,
			"TagSpecification.2.Tag.1.Value":                                 "c1",
		} {
			if got := r.form.Get(k); got != want {
				t.Errorf("form %s = %q, want %q", k, got, want)
			}
		}
		var instanceKeys []string
		for i := 1; r.form.Has(fmt.Sprintf("TagSpecification.1.Tag.%d.Key", i)); i++ {
			instanceKeys = append(instanceKeys, r.form.Get(fmt.Sprintf("TagSpecification.1.Tag.%d.Key", i)))
		}
		if want := []string{provider.TagCluster, aws.TagRootVolumeGB, aws.TagSpotMaxPrice}; !slices.Equal(instanceKeys, want) {
			t.Errorf("instance tag keys %v, want %v", instanceKeys, want)
		}
		if r.form.Get("UserData") == "" {
			t.Error("no UserData sent")
		}
		want := provider.Instance{
			ID: "i-0a1b2c3d4e5f60718", Region: "us-east-1", Type: "t3.micro", State: provider.StatePending,
			Address: "10.0.1.23", Spot: true, PriceMicros: 52_000, RootVolumeGB: 30,
			Tags:       map[string]string{provider.TagCluster: "c1"},
			LaunchedAt: time.Date(2026, 11, 2, 9, 0, 0, 0, time.UTC), StateChangedAt: time.Date(2026, 11, 2, 9, 0, 0, 0, time.UTC),
		}
		if d := cmp.Diff(want, in); d != "" {
			t.Errorf("Launch result (-want +got):\n%s", d)
		}
	})

	t.Run("RunInstancesInsufficientCapacity", func(t *testing.T) {
		before := len(ws.requests("RunInstances"))
		spec := testSpec()
		spec.Type = "c5.large"
		_, err := p.Launch(ctx, spec)
		var ce *provider.CapacityError
		if !errors.As(err, &ce) || ce.Type != "c5.large" || ce.Region != "us-east-1" || !strings.Contains(ce.Reason, "InsufficientInstanceCapacity") {
			t.Fatalf("Launch: %v (%T), want a *provider.CapacityError for c5.large", err, err)
		}
		if n := len(ws.requests("RunInstances")) - before; n != 1 {
			t.Errorf("an HTTP 500 InsufficientInstanceCapacity was sent %d times, want 1 (not retried)", n)
		}
	})

	t.Run("DescribeInstancesPaginates", func(t *testing.T) {
		// A fresh provider: p would also list its own launch above, which
		// this server never lists (the consistency grace).
		got, err := newWireProvider(t, ws).Describe(ctx, "us-east-1", provider.Filter{Tags: map[string]string{provider.TagCluster: "c1"}})
		if err != nil {
			t.Fatalf("Describe: %v", err)
		}
		reqs := ws.requests("DescribeInstances")
		if len(reqs) != 2 {
			t.Fatalf("%d DescribeInstances requests, want 2 pages", len(reqs))
		}
		for i, r := range reqs {
			if r.form.Get("Filter.1.Name") != "tag:"+provider.TagCluster || r.form.Get("Filter.1.Value.1") != "c1" || r.form.Get("MaxResults") != "1000" {
				t.Errorf("page %d request %v, want filter tag:%s=c1 and MaxResults 1000", i+1, r.form, provider.TagCluster)
			}
		}
		if reqs[0].form.Has("NextToken") || reqs[1].form.Get("NextToken") != "page-2-token" {
			t.Errorf("NextToken sent %q then %q, want none then page-2-token", reqs[0].form.Get("NextToken"), reqs[1].form.Get("NextToken"))
		}
		if len(got) != 2 || got[0].ID != "i-00000000000000001" || got[1].ID != "i-00000000000000002" {
			t.Fatalf("Describe = %+v, want the instances of both pages", got)
		}
		if got[0].State != provider.StateRunning || got[0].Address != "10.0.1.1" || got[0].RootVolumeGB != 8 || got[0].PriceMicros != 10_400 {
			t.Errorf("first instance %+v", got[0])
		}
		if got[1].State != provider.StateStopped || !got[1].StateChangedAt.Equal(time.Date(2026, 11, 2, 10, 30, 0, 0, time.UTC)) {
			t.Errorf("second instance %+v, want stopped at 10:30 from its state transition reason", got[1])
		}
	})

	t.Run("TerminateInstances", func(t *testing.T) {
		if err := p.Terminate(ctx, "us-east-1", "i-00000000000000001"); err != nil {
			t.Fatalf("Terminate: %v", err)
		}
		if err := p.Terminate(ctx, "us-east-1", "i-0123456789abcdef0"); err != nil {
			t.Errorf("Terminate of an id EC2 does not know: %v, want nil", err)
		}
		reqs := ws.requests("TerminateInstances")
		if len(reqs) != 2 || reqs[0].form.Get("InstanceId.1") != "i-00000000000000001" {
			t.Errorf("TerminateInstances requests %v", reqs)
		}
	})
}
