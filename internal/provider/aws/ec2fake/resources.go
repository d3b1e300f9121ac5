package ec2fake

// The EC2 calls of the aws provider's provider.Resources: images, key pairs
// and security groups, faithful to EC2's documented behaviour where the
// provider depends on it:
//
//   - Images are per region and owned by OwnerID ("self"); SeedImage puts an
//     available, untagged image in a region. CopyImage (called on the
//     destination region's client, with SourceRegion and SourceImageId) is
//     idempotent by ClientToken per destination region (other parameters
//     with the same token: IdempotentParameterMismatch), tags the new image
//     from TagSpecifications (image and snapshot), and leaves it pending
//     until Options.CopyDelay has passed on the clock, then available
//     (FailImage makes it failed). A missing source is InvalidAMIID.NotFound.
//   - Snapshots: every image has one EBS snapshot per block device (a
//     seeded image has one, its root device's); a copy makes a new snap-*
//     for each block device of its source, tagged from the snapshot
//     TagSpecification, and lists them in its BlockDeviceMappings.
//     DeregisterImage keeps an image's snapshots unless
//     DeleteAssociatedSnapshots is set; then it deletes each one no other
//     image uses and reports each in DeleteSnapshotResults (success,
//     skipped when another image uses it, missing-permissions when
//     DeleteSnapshot is denied with Deny). See snapshots.go for
//     DescribeSnapshots and DeleteSnapshot.
//     DescribeImages supports Owners, ImageIds, the filters image-id, name,
//     state, tag:KEY, tag-key and tag-value, and MaxResults/NextToken;
//     copies report SourceImageId and SourceImageRegion.
//     DeregisterImage of an unknown image is InvalidAMIID.NotFound.
//   - ImportKeyPair accepts OpenSSH ssh-rsa and ssh-ed25519 public keys
//     (else InvalidKey.Format), refuses a name already there
//     (InvalidKeyPair.Duplicate) and reports EC2's fingerprints: for an
//     ed25519 key the base64 SHA-256 of the key blob, for an RSA key the
//     colon-separated MD5 of the key's DER (PKIX) form. DeleteKeyPair of a missing name
//     succeeds. DescribeKeyPairs supports KeyNames (unknown:
//     InvalidKeyPair.NotFound) and the filters key-name, key-pair-id,
//     fingerprint, key-type and tags.
//   - CreateSecurityGroup needs a GroupName and a GroupDescription; names
//     are unique per VPC (InvalidGroup.Duplicate); without VpcId the group
//     is in DefaultVPC. Authorize/RevokeSecurityGroupIngress take
//     IpPermissions with IpRanges only: a rule already there fails the
//     whole authorize with InvalidPermission.Duplicate; revoking rules not
//     there succeeds and lists them in UnknownIpPermissions; bad protocols,
//     ports and CIDRs are InvalidParameterValue. A missing group is
//     InvalidGroup.NotFound, a malformed id InvalidGroupId.Malformed.
//     DescribeSecurityGroups supports GroupIds, the filters group-id,
//     group-name, vpc-id, description and tags, and MaxResults/NextToken.
//     The fake has no "default" group and does not check that a group is in
//     use before deleting it.

import (
	"bytes"
	"context"
	"crypto/md5"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"maps"
	"math/big"
	"net/netip"
	"regexp"
	"slices"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ec2"
	"github.com/aws/aws-sdk-go-v2/service/ec2/types"
)

// Actions of the resource calls.
const (
	ActionDescribeImages                = "DescribeImages"
	ActionCopyImage                     = "CopyImage"
	ActionDeregisterImage               = "DeregisterImage"
	ActionDescribeKeyPairs              = "DescribeKeyPairs"
	ActionImportKeyPair                 = "ImportKeyPair"
	ActionDeleteKeyPair                 = "DeleteKeyPair"
	ActionDescribeSecurityGroups        = "DescribeSecurityGroups"
	ActionCreateSecurityGroup           = "CreateSecurityGroup"
	ActionAuthorizeSecurityGroupIngress = "AuthorizeSecurityGroupIngress"
	ActionRevokeSecurityGroupIngress    = "RevokeSecurityGroupIngress"
	ActionDeleteSecurityGroup           = "DeleteSecurityGroup"
)

// DefaultVPC is the VPC of security groups created without VpcId.
const DefaultVPC = "vpc-0de7a0170000f0a4e"

// resources is the fake's state beside instances. Its zero value is
// usable; it is guarded by Fake.mu.
type resources struct {
	regions map[string]*resRegion
	iam     *iamState
}

type resRegion struct {
	images     map[string]*fimage
	snapshots  map[string]*fsnapshot
	copyTokens map[string]copyToken
	keys       map[string]*fkey // by name
	groups     map[string]*fgroup
}

type copyToken struct{ fingerprint, id string }

type fimage struct {
	seq                int64
	id, name, desc     string
	state              types.ImageState
	tags               map[string]string
	srcRegion, srcID   string
	created, doneAt    time.Time
	stateCode, stateMs string
	// snaps are the snapshots of the image's block devices, root first.
	snaps []string
}

type fkey struct {
	seq         int64
	id, name    string
	typ         types.KeyType
	fingerprint string
	tags        map[string]string
	created     time.Time
}

type frule struct {
	proto    string
	from, to int32
	cidr     string
}

type fgroup struct {
	seq            int64
	id, name, desc string
	vpc            string
	tags           map[string]string
	rules          []frule
	ruleIDs        map[frule]string
}

var (
	groupIDRe = regexp.MustCompile(`^sg-([0-9a-f]{8}|[0-9a-f]{17})$`)
)

func (f *Fake) res(name string) *resRegion {
	if f.rs.regions == nil {
		f.rs.regions = map[string]*resRegion{}
	}
	r, ok := f.rs.regions[name]
	if !ok {
		r = &resRegion{
			images: map[string]*fimage{}, snapshots: map[string]*fsnapshot{}, copyTokens: map[string]copyToken{},
			keys: map[string]*fkey{}, groups: map[string]*fgroup{},
		}
		f.rs.regions[name] = r
	}
	return r
}

