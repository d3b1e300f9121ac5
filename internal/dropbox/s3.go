package dropbox

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"
	"time"

	awssdk "github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/s3/types"
	"github.com/aws/smithy-go"
)

// MaxObject is the largest request the drop-box reads: a request is a
// few hundred bytes. Get reads at most one byte more, so that a larger
// object is told apart without being read whole.
const MaxObject = 1 << 20

// S3API lists the S3 calls the drop-box makes; *s3.Client has them.
type S3API interface {
	ListObjectsV2(ctx context.Context, in *s3.ListObjectsV2Input, optFns ...func(*s3.Options)) (*s3.ListObjectsV2Output, error)
	HeadObject(ctx context.Context, in *s3.HeadObjectInput, optFns ...func(*s3.Options)) (*s3.HeadObjectOutput, error)
	GetObject(ctx context.Context, in *s3.GetObjectInput, optFns ...func(*s3.Options)) (*s3.GetObjectOutput, error)
	PutObject(ctx context.Context, in *s3.PutObjectInput, optFns ...func(*s3.Options)) (*s3.PutObjectOutput, error)
	DeleteObject(ctx context.Context, in *s3.DeleteObjectInput, optFns ...func(*s3.Options)) (*s3.DeleteObjectOutput, error)
}

// S3 is a Bucket in an S3 bucket (AWS S3 or a compatible server such as
// MinIO).
type S3 struct {
	Client S3API
	Bucket string
}

var _ Bucket = (*S3)(nil)

// NewS3Client returns an S3 client with the standard credential chain
// (environment, shared files and profiles, SSO, web identity, container
// and instance roles) in region. With an endpoint (a compatible server's
// base URL) it addresses buckets by path (http://host/bucket/key), as
// such servers expect.
func NewS3Client(ctx context.Context, endpoint, region string) (*s3.Client, error) {
	if region == "" {
		region = "us-east-1"
	}
	cfg, err := config.LoadDefaultConfig(ctx, config.WithRegion(region))
	if err != nil {
		return nil, fmt.Errorf("load AWS configuration: %w", err)
	}
	return s3.NewFromConfig(cfg, func(o *s3.Options) {
		if endpoint != "" {
			o.BaseEndpoint = awssdk.String(endpoint)
			o.UsePathStyle = true
		}
		// Checksums only where S3 requires them, so that compatible
		// servers that predate the newer checksum headers work too.
		o.RequestChecksumCalculation = awssdk.RequestChecksumCalculationWhenRequired
		o.ResponseChecksumValidation = awssdk.ResponseChecksumValidationWhenRequired
	}), nil
}

// List pages through every object under prefix.
func (b *S3) List(ctx context.Context, prefix string) ([]Object, error) {
	var out []Object
	in := &s3.ListObjectsV2Input{Bucket: &b.Bucket}
	if prefix != "" {
		in.Prefix = awssdk.String(prefix)
	}
	p := s3.NewListObjectsV2Paginator(b.Client, in)
	for p.HasMorePages() {
		page, err := p.NextPage(ctx)
		if err != nil {
			return nil, fmt.Errorf("list s3://%s/%s: %w", b.Bucket, prefix, err)
		}
		for _, o := range page.Contents {
			out = append(out, Object{Key: awssdk.ToString(o.Key), ETag: s3Version(o.ETag, o.LastModified)})
		}
	}
	return out, nil
}

// Stat asks for an object's version without reading it (HeadObject).
func (b *S3) Stat(ctx context.Context, key string) (Object, error) {
	out, err := b.Client.HeadObject(ctx, &s3.HeadObjectInput{Bucket: &b.Bucket, Key: &key})
	if isNotFound(err) {
		return Object{}, fmt.Errorf("s3://%s/%s: %w", b.Bucket, key, ErrNotFound)
	}
	if err != nil {
		return Object{}, fmt.Errorf("head s3://%s/%s: %w", b.Bucket, key, err)
	}
	return Object{Key: key, ETag: s3Version(out.ETag, out.LastModified)}, nil
}

// Get reads an object (at most MaxObject+1 bytes of it).
func (b *S3) Get(ctx context.Context, key string) ([]byte, string, error) {
	out, err := b.Client.GetObject(ctx, &s3.GetObjectInput{Bucket: &b.Bucket, Key: &key})
	if isNotFound(err) {
		return nil, "", fmt.Errorf("s3://%s/%s: %w", b.Bucket, key, ErrNotFound)
	}
	if err != nil {
		return nil, "", fmt.Errorf("get s3://%s/%s: %w", b.Bucket, key, err)
	}
	defer out.Body.Close()
	data, err := io.ReadAll(io.LimitReader(out.Body, MaxObject+1))
	if err != nil {
		return nil, "", fmt.Errorf("get s3://%s/%s: %w", b.Bucket, key, err)
	}
	return data, s3Version(out.ETag, out.LastModified), nil
}

// Put writes an object.
func (b *S3) Put(ctx context.Context, key string, data []byte) error {
	_, err := b.Client.PutObject(ctx, &s3.PutObjectInput{
		Bucket: &b.Bucket, Key: &key, Body: strings.NewReader(string(data)),
		ContentLength: awssdk.Int64(int64(len(data))), ContentType: awssdk.String("text/plain; charset=utf-8"),
	})
	if err != nil {
		return fmt.Errorf("put s3://%s/%s: %w", b.Bucket, key, err)
	}
	return nil
}

// Delete removes an object (S3 answers a missing one with success too).
func (b *S3) Delete(ctx context.Context, key string) error {
	_, err := b.Client.DeleteObject(ctx, &s3.DeleteObjectInput{Bucket: &b.Bucket, Key: &key})
	if err != nil && !isNotFound(err) {
		return fmt.Errorf("delete s3://%s/%s: %w", b.Bucket, key, err)
	}
	return nil
}

// s3Version is an object's version: its ETag and the second it was last
// written. The ETag alone is the content's MD5, which the same request
// written again (an empty cf-delete, a cf-create sent a second time after
// its cluster was deleted) would repeat. Listings carry milliseconds and
// GetObject whole seconds, so seconds it is.
func s3Version(etag *string, modified *time.Time) string {
	v := strings.Trim(awssdk.ToString(etag), `"`)
	if modified != nil {
		v += "@" + strconv.FormatInt(modified.Unix(), 10)
	}
	return v
}

func isNotFound(err error) bool {
	if err == nil {
		return false
	}
	var nk *types.NoSuchKey
	if errors.As(err, &nk) {
		return true
	}
	var ae smithy.APIError
	return errors.As(err, &ae) && (ae.ErrorCode() == "NoSuchKey" || ae.ErrorCode() == "NotFound")
}
