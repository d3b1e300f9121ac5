package fake

import (
	"context"
	"fmt"
	"maps"
	"slices"
	"strings"
	"time"

	"github.com/stratus-cloud/stratus/internal/provider"
)

// The fake's images, key pairs, security groups and instance profiles
// (provider.Resources), in memory, per region. Every region has a base
// image BaseImageName / BaseImageID, available and untagged (listed only
// by a filter without tags). A copied image is pending until the clock
// passes the copy delay (SetImageCopyDelay; default 0: available from the
// next call on). Key fingerprints and rule checks are the local
// provider's: "SHA256:" + unpadded base64 of the SHA-256 of the key blob.
// FailNext and Calls take the Method* names below.

// The base image of every region.
const (
	BaseImageID   = "ami-fake-base"
	BaseImageName = "stratus-base"
)

// Method names of the resource calls, for Calls, FailNext and
// FailNextAfterEffect.
const (
	MethodListImages            = "ListImages"
	MethodCopyImage             = "CopyImage"
	MethodDeregisterImage       = "DeregisterImage"
	MethodListKeyPairs          = "ListKeyPairs"
	MethodImportKeyPair         = "ImportKeyPair"
	MethodDeleteKeyPair         = "DeleteKeyPair"
	MethodListSecurityGroups    = "ListSecurityGroups"
	MethodCreateSecurityGroup   = "CreateSecurityGroup"
	MethodAuthorizeIngress      = "AuthorizeIngress"
	MethodRevokeIngress         = "RevokeIngress"
	MethodDeleteSecurityGroup   = "DeleteSecurityGroup"
	MethodEnsureInstanceProfile = "EnsureInstanceProfile"
)

var _ provider.Resources = (*Provider)(nil)

// resources is the fake's state beside instances, guarded by Provider.mu.
type resources struct {
	copyDelay   time.Duration
	images      map[string]*fakeImage // region + "\x00" + id
	imageTokens map[string]string     // region + "\x00" + token → id
	keys        map[string]*provider.KeyPair
	groups      map[string]*provider.SecurityGroup
	profiles    map[string]map[string]string
	seq         int
	order       map[string]int // resource key → creation order
}

type fakeImage struct {
	provider.Image
	readyAt time.Time
	token   string
}

func rkey(region, id string) string { return region + "\x00" + id }

func (p *Provider) resInit() *resources {
	r := &p.res
	if r.images == nil {
		r.images = map[string]*fakeImage{}
		r.imageTokens = map[string]string{}
		r.keys = map[string]*provider.KeyPair{}
		r.groups = map[string]*provider.SecurityGroup{}
		r.profiles = map[string]map[string]string{}
		r.order = map[string]int{}
	}
	return r
}

// SetImageCopyDelay sets how long images copied from now on stay pending.
func (p *Provider) SetImageCopyDelay(d time.Duration) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.resInit().copyDelay = d
}

// InstanceProfiles returns the names of the instance profiles, sorted.
func (p *Provider) InstanceProfiles() []string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return slices.Sorted(maps.Keys(p.resInit().profiles))
}

// resBegin counts a call, pops an injected failure, checks region (unless
// "") and brings copies that are due to available.
func (p *Provider) resBegin(ctx context.Context, method, region string) (*resources, failure, error) {
	f, err := p.begin(ctx, method)
	if err != nil {
		return nil, failure{}, err
	}
	if region != "" {
		if err := p.checkRegion(region); err != nil {
			return nil, failure{}, err
		}
	}
	r := p.resInit()
	now := p.clock.Now()
	for _, img := range r.images {
		if img.State == provider.ImagePending && !now.Before(img.readyAt) {
			img.State = provider.ImageAvailable
		}
	}
	return r, f, nil
}

func tagsMatch(f provider.Filter, tags map[string]string) bool {
	return provider.Filter{Tags: f.Tags}.Matches(provider.Instance{Tags: tags})
}

func cloneTags(t map[string]string) map[string]string {
	if t == nil {
		return map[string]string{}
	}
	return maps.Clone(t)
}

func (r *resources) next(key string) {
	r.seq++
	r.order[key] = r.seq
}

func (r *resources) sorted(keys []string) []string {
	slices.SortFunc(keys, func(a, b string) int { return r.order[a] - r.order[b] })
	return keys
}

// ListImages implements provider.Resources.
func (p *Provider) ListImages(ctx context.Context, region string, f provider.Filter) ([]provider.Image, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	r, fl, err := p.resBegin(ctx, MethodListImages, region)
	if err != nil {
		return nil, err
	}
	var out []provider.Image
	if len(f.Tags) == 0 {
		out = append(out, provider.Image{ID: BaseImageID, Region: region, Name: BaseImageName, State: provider.ImageAvailable, Tags: map[string]string{}})
	}
	var keys []string
	for k, img := range r.images {
		if img.Region == region && tagsMatch(f, img.Tags) {
			keys = append(keys, k)
		}
	}
	for _, k := range r.sorted(keys) {
		img := r.images[k].Image
		img.Tags = cloneTags(img.Tags)
		out = append(out, img)
	}
	return out, fl.result()
}

