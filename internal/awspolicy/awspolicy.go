// Package awspolicy writes the least-privilege IAM policy documents a
// stratus installation on AWS needs: the control plane's, which lets it
// launch, tag, list, start, stop and terminate instances of its own
// installation and nothing else, and the instances', which grants nothing.
//
// The control plane's policy confines it with the installation tag
// (stratus:installation, see internal/provider): RunInstances must put the
// tag on the instance and its volumes, tags can be written only as part of
// RunInstances (so an existing instance cannot be re-tagged into the
// installation's reach), and start, stop and terminate apply only to
// instances carrying the tag. DescribeInstances cannot be scoped by AWS and
// is granted on "*".
//
// The documents cover the instance lifecycle (capability 10). Images, key
// pairs, security groups and instance roles managed across regions
// (capability 3) need further statements, not included here.
package awspolicy

import (
	"encoding/json"
	"errors"
	"fmt"
	"regexp"
)

// Version is the IAM policy language version of every document.
const Version = "2012-10-17"

// TagInstallation is the tag key carrying the installation id; it is
// provider.TagInstallation, repeated here so this package stands alone.
const TagInstallation = "stratus:installation"

// Options describe the installation a control-plane policy is for.
type Options struct {
	// Installation is the installation's id, the value of its
	// stratus:installation tags.
	Installation string
	// InstanceRoleARN is the ARN of the role its instances run with
	// (arn:aws:iam::123456789012:role/stratus-instance); the control plane
	// may pass this role and no other. Its partition and account scope
	// the EC2 resources too.
	InstanceRoleARN string
}

var (
	// tagValue is what AWS allows in a tag value, minus spaces and minus
	// '$', '*' and '?' so the value is never read as a policy variable or
	// wildcard.
	tagValue = regexp.MustCompile(`^[A-Za-z0-9_.:/=+@-]{1,256}$`)
	roleARN  = regexp.MustCompile(`^arn:(aws[a-z-]*):iam::([0-9]{12}):role/[A-Za-z0-9_+=,.@/-]{1,512}$`)
)

// Validate checks o; every error names its field.
func (o Options) Validate() error {
	var errs []error
	if !tagValue.MatchString(o.Installation) {
		errs = append(errs, fmt.Errorf("awspolicy: Installation: must be 1 to 256 of A-Z a-z 0-9 _ . : / = + @ -, got %q", o.Installation))
	}
	if !roleARN.MatchString(o.InstanceRoleARN) {
		errs = append(errs, fmt.Errorf("awspolicy: InstanceRoleARN: must be an IAM role ARN (arn:aws:iam::ACCOUNT:role/NAME), got %q", o.InstanceRoleARN))
	}
	return errors.Join(errs...)
}

type document struct {
	Version   string      `json:"Version"`
	Statement []statement `json:"Statement"`
}

type statement struct {
	Sid       string                       `json:"Sid"`
	Effect    string                       `json:"Effect"`
	Action    []string                     `json:"Action"`
	Resource  []string                     `json:"Resource"`
	Condition map[string]map[string]string `json:"Condition,omitempty"`
}

func render(d document) string {
	b, err := json.MarshalIndent(d, "", "  ")
	if err != nil {
		panic(err) // only strings, slices and maps: cannot fail
	}
	return string(b)
}

// ControlPlane returns the control plane's policy for o. It does not
// validate o (call Validate first): with an invalid InstanceRoleARN the
// EC2 resources fall back to partition "aws" and any account.
func ControlPlane(o Options) string {
	partition, account := "aws", "*"
	if m := roleARN.FindStringSubmatch(o.InstanceRoleARN); m != nil {
		partition, account = m[1], m[2]
	}
	arn := func(typ string) string {
		return fmt.Sprintf("arn:%s:ec2:*:%s:%s/*", partition, account, typ)
	}
	tagged := map[string]map[string]string{"StringEquals": {"aws:ResourceTag/" + TagInstallation: o.Installation}}
	return render(document{Version: Version, Statement: []statement{
		{
			// The resources RunInstances creates that stratus tags at
			// launch must carry the installation tag.
			Sid: "RunInstancesTaggedWithTheInstallation", Effect: "Allow",
			Action:    []string{"ec2:RunInstances"},
			Resource:  []string{arn("instance"), arn("volume")},
			Condition: map[string]map[string]string{"StringEquals": {"aws:RequestTag/" + TagInstallation: o.Installation}},
		},
		{
			// The other resources RunInstances creates or uses. Images
			// have no account in their ARN (public AMIs belong to others).
			Sid: "RunInstancesUsing", Effect: "Allow",
			Action: []string{"ec2:RunInstances"},
			Resource: []string{
				arn("network-interface"), arn("subnet"), arn("security-group"), arn("key-pair"),
				arn("spot-instances-request"),
				fmt.Sprintf("arn:%s:ec2:*::image/*", partition),
			},
		},
		{
			Sid: "TagOnlyWhileLaunching", Effect: "Allow",
			Action:    []string{"ec2:CreateTags"},
			Resource:  []string{arn("instance"), arn("volume"), arn("network-interface"), arn("spot-instances-request")},
			Condition: map[string]map[string]string{"StringEquals": {"ec2:CreateAction": "RunInstances"}},
		},
		{
			// Describe* actions support no resource-level permissions.
			Sid: "ListInstances", Effect: "Allow",
			Action:   []string{"ec2:DescribeInstances"},
			Resource: []string{"*"},
		},
		{
			Sid: "ManageTheInstallationsInstances", Effect: "Allow",
			Action:    []string{"ec2:StartInstances", "ec2:StopInstances", "ec2:TerminateInstances"},
			Resource:  []string{arn("instance")},
			Condition: tagged,
		},
		{
			Sid: "PassTheInstanceRoleToEC2", Effect: "Allow",
			Action:    []string{"iam:PassRole"},
			Resource:  []string{o.InstanceRoleARN},
			Condition: map[string]map[string]string{"StringEquals": {"iam:PassedToService": "ec2.amazonaws.com"}},
		},
	}})
}

// InstanceRole returns the permissions policy of the instances' role. The
// agent talks only to the control plane and to the instance metadata
// service, and neither needs AWS credentials; and jobs run on the instance
// can read the role's credentials from instance metadata, so the role must
// grant nothing. IAM needs at least one statement, so the document allows
// only sts:GetCallerIdentity, which every principal may call anyway: a
// valid policy that grants nothing. (An instance profile with no policy at
// all is as good; this document exists for tools that want one.)
func InstanceRole() string {
	return render(document{Version: Version, Statement: []statement{{
		Sid: "NothingBeyondIdentity", Effect: "Allow",
		Action:   []string{"sts:GetCallerIdentity"},
		Resource: []string{"*"},
	}}})
}

// InstanceRoleTrust returns the trust policy of the instances' role: EC2
// may assume it, nobody else.
func InstanceRoleTrust() string {
	type principal struct {
		Service string `json:"Service"`
	}
	type trust struct {
		Effect    string    `json:"Effect"`
		Principal principal `json:"Principal"`
		Action    string    `json:"Action"`
	}
	b, err := json.MarshalIndent(struct {
		Version   string  `json:"Version"`
		Statement []trust `json:"Statement"`
	}{Version, []trust{{"Allow", principal{"ec2.amazonaws.com"}, "sts:AssumeRole"}}}, "", "  ")
	if err != nil {
		panic(err)
	}
	return string(b)
}