// deriveImages completes the copies that are due. The caller holds f.mu.
func (f *Fake) deriveImages() {
	now := f.clock.Now()
	for _, r := range f.rs.regions {
		for _, img := range r.images {
			if img.state == types.ImageStatePending && !now.Before(img.doneAt) {
				img.state = types.ImageStateAvailable
			}
		}
	}
}

func (f *Fake) resBegin(ctx context.Context, action string, dryRun *bool) error {
	if err := f.begin(ctx, action, dryRun); err != nil {
		return err
	}
	f.deriveImages()
	return nil
}

// SeedImage puts an available, untagged image owned by the account in
// region, as if it had been registered there: the image the aws provider
// copies to other regions. id must look like ami-0123456789abcdef0.
func (f *Fake) SeedImage(region, id, name string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if !amiIDRe.MatchString(id) {
		panic(fmt.Sprintf("ec2fake: SeedImage: malformed image id %q", id))
	}
	r := f.res(region)
	f.seq++
	img := &fimage{seq: f.seq, id: id, name: name, state: types.ImageStateAvailable, tags: map[string]string{}, created: f.clock.Now()}
	img.snaps = []string{f.newSnapshot(r, id, "Created by CreateImage(i-0123456789abcdef0) for "+id, nil)}
	r.images[id] = img
}

// FailImage makes a pending image in region failed, as when a copy fails.
func (f *Fake) FailImage(region, id string) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	img, ok := f.res(region).images[id]
	if !ok {
		return fmt.Errorf("ec2fake: no image %s in %s", id, region)
	}
	img.state = types.ImageStateFailed
	img.stateCode, img.stateMs = "Client.CopyFailed", "copy failed"
	return nil
}

// Image returns image id in region as DescribeImages shows it.
func (f *Fake) Image(region, id string) (types.Image, bool) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.deriveImages()
	img, ok := f.res(region).images[id]
	if !ok {
		return types.Image{}, false
	}
	return img.view(), true
}

func sdkTags(m map[string]string) []types.Tag {
	if len(m) == 0 {
		return nil
	}
	out := make([]types.Tag, 0, len(m))
	for _, k := range slices.Sorted(maps.Keys(m)) {
		out = append(out, types.Tag{Key: aws.String(k), Value: aws.String(m[k])})
	}
	return out
}

func (img *fimage) view() types.Image {
	v := types.Image{
		ImageId:        aws.String(img.id),
		Name:           aws.String(img.name),
		State:          img.state,
		OwnerId:        aws.String(OwnerID),
		CreationDate:   aws.String(img.created.UTC().Format("2006-01-02T15:04:05.000Z")),
		Public:         aws.Bool(false),
		ImageType:      types.ImageTypeValuesMachine,
		Architecture:   types.ArchitectureValuesX8664,
		RootDeviceType: types.DeviceTypeEbs,
		RootDeviceName: aws.String("/dev/xvda"),
		Tags:           sdkTags(img.tags),
	}
	if img.desc != "" {
		v.Description = aws.String(img.desc)
	}
	if img.srcID != "" {
		v.SourceImageId = aws.String(img.srcID)
		v.SourceImageRegion = aws.String(img.srcRegion)
	}
	for i, snap := range img.snaps {
		dev := "/dev/xvda"
		if i > 0 {
			dev = fmt.Sprintf("/dev/xvd%c", 'a'+i)
		}
		v.BlockDeviceMappings = append(v.BlockDeviceMappings, types.BlockDeviceMapping{DeviceName: aws.String(dev),
			Ebs: &types.EbsBlockDevice{SnapshotId: aws.String(snap), VolumeType: types.VolumeTypeGp3, DeleteOnTermination: aws.Bool(true)}})
	}
	if img.stateCode != "" {
		v.StateReason = &types.StateReason{Code: aws.String(img.stateCode), Message: aws.String(img.stateMs)}
	}
	return v
}

// resItem is what the generic filters see of a resource.
type resItem struct {
	fields map[string]string
	tags   map[string]string
}

type resMatcher func(resItem) bool

// compileResFilters compiles EC2 filters over the named fields and tags.
func compileResFilters(filters []types.Filter, fields ...string) ([]resMatcher, error) {
	var out []resMatcher
	for _, flt := range filters {
		name := aws.ToString(flt.Name)
		values := slices.Clone(flt.Values)
		if len(values) == 0 {
			return nil, APIError("InvalidParameterValue", fmt.Sprintf("The filter '%s' has no values", name))
		}
		anyOf := func(s string) bool {
			return slices.ContainsFunc(values, func(v string) bool { return glob(v, s) })
		}
		switch {
		case slices.Contains(fields, name):
			out = append(out, func(it resItem) bool { return anyOf(it.fields[name]) })
		case name == "tag-key":
			out = append(out, func(it resItem) bool {
				return slices.ContainsFunc(slices.Collect(maps.Keys(it.tags)), anyOf)
			})
		case name == "tag-value":
			out = append(out, func(it resItem) bool {
				return slices.ContainsFunc(slices.Collect(maps.Values(it.tags)), anyOf)
			})
		case strings.HasPrefix(name, "tag:") && len(name) > 4:
			key := name[4:]
			out = append(out, func(it resItem) bool {
				v, ok := it.tags[key]
				return ok && anyOf(v)
			})
		default:
			return nil, APIError("InvalidParameterValue", fmt.Sprintf("The filter '%s' is invalid", name))
		}
	}
	return out, nil
}

func matchRes(ms []resMatcher, it resItem) bool {
	for _, m := range ms {
		if !m(it) {
			return false
		}
	}
	return true
}

