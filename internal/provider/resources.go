package provider

import (
	"context"
	"time"
)

// ImageState is an image's state.
type ImageState string

// Image states, as EC2's: a copied image is pending until it is available.
const (
	ImagePending   ImageState = "pending"
	ImageAvailable ImageState = "available"
	ImageFailed    ImageState = "failed"
)

// Image is a machine image in one region.
type Image struct {
	ID     string
	Region string
	Name   string
	State  ImageState
	Tags   map[string]string
	// SourceRegion and SourceImage say where a copy came from.
	SourceRegion string
	SourceImage  string
	CreatedAt    time.Time
}

// KeyPair is an imported ssh public key in one region.
type KeyPair struct {
	Name   string
	Region string
	// Fingerprint identifies the public key (the same key gives the same
	// fingerprint in every region).
	Fingerprint string
	Tags        map[string]string
}

// Rule is one ingress rule of a security group.
type Rule struct {
	Protocol string // tcp, udp, icmp or -1 (all)
	FromPort int
	ToPort   int
	CIDR     string
}

// SecurityGroup is a set of ingress rules in one region.
type SecurityGroup struct {
	ID     string
	Region string
	Name   string
	Rules  []Rule
	Tags   map[string]string
}

// Resources is the part of a cloud beside instances that regions are made
// of: images, key pairs, security groups and instance profiles. Every
// method takes a region; an unknown region is an *InvalidError. Lists
// filter by tags the way Filter does (IDs are ignored).
type Resources interface {
	// ListImages lists images in region whose tags match f.
	ListImages(ctx context.Context, region string, f Filter) ([]Image, error)
	// CopyImage copies an image from srcRegion to region under name, with
	// tags. Safe to repeat with the same clientToken: the first copy is
	// returned. The copy is pending until available. ErrNotFound if the
	// source image does not exist.
	CopyImage(ctx context.Context, srcRegion, srcImage, region, name, clientToken string, tags map[string]string) (Image, error)
	// DeregisterImage removes an image; removing a missing one is a no-op.
	DeregisterImage(ctx context.Context, region, id string) error

	// ListKeyPairs lists key pairs in region whose tags match f.
	ListKeyPairs(ctx context.Context, region string, f Filter) ([]KeyPair, error)
	// ImportKeyPair imports an ssh public key (authorized_keys format)
	// under name. A key pair with that name already there is a conflict
	// (*InvalidError with Field "name").
	ImportKeyPair(ctx context.Context, region, name string, publicKey []byte, tags map[string]string) (KeyPair, error)
	// DeleteKeyPair removes a key pair; removing a missing one is a no-op.
	DeleteKeyPair(ctx context.Context, region, name string) error

	// ListSecurityGroups lists security groups in region whose tags match f.
	ListSecurityGroups(ctx context.Context, region string, f Filter) ([]SecurityGroup, error)
	// CreateSecurityGroup creates an empty group; a group with that name
	// already there is a conflict (*InvalidError with Field "name").
	CreateSecurityGroup(ctx context.Context, region, name, description string, tags map[string]string) (SecurityGroup, error)
	// AuthorizeIngress adds rules; rules already there are skipped.
	AuthorizeIngress(ctx context.Context, region, groupID string, rules []Rule) error
	// RevokeIngress removes rules; rules not there are skipped.
	RevokeIngress(ctx context.Context, region, groupID string, rules []Rule) error
	// DeleteSecurityGroup removes a group; removing a missing one is a no-op.
	DeleteSecurityGroup(ctx context.Context, region, groupID string) error

	// EnsureInstanceProfile makes sure an instance profile (and its role)
	// exists. Instance profiles are global; safe to repeat. It reports
	// whether it had to create it.
	EnsureInstanceProfile(ctx context.Context, name string, tags map[string]string) (created bool, err error)
}
