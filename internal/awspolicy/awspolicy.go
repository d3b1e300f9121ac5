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
// instances carrying the tag. The Describe actions cannot be scoped by AWS
// and are granted on "*".
//
// The images, key pairs, security groups and instance profile that regions
// are made of (capability 3) are confined the same way where AWS supports
// it: CopyImage, ImportKeyPair and CreateSecurityGroup must put the
// installation tag on what they create (aws:RequestTag; tags only as part
// of those calls; CopyImage tags the copy's snapshots too), DeregisterImage,
// DeleteSnapshot (of a copy's snapshots, deleted with it or left when it
// was deregistered by hand), DeleteKeyPair,
// DeleteSecurityGroup and the ingress rule changes apply only to resources
// carrying the tag (aws:ResourceTag). CreateSecurityGroup is also granted on VPCs (which do
// not carry the tag) and CopyImage on its source image through the same
// request-tag condition. IAM: the instance role and instance profile can
// be created only with the tag (CreateRole, TagRole, CreateInstanceProfile,
// TagInstanceProfile with aws:RequestTag), a role can be added only to a
// tagged profile, and GetInstanceProfile, which must see a missing
// profile, is granted on every instance profile of the account. The role
// put in the profile must be InstanceRoleARN: it is the only role the
// control plane may pass.
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
	requestTagged := map[string]map[string]string{"StringEquals": {"aws:RequestTag/" + TagInstallation: o.Installation}}
	image := fmt.Sprintf("arn:%s:ec2:*::image/*", partition)
	// Snapshots, like images, have no account in their ARN.
	snapshot := fmt.Sprintf("arn:%s:ec2:*::snapshot/*", partition)
	iamARN := func(typ string) string {
		return fmt.Sprintf("arn:%s:iam::%s:%s/*", partition, account, typ)
	}
	createTags := func(action string, resources ...string) statement {
		return statement{
			Sid: "TagOnlyWhile" + action, Effect: "Allow",
			Action:    []string{"ec2:CreateTags"},
			Resource:  resources,
			Condition: map[string]map[string]string{"StringEquals": {"ec2:CreateAction": action}},
		}
	}
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
			Sid: "List", Effect: "Allow",
			Action: []string{"ec2:DescribeInstances", "ec2:DescribeImages", "ec2:DescribeKeyPairs", "ec2:DescribeSecurityGroups", "ec2:DescribeSpotPriceHistory",
				"ec2:DescribeSnapshots"},
			Resource: []string{"*"},
		},
		{
			Sid: "ManageTheInstallationsInstances", Effect: "Allow",
			Action:    []string{"ec2:StartInstances", "ec2:StopInstances", "ec2:TerminateInstances"},
			Resource:  []string{arn("instance")},
			Condition: tagged,
		},
		{
			// The request tag is request-wide, so it also admits the
			// source image (images have no account in their ARN).
			Sid: "CopyImagesTaggedWithTheInstallation", Effect: "Allow",
			Action:    []string{"ec2:CopyImage"},
			Resource:  []string{image, snapshot},
			Condition: requestTagged,
		},
		createTags("CopyImage", image, snapshot),
		{
			Sid: "DeregisterTheInstallationsImages", Effect: "Allow",
			Action:    []string{"ec2:DeregisterImage"},
			Resource:  []string{image},
			Condition: tagged,
		},
		{
			// DeregisterImage deletes the copy's snapshots with it
			// (DeleteAssociatedSnapshots); they carry the tag from the copy.
			Sid: "DeleteTheInstallationsSnapshots", Effect: "Allow",
			Action:    []string{"ec2:DeleteSnapshot"},
			Resource:  []string{snapshot},
			Condition: tagged,
		},
		{
			Sid: "ImportKeyPairsTaggedWithTheInstallation", Effect: "Allow",
			Action:    []string{"ec2:ImportKeyPair"},
			Resource:  []string{arn("key-pair")},
			Condition: requestTagged,
		},
		createTags("ImportKeyPair", arn("key-pair")),
		{
			Sid: "DeleteTheInstallationsKeyPairs", Effect: "Allow",
			Action:    []string{"ec2:DeleteKeyPair"},
			Resource:  []string{arn("key-pair")},
			Condition: tagged,
		},
		{
			Sid: "CreateSecurityGroupsTaggedWithTheInstallation", Effect: "Allow",
			Action:    []string{"ec2:CreateSecurityGroup"},
			Resource:  []string{arn("security-group")},
			Condition: requestTagged,
		},
		{
			Sid: "CreateSecurityGroupsInVPCs", Effect: "Allow",
			Action:   []string{"ec2:CreateSecurityGroup"},
			Resource: []string{arn("vpc")},
		},
		createTags("CreateSecurityGroup", arn("security-group")),
		{
			Sid: "ManageTheInstallationsSecurityGroups", Effect: "Allow",
			Action:    []string{"ec2:AuthorizeSecurityGroupIngress", "ec2:RevokeSecurityGroupIngress", "ec2:DeleteSecurityGroup"},
			Resource:  []string{arn("security-group")},
			Condition: tagged,
		},
		{
			Sid: "CreateTheInstanceRoleTagged", Effect: "Allow",
			Action:    []string{"iam:CreateRole", "iam:TagRole"},
			Resource:  []string{iamARN("role")},
			Condition: requestTagged,
		},
		{
			Sid: "CreateTheInstanceProfileTagged", Effect: "Allow",
			Action:    []string{"iam:CreateInstanceProfile", "iam:TagInstanceProfile"},
			Resource:  []string{iamARN("instance-profile")},
			Condition: requestTagged,
		},
		{
			Sid: "FillTheInstallationsInstanceProfile", Effect: "Allow",
			Action:    []string{"iam:AddRoleToInstanceProfile"},
			Resource:  []string{iamARN("instance-profile")},
			Condition: tagged,
		},
		{
			// Must answer NoSuchEntity for a profile not made yet.
			Sid: "ReadInstanceProfiles", Effect: "Allow",
			Action:   []string{"iam:GetInstanceProfile"},
			Resource: []string{iamARN("instance-profile")},
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
