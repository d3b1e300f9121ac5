package local

import (
	"bytes"
	"context"
	crand "crypto/rand"
	"encoding/hex"
	"fmt"
	"maps"
	"slices"
	"strings"
	"time"

	"github.com/stratus-cloud/stratus/internal/provider"
)

// The local cloud's images, key pairs, security groups and instance
// profiles (provider.Resources). They live in state.json next to the
// instances, under the same lock, each region apart; instance profiles are
// global, as on AWS.
//
// Every region starts with one base image, the cloud's own public image:
// name BaseImageName ("stratus-base"), id BaseImageID ("ami-local-base"),
// available, without tags (so a tag filter never lists it). It cannot be
// deregistered. CopyImage makes an image "ami-" + 17 hex digits that is
// pending for ImageCopyDelay on the provider's clock, then available; it is
// idempotent by client token per region until the copy is deregistered.
// Image names need not be unique (a copy may carry the base image's name).
//
// A key pair's fingerprint is "SHA256:" and the unpadded base64 of the
// SHA-256 of the key's blob (the base64 field of the authorized_keys line,
// decoded), as ssh-keygen -l prints it, so the same key has the same
// fingerprint in every region. Security groups are "sg-" + 17 hex digits;
// their names are unique per region. Rules are kept sorted; a CIDR must be
// a network address (10.0.0.0/8, not 10.0.0.1/8).

// The base image every region of the local cloud starts with.
const (
	BaseImageID   = "ami-local-base"
	BaseImageName = "stratus-base"
)

// ImageCopyDelay is how long a copied image stays pending.
const ImageCopyDelay = time.Second

// Call names of the resource methods, as used in a behaviour file's
// fail_calls.
const (
	CallListImages            = "list_images"
	CallCopyImage             = "copy_image"
	CallDeregisterImage       = "deregister_image"
	CallListKeyPairs          = "list_key_pairs"
	CallImportKeyPair         = "import_key_pair"
	CallDeleteKeyPair         = "delete_key_pair"
	CallListSecurityGroups    = "list_security_groups"
	CallCreateSecurityGroup   = "create_security_group"
	CallAuthorizeIngress      = "authorize_ingress"
	CallRevokeIngress         = "revoke_ingress"
	CallDeleteSecurityGroup   = "delete_security_group"
	CallEnsureInstanceProfile = "ensure_instance_profile"
	CallGetInstanceProfile    = "get_instance_profile"
)

var resourceCalls = []string{
	CallListImages, CallCopyImage, CallDeregisterImage,
	CallListKeyPairs, CallImportKeyPair, CallDeleteKeyPair,
	CallListSecurityGroups, CallCreateSecurityGroup, CallAuthorizeIngress, CallRevokeIngress, CallDeleteSecurityGroup,
	CallEnsureInstanceProfile, CallGetInstanceProfile,
}

var _ provider.Resources = (*Provider)(nil)

// resourceState is the part of state.json beside instances. Maps are keyed
// by region first.
type resourceState struct {
	Images      map[string]map[string]*imageRecord `json:"images,omitempty"`       // region → id
	ImageTokens map[string]map[string]string       `json:"image_tokens,omitempty"` // region → client token → id
	KeyPairs    map[string]map[string]*keyRecord   `json:"key_pairs,omitempty"`    // region → name
	Groups      map[string]map[string]*groupRecord `json:"security_groups,omitempty"`
	Profiles    map[string]*profileRecord          `json:"instance_profiles,omitempty"` // name
	Seq         int64                              `json:"seq"`
}

type imageRecord struct {
	ID           string              `json:"id"`
	Region       string              `json:"region"`
	Name         string              `json:"name"`
	State        provider.ImageState `json:"state"`
	Tags         map[string]string   `json:"tags,omitempty"`
	SourceRegion string              `json:"source_region"`
	SourceImage  string              `json:"source_image"`
	CreatedAt    time.Time           `json:"created_at"`
	ReadyAt      time.Time           `json:"ready_at,omitzero"`
	ClientToken  string              `json:"client_token,omitempty"`
	Seq          int64               `json:"seq"`
}

func (r *imageRecord) image() provider.Image {
	return provider.Image{
		ID: r.ID, Region: r.Region, Name: r.Name, State: r.State, Tags: cloneTags(r.Tags),
		SourceRegion: r.SourceRegion, SourceImage: r.SourceImage, CreatedAt: r.CreatedAt,
	}
}

type keyRecord struct {
	Name        string            `json:"name"`
	Region      string            `json:"region"`
	Fingerprint string            `json:"fingerprint"`
	PublicKey   string            `json:"public_key"`
	Tags        map[string]string `json:"tags,omitempty"`
	Seq         int64             `json:"seq"`
}