// pageLimit validates MaxResults and NextToken.
func pageLimit(maxResults *int32, nextToken *string, withIDs bool) (int, int64, error) {
	limit := 0
	if maxResults != nil {
		if withIDs {
			return 0, 0, APIError("InvalidParameterCombination", "The parameter maxResults cannot be used with an explicit list of ids")
		}
		n := aws.ToInt32(maxResults)
		if n < 5 || n > 1000 {
			return 0, 0, APIError("InvalidParameterValue", fmt.Sprintf("Value ( %d ) for parameter maxResults is invalid. Expecting a value between 5 and 1000.", n))
		}
		limit = int(n)
	}
	var after int64
	if tok := aws.ToString(nextToken); tok != "" {
		var ok bool
		if after, ok = decodeToken(tok); !ok {
			return 0, 0, APIError("InvalidPaginationToken", "The specified pagination token is not valid or is expired.")
		}
	}
	return limit, after, nil
}

// tagSpecs validates tag specifications and returns the tags for want.
func tagSpecs(specs []types.TagSpecification, want types.ResourceType, allowed ...types.ResourceType) (map[string]string, error) {
	tags := map[string]string{}
	seen := map[types.ResourceType]bool{}
	for _, s := range specs {
		if !slices.Contains(allowed, s.ResourceType) {
			return nil, APIError("InvalidParameterValue", fmt.Sprintf("'%s' is not a valid taggable resource type for this operation.", s.ResourceType))
		}
		if seen[s.ResourceType] {
			return nil, APIError("InvalidParameterValue", fmt.Sprintf("The same resource type may not be specified more than once in tag specifications (%s).", s.ResourceType))
		}
		seen[s.ResourceType] = true
		if len(s.Tags) > 50 {
			return nil, APIError("TagLimitExceeded", "The maximum number of tags per resource is 50.")
		}
		for _, t := range s.Tags {
			k := aws.ToString(t.Key)
			if k == "" || len(k) > 128 || strings.HasPrefix(strings.ToLower(k), "aws:") {
				return nil, APIError("InvalidParameterValue", fmt.Sprintf("Tag key '%s' is not valid.", k))
			}
			if len(aws.ToString(t.Value)) > 256 {
				return nil, APIError("InvalidParameterValue", fmt.Sprintf("Tag value for key '%s' is too long.", k))
			}
			if s.ResourceType == want {
				tags[k] = aws.ToString(t.Value)
			}
		}
	}
	return tags, nil
}

// jsonFingerprint identifies a request by its JSON form; callers clear its
// client token first, so that a retry with the same token matches.
func jsonFingerprint(v any) string {
	b, err := json.Marshal(v)
	if err != nil {
		panic(err)
	}
	return string(b)
}

// DescribeImages lists images.
func (c *Client) DescribeImages(ctx context.Context, in *ec2.DescribeImagesInput, _ ...func(*ec2.Options)) (*ec2.DescribeImagesOutput, error) {
	f := c.f
	f.mu.Lock()
	defer f.mu.Unlock()
	if in == nil {
		in = &ec2.DescribeImagesInput{}
	}
	if err := f.resBegin(ctx, ActionDescribeImages, in.DryRun); err != nil {
		return nil, err
	}
	r := f.res(c.region)
	limit, after, err := pageLimit(in.MaxResults, in.NextToken, len(in.ImageIds) > 0)
	if err != nil {
		return nil, err
	}
	ms, err := compileResFilters(in.Filters, "image-id", "name", "state", "owner-id", "source-image-id", "source-image-region")
	if err != nil {
		return nil, err
	}
	owned := len(in.Owners) == 0 || slices.Contains(in.Owners, "self") || slices.Contains(in.Owners, OwnerID)
	var want map[string]bool
	if len(in.ImageIds) > 0 {
		want = map[string]bool{}
		for _, id := range in.ImageIds {
			if !amiIDRe.MatchString(id) {
				return nil, APIError("InvalidAMIID.Malformed", fmt.Sprintf("Invalid id: %q (expecting \"ami-...\")", id))
			}
			if _, ok := r.images[id]; !ok {
				return nil, APIError("InvalidAMIID.NotFound", fmt.Sprintf("The image id '[%s]' does not exist", id))
			}
			want[id] = true
		}
	}
	out := &ec2.DescribeImagesOutput{}
	if !owned {
		return out, nil
	}
	all := slices.SortedFunc(maps.Values(r.images), func(a, b *fimage) int { return int(a.seq - b.seq) })
	var last int64
	n := 0
	for _, img := range all {
		if img.seq <= after || (want != nil && !want[img.id]) {
			continue
		}
		it := resItem{fields: map[string]string{"image-id": img.id, "name": img.name, "state": string(img.state), "owner-id": OwnerID,
			"source-image-id": img.srcID, "source-image-region": img.srcRegion}, tags: img.tags}
		if !matchRes(ms, it) {
			continue
		}
		if limit > 0 && n == limit {
			out.NextToken = aws.String(encodeToken(last))
			break
		}
		out.Images = append(out.Images, img.view())
		last = img.seq
		n++
	}
	return out, nil
}

