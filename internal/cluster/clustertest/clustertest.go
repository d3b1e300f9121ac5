// Package clustertest plays the agents of clusters' nodes for tests over
// the fake EC2 (ec2fake).
package clustertest

import (
	"context"
	"encoding/base64"
	"strings"
	"testing"

	awssdk "github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ec2/types"

	"github.com/stratus-cloud/stratus/api"
	"github.com/stratus-cloud/stratus/internal/cluster"
	"github.com/stratus-cloud/stratus/internal/provider/aws/ec2fake"
	"github.com/stratus-cloud/stratus/internal/store"
)

// RegisterEC2Agents registers through svc the agent of every node in st
// whose instance fake runs, with the token in the user-data the instance
// was launched with (found through its client token), as the agent would.
// registered holds the instances whose agent has registered; it is
// updated.
func RegisterEC2Agents(t testing.TB, st store.Store, svc *cluster.Service, fake *ec2fake.Fake, registered map[string]bool) {
	t.Helper()
	nodes, err := st.ListNodes(context.Background(), store.NodeFilter{})
	if err != nil {
		t.Fatalf("list nodes: %v", err)
	}
	inputs := fake.RunInstancesInputs()
	for _, n := range nodes {
		if n.InstanceID == "" || registered[n.InstanceID] {
			continue
		}
		in, ok := fake.Instance(n.Region, n.InstanceID)
		if !ok || in.State.Name != types.InstanceStateNameRunning {
			continue
		}
		var tok string
		for _, ri := range inputs {
			if awssdk.ToString(ri.ClientToken) == awssdk.ToString(in.ClientToken) {
				tok = TokenOfUserData(t, ri.UserData)
			}
		}
		_, err := svc.RegisterAgent(context.Background(), tok, api.RegisterRequest{
			InstanceID: n.InstanceID, Address: awssdk.ToString(in.PrivateIpAddress), Version: "test",
		})
		if err != nil {
			t.Fatalf("agent of instance %s (node %s) cannot register: %v", n.InstanceID, n.ID, err)
		}
		registered[n.InstanceID] = true
	}
}

// TokenOfUserData extracts the agent token from base64 user-data.
func TokenOfUserData(t testing.TB, ud *string) string {
	t.Helper()
	raw, err := base64.StdEncoding.DecodeString(awssdk.ToString(ud))
	if err != nil {
		t.Fatalf("user-data is not base64: %v", err)
	}
	_, tok, ok := strings.Cut(string(raw), "# token=")
	if !ok {
		t.Fatalf("user-data has no agent token: %q", raw)
	}
	return strings.TrimSpace(tok)
}
