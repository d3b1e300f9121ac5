package aws

// provider.Resources on EC2 and IAM.
//
// Images are the account's own AMIs (DescribeImages with Owners=self and tag
// filters, paginated). CopyImage is one ec2:CopyImage on the destination
// region's client with SourceRegion, Name, ClientToken = the caller's token
// (hashed when EC2 would refuse it, as for launches) and the tags on the
// image and on its EBS snapshots (TagSpecifications); a repeated token
// returns the first copy, which is then looked up for its current state.
// DeregisterImage deletes the image's snapshots with it
// (DeleteAssociatedSnapshots; a snapshot another image uses is kept), and
// fails, naming them, when EC2 could not (no ec2:DeleteSnapshot): the
// image is gone then but its snapshots are not (see snapshots.go). EC2 states map as pending →
// pending, available → available, failed/error/invalid → failed, transient
// → pending; deregistered and disabled images are not listed. EC2 may not
// list a copy for a moment after CopyImage returned it: for
// Options.ConsistencyGrace the provider lists a copy it made (as pending,
// with the tags it was given) until EC2 does. A copy's SourceRegion and
// SourceImage are EC2's SourceImageRegion and SourceImageId.
//
// Key pairs: ImportKeyPair with the key-pair tags; a name already there
// (InvalidKeyPair.Duplicate) is an *provider.InvalidError on "name", a key
// EC2 cannot read (InvalidKey.Format) one on "public_key". Fingerprint is
// KeyFingerprint as EC2 returns it: for an imported ed25519 key the base64
// SHA-256 of the key blob, for an imported RSA key the MD5 of the key's
// DER form in colon-separated hex. It is stable for one key across
// regions, but is not OpenSSH's "SHA256:..." form; KeyPairFingerprint
// computes it from a public key, and drift checks compare the two.
//
// Security groups: CreateSecurityGroup in RegionConfig.VpcID (default VPC
// when empty; lists are then restricted to that VPC), with the
// security-group tags and the name as description when none is given; a
// name already there (InvalidGroup.Duplicate) is an *provider.InvalidError
// on "name". Rules are IpPermissions with IpRanges (IPv4 CIDRs): Rule is
// IpProtocol, FromPort, ToPort and CidrIp; EC2 omits the ports of protocol
// -1 (all traffic) and such rules are reported with ports -1. Authorize
// first lists the group and sends only the rules not there (EC2 fails a
// whole call that repeats one); Revoke sends only the rules there. A
// missing group is provider.ErrNotFound for rule changes and a no-op for
// deletes; rules EC2 refuses are *provider.InvalidError on "rule".
//
// Instance profiles are IAM (global): EnsureInstanceProfile gets the
// profile and, when it is missing or has no role, creates a role of the
// same name that EC2 may assume (awspolicy.InstanceRoleTrust), the
// profile, and puts the role in it, each step tolerating "already exists",
// so it is safe to repeat and to race. IAM's AddRoleToInstanceProfile
// needs iam:PassRole on the role; the policy `stratus aws policy` prints
// grants it only for the installation's instance role, so name the
// instance profile after that role.

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strings"
	"sync"
	"time"

	awssdk "github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/aws/retry"
	"github.com/aws/aws-sdk-go-v2/service/ec2"
	"github.com/aws/aws-sdk-go-v2/service/ec2/types"
	"github.com/aws/aws-sdk-go-v2/service/iam"
	iamtypes "github.com/aws/aws-sdk-go-v2/service/iam/types"

	"github.com/stratus-cloud/stratus/internal/awspolicy"
	"github.com/stratus-cloud/stratus/internal/provider"
)

var _ provider.Resources = (*Provider)(nil)

// resourceState is the Provider's state for provider.Resources.
type resourceState struct {
	newIAM    func(ctx context.Context) (IAMAPI, error)
	iamMu     sync.Mutex
	iamClient IAMAPI

	mu     sync.Mutex
	copies map[recentKey]*recentCopy
}

type recentCopy struct {
	at  time.Time
	img provider.Image
}

func (r *resourceState) init(opts Options) {
	r.copies = map[recentKey]*recentCopy{}
	if opts.NewIAMClient != nil {
		r.newIAM = func(context.Context) (IAMAPI, error) { return opts.NewIAMClient(), nil }
		return
	}
	region := "us-east-1"
	if len(opts.Regions) > 0 {
		region = opts.Regions[0].Name
	}
	r.newIAM = func(ctx context.Context) (IAMAPI, error) {
		return newIAMClient(ctx, region, opts.MaxAttempts, opts.MaxBackoff)
	}
}