// CopyImage implements provider.Resources.
func (p *Provider) CopyImage(ctx context.Context, srcRegion, srcImage, region, name, clientToken string, tags map[string]string) (provider.Image, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	r, fl, err := p.resBegin(ctx, MethodCopyImage, region)
	if err != nil {
		return provider.Image{}, err
	}
	if err := p.checkRegion(srcRegion); err != nil {
		return provider.Image{}, err
	}
	if strings.TrimSpace(name) == "" {
		return provider.Image{}, &provider.InvalidError{Field: "name", Reason: "must not be empty"}
	}
	if clientToken != "" {
		if id, ok := r.imageTokens[rkey(region, clientToken)]; ok {
			if img := r.images[rkey(region, id)]; img != nil {
				out := img.Image
				out.Tags = cloneTags(out.Tags)
				return out, fl.result()
			}
		}
	}
	if srcImage != BaseImageID {
		src := r.images[rkey(srcRegion, srcImage)]
		if src == nil {
			return provider.Image{}, fmt.Errorf("image %s in %s: %w", srcImage, srcRegion, provider.ErrNotFound)
		}
		if src.State != provider.ImageAvailable {
			return provider.Image{}, &provider.InvalidError{Field: "source_image", Reason: fmt.Sprintf("image %s is %s", srcImage, src.State)}
		}
	}
	now := p.clock.Now()
	id := fmt.Sprintf("ami-%017x", r.seq+1)
	img := &fakeImage{
		Image: provider.Image{
			ID: id, Region: region, Name: name, State: provider.ImagePending, Tags: cloneTags(tags),
			SourceRegion: srcRegion, SourceImage: srcImage, CreatedAt: now,
		},
		readyAt: now.Add(r.copyDelay),
		token:   clientToken,
	}
	k := rkey(region, id)
	r.images[k] = img
	r.next(k)
	if clientToken != "" {
		r.imageTokens[rkey(region, clientToken)] = id
	}
	out := img.Image
	out.Tags = cloneTags(out.Tags)
	return out, fl.result()
}

// SetImageState forces an image's state, for example to make a copy
// failed. It reports whether the image exists.
func (p *Provider) SetImageState(region, id string, s provider.ImageState) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	img := p.resInit().images[rkey(region, id)]
	if img == nil {
		return false
	}
	img.State = s
	img.readyAt = time.Time{}
	return true
}

// DeregisterImage implements provider.Resources.
func (p *Provider) DeregisterImage(ctx context.Context, region, id string) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	r, fl, err := p.resBegin(ctx, MethodDeregisterImage, region)
	if err != nil {
		return err
	}
	if id == BaseImageID {
		return &provider.InvalidError{Field: "id", Reason: "the base image cannot be deregistered"}
	}
	if img := r.images[rkey(region, id)]; img != nil {
		delete(r.images, rkey(region, id))
		if img.token != "" {
			delete(r.imageTokens, rkey(region, img.token))
		}
	}
	return fl.result()
}

// ListKeyPairs implements provider.Resources.
func (p *Provider) ListKeyPairs(ctx context.Context, region string, f provider.Filter) ([]provider.KeyPair, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	r, fl, err := p.resBegin(ctx, MethodListKeyPairs, region)
	if err != nil {
		return nil, err
	}
	var keys []string
	for k, kp := range r.keys {
		if kp.Region == region && tagsMatch(f, kp.Tags) {
			keys = append(keys, k)
		}
	}
	var out []provider.KeyPair
	for _, k := range r.sorted(keys) {
		kp := *r.keys[k]
		kp.Tags = cloneTags(kp.Tags)
		out = append(out, kp)
	}
	return out, fl.result()
}

// ImportKeyPair implements provider.Resources.
func (p *Provider) ImportKeyPair(ctx context.Context, region, name string, publicKey []byte, tags map[string]string) (provider.KeyPair, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	r, fl, err := p.resBegin(ctx, MethodImportKeyPair, region)
	if err != nil {
		return provider.KeyPair{}, err
	}
	if strings.TrimSpace(name) == "" {
		return provider.KeyPair{}, &provider.InvalidError{Field: "name", Reason: "must not be empty"}
	}
	fp, err := provider.KeyFingerprint(publicKey)
	if err != nil {
		return provider.KeyPair{}, err
	}
	k := rkey(region, name)
	if _, dup := r.keys[k]; dup {
		return provider.KeyPair{}, &provider.InvalidError{Field: "name", Reason: fmt.Sprintf("key pair %q already exists in %s", name, region)}
	}
	kp := &provider.KeyPair{Name: name, Region: region, Fingerprint: fp, Tags: cloneTags(tags)}
	r.keys[k] = kp
	r.next(k)
	out := *kp
	out.Tags = cloneTags(kp.Tags)
	return out, fl.result()
}

