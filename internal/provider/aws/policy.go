package aws

// Actions are the IAM actions of the calls in EC2API and IAMAPI. The
// policies `stratus aws policy` prints (package awspolicy) must grant them
// all; a test checks it.
var Actions = []string{
	"ec2:RunInstances",
	"ec2:DescribeInstances",
	"ec2:StartInstances",
	"ec2:StopInstances",
	"ec2:TerminateInstances",
	"ec2:DescribeSpotPriceHistory",

	"ec2:DescribeImages",
	"ec2:CopyImage",
	"ec2:DeregisterImage",
	"ec2:DeleteSnapshot", // also DeregisterImage's DeleteAssociatedSnapshots
	"ec2:DescribeSnapshots",
	"ec2:DescribeKeyPairs",
	"ec2:ImportKeyPair",
	"ec2:DeleteKeyPair",
	"ec2:DescribeSecurityGroups",
	"ec2:CreateSecurityGroup",
	"ec2:AuthorizeSecurityGroupIngress",
	"ec2:RevokeSecurityGroupIngress",
	"ec2:DeleteSecurityGroup",

	"iam:GetInstanceProfile",
	"iam:CreateRole",
	"iam:CreateInstanceProfile",
	"iam:AddRoleToInstanceProfile",
}