// iam returns the IAM client, making it on first use.
func (p *Provider) iam(ctx context.Context) (IAMAPI, error) {
	r := &p.res
	r.iamMu.Lock()
	defer r.iamMu.Unlock()
	if r.iamClient != nil {
		return r.iamClient, nil
	}
	c, err := r.newIAM(ctx)
	if err != nil {
		return nil, err
	}
	if c == nil {
		return nil, errors.New("aws provider: NewIAMClient returned nil")
	}
	r.iamClient = c
	return c, nil
}

// resError maps an EC2 error of a resource call. ruleCall says the request
// carried rules, which then take the blame for a bad parameter.
func resError(action, region string, err error, ruleCall bool) error {
	code, msg, ok := apiCode(err)
	if !ok {
		return mapError(action, region, "", err)
	}
	switch code {
	case "InvalidKeyPair.Duplicate", "InvalidGroup.Duplicate":
		return &provider.InvalidError{Field: "name", Reason: fmt.Sprintf("EC2 %s refused it: %s: %s", action, code, msg)}
	case "InvalidKey.Format", "InvalidKey":
		return &provider.InvalidError{Field: "public_key", Reason: fmt.Sprintf("EC2 %s refused it: %s: %s", action, code, msg)}
	case "InvalidAMIID.NotFound", "InvalidAMIID.Unavailable", "InvalidGroup.NotFound", "InvalidKeyPair.NotFound":
		return fmt.Errorf("aws: ec2:%s in %s: %s: %w", action, region, msg, provider.ErrNotFound)
	case "InvalidParameterValue", "InvalidParameter", "InvalidPermission.Malformed", "MissingParameter":
		if ruleCall {
			return &provider.InvalidError{Field: "rule", Reason: fmt.Sprintf("EC2 %s refused it: %s: %s", action, code, msg)}
		}
	case "InvalidAMIName.Malformed", "InvalidAMIName.Duplicate":
		return &provider.InvalidError{Field: "name", Reason: fmt.Sprintf("EC2 %s refused it: %s: %s", action, code, msg)}
	case "DependencyViolation":
		return fmt.Errorf("aws: ec2:%s in %s: still in use (%s: %s); remove what uses it first", action, region, code, msg)
	}
	return mapError(action, region, "", err)
}

func codeOf(err error) string {
	code, _, _ := apiCode(err)
	return code
}

// tagsMatch reports whether tags has every key of want, with its value
// unless that is "".
func tagsMatch(want, tags map[string]string) bool {
	for k, v := range want {
		got, ok := tags[k]
		if !ok || (v != "" && got != v) {
			return false
		}
	}
	return true
}

func fromEC2Tags(ts []types.Tag) map[string]string {
	m := make(map[string]string, len(ts))
	for _, t := range ts {
		m[awssdk.ToString(t.Key)] = awssdk.ToString(t.Value)
	}
	return m
}

func cloneTags(m map[string]string) map[string]string {
	out := maps.Clone(m)
	if out == nil {
		out = map[string]string{}
	}
	return out
}

// mapImageState maps an EC2 image state; ok is false for images that are
// gone (deregistered, disabled).
func mapImageState(s types.ImageState) (provider.ImageState, bool) {
	switch s {
	case types.ImageStatePending, types.ImageStateTransient:
		return provider.ImagePending, true
	case types.ImageStateAvailable:
		return provider.ImageAvailable, true
	case types.ImageStateFailed, types.ImageStateError, types.ImageStateInvalid:
		return provider.ImageFailed, true
	case types.ImageStateDeregistered, types.ImageStateDisabled:
		return "", false
	}
	return provider.ImageState(s), true
}

func toImage(region string, im types.Image) (provider.Image, bool) {
	st, ok := mapImageState(im.State)
	if !ok {
		return provider.Image{}, false
	}
	out := provider.Image{
		ID: awssdk.ToString(im.ImageId), Region: region, Name: awssdk.ToString(im.Name), State: st,
		Tags: fromEC2Tags(im.Tags), SourceRegion: awssdk.ToString(im.SourceImageRegion), SourceImage: awssdk.ToString(im.SourceImageId),
	}
	if t, err := time.Parse(time.RFC3339, awssdk.ToString(im.CreationDate)); err == nil {
		out.CreatedAt = t
	}
	return out, true
}