// CopyImage copies an image from in.SourceRegion into the client's region.
func (c *Client) CopyImage(ctx context.Context, in *ec2.CopyImageInput, _ ...func(*ec2.Options)) (*ec2.CopyImageOutput, error) {
	f := c.f
	f.mu.Lock()
	defer f.mu.Unlock()
	if in == nil {
		in = &ec2.CopyImageInput{}
	}
	if err := f.resBegin(ctx, ActionCopyImage, in.DryRun); err != nil {
		return nil, err
	}
	for _, p := range []struct{ name, v string }{{"Name", aws.ToString(in.Name)}, {"SourceImageId", aws.ToString(in.SourceImageId)}, {"SourceRegion", aws.ToString(in.SourceRegion)}} {
		if p.v == "" {
			return nil, APIError("MissingParameter", "The request must contain the parameter "+p.name)
		}
	}
	name := aws.ToString(in.Name)
	if len(name) < 3 || len(name) > 128 {
		return nil, APIError("InvalidAMIName.Malformed", "AMI names must be between 3 and 128 characters long.")
	}
	token := aws.ToString(in.ClientToken)
	if len(token) > 64 {
		return nil, APIError("InvalidParameterValue", "Value ("+token+") for parameter clientToken is invalid. The client token must be 64 or fewer ASCII characters.")
	}
	dst := f.res(c.region)
	c2 := *in
	c2.ClientToken = nil
	fp := jsonFingerprint(c2)
	if token != "" {
		if t, ok := dst.copyTokens[token]; ok {
			if t.fingerprint != fp {
				return nil, APIError("IdempotentParameterMismatch", "Arguments on this idempotent request are inconsistent with arguments used in previous request(s).")
			}
			return &ec2.CopyImageOutput{ImageId: aws.String(t.id)}, nil
		}
	}
	srcID, srcRegion := aws.ToString(in.SourceImageId), aws.ToString(in.SourceRegion)
	if !amiIDRe.MatchString(srcID) {
		return nil, APIError("InvalidAMIID.Malformed", fmt.Sprintf("Invalid id: %q (expecting \"ami-...\")", srcID))
	}
	src, ok := f.res(srcRegion).images[srcID]
	if !ok {
		return nil, APIError("InvalidAMIID.NotFound", fmt.Sprintf("The image id '[%s]' does not exist", srcID))
	}
	if src.state != types.ImageStateAvailable {
		return nil, APIError("IncorrectState", fmt.Sprintf("Image '%s' is not in a valid state for copying (it is %s).", srcID, src.state))
	}
	tags, err := tagSpecs(in.TagSpecifications, types.ResourceTypeImage, types.ResourceTypeImage, types.ResourceTypeSnapshot)
	if err != nil {
		return nil, err
	}
	snapTags, err := tagSpecs(in.TagSpecifications, types.ResourceTypeSnapshot, types.ResourceTypeImage, types.ResourceTypeSnapshot)
	if err != nil {
		return nil, err
	}
	id := "ami-" + randomHex(17)
	for f.res(c.region).images[id] != nil {
		id = "ami-" + randomHex(17)
	}
	now := f.clock.Now()
	f.seq++
	dst.images[id] = &fimage{
		seq: f.seq, id: id, name: name, desc: aws.ToString(in.Description), state: types.ImageStatePending, tags: tags,
		srcRegion: srcRegion, srcID: srcID, created: now, doneAt: now.Add(f.opts.CopyDelay),
	}
	for _, from := range src.snaps {
		desc := fmt.Sprintf("Copied for DestinationAmi %s from SourceAmi %s for SourceSnapshot %s. Task created on %d.", id, srcID, from, now.Unix())
		dst.images[id].snaps = append(dst.images[id].snaps, f.newSnapshot(dst, id, desc, snapTags))
	}
	if token != "" {
		dst.copyTokens[token] = copyToken{fingerprint: fp, id: id}
	}
	return &ec2.CopyImageOutput{ImageId: aws.String(id)}, nil
}

// DeregisterImage removes an image.
func (c *Client) DeregisterImage(ctx context.Context, in *ec2.DeregisterImageInput, _ ...func(*ec2.Options)) (*ec2.DeregisterImageOutput, error) {
	f := c.f
	f.mu.Lock()
	defer f.mu.Unlock()
	if in == nil {
		in = &ec2.DeregisterImageInput{}
	}
	if err := f.resBegin(ctx, ActionDeregisterImage, in.DryRun); err != nil {
		return nil, err
	}
	id := aws.ToString(in.ImageId)
	switch {
	case id == "":
		return nil, APIError("MissingParameter", "The request must contain the parameter ImageId")
	case !amiIDRe.MatchString(id):
		return nil, APIError("InvalidAMIID.Malformed", fmt.Sprintf("Invalid id: %q (expecting \"ami-...\")", id))
	}
	r := f.res(c.region)
	img, ok := r.images[id]
	if !ok {
		return nil, APIError("InvalidAMIID.NotFound", fmt.Sprintf("The image id '[%s]' does not exist", id))
	}
	delete(r.images, id)
	out := &ec2.DeregisterImageOutput{Return: aws.Bool(true)}
	if !aws.ToBool(in.DeleteAssociatedSnapshots) {
		return out, nil
	}
	for _, snap := range img.snaps {
		code := types.SnapshotReturnCodesSuccess
		switch {
		case r.snapshots[snap] == nil:
			continue
		case r.inUse(snap):
			code = types.SnapshotReturnCodesWarnSkipped
		case f.denied[ActionDeleteSnapshot]:
			code = types.SnapshotReturnCodesErrorMissingPermissions
		default:
			delete(r.snapshots, snap)
		}
		out.DeleteSnapshotResults = append(out.DeleteSnapshotResults, types.DeleteSnapshotReturnCode{SnapshotId: aws.String(snap), ReturnCode: code})
	}
	return out, nil
}

// parsePublicKey checks an OpenSSH public key line as EC2's ImportKeyPair
// does and returns its type and EC2's fingerprint of it.
func parsePublicKey(material []byte) (types.KeyType, string, bool) {
	fields := strings.Fields(string(bytes.TrimSpace(material)))
	if len(fields) < 2 {
		return "", "", false
	}
	blob, err := base64.StdEncoding.DecodeString(fields[1])
	if err != nil {
		return "", "", false
	}
	rest := blob
	next := func() ([]byte, bool) {
		if len(rest) < 4 {
			return nil, false
		}
		n := binary.BigEndian.Uint32(rest)
		if uint64(n) > uint64(len(rest)-4) {
			return nil, false
		}
		s := rest[4 : 4+n]
		rest = rest[4+n:]
		return s, true
	}
	typ, ok := next()
	if !ok || string(typ) != fields[0] {
		return "", "", false
	}
	switch fields[0] {
	case "ssh-ed25519":
		key, ok := next()
		if !ok || len(key) != 32 || len(rest) != 0 {
			return "", "", false
		}
		sum := sha256.Sum256(blob)
		return types.KeyTypeEd25519, base64.StdEncoding.EncodeToString(sum[:]), true
	case "ssh-rsa":
		e, ok1 := next()
		n, ok2 := next()
		if !ok1 || !ok2 || len(e) == 0 || len(n) < 128 || len(rest) != 0 {
			return "", "", false
		}
		// EC2 hashes the key's DER form (PKIX SubjectPublicKeyInfo), not
		// the ssh blob.
		der, err := x509.MarshalPKIXPublicKey(&rsa.PublicKey{N: new(big.Int).SetBytes(n), E: int(new(big.Int).SetBytes(e).Int64())})
		if err != nil || len(e) > 4 {
			return "", "", false
		}
		sum := md5.Sum(der)
		hexes := make([]string, len(sum))
		for i, b := range sum {
			hexes[i] = fmt.Sprintf("%02x", b)
		}
		return types.KeyTypeRsa, strings.Join(hexes, ":"), true
	}
	return "", "", false
}