type groupRecord struct {
	ID          string            `json:"id"`
	Region      string            `json:"region"`
	Name        string            `json:"name"`
	Description string            `json:"description,omitempty"`
	Rules       []provider.Rule   `json:"rules,omitempty"`
	Tags        map[string]string `json:"tags,omitempty"`
	Seq         int64             `json:"seq"`
}

type profileRecord struct {
	Name      string            `json:"name"`
	Tags      map[string]string `json:"tags,omitempty"`
	CreatedAt time.Time         `json:"created_at"`
}

func cloneTags(t map[string]string) map[string]string {
	if t == nil {
		return map[string]string{}
	}
	return maps.Clone(t)
}

func tagsMatch(f provider.Filter, tags map[string]string) bool {
	return provider.Filter{Tags: f.Tags}.Matches(provider.Instance{Tags: tags})
}

// baseImage is region's base image.
func baseImage(region string) provider.Image {
	return provider.Image{
		ID: BaseImageID, Region: region, Name: BaseImageName, State: provider.ImageAvailable,
		Tags: map[string]string{},
	}
}

func (s *cloudState) resources() *resourceState {
	if s.Resources == nil {
		s.Resources = &resourceState{}
	}
	rs := s.Resources
	if rs.Images == nil {
		rs.Images = map[string]map[string]*imageRecord{}
	}
	if rs.ImageTokens == nil {
		rs.ImageTokens = map[string]map[string]string{}
	}
	if rs.KeyPairs == nil {
		rs.KeyPairs = map[string]map[string]*keyRecord{}
	}
	if rs.Groups == nil {
		rs.Groups = map[string]map[string]*groupRecord{}
	}
	if rs.Profiles == nil {
		rs.Profiles = map[string]*profileRecord{}
	}
	return rs
}

// inRegion returns m[region], creating it.
func inRegion[V any](m map[string]map[string]V, region string) map[string]V {
	if m[region] == nil {
		m[region] = map[string]V{}
	}
	return m[region]
}

// resCall runs op on the resources of freshly loaded state, after copies
// that are due have become available. It checks region unless it is "".
func (p *Provider) resCall(ctx context.Context, name, region string, op func(rs *resourceState, c tx) error) error {
	return p.call(ctx, name, func(st *cloudState, c tx) error {
		if region != "" {
			if err := p.checkRegion(region); err != nil {
				return err
			}
		}
		rs := st.resources()
		for _, imgs := range rs.Images {
			for _, r := range imgs {
				if r.State == provider.ImagePending && !c.now.Before(r.ReadyAt) {
					r.State = provider.ImageAvailable
					r.ReadyAt = time.Time{}
					c.changed()
				}
			}
		}
		return op(rs, c)
	})
}

func newResourceID(prefix string) (string, error) {
	b := make([]byte, 9)
	if _, err := crand.Read(b); err != nil {
		return "", err
	}
	return prefix + hex.EncodeToString(b)[:17], nil
}

func checkName(field, name string) error {
	if strings.TrimSpace(name) == "" {
		return &provider.InvalidError{Field: field, Reason: "must not be empty"}
	}
	if len(name) > 255 {
		return &provider.InvalidError{Field: field, Reason: "must be at most 255 characters"}
	}
	return nil
}

// ListImages implements provider.Resources. The base image is listed when
// f has no tags.
func (p *Provider) ListImages(ctx context.Context, region string, f provider.Filter) ([]provider.Image, error) {
	var out []provider.Image
	err := p.resCall(ctx, CallListImages, region, func(rs *resourceState, c tx) error {
		if len(f.Tags) == 0 {
			out = append(out, baseImage(region))
		}
		var recs []*imageRecord
		for _, r := range rs.Images[region] {
			if tagsMatch(f, r.Tags) {
				recs = append(recs, r)
			}
		}
		slices.SortFunc(recs, func(a, b *imageRecord) int { return int(a.Seq - b.Seq) })
		for _, r := range recs {
			out = append(out, r.image())
		}
		return nil
	})
	return out, err
}