// ListImages implements provider.Resources.
func (p *Provider) ListImages(ctx context.Context, region string, f provider.Filter) ([]provider.Image, error) {
	_, c, err := p.region(region)
	if err != nil {
		return nil, err
	}
	pages := ec2.NewDescribeImagesPaginator(c, &ec2.DescribeImagesInput{
		Owners: []string{"self"}, Filters: tagFilters(f.Tags), MaxResults: awssdk.Int32(p.pageSize),
	})
	var out []provider.Image
	seen := map[string]bool{}
	for pages.HasMorePages() {
		page, err := pages.NextPage(ctx)
		if err != nil {
			return nil, resError("DescribeImages", region, err, false)
		}
		for _, im := range page.Images {
			img, ok := toImage(region, im)
			if !ok || img.ID == "" || seen[img.ID] || !tagsMatch(f.Tags, img.Tags) {
				continue
			}
			seen[img.ID] = true
			out = append(out, img)
		}
	}
	for _, img := range p.recentCopies(region) {
		if !seen[img.ID] && tagsMatch(f.Tags, img.Tags) {
			seen[img.ID] = true
			out = append(out, img)
		}
	}
	return out, nil
}

// recentCopies returns the copies made in region within the grace (and
// forgets older ones).
func (p *Provider) recentCopies(region string) []provider.Image {
	r := &p.res
	r.mu.Lock()
	defer r.mu.Unlock()
	now := p.clock.Now()
	var out []provider.Image
	for k, c := range r.copies {
		if now.Sub(c.at) > p.grace {
			delete(r.copies, k)
			continue
		}
		if k.region == region {
			img := c.img
			img.Tags = cloneTags(img.Tags)
			out = append(out, img)
		}
	}
	return out
}

func (p *Provider) rememberCopy(img provider.Image) {
	r := &p.res
	r.mu.Lock()
	defer r.mu.Unlock()
	k := recentKey{img.Region, img.ID}
	if _, ok := r.copies[k]; ok {
		return
	}
	img.Tags = cloneTags(img.Tags)
	r.copies[k] = &recentCopy{at: p.clock.Now(), img: img}
}

func (p *Provider) forgetCopy(region, id string) {
	r := &p.res
	r.mu.Lock()
	defer r.mu.Unlock()
	delete(r.copies, recentKey{region, id})
}

// CopyImage implements provider.Resources.
func (p *Provider) CopyImage(ctx context.Context, srcRegion, srcImage, region, name, token string, tags map[string]string) (provider.Image, error) {
	_, c, err := p.region(region)
	if err != nil {
		return provider.Image{}, err
	}
	if srcRegion == "" || srcImage == "" {
		return provider.Image{}, &provider.InvalidError{Field: "image", Reason: "name the source region and image to copy"}
	}
	in := &ec2.CopyImageInput{Name: awssdk.String(name), SourceImageId: awssdk.String(srcImage), SourceRegion: awssdk.String(srcRegion)}
	if len(tags) > 0 {
		// The copy's snapshots carry the image's tags, so that what the
		// copy costs is seen as ours.
		in.TagSpecifications = []types.TagSpecification{
			{ResourceType: types.ResourceTypeImage, Tags: ec2Tags(tags)},
			{ResourceType: types.ResourceTypeSnapshot, Tags: ec2Tags(tags)},
		}
	}
	if token != "" {
		in.ClientToken = awssdk.String(clientToken(token))
	}
	out, err := c.CopyImage(ctx, in)
	if err != nil {
		return provider.Image{}, resError("CopyImage", region, err, false)
	}
	img := provider.Image{
		ID: awssdk.ToString(out.ImageId), Region: region, Name: name, State: provider.ImagePending, Tags: cloneTags(tags),
		SourceRegion: srcRegion, SourceImage: srcImage, CreatedAt: p.clock.Now(),
	}
	if img.ID == "" {
		return provider.Image{}, fmt.Errorf("aws: ec2:CopyImage in %s returned no image id", region)
	}
	if token != "" {
		// A repeated token returns the first copy, perhaps long done.
		if got, err := c.DescribeImages(ctx, &ec2.DescribeImagesInput{
			Owners: []string{"self"}, Filters: []types.Filter{{Name: awssdk.String("image-id"), Values: []string{img.ID}}},
		}); err == nil {
			for _, im := range got.Images {
				if x, ok := toImage(region, im); ok && x.ID == img.ID {
					if x.SourceImage == "" {
						x.SourceRegion, x.SourceImage = srcRegion, srcImage
					}
					img = x
				}
			}
		}
	}
	p.rememberCopy(img)
	p.log.Info("copied image", "image", img.ID, "region", region, "source", srcImage, "source_region", srcRegion, "state", img.State)
	return img, nil
}

