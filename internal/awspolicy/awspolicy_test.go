package awspolicy_test

import (
	"encoding/json"
	"slices"
	"strings"
	"testing"

	"github.com/stratus-cloud/stratus/internal/awspolicy"
	"github.com/stratus-cloud/stratus/internal/provider"
)

const roleARN = "arn:aws:iam::123456789012:role/stratus-instance"

var opts = awspolicy.Options{Installation: "inst-7f3a", InstanceRoleARN: roleARN}

type statement struct {
	Sid       string
	Effect    string
	Action    any
	NotAction any
	Resource  any
	Condition map[string]map[string]string
}

// parse decodes a policy document, checking the parts every document
// needs and that no action is, or contains, a wildcard.
func parse(t *testing.T, doc string) []statement {
	t.Helper()
	var d struct {
		Version   string
		Statement []statement
	}
	dec := json.NewDecoder(strings.NewReader(doc))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&d); err != nil {
		t.Fatalf("not a policy document: %v\n%s", err, doc)
	}
	if d.Version != "2012-10-17" {
		t.Errorf("Version %q", d.Version)
	}
	if len(d.Statement) == 0 {
		t.Fatalf("no statements")
	}
	for _, s := range d.Statement {
		if s.Effect != "Allow" {
			t.Errorf("%s: Effect %q", s.Sid, s.Effect)
		}
		if s.NotAction != nil {
			t.Errorf("%s: NotAction", s.Sid)
		}
		for _, a := range list(s.Action) {
			if strings.ContainsAny(a, "*?") {
				t.Errorf("%s: wildcard action %q", s.Sid, a)
			}
		}
		if len(list(s.Action)) == 0 || len(list(s.Resource)) == 0 {
			t.Errorf("%s: no action or no resource", s.Sid)
		}
	}
	return d.Statement
}

func list(v any) []string {
	switch v := v.(type) {
	case string:
		return []string{v}
	case []any:
		var out []string
		for _, x := range v {
			s, _ := x.(string)
			out = append(out, s)
		}
		return out
	}
	return nil
}

// grants returns the statements allowing action.
func grants(ss []statement, action string) []statement {
	var out []statement
	for _, s := range ss {
		if slices.Contains(list(s.Action), action) {
			out = append(out, s)
		}
	}
	return out
}