func (k *fkey) view() types.KeyPairInfo {
	return types.KeyPairInfo{
		KeyName: aws.String(k.name), KeyPairId: aws.String(k.id), KeyFingerprint: aws.String(k.fingerprint),
		KeyType: k.typ, Tags: sdkTags(k.tags), CreateTime: aws.Time(k.created),
	}
}

// ImportKeyPair imports a public key.
func (c *Client) ImportKeyPair(ctx context.Context, in *ec2.ImportKeyPairInput, _ ...func(*ec2.Options)) (*ec2.ImportKeyPairOutput, error) {
	f := c.f
	f.mu.Lock()
	defer f.mu.Unlock()
	if in == nil {
		in = &ec2.ImportKeyPairInput{}
	}
	if err := f.resBegin(ctx, ActionImportKeyPair, in.DryRun); err != nil {
		return nil, err
	}
	name := aws.ToString(in.KeyName)
	switch {
	case name == "":
		return nil, APIError("MissingParameter", "The request must contain the parameter KeyName")
	case len(name) > 255:
		return nil, APIError("InvalidParameterValue", "Value for parameter keyName is too long (maximum 255 characters)")
	case len(in.PublicKeyMaterial) == 0:
		return nil, APIError("MissingParameter", "The request must contain the parameter PublicKeyMaterial")
	}
	r := f.res(c.region)
	if _, dup := r.keys[name]; dup {
		return nil, APIError("InvalidKeyPair.Duplicate", fmt.Sprintf("The keypair '%s' already exists.", name))
	}
	typ, fp, ok := parsePublicKey(in.PublicKeyMaterial)
	if !ok {
		return nil, APIError("InvalidKey.Format", "Key is not in valid OpenSSH public key format")
	}
	tags, err := tagSpecs(in.TagSpecifications, types.ResourceTypeKeyPair, types.ResourceTypeKeyPair)
	if err != nil {
		return nil, err
	}
	f.seq++
	k := &fkey{seq: f.seq, id: "key-" + randomHex(17), name: name, typ: typ, fingerprint: fp, tags: tags, created: f.clock.Now()}
	r.keys[name] = k
	return &ec2.ImportKeyPairOutput{KeyName: aws.String(name), KeyPairId: aws.String(k.id), KeyFingerprint: aws.String(fp), Tags: sdkTags(tags)}, nil
}

// DescribeKeyPairs lists key pairs.
func (c *Client) DescribeKeyPairs(ctx context.Context, in *ec2.DescribeKeyPairsInput, _ ...func(*ec2.Options)) (*ec2.DescribeKeyPairsOutput, error) {
	f := c.f
	f.mu.Lock()
	defer f.mu.Unlock()
	if in == nil {
		in = &ec2.DescribeKeyPairsInput{}
	}
	if err := f.resBegin(ctx, ActionDescribeKeyPairs, in.DryRun); err != nil {
		return nil, err
	}
	r := f.res(c.region)
	ms, err := compileResFilters(in.Filters, "key-name", "key-pair-id", "fingerprint", "key-type")
	if err != nil {
		return nil, err
	}
	for _, n := range in.KeyNames {
		if _, ok := r.keys[n]; !ok {
			return nil, APIError("InvalidKeyPair.NotFound", fmt.Sprintf("The key pair '%s' does not exist", n))
		}
	}
	for _, id := range in.KeyPairIds {
		if !slices.ContainsFunc(slices.Collect(maps.Values(r.keys)), func(k *fkey) bool { return k.id == id }) {
			return nil, APIError("InvalidKeyPair.NotFound", fmt.Sprintf("The key pair '%s' does not exist", id))
		}
	}
	out := &ec2.DescribeKeyPairsOutput{}
	for _, k := range slices.SortedFunc(maps.Values(r.keys), func(a, b *fkey) int { return int(a.seq - b.seq) }) {
		if len(in.KeyNames) > 0 && !slices.Contains(in.KeyNames, k.name) || len(in.KeyPairIds) > 0 && !slices.Contains(in.KeyPairIds, k.id) {
			continue
		}
		it := resItem{fields: map[string]string{"key-name": k.name, "key-pair-id": k.id, "fingerprint": k.fingerprint, "key-type": string(k.typ)}, tags: k.tags}
		if matchRes(ms, it) {
			out.KeyPairs = append(out.KeyPairs, k.view())
		}
	}
	return out, nil
}

