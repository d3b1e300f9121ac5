package aws

// The EBS snapshots image copies leave behind. A copy made by CopyImage
// carries the image's tags on its snapshots too (resources.go), and
// DeregisterImage deletes them with the image. A snapshot whose image was
// deregistered some other way (by hand, without deleting its snapshots)
// stays and keeps costing: OrphanSnapshots finds those of ours and
// DeleteSnapshot removes them. Copies made before snapshots were tagged
// left untagged snapshots, which stratus cannot tell from others' and
// never lists or deletes.

import (
	"context"
	"fmt"
	"regexp"

	awssdk "github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ec2"
	"github.com/aws/aws-sdk-go-v2/service/ec2/types"
)

// copiedFor finds the image a copy's snapshot was made for in its
// description, which EC2 writes as "Copied for DestinationAmi ami-... from
// SourceAmi ami-... for SourceSnapshot snap-...".
var copiedFor = regexp.MustCompile(`^Copied for DestinationAmi (ami-[0-9a-f]+) `)

// OrphanSnapshots returns the account's completed snapshots in region
// that carry tags (every key, with its value unless that is "") and were
// made for an image copy that no longer exists, by snapshot id with the
// id of that image. A snapshot whose image cannot be told from its
// description, one still being made, and one of a copy this provider made
// within the consistency grace are never returned. It changes nothing.
func (p *Provider) OrphanSnapshots(ctx context.Context, region string, tags map[string]string) (map[string]string, error) {
	_, c, err := p.region(region)
	if err != nil {
		return nil, err
	}
	pages := ec2.NewDescribeSnapshotsPaginator(c, &ec2.DescribeSnapshotsInput{
		OwnerIds: []string{"self"}, Filters: tagFilters(tags), MaxResults: awssdk.Int32(p.pageSize),
	})
	candidates := map[string]string{} // snapshot → image
	images := map[string]bool{}
	for pages.HasMorePages() {
		page, err := pages.NextPage(ctx)
		if err != nil {
			return nil, resError("DescribeSnapshots", region, err, false)
		}
		for _, s := range page.Snapshots {
			m := copiedFor.FindStringSubmatch(awssdk.ToString(s.Description))
			if m == nil || s.State != types.SnapshotStateCompleted || !tagsMatch(tags, fromEC2Tags(s.Tags)) {
				continue
			}
			candidates[awssdk.ToString(s.SnapshotId)] = m[1]
			images[m[1]] = true
		}
	}
	if len(candidates) == 0 {
		return map[string]string{}, nil
	}
	// The images that still exist, in any state EC2 lists.
	ids := make([]string, 0, len(images))
	for id := range images {
		ids = append(ids, id)
	}
	exists := map[string]bool{}
	for _, img := range p.recentCopies(region) {
		exists[img.ID] = true
	}
	imgPages := ec2.NewDescribeImagesPaginator(c, &ec2.DescribeImagesInput{
		Owners: []string{"self"}, Filters: []types.Filter{{Name: awssdk.String("image-id"), Values: ids}}, MaxResults: awssdk.Int32(p.pageSize),
	})
	for imgPages.HasMorePages() {
		page, err := imgPages.NextPage(ctx)
		if err != nil {
			return nil, resError("DescribeImages", region, err, false)
		}
		for _, im := range page.Images {
			exists[awssdk.ToString(im.ImageId)] = true
		}
	}
	out := map[string]string{}
	for snap, img := range candidates {
		if !exists[img] {
			out[snap] = img
		}
	}
	return out, nil
}

// DeleteSnapshot deletes snapshot id in region; one already gone is not
// an error, one an image still uses is.
func (p *Provider) DeleteSnapshot(ctx context.Context, region, id string) error {
	_, c, err := p.region(region)
	if err != nil {
		return err
	}
	_, err = c.DeleteSnapshot(ctx, &ec2.DeleteSnapshotInput{SnapshotId: awssdk.String(id)})
	switch code := codeOf(err); {
	case code == "InvalidSnapshot.NotFound":
		return nil
	case code == "InvalidSnapshot.InUse":
		return fmt.Errorf("aws: ec2:DeleteSnapshot in %s: snapshot %s is still used by an image; deregister the image first", region, id)
	case err != nil:
		return resError("DeleteSnapshot", region, err, false)
	}
	p.log.Info("deleted snapshot", "snapshot", id, "region", region)
	return nil
}