func TestControlPlane(t *testing.T) {
	if err := opts.Validate(); err != nil {
		t.Fatal(err)
	}
	ss := parse(t, awspolicy.ControlPlane(opts))
	if awspolicy.TagInstallation != provider.TagInstallation {
		t.Fatalf("tag key %q, provider uses %q", awspolicy.TagInstallation, provider.TagInstallation)
	}
	tagKey := provider.TagInstallation

	// Every action granted is one of these.
	want := []string{"ec2:RunInstances", "ec2:CreateTags", "ec2:DescribeInstances", "ec2:StartInstances",
		"ec2:StopInstances", "ec2:TerminateInstances", "ec2:DescribeSpotPriceHistory", "iam:PassRole",
		"ec2:DescribeImages", "ec2:CopyImage", "ec2:DeregisterImage", "ec2:DeleteSnapshot", "ec2:DescribeSnapshots", "ec2:DescribeKeyPairs", "ec2:ImportKeyPair",
		"ec2:DeleteKeyPair", "ec2:DescribeSecurityGroups", "ec2:CreateSecurityGroup", "ec2:AuthorizeSecurityGroupIngress",
		"ec2:RevokeSecurityGroupIngress", "ec2:DeleteSecurityGroup",
		"iam:GetInstanceProfile", "iam:CreateRole", "iam:TagRole", "iam:CreateInstanceProfile", "iam:TagInstanceProfile",
		"iam:AddRoleToInstanceProfile"}
	for _, s := range ss {
		for _, a := range list(s.Action) {
			if !slices.Contains(want, a) {
				t.Errorf("%s grants %s, beyond what the control plane needs", s.Sid, a)
			}
		}
	}

	// RunInstances: instance and volume only with the installation tag in
	// the request; the resources it uses, unconditioned.
	var runResources []string
	for _, s := range grants(ss, "ec2:RunInstances") {
		res := list(s.Resource)
		runResources = append(runResources, res...)
		tagged := s.Condition["StringEquals"]["aws:RequestTag/"+tagKey] == opts.Installation
		for _, r := range res {
			if (strings.HasSuffix(r, ":instance/*") || strings.HasSuffix(r, ":volume/*")) && !tagged {
				t.Errorf("RunInstances on %s without the request tag condition", r)
			}
		}
	}
	for _, typ := range []string{"instance", "volume", "network-interface", "subnet", "security-group", "key-pair"} {
		if !slices.Contains(runResources, "arn:aws:ec2:*:123456789012:"+typ+"/*") {
			t.Errorf("RunInstances not granted on %s in the role's account: %v", typ, runResources)
		}
	}
	if !slices.Contains(runResources, "arn:aws:ec2:*::image/*") {
		t.Errorf("RunInstances not granted on images: %v", runResources)
	}
	if slices.Contains(runResources, "*") {
		t.Errorf("RunInstances granted on *")
	}

	// CreateTags only as part of the calls that create tagged resources.
	for _, s := range grants(ss, "ec2:CreateTags") {
		if a := s.Condition["StringEquals"]["ec2:CreateAction"]; !slices.Contains([]string{"RunInstances", "CopyImage", "ImportKeyPair", "CreateSecurityGroup"}, a) {
			t.Errorf("%s: CreateTags not conditioned on ec2:CreateAction of a create call: %v", s.Sid, s.Condition)
		}
	}

	// Describe* on *, and * nowhere else.
	for _, s := range ss {
		isDescribe := !slices.ContainsFunc(list(s.Action), func(a string) bool { return !strings.HasPrefix(a, "ec2:Describe") })
		if isDescribe != slices.Equal(list(s.Resource), []string{"*"}) {
			t.Errorf("%s: actions %v on resources %v", s.Sid, list(s.Action), list(s.Resource))
		}
	}
	if len(grants(ss, "ec2:DescribeInstances")) != 1 {
		t.Errorf("DescribeInstances not granted exactly once")
	}

	// Start, stop, terminate: the installation's instances only.
	for _, a := range []string{"ec2:StartInstances", "ec2:StopInstances", "ec2:TerminateInstances"} {
		gs := grants(ss, a)
		if len(gs) == 0 {
			t.Errorf("%s not granted", a)
		}
		for _, s := range gs {
			if s.Condition["StringEquals"]["aws:ResourceTag/"+tagKey] != opts.Installation {
				t.Errorf("%s: %s not conditioned on the installation tag: %v", s.Sid, a, s.Condition)
			}
			if !slices.Equal(list(s.Resource), []string{"arn:aws:ec2:*:123456789012:instance/*"}) {
				t.Errorf("%s: %s on %v, want instances only", s.Sid, a, list(s.Resource))
			}
		}
	}

	// Creating and destroying: only with the installation's tag, in the
	// request or on the resource.
	for action, key := range map[string]string{
		"ec2:CopyImage": "aws:RequestTag/", "ec2:ImportKeyPair": "aws:RequestTag/", "iam:CreateRole": "aws:RequestTag/",
		"iam:TagRole": "aws:RequestTag/", "iam:CreateInstanceProfile": "aws:RequestTag/", "iam:TagInstanceProfile": "aws:RequestTag/",
		"ec2:DeregisterImage": "aws:ResourceTag/", "ec2:DeleteSnapshot": "aws:ResourceTag/", "ec2:DeleteKeyPair": "aws:ResourceTag/", "ec2:DeleteSecurityGroup": "aws:ResourceTag/",
		"ec2:AuthorizeSecurityGroupIngress": "aws:ResourceTag/", "ec2:RevokeSecurityGroupIngress": "aws:ResourceTag/",
		"iam:AddRoleToInstanceProfile": "aws:ResourceTag/",
	} {
		gs := grants(ss, action)
		if len(gs) == 0 {
			t.Errorf("%s not granted", action)
		}
		for _, s := range gs {
			if s.Condition["StringEquals"][key+tagKey] != opts.Installation {
				t.Errorf("%s: %s not conditioned on %s%s: %v", s.Sid, action, key, tagKey, s.Condition)
			}
		}
	}
	for _, s := range grants(ss, "ec2:CreateSecurityGroup") {
		res := list(s.Resource)
		if slices.Contains(res, "arn:aws:ec2:*:123456789012:security-group/*") && s.Condition["StringEquals"]["aws:RequestTag/"+tagKey] != opts.Installation {
			t.Errorf("%s: CreateSecurityGroup on groups without the request tag condition", s.Sid)
		}
	}

	// PassRole: the instance role, to EC2.
	gs := grants(ss, "iam:PassRole")
	if len(gs) != 1 || !slices.Equal(list(gs[0].Resource), []string{roleARN}) ||
		gs[0].Condition["StringEquals"]["iam:PassedToService"] != "ec2.amazonaws.com" {
		t.Errorf("PassRole statements %+v, want one on %s passed to EC2", gs, roleARN)
	}
}