// DeregisterImage implements provider.Resources.
func (p *Provider) DeregisterImage(ctx context.Context, region, id string) error {
	_, c, err := p.region(region)
	if err != nil {
		return err
	}
	p.forgetCopy(region, id)
	out, err := c.DeregisterImage(ctx, &ec2.DeregisterImageInput{ImageId: awssdk.String(id), DeleteAssociatedSnapshots: awssdk.Bool(true)})
	switch codeOf(err) {
	case "InvalidAMIID.NotFound", "InvalidAMIID.Unavailable":
		return nil
	}
	if err != nil {
		return resError("DeregisterImage", region, err, false)
	}
	var deleted, left []string
	for _, r := range out.DeleteSnapshotResults {
		switch r.ReturnCode {
		case types.SnapshotReturnCodesSuccess:
			deleted = append(deleted, awssdk.ToString(r.SnapshotId))
		case types.SnapshotReturnCodesWarnSkipped:
			// Another image uses it; it goes with that image.
		default:
			left = append(left, fmt.Sprintf("%s (%s)", awssdk.ToString(r.SnapshotId), r.ReturnCode))
		}
	}
	p.log.Info("deregistered image", "image", id, "region", region, "snapshots_deleted", deleted)
	if len(left) > 0 {
		return fmt.Errorf("aws: ec2:DeregisterImage in %s: image %s is deregistered but EC2 did not delete its snapshots %s; stratus needs ec2:DeleteSnapshot (see `stratus aws policy`): delete them in the EC2 console or with `aws ec2 delete-snapshot`",
			region, id, strings.Join(left, ", "))
	}
	return nil
}

// ListKeyPairs implements provider.Resources.
func (p *Provider) ListKeyPairs(ctx context.Context, region string, f provider.Filter) ([]provider.KeyPair, error) {
	_, c, err := p.region(region)
	if err != nil {
		return nil, err
	}
	out, err := c.DescribeKeyPairs(ctx, &ec2.DescribeKeyPairsInput{Filters: tagFilters(f.Tags)})
	if err != nil {
		return nil, resError("DescribeKeyPairs", region, err, false)
	}
	var kps []provider.KeyPair
	for _, k := range out.KeyPairs {
		kp := provider.KeyPair{Name: awssdk.ToString(k.KeyName), Region: region, Fingerprint: awssdk.ToString(k.KeyFingerprint), Tags: fromEC2Tags(k.Tags)}
		if tagsMatch(f.Tags, kp.Tags) {
			kps = append(kps, kp)
		}
	}
	return kps, nil
}

// ImportKeyPair implements provider.Resources.
func (p *Provider) ImportKeyPair(ctx context.Context, region, name string, publicKey []byte, tags map[string]string) (provider.KeyPair, error) {
	_, c, err := p.region(region)
	if err != nil {
		return provider.KeyPair{}, err
	}
	if name == "" {
		return provider.KeyPair{}, &provider.InvalidError{Field: "name", Reason: "a key pair needs a name"}
	}
	material := bytes.TrimSpace(publicKey)
	if len(material) == 0 {
		return provider.KeyPair{}, &provider.InvalidError{Field: "public_key", Reason: "no public key; give an OpenSSH public key such as the contents of ~/.ssh/id_ed25519.pub"}
	}
	in := &ec2.ImportKeyPairInput{KeyName: awssdk.String(name), PublicKeyMaterial: material}
	if len(tags) > 0 {
		in.TagSpecifications = []types.TagSpecification{{ResourceType: types.ResourceTypeKeyPair, Tags: ec2Tags(tags)}}
	}
	out, err := c.ImportKeyPair(ctx, in)
	if err != nil {
		return provider.KeyPair{}, resError("ImportKeyPair", region, err, false)
	}
	kp := provider.KeyPair{Name: name, Region: region, Fingerprint: awssdk.ToString(out.KeyFingerprint), Tags: cloneTags(tags)}
	if len(out.Tags) > 0 {
		kp.Tags = fromEC2Tags(out.Tags)
	}
	p.log.Info("imported key pair", "key_pair", name, "region", region, "fingerprint", kp.Fingerprint)
	return kp, nil
}