// DeleteKeyPair removes a key pair; a missing one is not an error.
func (c *Client) DeleteKeyPair(ctx context.Context, in *ec2.DeleteKeyPairInput, _ ...func(*ec2.Options)) (*ec2.DeleteKeyPairOutput, error) {
	f := c.f
	f.mu.Lock()
	defer f.mu.Unlock()
	if in == nil {
		in = &ec2.DeleteKeyPairInput{}
	}
	if err := f.resBegin(ctx, ActionDeleteKeyPair, in.DryRun); err != nil {
		return nil, err
	}
	name, id := aws.ToString(in.KeyName), aws.ToString(in.KeyPairId)
	if name == "" && id == "" {
		return nil, APIError("MissingParameter", "The request must contain the parameter KeyName or KeyPairId")
	}
	r := f.res(c.region)
	out := &ec2.DeleteKeyPairOutput{Return: aws.Bool(true)}
	for n, k := range r.keys {
		if (name != "" && n == name) || (id != "" && k.id == id) {
			out.KeyPairId = aws.String(k.id)
			delete(r.keys, n)
		}
	}
	return out, nil
}

func (g *fgroup) view() types.SecurityGroup {
	v := types.SecurityGroup{
		GroupId: aws.String(g.id), GroupName: aws.String(g.name), Description: aws.String(g.desc), VpcId: aws.String(g.vpc),
		OwnerId: aws.String(OwnerID), Tags: sdkTags(g.tags),
		SecurityGroupArn: aws.String("arn:aws:ec2::" + OwnerID + ":security-group/" + g.id),
		IpPermissionsEgress: []types.IpPermission{{
			IpProtocol: aws.String("-1"), IpRanges: []types.IpRange{{CidrIp: aws.String("0.0.0.0/0")}},
		}},
	}
	// EC2 groups a group's rules by protocol and ports.
	type key struct {
		proto    string
		from, to int32
	}
	var order []key
	byKey := map[key][]string{}
	for _, ru := range g.rules {
		k := key{ru.proto, ru.from, ru.to}
		if _, ok := byKey[k]; !ok {
			order = append(order, k)
		}
		byKey[k] = append(byKey[k], ru.cidr)
	}
	for _, k := range order {
		p := types.IpPermission{IpProtocol: aws.String(k.proto)}
		if k.proto != "-1" {
			p.FromPort, p.ToPort = aws.Int32(k.from), aws.Int32(k.to)
		}
		for _, c := range byKey[k] {
			p.IpRanges = append(p.IpRanges, types.IpRange{CidrIp: aws.String(c)})
		}
		v.IpPermissions = append(v.IpPermissions, p)
	}
	return v
}

// CreateSecurityGroup creates an empty group.
func (c *Client) CreateSecurityGroup(ctx context.Context, in *ec2.CreateSecurityGroupInput, _ ...func(*ec2.Options)) (*ec2.CreateSecurityGroupOutput, error) {
	f := c.f
	f.mu.Lock()
	defer f.mu.Unlock()
	if in == nil {
		in = &ec2.CreateSecurityGroupInput{}
	}
	if err := f.resBegin(ctx, ActionCreateSecurityGroup, in.DryRun); err != nil {
		return nil, err
	}
	name, desc := aws.ToString(in.GroupName), aws.ToString(in.Description)
	switch {
	case name == "":
		return nil, APIError("MissingParameter", "The request must contain the parameter GroupName")
	case desc == "":
		return nil, APIError("MissingParameter", "The request must contain the parameter GroupDescription")
	case len(name) > 255 || len(desc) > 255:
		return nil, APIError("InvalidParameterValue", "Group name and description are limited to 255 characters")
	case strings.HasPrefix(strings.ToLower(name), "sg-"):
		return nil, APIError("InvalidParameterValue", "Group names may not be in the format sg-*.")
	}
	vpc := aws.ToString(in.VpcId)
	if vpc == "" {
		vpc = DefaultVPC
	}
	r := f.res(c.region)
	for _, g := range r.groups {
		if g.vpc == vpc && g.name == name {
			return nil, APIError("InvalidGroup.Duplicate", fmt.Sprintf("The security group '%s' already exists for VPC '%s'", name, vpc))
		}
	}
	tags, err := tagSpecs(in.TagSpecifications, types.ResourceTypeSecurityGroup, types.ResourceTypeSecurityGroup)
	if err != nil {
		return nil, err
	}
	f.seq++
	id := "sg-" + randomHex(17)
	r.groups[id] = &fgroup{seq: f.seq, id: id, name: name, desc: desc, vpc: vpc, tags: tags, ruleIDs: map[frule]string{}}
	return &ec2.CreateSecurityGroupOutput{GroupId: aws.String(id), Tags: sdkTags(tags),
		SecurityGroupArn: aws.String("arn:aws:ec2:" + c.region + ":" + OwnerID + ":security-group/" + id)}, nil
}

// DescribeSecurityGroups lists groups.
func (c *Client) DescribeSecurityGroups(ctx context.Context, in *ec2.DescribeSecurityGroupsInput, _ ...func(*ec2.Options)) (*ec2.DescribeSecurityGroupsOutput, error) {
	f := c.f
	f.mu.Lock()
	defer f.mu.Unlock()
	if in == nil {
		in = &ec2.DescribeSecurityGroupsInput{}
	}
	if err := f.resBegin(ctx, ActionDescribeSecurityGroups, in.DryRun); err != nil {
		return nil, err
	}
	r := f.res(c.region)
	limit, after, err := pageLimit(in.MaxResults, in.NextToken, len(in.GroupIds) > 0 || len(in.GroupNames) > 0)
	if err != nil {
		return nil, err
	}
	ms, err := compileResFilters(in.Filters, "group-id", "group-name", "vpc-id", "description", "owner-id")
	if err != nil {
		return nil, err
	}
	for _, id := range in.GroupIds {
		if _, err := r.group(id); err != nil {
			return nil, err
		}
	}
	for _, n := range in.GroupNames {
		if !slices.ContainsFunc(slices.Collect(maps.Values(r.groups)), func(g *fgroup) bool { return g.vpc == DefaultVPC && g.name == n }) {
			return nil, APIError("InvalidGroup.NotFound", fmt.Sprintf("The security group '%s' does not exist in default VPC '%s'", n, DefaultVPC))
		}
	}
	out := &ec2.DescribeSecurityGroupsOutput{}
	all := slices.SortedFunc(maps.Values(r.groups), func(a, b *fgroup) int { return int(a.seq - b.seq) })
	var last int64
	n := 0
	for _, g := range all {
		if g.seq <= after || len(in.GroupIds) > 0 && !slices.Contains(in.GroupIds, g.id) ||
			len(in.GroupNames) > 0 && !(g.vpc == DefaultVPC && slices.Contains(in.GroupNames, g.name)) {
			continue
		}
		it := resItem{fields: map[string]string{"group-id": g.id, "group-name": g.name, "vpc-id": g.vpc, "description": g.desc, "owner-id": OwnerID}, tags: g.tags}
		if !matchRes(ms, it) {
			continue
		}
		if limit > 0 && n == limit {
			out.NextToken = aws.String(encodeToken(last))
			break
		}
		out.SecurityGroups = append(out.SecurityGroups, g.view())
		last = g.seq
		n++
	}
	return out, nil
}

