package aws

// Actions are the IAM actions of the EC2 calls in EC2API. The policies
// `stratus aws policy` prints (package awspolicy) must grant them all; a
// test checks it.
var Actions = []string{
	"ec2:RunInstances",
	"ec2:DescribeInstances",
	"ec2:StartInstances",
	"ec2:StopInstances",
	"ec2:TerminateInstances",
}