// CopyImage implements provider.Resources.
func (p *Provider) CopyImage(ctx context.Context, srcRegion, srcImage, region, name, clientToken string, tags map[string]string) (provider.Image, error) {
	var out provider.Image
	err := p.resCall(ctx, CallCopyImage, region, func(rs *resourceState, c tx) error {
		if err := p.checkRegion(srcRegion); err != nil {
			return err
		}
		if err := checkName("name", name); err != nil {
			return err
		}
		if clientToken != "" {
			if id, ok := rs.ImageTokens[region][clientToken]; ok {
				if r := rs.Images[region][id]; r != nil {
					out = r.image()
					return nil
				}
			}
		}
		if srcImage != BaseImageID {
			src := rs.Images[srcRegion][srcImage]
			if src == nil {
				return fmt.Errorf("image %s in %s: %w", srcImage, srcRegion, provider.ErrNotFound)
			}
			if src.State != provider.ImageAvailable {
				return &provider.InvalidError{Field: "source_image", Reason: fmt.Sprintf("image %s in %s is %s; copy it once it is available", srcImage, srcRegion, src.State)}
			}
		}
		id, err := newResourceID("ami-")
		if err != nil {
			return err
		}
		rs.Seq++
		r := &imageRecord{
			ID: id, Region: region, Name: name, State: provider.ImagePending, Tags: maps.Clone(tags),
			SourceRegion: srcRegion, SourceImage: srcImage, CreatedAt: c.now, ReadyAt: c.now.Add(ImageCopyDelay),
			ClientToken: clientToken, Seq: rs.Seq,
		}
		inRegion(rs.Images, region)[id] = r
		if clientToken != "" {
			inRegion(rs.ImageTokens, region)[clientToken] = id
		}
		c.changed()
		p.log.Info("copying image", "image", id, "region", region, "source", srcImage, "source_region", srcRegion)
		out = r.image()
		return nil
	})
	return out, err
}

// DeregisterImage implements provider.Resources. The copy's client token
// is forgotten with it. The base image cannot be deregistered.
func (p *Provider) DeregisterImage(ctx context.Context, region, id string) error {
	return p.resCall(ctx, CallDeregisterImage, region, func(rs *resourceState, c tx) error {
		if id == BaseImageID {
			return &provider.InvalidError{Field: "id", Reason: "the local cloud's base image cannot be deregistered"}
		}
		r := rs.Images[region][id]
		if r == nil {
			return nil
		}
		delete(rs.Images[region], id)
		if r.ClientToken != "" && rs.ImageTokens[region][r.ClientToken] == id {
			delete(rs.ImageTokens[region], r.ClientToken)
		}
		c.changed()
		p.log.Info("deregistered image", "image", id, "region", region)
		return nil
	})
}

// ListKeyPairs implements provider.Resources.
func (p *Provider) ListKeyPairs(ctx context.Context, region string, f provider.Filter) ([]provider.KeyPair, error) {
	var out []provider.KeyPair
	err := p.resCall(ctx, CallListKeyPairs, region, func(rs *resourceState, c tx) error {
		var recs []*keyRecord
		for _, r := range rs.KeyPairs[region] {
			if tagsMatch(f, r.Tags) {
				recs = append(recs, r)
			}
		}
		slices.SortFunc(recs, func(a, b *keyRecord) int { return int(a.Seq - b.Seq) })
		for _, r := range recs {
			out = append(out, provider.KeyPair{Name: r.Name, Region: r.Region, Fingerprint: r.Fingerprint, Tags: cloneTags(r.Tags)})
		}
		return nil
	})
	return out, err
}

// ImportKeyPair implements provider.Resources.
func (p *Provider) ImportKeyPair(ctx context.Context, region, name string, publicKey []byte, tags map[string]string) (provider.KeyPair, error) {
	var out provider.KeyPair
	err := p.resCall(ctx, CallImportKeyPair, region, func(rs *resourceState, c tx) error {
		if err := checkName("name", name); err != nil {
			return err
		}
		fp, err := provider.KeyFingerprint(publicKey)
		if err != nil {
			return err
		}
		if _, dup := rs.KeyPairs[region][name]; dup {
			return &provider.InvalidError{Field: "name", Reason: fmt.Sprintf("a key pair named %q already exists in %s", name, region)}
		}
		rs.Seq++
		r := &keyRecord{Name: name, Region: region, Fingerprint: fp, PublicKey: string(bytes.TrimSpace(publicKey)), Tags: maps.Clone(tags), Seq: rs.Seq}
		inRegion(rs.KeyPairs, region)[name] = r
		c.changed()
		p.log.Info("imported key pair", "key", name, "region", region, "fingerprint", fp)
		out = provider.KeyPair{Name: name, Region: region, Fingerprint: fp, Tags: cloneTags(r.Tags)}
		return nil
	})
	return out, err
}

// DeleteKeyPair implements provider.Resources.
func (p *Provider) DeleteKeyPair(ctx context.Context, region, name string) error {
	return p.resCall(ctx, CallDeleteKeyPair, region, func(rs *resourceState, c tx) error {
		if _, ok := rs.KeyPairs[region][name]; ok {
			delete(rs.KeyPairs[region], name)
			c.changed()
			p.log.Info("deleted key pair", "key", name, "region", region)
		}
		return nil
	})
}