func (r *resRegion) group(id string) (*fgroup, error) {
	if !groupIDRe.MatchString(id) {
		return nil, APIError("InvalidGroupId.Malformed", fmt.Sprintf("Invalid id: %q (expecting \"sg-...\")", id))
	}
	g, ok := r.groups[id]
	if !ok {
		return nil, APIError("InvalidGroup.NotFound", fmt.Sprintf("The security group '%s' does not exist", id))
	}
	return g, nil
}

func (r *resRegion) groupOf(id, name string) (*fgroup, error) {
	if id != "" {
		return r.group(id)
	}
	if name == "" {
		return nil, APIError("MissingParameter", "The request must contain the parameter GroupId or GroupName")
	}
	for _, g := range r.groups {
		if g.vpc == DefaultVPC && g.name == name {
			return g, nil
		}
	}
	return nil, APIError("InvalidGroup.NotFound", fmt.Sprintf("The security group '%s' does not exist in default VPC '%s'", name, DefaultVPC))
}

var protocolNames = map[string]string{"tcp": "tcp", "6": "tcp", "udp": "udp", "17": "udp", "icmp": "icmp", "1": "icmp", "-1": "-1", "all": "-1"}

// beginGroup begins a call on one security group (see resBegin) and finds
// the group by id or, without one, by name in the default VPC. The caller
// holds f.mu.
func (f *Fake) beginGroup(ctx context.Context, action string, dryRun *bool, region string, id, name *string) (*fgroup, error) {
	if err := f.resBegin(ctx, action, dryRun); err != nil {
		return nil, err
	}
	return f.res(region).groupOf(aws.ToString(id), aws.ToString(name))
}

// parsePermissions validates IpPermissions as EC2 does and expands them to
// one rule per CIDR.
func parsePermissions(perms []types.IpPermission) ([]frule, error) {
	if len(perms) == 0 {
		return nil, APIError("MissingParameter", "The request must contain the parameter IpPermissions")
	}
	var out []frule
	for _, p := range perms {
		raw := strings.ToLower(aws.ToString(p.IpProtocol))
		proto, ok := protocolNames[raw]
		if !ok {
			return nil, APIError("InvalidParameterValue", fmt.Sprintf("Invalid value '%s' for IP protocol. Unknown protocol.", aws.ToString(p.IpProtocol)))
		}
		if len(p.UserIdGroupPairs) > 0 || len(p.Ipv6Ranges) > 0 || len(p.PrefixListIds) > 0 {
			return nil, APIError("InvalidParameterValue", "ec2fake supports IpRanges only")
		}
		if len(p.IpRanges) == 0 {
			return nil, APIError("InvalidParameterValue", "The request must contain a source: IpRanges")
		}
		var from, to int32
		switch proto {
		case "tcp", "udp":
			if p.FromPort == nil || p.ToPort == nil {
				return nil, APIError("InvalidParameterValue", "Invalid value 'null' for fromPort/toPort. Ports are required for TCP and UDP.")
			}
			from, to = *p.FromPort, *p.ToPort
			if from < 0 || to > 65535 || from > to {
				return nil, APIError("InvalidParameterValue", fmt.Sprintf("Invalid port range: from %d to %d (0 to 65535, from ≤ to).", from, to))
			}
		case "icmp":
			from, to = aws.ToInt32(p.FromPort), aws.ToInt32(p.ToPort)
			if p.FromPort == nil {
				from = -1
			}
			if p.ToPort == nil {
				to = -1
			}
			if from < -1 || from > 255 || to < -1 || to > 255 {
				return nil, APIError("InvalidParameterValue", fmt.Sprintf("Invalid ICMP type %d or code %d.", from, to))
			}
		}
		for _, rg := range p.IpRanges {
			cidr := aws.ToString(rg.CidrIp)
			pfx, err := netip.ParsePrefix(cidr)
			if err != nil || !pfx.Addr().Is4() || pfx.Masked() != pfx {
				return nil, APIError("InvalidParameterValue", fmt.Sprintf("CIDR block %s is malformed", cidr))
			}
			out = append(out, frule{proto: proto, from: from, to: to, cidr: cidr})
		}
	}
	return out, nil
}

func (ru frule) String() string {
	return fmt.Sprintf("peer: %s, %s, from port: %d, to port: %d, ALLOW", ru.cidr, strings.ToUpper(ru.proto), ru.from, ru.to)
}

