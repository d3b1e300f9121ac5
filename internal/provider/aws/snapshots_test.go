package aws_test

import (
	"context"
	"maps"
	"slices"
	"strings"
	"testing"
	"time"

	awssdk "github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ec2"

	"github.com/stratus-cloud/stratus/internal/clock"
	"github.com/stratus-cloud/stratus/internal/provider/aws"
	"github.com/stratus-cloud/stratus/internal/provider/aws/ec2fake"
)

// snapshotsOf returns the ids of region's snapshots carrying tag k=v.
func snapshotsOf(f *ec2fake.Fake, region, k, v string) []string {
	var out []string
	for _, s := range f.Snapshots(region) {
		if tagMap(s.Tags)[k] == v {
			out = append(out, awssdk.ToString(s.SnapshotId))
		}
	}
	return out
}

func TestResources_CopySnapshotsAreTaggedAndGoWithTheImage(t *testing.T) {
	t.Parallel()
	for _, viaSDK := range []bool{false, true} {
		w := newResWorld(t, clock.NewFake(time.Date(2026, 11, 2, 9, 0, 0, 0, time.UTC)), viaSDK)
		ctx := context.Background()
		img, err := w.p.CopyImage(ctx, "us-east-1", baseImage, "eu-west-1", "copy", "tok", map[string]string{"k": "v"})
		if err != nil {
			t.Fatal(err)
		}
		snaps := snapshotsOf(w.fake, "eu-west-1", "k", "v")
		if len(snaps) != 1 {
			t.Fatalf("viaSDK=%v: snapshots tagged k=v after the copy: %v, want one", viaSDK, snaps)
		}
		if err := w.p.DeregisterImage(ctx, "eu-west-1", img.ID); err != nil {
			t.Fatalf("viaSDK=%v: DeregisterImage: %v", viaSDK, err)
		}
		if left := w.fake.Snapshots("eu-west-1"); len(left) != 0 {
			t.Errorf("viaSDK=%v: snapshots after DeregisterImage: %+v, want none", viaSDK, left)
		}
		// The source's snapshot is not touched.
		if n := len(w.fake.Snapshots("us-east-1")); n != 1 {
			t.Errorf("viaSDK=%v: %d snapshots in the source region, want 1", viaSDK, n)
		}
	}
}

// Without ec2:DeleteSnapshot, EC2 deregisters the image and keeps its
// snapshots: the provider says so, naming them and the permission.
func TestResources_DeregisterImageReportsSnapshotsItCouldNotDelete(t *testing.T) {
	t.Parallel()
	w := newResWorld(t, clock.NewFake(time.Date(2026, 11, 2, 9, 0, 0, 0, time.UTC)), false)
	ctx := context.Background()
	img, err := w.p.CopyImage(ctx, "us-east-1", baseImage, "eu-west-1", "copy", "tok", map[string]string{"k": "v"})
	if err != nil {
		t.Fatal(err)
	}
	snaps := snapshotsOf(w.fake, "eu-west-1", "k", "v")
	w.fake.Deny(ec2fake.ActionDeleteSnapshot)
	err = w.p.DeregisterImage(ctx, "eu-west-1", img.ID)
	if err == nil || !strings.Contains(err.Error(), snaps[0]+" (missing-permissions)") || !strings.Contains(err.Error(), "ec2:DeleteSnapshot") {
		t.Errorf("DeregisterImage = %v; want an error naming %s and ec2:DeleteSnapshot", err, snaps[0])
	}
	if _, ok := w.fake.Image("eu-west-1", img.ID); ok {
		t.Errorf("image %s still there", img.ID)
	}
	// The snapshot is now an orphan of ours; once allowed, it can go.
	orphans, err := w.p.OrphanSnapshots(ctx, "eu-west-1", map[string]string{"k": "v"})
	if err != nil || !maps.Equal(orphans, map[string]string{snaps[0]: img.ID}) {
		t.Fatalf("OrphanSnapshots = %v, %v; want %s of %s", orphans, err, snaps[0], img.ID)
	}
	w.fake.Allow(ec2fake.ActionDeleteSnapshot)
	for range 2 { // repeating it is safe
		if err := w.p.DeleteSnapshot(ctx, "eu-west-1", snaps[0]); err != nil {
			t.Fatalf("DeleteSnapshot: %v", err)
		}
	}
	if left := w.fake.Snapshots("eu-west-1"); len(left) != 0 {
		t.Errorf("snapshots left: %+v", left)
	}
}

// Only completed snapshots with the tags whose copy is gone are orphans:
// not those of a copy that exists (pending or available), not untagged
// ones, not ones that are not a copy's.
func TestResources_OrphanSnapshots(t *testing.T) {
	t.Parallel()
	w := newResWorld(t, clock.NewFake(time.Date(2026, 11, 2, 9, 0, 0, 0, time.UTC)), true)
	ctx := context.Background()
	c := w.fake.Client("eu-west-1")
	tags := map[string]string{"k": "v"}
	kept, err := w.p.CopyImage(ctx, "us-east-1", baseImage, "eu-west-1", "kept", "t1", tags)
	if err != nil {
		t.Fatal(err)
	}
	gone, err := w.p.CopyImage(ctx, "us-east-1", baseImage, "eu-west-1", "gone", "t2", tags)
	if err != nil {
		t.Fatal(err)
	}
	theirs, err := c.CopyImage(ctx, &ec2.CopyImageInput{Name: awssdk.String("theirs"), SourceImageId: awssdk.String(baseImage), SourceRegion: awssdk.String("us-east-1")})
	if err != nil {
		t.Fatal(err)
	}
	for _, id := range []*string{awssdk.String(gone.ID), theirs.ImageId} {
		if _, err := c.DeregisterImage(ctx, &ec2.DeregisterImageInput{ImageId: id}); err != nil {
			t.Fatal(err)
		}
	}
	w.fake.SeedSnapshot("eu-west-1", tags) // tagged, but no copy's
	// A copy this provider made within the consistency grace is taken to
	// exist even when EC2 does not list it: its snapshots are no orphans.
	if orphans, err := w.p.OrphanSnapshots(ctx, "eu-west-1", tags); err != nil || len(orphans) != 0 {
		t.Errorf("orphans within the grace = %v, %v; want none", orphans, err)
	}
	w.clock.Advance(aws.DefaultConsistencyGrace + time.Second)
	orphans, err := w.p.OrphanSnapshots(ctx, "eu-west-1", tags)
	if err != nil {
		t.Fatal(err)
	}
	if got := slices.Collect(maps.Values(orphans)); !slices.Equal(got, []string{gone.ID}) {
		t.Errorf("orphans = %v, want the snapshot of %s only (not of %s)", orphans, gone.ID, kept.ID)
	}
	// An image still using a snapshot keeps it.
	img, _ := w.fake.Image("eu-west-1", kept.ID)
	if err := w.p.DeleteSnapshot(ctx, "eu-west-1", awssdk.ToString(img.BlockDeviceMappings[0].Ebs.SnapshotId)); err == nil || !strings.Contains(err.Error(), "still used by an image") {
		t.Errorf("DeleteSnapshot of a used snapshot = %v, want refused", err)
	}
}