// ListSecurityGroups implements provider.Resources.
func (p *Provider) ListSecurityGroups(ctx context.Context, region string, f provider.Filter) ([]provider.SecurityGroup, error) {
	var out []provider.SecurityGroup
	err := p.resCall(ctx, CallListSecurityGroups, region, func(rs *resourceState, c tx) error {
		var recs []*groupRecord
		for _, r := range rs.Groups[region] {
			if tagsMatch(f, r.Tags) {
				recs = append(recs, r)
			}
		}
		slices.SortFunc(recs, func(a, b *groupRecord) int { return int(a.Seq - b.Seq) })
		for _, r := range recs {
			out = append(out, r.group())
		}
		return nil
	})
	return out, err
}

func (r *groupRecord) group() provider.SecurityGroup {
	rules := slices.Clone(r.Rules)
	if rules == nil {
		rules = []provider.Rule{}
	}
	return provider.SecurityGroup{ID: r.ID, Region: r.Region, Name: r.Name, Rules: rules, Tags: cloneTags(r.Tags)}
}

// CreateSecurityGroup implements provider.Resources.
func (p *Provider) CreateSecurityGroup(ctx context.Context, region, name, description string, tags map[string]string) (provider.SecurityGroup, error) {
	var out provider.SecurityGroup
	err := p.resCall(ctx, CallCreateSecurityGroup, region, func(rs *resourceState, c tx) error {
		if err := checkName("name", name); err != nil {
			return err
		}
		for _, g := range rs.Groups[region] {
			if g.Name == name {
				return &provider.InvalidError{Field: "name", Reason: fmt.Sprintf("a security group named %q already exists in %s (%s)", name, region, g.ID)}
			}
		}
		id, err := newResourceID("sg-")
		if err != nil {
			return err
		}
		rs.Seq++
		r := &groupRecord{ID: id, Region: region, Name: name, Description: description, Tags: maps.Clone(tags), Seq: rs.Seq}
		inRegion(rs.Groups, region)[id] = r
		c.changed()
		p.log.Info("created security group", "group", id, "name", name, "region", region)
		out = r.group()
		return nil
	})
	return out, err
}

func (p *Provider) changeRules(ctx context.Context, call, region, groupID string, rules []provider.Rule, add bool) error {
	return p.resCall(ctx, call, region, func(rs *resourceState, c tx) error {
		g := rs.Groups[region][groupID]
		if g == nil {
			return fmt.Errorf("security group %s in %s: %w", groupID, region, provider.ErrNotFound)
		}
		for _, r := range rules {
			if err := provider.CheckRule(r); err != nil {
				return err
			}
		}
		for _, r := range rules {
			i := slices.Index(g.Rules, r)
			switch {
			case add && i < 0:
				g.Rules = append(g.Rules, r)
				c.changed()
			case !add && i >= 0:
				g.Rules = slices.Delete(g.Rules, i, i+1)
				c.changed()
			}
		}
		slices.SortFunc(g.Rules, provider.CompareRules)
		return nil
	})
}

// AuthorizeIngress implements provider.Resources. ErrNotFound if the group
// does not exist.
func (p *Provider) AuthorizeIngress(ctx context.Context, region, groupID string, rules []provider.Rule) error {
	return p.changeRules(ctx, CallAuthorizeIngress, region, groupID, rules, true)
}

// RevokeIngress implements provider.Resources. ErrNotFound if the group
// does not exist.
func (p *Provider) RevokeIngress(ctx context.Context, region, groupID string, rules []provider.Rule) error {
	return p.changeRules(ctx, CallRevokeIngress, region, groupID, rules, false)
}

// DeleteSecurityGroup implements provider.Resources.
func (p *Provider) DeleteSecurityGroup(ctx context.Context, region, groupID string) error {
	return p.resCall(ctx, CallDeleteSecurityGroup, region, func(rs *resourceState, c tx) error {
		if _, ok := rs.Groups[region][groupID]; ok {
			delete(rs.Groups[region], groupID)
			c.changed()
			p.log.Info("deleted security group", "group", groupID, "region", region)
		}
		return nil
	})
}

// EnsureInstanceProfile implements provider.Resources. Profiles are
// global; the tags of an existing profile are left as they are.
func (p *Provider) EnsureInstanceProfile(ctx context.Context, name string, tags map[string]string) (bool, error) {
	created := false
	err := p.resCall(ctx, CallEnsureInstanceProfile, "", func(rs *resourceState, c tx) error {
		if err := checkName("name", name); err != nil {
			return err
		}
		if _, ok := rs.Profiles[name]; ok {
			return nil
		}
		rs.Profiles[name] = &profileRecord{Name: name, Tags: maps.Clone(tags), CreatedAt: c.now}
		created = true
		c.changed()
		p.log.Info("created instance profile", "profile", name)
		return nil
	})
	return created, err
}