// AuthorizeSecurityGroupIngress adds rules; any rule already there fails
// the whole call.
func (c *Client) AuthorizeSecurityGroupIngress(ctx context.Context, in *ec2.AuthorizeSecurityGroupIngressInput, _ ...func(*ec2.Options)) (*ec2.AuthorizeSecurityGroupIngressOutput, error) {
	f := c.f
	f.mu.Lock()
	defer f.mu.Unlock()
	if in == nil {
		in = &ec2.AuthorizeSecurityGroupIngressInput{}
	}
	g, err := f.beginGroup(ctx, ActionAuthorizeSecurityGroupIngress, in.DryRun, c.region, in.GroupId, in.GroupName)
	if err != nil {
		return nil, err
	}
	rules, err := parsePermissions(in.IpPermissions)
	if err != nil {
		return nil, err
	}
	for i, ru := range rules {
		if slices.Contains(g.rules, ru) || slices.Contains(rules[:i], ru) {
			return nil, APIError("InvalidPermission.Duplicate", fmt.Sprintf("the specified rule %q already exists", ru.String()))
		}
	}
	out := &ec2.AuthorizeSecurityGroupIngressOutput{Return: aws.Bool(true)}
	for _, ru := range rules {
		id := "sgr-" + randomHex(17)
		g.rules = append(g.rules, ru)
		g.ruleIDs[ru] = id
		out.SecurityGroupRules = append(out.SecurityGroupRules, types.SecurityGroupRule{
			SecurityGroupRuleId: aws.String(id), GroupId: aws.String(g.id), GroupOwnerId: aws.String(OwnerID), IsEgress: aws.Bool(false),
			IpProtocol: aws.String(ru.proto), FromPort: aws.Int32(ru.from), ToPort: aws.Int32(ru.to), CidrIpv4: aws.String(ru.cidr),
		})
	}
	return out, nil
}

// RevokeSecurityGroupIngress removes rules; rules not there are reported in
// UnknownIpPermissions.
func (c *Client) RevokeSecurityGroupIngress(ctx context.Context, in *ec2.RevokeSecurityGroupIngressInput, _ ...func(*ec2.Options)) (*ec2.RevokeSecurityGroupIngressOutput, error) {
	f := c.f
	f.mu.Lock()
	defer f.mu.Unlock()
	if in == nil {
		in = &ec2.RevokeSecurityGroupIngressInput{}
	}
	g, err := f.beginGroup(ctx, ActionRevokeSecurityGroupIngress, in.DryRun, c.region, in.GroupId, in.GroupName)
	if err != nil {
		return nil, err
	}
	rules, err := parsePermissions(in.IpPermissions)
	if err != nil {
		return nil, err
	}
	out := &ec2.RevokeSecurityGroupIngressOutput{Return: aws.Bool(true)}
	for _, ru := range rules {
		i := slices.Index(g.rules, ru)
		if i < 0 {
			p := types.IpPermission{IpProtocol: aws.String(ru.proto), IpRanges: []types.IpRange{{CidrIp: aws.String(ru.cidr)}}}
			if ru.proto != "-1" {
				p.FromPort, p.ToPort = aws.Int32(ru.from), aws.Int32(ru.to)
			}
			out.UnknownIpPermissions = append(out.UnknownIpPermissions, p)
			continue
		}
		g.rules = slices.Delete(g.rules, i, i+1)
		out.RevokedSecurityGroupRules = append(out.RevokedSecurityGroupRules, types.RevokedSecurityGroupRule{
			SecurityGroupRuleId: aws.String(g.ruleIDs[ru]), GroupId: aws.String(g.id), IsEgress: aws.Bool(false),
			IpProtocol: aws.String(ru.proto), FromPort: aws.Int32(ru.from), ToPort: aws.Int32(ru.to), CidrIpv4: aws.String(ru.cidr),
		})
		delete(g.ruleIDs, ru)
	}
	return out, nil
}

// DeleteSecurityGroup removes a group.
func (c *Client) DeleteSecurityGroup(ctx context.Context, in *ec2.DeleteSecurityGroupInput, _ ...func(*ec2.Options)) (*ec2.DeleteSecurityGroupOutput, error) {
	f := c.f
	f.mu.Lock()
	defer f.mu.Unlock()
	if in == nil {
		in = &ec2.DeleteSecurityGroupInput{}
	}
	g, err := f.beginGroup(ctx, ActionDeleteSecurityGroup, in.DryRun, c.region, in.GroupId, in.GroupName)
	if err != nil {
		return nil, err
	}
	delete(f.res(c.region).groups, g.id)
	return &ec2.DeleteSecurityGroupOutput{Return: aws.Bool(true), GroupId: aws.String(g.id)}, nil
}

// answerResources serves the resource calls for ClientOptions.
func answerResources(ctx context.Context, c *Client, params any) (any, bool, error) {
	switch p := params.(type) {
	case *ec2.DescribeImagesInput:
		out, err := c.DescribeImages(ctx, p)
		return out, true, err
	case *ec2.CopyImageInput:
		out, err := c.CopyImage(ctx, p)
		return out, true, err
	case *ec2.DeregisterImageInput:
		out, err := c.DeregisterImage(ctx, p)
		return out, true, err
	case *ec2.DescribeKeyPairsInput:
		out, err := c.DescribeKeyPairs(ctx, p)
		return out, true, err
	case *ec2.ImportKeyPairInput:
		out, err := c.ImportKeyPair(ctx, p)
		return out, true, err
	case *ec2.DeleteKeyPairInput:
		out, err := c.DeleteKeyPair(ctx, p)
		return out, true, err
	case *ec2.DescribeSecurityGroupsInput:
		out, err := c.DescribeSecurityGroups(ctx, p)
		return out, true, err
	case *ec2.CreateSecurityGroupInput:
		out, err := c.CreateSecurityGroup(ctx, p)
		return out, true, err
	case *ec2.AuthorizeSecurityGroupIngressInput:
		out, err := c.AuthorizeSecurityGroupIngress(ctx, p)
		return out, true, err
	case *ec2.RevokeSecurityGroupIngressInput:
		out, err := c.RevokeSecurityGroupIngress(ctx, p)
		return out, true, err
	case *ec2.DeleteSecurityGroupInput:
		out, err := c.DeleteSecurityGroup(ctx, p)
		return out, true, err
	case *ec2.DescribeSnapshotsInput:
		out, err := c.DescribeSnapshots(ctx, p)
		return out, true, err
	case *ec2.DeleteSnapshotInput:
		out, err := c.DeleteSnapshot(ctx, p)
		return out, true, err
	}
	return nil, false, nil
}