// DeleteKeyPair implements provider.Resources.
func (p *Provider) DeleteKeyPair(ctx context.Context, region, name string) error {
	_, c, err := p.region(region)
	if err != nil {
		return err
	}
	_, err = c.DeleteKeyPair(ctx, &ec2.DeleteKeyPairInput{KeyName: awssdk.String(name)})
	if codeOf(err) == "InvalidKeyPair.NotFound" {
		return nil
	}
	if err != nil {
		return resError("DeleteKeyPair", region, err, false)
	}
	p.log.Info("deleted key pair", "key_pair", name, "region", region)
	return nil
}

// ruleKey is a rule as compared: the ports of protocol -1 do not matter.
func ruleKey(r provider.Rule) provider.Rule {
	if r.Protocol == "-1" {
		r.FromPort, r.ToPort = -1, -1
	}
	return r
}

func toRules(perms []types.IpPermission) []provider.Rule {
	out := []provider.Rule{}
	for _, perm := range perms {
		from, to := -1, -1
		if perm.FromPort != nil {
			from = int(*perm.FromPort)
		}
		if perm.ToPort != nil {
			to = int(*perm.ToPort)
		}
		for _, rg := range perm.IpRanges {
			r := ruleKey(provider.Rule{Protocol: awssdk.ToString(perm.IpProtocol), FromPort: from, ToPort: to, CIDR: awssdk.ToString(rg.CidrIp)})
			if !slices.Contains(out, r) {
				out = append(out, r)
			}
		}
	}
	slices.SortFunc(out, provider.CompareRules)
	return out
}

func clampPort(n int) int32 {
	return int32(max(min(n, 1<<20), -(1 << 20)))
}

// permissions renders rules as IpPermissions, one per rule.
func permissions(rules []provider.Rule) []types.IpPermission {
	out := make([]types.IpPermission, 0, len(rules))
	for _, r := range rules {
		p := types.IpPermission{IpProtocol: awssdk.String(r.Protocol), IpRanges: []types.IpRange{{CidrIp: awssdk.String(r.CIDR)}}}
		if r.Protocol != "-1" {
			p.FromPort, p.ToPort = awssdk.Int32(clampPort(r.FromPort)), awssdk.Int32(clampPort(r.ToPort))
		}
		out = append(out, p)
	}
	return out
}

func toGroup(region string, g types.SecurityGroup) provider.SecurityGroup {
	return provider.SecurityGroup{
		ID: awssdk.ToString(g.GroupId), Region: region, Name: awssdk.ToString(g.GroupName),
		Rules: toRules(g.IpPermissions), Tags: fromEC2Tags(g.Tags),
	}
}

// ListSecurityGroups implements provider.Resources.
func (p *Provider) ListSecurityGroups(ctx context.Context, region string, f provider.Filter) ([]provider.SecurityGroup, error) {
	rc, c, err := p.region(region)
	if err != nil {
		return nil, err
	}
	filters := tagFilters(f.Tags)
	if rc.VpcID != "" {
		filters = append(filters, types.Filter{Name: awssdk.String("vpc-id"), Values: []string{rc.VpcID}})
	}
	pages := ec2.NewDescribeSecurityGroupsPaginator(c, &ec2.DescribeSecurityGroupsInput{Filters: filters, MaxResults: awssdk.Int32(p.pageSize)})
	var out []provider.SecurityGroup
	seen := map[string]bool{}
	for pages.HasMorePages() {
		page, err := pages.NextPage(ctx)
		if err != nil {
			return nil, resError("DescribeSecurityGroups", region, err, false)
		}
		for _, sg := range page.SecurityGroups {
			g := toGroup(region, sg)
			if g.ID == "" || seen[g.ID] || !tagsMatch(f.Tags, g.Tags) {
				continue
			}
			seen[g.ID] = true
			out = append(out, g)
		}
	}
	return out, nil
}