func TestControlPlanePartition(t *testing.T) {
	o := awspolicy.Options{Installation: "x", InstanceRoleARN: "arn:aws-cn:iam::210987654321:role/path/r"}
	if err := o.Validate(); err != nil {
		t.Fatal(err)
	}
	doc := awspolicy.ControlPlane(o)
	parse(t, doc)
	if strings.Contains(doc, "arn:aws:") || !strings.Contains(doc, "arn:aws-cn:ec2:*:210987654321:instance/*") {
		t.Errorf("resources not in the role's partition and account:\n%s", doc)
	}
}

func TestValidate(t *testing.T) {
	for _, tc := range []struct {
		o    awspolicy.Options
		want string
	}{
		{awspolicy.Options{InstanceRoleARN: roleARN}, "Installation"},
		{awspolicy.Options{Installation: "a*", InstanceRoleARN: roleARN}, "Installation"},
		{awspolicy.Options{Installation: "${aws:username}", InstanceRoleARN: roleARN}, "Installation"},
		{awspolicy.Options{Installation: "x"}, "InstanceRoleARN"},
		{awspolicy.Options{Installation: "x", InstanceRoleARN: "arn:aws:iam::123456789012:role/*"}, "InstanceRoleARN"},
		{awspolicy.Options{Installation: "x", InstanceRoleARN: "arn:aws:iam::123456789012:user/bob"}, "InstanceRoleARN"},
	} {
		if err := tc.o.Validate(); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%+v: err = %v, want one naming %s", tc.o, err, tc.want)
		}
	}
}

func TestInstanceRole(t *testing.T) {
	ss := parse(t, awspolicy.InstanceRole())
	for _, s := range ss {
		if !slices.Equal(list(s.Action), []string{"sts:GetCallerIdentity"}) {
			t.Errorf("the instance role grants %v", list(s.Action))
		}
	}
	var trust struct {
		Version   string
		Statement []struct {
			Effect    string
			Principal struct{ Service string }
			Action    string
		}
	}
	if err := json.Unmarshal([]byte(awspolicy.InstanceRoleTrust()), &trust); err != nil {
		t.Fatal(err)
	}
	if trust.Version != "2012-10-17" || len(trust.Statement) != 1 || trust.Statement[0].Principal.Service != "ec2.amazonaws.com" ||
		trust.Statement[0].Action != "sts:AssumeRole" || trust.Statement[0].Effect != "Allow" {
		t.Errorf("trust policy %+v", trust)
	}
}
