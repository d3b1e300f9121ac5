package ec2fake

// EBS snapshots, as far as the aws provider sees them: the snapshots of
// images and of their copies (see resources.go), DescribeSnapshots and
// DeleteSnapshot.
//
//   - A copy's snapshot has EC2's description "Copied for DestinationAmi
//     ami-... from SourceAmi ami-... for SourceSnapshot snap-...", and
//     keeps it after its image is deregistered; a seeded image's
//     snapshot is "Created by CreateImage ... for ami-...".
//   - DescribeSnapshots supports OwnerIds (self or OwnerID: the account's;
//     others: none), SnapshotIds (unknown: InvalidSnapshot.NotFound), the
//     filters snapshot-id, description, status, owner-id and tags, and
//     MaxResults/NextToken. Every snapshot is completed.
//   - DeleteSnapshot of a snapshot an image uses is InvalidSnapshot.InUse,
//     of a missing one InvalidSnapshot.NotFound.

import (
	"context"
	"fmt"
	"maps"
	"regexp"
	"slices"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ec2"
	"github.com/aws/aws-sdk-go-v2/service/ec2/types"
)

// Actions of the snapshot calls. Deny(ActionDeleteSnapshot) also has
// DeregisterImage report its snapshots as missing-permissions.
const (
	ActionDescribeSnapshots = "DescribeSnapshots"
	ActionDeleteSnapshot    = "DeleteSnapshot"
)

var snapIDRe = regexp.MustCompile(`^snap-([0-9a-f]{8}|[0-9a-f]{17})$`)

type fsnapshot struct {
	seq   int64
	id    string
	image string // the image it was made for; "" for one made on its own
	desc  string
	tags  map[string]string
}

func (s *fsnapshot) view() types.Snapshot {
	v := types.Snapshot{SnapshotId: aws.String(s.id), OwnerId: aws.String(OwnerID), State: types.SnapshotStateCompleted,
		Progress: aws.String("100%"), VolumeSize: aws.Int32(8), Tags: sdkTags(s.tags)}
	if s.desc != "" {
		v.Description = aws.String(s.desc)
	}
	return v
}

// newSnapshot makes a snapshot for image in r with a description and tags
// and returns its id. The caller holds f.mu.
func (f *Fake) newSnapshot(r *resRegion, image, desc string, tags map[string]string) string {
	id := "snap-" + randomHex(17)
	for r.snapshots[id] != nil {
		id = "snap-" + randomHex(17)
	}
	f.seq++
	r.snapshots[id] = &fsnapshot{seq: f.seq, id: id, image: image, desc: desc, tags: maps.Clone(tags)}
	return id
}

// SeedSnapshot makes an untagged snapshot in region that no image uses, as
// someone else's, and returns its id.
func (f *Fake) SeedSnapshot(region string, tags map[string]string) string {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.newSnapshot(f.res(region), "", "", tags)
}

// Snapshots returns region's snapshots, oldest first, as DescribeSnapshots
// would show them.
func (f *Fake) Snapshots(region string) []types.Snapshot {
	f.mu.Lock()
	defer f.mu.Unlock()
	r := f.res(region)
	all := slices.SortedFunc(maps.Values(r.snapshots), func(a, b *fsnapshot) int { return int(a.seq - b.seq) })
	out := make([]types.Snapshot, 0, len(all))
	for _, s := range all {
		out = append(out, s.view())
	}
	return out
}

// inUse reports whether an image of r uses snapshot id.
func (r *resRegion) inUse(id string) bool {
	for _, img := range r.images {
		if slices.Contains(img.snaps, id) {
			return true
		}
	}
	return false
}

// DescribeSnapshots lists snapshots.
func (c *Client) DescribeSnapshots(ctx context.Context, in *ec2.DescribeSnapshotsInput, _ ...func(*ec2.Options)) (*ec2.DescribeSnapshotsOutput, error) {
	f := c.f
	f.mu.Lock()
	defer f.mu.Unlock()
	if in == nil {
		in = &ec2.DescribeSnapshotsInput{}
	}
	if err := f.resBegin(ctx, ActionDescribeSnapshots, in.DryRun); err != nil {
		return nil, err
	}
	r := f.res(c.region)
	limit, after, err := pageLimit(in.MaxResults, in.NextToken, len(in.SnapshotIds) > 0)
	if err != nil {
		return nil, err
	}
	ms, err := compileResFilters(in.Filters, "snapshot-id", "description", "status", "owner-id")
	if err != nil {
		return nil, err
	}
	owned := len(in.OwnerIds) == 0 || slices.Contains(in.OwnerIds, "self") || slices.Contains(in.OwnerIds, OwnerID)
	var want map[string]bool
	if len(in.SnapshotIds) > 0 {
		want = map[string]bool{}
		for _, id := range in.SnapshotIds {
			if !snapIDRe.MatchString(id) {
				return nil, APIError("InvalidSnapshotID.Malformed", fmt.Sprintf("Invalid id: %q (expecting \"snap-...\")", id))
			}
			if r.snapshots[id] == nil {
				return nil, APIError("InvalidSnapshot.NotFound", fmt.Sprintf("The snapshot '%s' does not exist.", id))
			}
			want[id] = true
		}
	}
	out := &ec2.DescribeSnapshotsOutput{}
	if !owned {
		return out, nil
	}
	all := slices.SortedFunc(maps.Values(r.snapshots), func(a, b *fsnapshot) int { return int(a.seq - b.seq) })
	var last int64
	n := 0
	for _, s := range all {
		if s.seq <= after || (want != nil && !want[s.id]) {
			continue
		}
		it := resItem{fields: map[string]string{"snapshot-id": s.id, "description": s.desc, "status": string(types.SnapshotStateCompleted), "owner-id": OwnerID}, tags: s.tags}
		if !matchRes(ms, it) {
			continue
		}
		if limit > 0 && n == limit {
			out.NextToken = aws.String(encodeToken(last))
			break
		}
		out.Snapshots = append(out.Snapshots, s.view())
		last = s.seq
		n++
	}
	return out, nil
}

// DeleteSnapshot deletes a snapshot no image uses.
func (c *Client) DeleteSnapshot(ctx context.Context, in *ec2.DeleteSnapshotInput, _ ...func(*ec2.Options)) (*ec2.DeleteSnapshotOutput, error) {
	f := c.f
	f.mu.Lock()
	defer f.mu.Unlock()
	if in == nil {
		in = &ec2.DeleteSnapshotInput{}
	}
	if err := f.resBegin(ctx, ActionDeleteSnapshot, in.DryRun); err != nil {
		return nil, err
	}
	id := aws.ToString(in.SnapshotId)
	r := f.res(c.region)
	switch {
	case id == "":
		return nil, APIError("MissingParameter", "The request must contain the parameter SnapshotId")
	case !snapIDRe.MatchString(id):
		return nil, APIError("InvalidSnapshotID.Malformed", fmt.Sprintf("Invalid id: %q (expecting \"snap-...\")", id))
	case r.snapshots[id] == nil:
		return nil, APIError("InvalidSnapshot.NotFound", fmt.Sprintf("The snapshot '%s' does not exist.", id))
	case r.inUse(id):
		return nil, APIError("InvalidSnapshot.InUse", fmt.Sprintf("The snapshot %s is currently in use by an AMI", id))
	}
	delete(r.snapshots, id)
	return &ec2.DeleteSnapshotOutput{}, nil
}