// CreateSecurityGroup implements provider.Resources.
func (p *Provider) CreateSecurityGroup(ctx context.Context, region, name, description string, tags map[string]string) (provider.SecurityGroup, error) {
	rc, c, err := p.region(region)
	if err != nil {
		return provider.SecurityGroup{}, err
	}
	if name == "" {
		return provider.SecurityGroup{}, &provider.InvalidError{Field: "name", Reason: "a security group needs a name"}
	}
	if description == "" {
		description = name // EC2 requires one
	}
	in := &ec2.CreateSecurityGroupInput{GroupName: awssdk.String(name), Description: awssdk.String(description)}
	if rc.VpcID != "" {
		in.VpcId = awssdk.String(rc.VpcID)
	}
	if len(tags) > 0 {
		in.TagSpecifications = []types.TagSpecification{{ResourceType: types.ResourceTypeSecurityGroup, Tags: ec2Tags(tags)}}
	}
	out, err := c.CreateSecurityGroup(ctx, in)
	if err != nil {
		return provider.SecurityGroup{}, resError("CreateSecurityGroup", region, err, false)
	}
	g := provider.SecurityGroup{ID: awssdk.ToString(out.GroupId), Region: region, Name: name, Rules: []provider.Rule{}, Tags: cloneTags(tags)}
	p.log.Info("created security group", "group", g.ID, "name", name, "region", region)
	return g, nil
}

// group returns the group id in region as EC2 lists it.
func (p *Provider) group(ctx context.Context, c EC2API, region, id string) (provider.SecurityGroup, error) {
	out, err := c.DescribeSecurityGroups(ctx, &ec2.DescribeSecurityGroupsInput{GroupIds: []string{id}})
	if err != nil {
		return provider.SecurityGroup{}, resError("DescribeSecurityGroups", region, err, false)
	}
	for _, sg := range out.SecurityGroups {
		if awssdk.ToString(sg.GroupId) == id {
			return toGroup(region, sg), nil
		}
	}
	return provider.SecurityGroup{}, fmt.Errorf("aws: ec2:DescribeSecurityGroups in %s: no group %s: %w", region, id, provider.ErrNotFound)
}

// AuthorizeIngress implements provider.Resources.
func (p *Provider) AuthorizeIngress(ctx context.Context, region, groupID string, rules []provider.Rule) error {
	_, c, err := p.region(region)
	if err != nil {
		return err
	}
	g, err := p.group(ctx, c, region, groupID)
	if err != nil {
		return err
	}
	var add []provider.Rule
	for _, r := range rules {
		if k := ruleKey(r); !slices.Contains(g.Rules, k) && !slices.ContainsFunc(add, func(x provider.Rule) bool { return ruleKey(x) == k }) {
			add = append(add, r)
		}
	}
	if len(add) == 0 {
		return nil
	}
	_, err = c.AuthorizeSecurityGroupIngress(ctx, &ec2.AuthorizeSecurityGroupIngressInput{GroupId: awssdk.String(groupID), IpPermissions: permissions(add)})
	if codeOf(err) == "InvalidPermission.Duplicate" {
		// Someone added one meanwhile: EC2 refused them all; add one by one.
		for _, r := range add {
			_, err = c.AuthorizeSecurityGroupIngress(ctx, &ec2.AuthorizeSecurityGroupIngressInput{GroupId: awssdk.String(groupID), IpPermissions: permissions([]provider.Rule{r})})
			if err != nil && codeOf(err) != "InvalidPermission.Duplicate" {
				return resError("AuthorizeSecurityGroupIngress", region, err, true)
			}
		}
		err = nil
	}
	if err != nil {
		return resError("AuthorizeSecurityGroupIngress", region, err, true)
	}
	p.log.Info("authorized ingress", "group", groupID, "region", region, "rules", len(add))
	return nil
}

// RevokeIngress implements provider.Resources.
func (p *Provider) RevokeIngress(ctx context.Context, region, groupID string, rules []provider.Rule) error {
	_, c, err := p.region(region)
	if err != nil {
		return err
	}
	g, err := p.group(ctx, c, region, groupID)
	if err != nil {
		return err
	}
	var revoke []provider.Rule
	for _, r := range g.Rules {
		if slices.ContainsFunc(rules, func(x provider.Rule) bool { return ruleKey(x) == r }) {
			revoke = append(revoke, r)
		}
	}
	if len(revoke) == 0 {
		return nil
	}
	_, err = c.RevokeSecurityGroupIngress(ctx, &ec2.RevokeSecurityGroupIngressInput{GroupId: awssdk.String(groupID), IpPermissions: permissions(revoke)})
	if err != nil && codeOf(err) != "InvalidPermission.NotFound" {
		return resError("RevokeSecurityGroupIngress", region, err, true)
	}
	p.log.Info("revoked ingress", "group", groupID, "region", region, "rules", len(revoke))
	return nil
}