// DeleteKeyPair implements provider.Resources.
func (p *Provider) DeleteKeyPair(ctx context.Context, region, name string) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	r, fl, err := p.resBegin(ctx, MethodDeleteKeyPair, region)
	if err != nil {
		return err
	}
	delete(r.keys, rkey(region, name))
	return fl.result()
}

// ListSecurityGroups implements provider.Resources.
func (p *Provider) ListSecurityGroups(ctx context.Context, region string, f provider.Filter) ([]provider.SecurityGroup, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	r, fl, err := p.resBegin(ctx, MethodListSecurityGroups, region)
	if err != nil {
		return nil, err
	}
	var keys []string
	for k, g := range r.groups {
		if g.Region == region && tagsMatch(f, g.Tags) {
			keys = append(keys, k)
		}
	}
	var out []provider.SecurityGroup
	for _, k := range r.sorted(keys) {
		out = append(out, copyGroup(r.groups[k]))
	}
	return out, fl.result()
}

func copyGroup(g *provider.SecurityGroup) provider.SecurityGroup {
	out := *g
	out.Tags = cloneTags(g.Tags)
	out.Rules = slices.Clone(g.Rules)
	if out.Rules == nil {
		out.Rules = []provider.Rule{}
	}
	return out
}

// CreateSecurityGroup implements provider.Resources.
func (p *Provider) CreateSecurityGroup(ctx context.Context, region, name, description string, tags map[string]string) (provider.SecurityGroup, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	r, fl, err := p.resBegin(ctx, MethodCreateSecurityGroup, region)
	if err != nil {
		return provider.SecurityGroup{}, err
	}
	if strings.TrimSpace(name) == "" {
		return provider.SecurityGroup{}, &provider.InvalidError{Field: "name", Reason: "must not be empty"}
	}
	for _, g := range r.groups {
		if g.Region == region && g.Name == name {
			return provider.SecurityGroup{}, &provider.InvalidError{Field: "name", Reason: fmt.Sprintf("security group %q already exists in %s", name, region)}
		}
	}
	id := fmt.Sprintf("sg-%017x", r.seq+1)
	g := &provider.SecurityGroup{ID: id, Region: region, Name: name, Rules: []provider.Rule{}, Tags: cloneTags(tags)}
	k := rkey(region, id)
	r.groups[k] = g
	r.next(k)
	return copyGroup(g), fl.result()
}

func (p *Provider) changeRules(ctx context.Context, method, region, groupID string, rules []provider.Rule, add bool) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	r, fl, err := p.resBegin(ctx, method, region)
	if err != nil {
		return err
	}
	g := r.groups[rkey(region, groupID)]
	if g == nil {
		return fmt.Errorf("security group %s in %s: %w", groupID, region, provider.ErrNotFound)
	}
	for _, ru := range rules {
		if err := provider.CheckRule(ru); err != nil {
			return err
		}
	}
	for _, ru := range rules {
		i := slices.Index(g.Rules, ru)
		switch {
		case add && i < 0:
			g.Rules = append(g.Rules, ru)
		case !add && i >= 0:
			g.Rules = slices.Delete(g.Rules, i, i+1)
		}
	}
	slices.SortFunc(g.Rules, provider.CompareRules)
	return fl.result()
}

// AuthorizeIngress implements provider.Resources.
func (p *Provider) AuthorizeIngress(ctx context.Context, region, groupID string, rules []provider.Rule) error {
	return p.changeRules(ctx, MethodAuthorizeIngress, region, groupID, rules, true)
}

// RevokeIngress implements provider.Resources.
func (p *Provider) RevokeIngress(ctx context.Context, region, groupID string, rules []provider.Rule) error {
	return p.changeRules(ctx, MethodRevokeIngress, region, groupID, rules, false)
}

// DeleteSecurityGroup implements provider.Resources.
func (p *Provider) DeleteSecurityGroup(ctx context.Context, region, groupID string) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	r, fl, err := p.resBegin(ctx, MethodDeleteSecurityGroup, region)
	if err != nil {
		return err
	}
	delete(r.groups, rkey(region, groupID))
	return fl.result()
}

// EnsureInstanceProfile implements provider.Resources.
func (p *Provider) EnsureInstanceProfile(ctx context.Context, name string, tags map[string]string) (bool, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	r, fl, err := p.resBegin(ctx, MethodEnsureInstanceProfile, "")
	if err != nil {
		return false, err
	}
	if strings.TrimSpace(name) == "" {
		return false, &provider.InvalidError{Field: "name", Reason: "must not be empty"}
	}
	if _, ok := r.profiles[name]; ok {
		return false, fl.result()
	}
	r.profiles[name] = cloneTags(tags)
	return true, fl.result()
}