// DeleteSecurityGroup implements provider.Resources.
func (p *Provider) DeleteSecurityGroup(ctx context.Context, region, groupID string) error {
	_, c, err := p.region(region)
	if err != nil {
		return err
	}
	_, err = c.DeleteSecurityGroup(ctx, &ec2.DeleteSecurityGroupInput{GroupId: awssdk.String(groupID)})
	if codeOf(err) == "InvalidGroup.NotFound" {
		return nil
	}
	if err != nil {
		return resError("DeleteSecurityGroup", region, err, false)
	}
	p.log.Info("deleted security group", "group", groupID, "region", region)
	return nil
}

// iamError maps an IAM error of action.
func iamError(action string, err error) error {
	code, msg, ok := apiCode(err)
	if !ok {
		return fmt.Errorf("aws: iam:%s: %w", action, err)
	}
	switch code {
	case "AccessDenied", "AccessDeniedException", "UnauthorizedOperation":
		return &PermissionError{Action: "iam:" + action, Code: code, Message: msg, Err: err}
	case "NoSuchEntity":
		return fmt.Errorf("aws: iam:%s: %s: %w", action, msg, provider.ErrNotFound)
	case "ValidationError", "InvalidInput", "MalformedPolicyDocument":
		return &provider.InvalidError{Field: "instance_profile", Reason: fmt.Sprintf("IAM %s refused it: %s: %s", action, code, msg)}
	}
	if _, ok := retry.DefaultThrottleErrorCodes[code]; ok {
		return &throttledError{action: action, region: "IAM", err: err}
	}
	return fmt.Errorf("aws: iam:%s: %w", action, err)
}

func iamTagList(m map[string]string) []iamtypes.Tag {
	var out []iamtypes.Tag
	for _, k := range slices.Sorted(maps.Keys(m)) {
		out = append(out, iamtypes.Tag{Key: awssdk.String(k), Value: awssdk.String(m[k])})
	}
	return out
}

// EnsureInstanceProfile implements provider.Resources.
func (p *Provider) EnsureInstanceProfile(ctx context.Context, name string, tags map[string]string) (bool, error) {
	if name == "" {
		return false, &provider.InvalidError{Field: "instance_profile", Reason: "an instance profile needs a name"}
	}
	c, err := p.iam(ctx)
	if err != nil {
		return false, err
	}
	got, err := c.GetInstanceProfile(ctx, &iam.GetInstanceProfileInput{InstanceProfileName: awssdk.String(name)})
	switch {
	case err == nil && got.InstanceProfile != nil && len(got.InstanceProfile.Roles) > 0:
		return false, nil
	case err != nil && codeOf(err) != "NoSuchEntity":
		return false, iamError("GetInstanceProfile", err)
	}
	created := false
	_, err = c.CreateRole(ctx, &iam.CreateRoleInput{
		RoleName: awssdk.String(name), AssumeRolePolicyDocument: awssdk.String(awspolicy.InstanceRoleTrust()),
		Description: awssdk.String("stratus instances"), Tags: iamTagList(tags),
	})
	switch {
	case err == nil:
		created = true
	case codeOf(err) != "EntityAlreadyExists":
		return false, iamError("CreateRole", err)
	}
	_, err = c.CreateInstanceProfile(ctx, &iam.CreateInstanceProfileInput{InstanceProfileName: awssdk.String(name), Tags: iamTagList(tags)})
	switch {
	case err == nil:
		created = true
	case codeOf(err) != "EntityAlreadyExists":
		return created, iamError("CreateInstanceProfile", err)
	}
	_, err = c.AddRoleToInstanceProfile(ctx, &iam.AddRoleToInstanceProfileInput{InstanceProfileName: awssdk.String(name), RoleName: awssdk.String(name)})
	switch {
	case err == nil:
		created = true
	case codeOf(err) != "LimitExceeded": // a role is there already
		return created, iamError("AddRoleToInstanceProfile", err)
	}
	if created {
		p.log.Info("created instance profile", "instance_profile", name)
	}
	return created, nil
}
