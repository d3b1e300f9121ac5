package ec2fake

import (
	"context"
	"encoding/json"
	"fmt"
	"maps"
	"regexp"
	"slices"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ec2/types"
	"github.com/aws/aws-sdk-go-v2/service/iam"
	iamtypes "github.com/aws/aws-sdk-go-v2/service/iam/types"
)

// IAM actions the fake serves. IAM is global: one IAM per Fake, whatever
// the region.
const (
	ActionGetInstanceProfile       = "GetInstanceProfile"
	ActionCreateRole               = "CreateRole"
	ActionCreateInstanceProfile    = "CreateInstanceProfile"
	ActionAddRoleToInstanceProfile = "AddRoleToInstanceProfile"
)

// IAM is the fake's IAM API: roles and instance profiles, faithful to IAM
// where the aws provider depends on it. GetInstanceProfile of a missing
// profile, and AddRoleToInstanceProfile with a missing role or profile,
// are NoSuchEntity; creating a role or profile that exists is
// EntityAlreadyExists; a second role in a profile is LimitExceeded (one
// role per profile); a trust policy that is not a JSON policy document is
// MalformedPolicyDocument. Deny (with these action names) gives
// AccessDenied, and Throttle counts IAM calls too (code Throttling).
type IAM struct{ f *Fake }

type iamState struct {
	roles    map[string]*iamRole
	profiles map[string]*iamProfile
}

type iamRole struct {
	name, id, trust string
	tags            map[string]string
	created         time.Time
}

type iamProfile struct {
	name, id string
	roles    []string
	tags     map[string]string
	created  time.Time
	// unusable counts the RunInstances calls naming the profile that are
	// still to fail (Options.ProfileUnusableFor).
	unusable int
}

var iamNameRe = regexp.MustCompile(`^[\w+=,.@-]{1,128}$`)

// IAM returns the fake's IAM API.
func (f *Fake) IAM() *IAM { return &IAM{f: f} }

func (f *Fake) iam() *iamState {
	if f.rs.iam == nil {
		f.rs.iam = &iamState{roles: map[string]*iamRole{}, profiles: map[string]*iamProfile{}}
	}
	return f.rs.iam
}

func (x *IAM) begin(ctx context.Context, action string) error {
	f := x.f
	f.calls[action]++
	if err := ctx.Err(); err != nil {
		return err
	}
	if f.throttle > 0 {
		f.throttle--
		return APIError("Throttling", "Rate exceeded")
	}
	if f.denied[action] {
		return APIError("AccessDenied", "User: arn:aws:iam::"+OwnerID+":user/stratus is not authorized to perform: iam:"+action+" because no identity-based policy allows the iam:"+action+" action")
	}
	return nil
}

func iamTags(ts []iamtypes.Tag) (map[string]string, error) {
	m := map[string]string{}
	if len(ts) > 50 {
		return nil, APIError("LimitExceeded", "Cannot exceed quota for TagsPerRole: 50")
	}
	for _, t := range ts {
		k := aws.ToString(t.Key)
		if k == "" || len(k) > 128 || strings.HasPrefix(strings.ToLower(k), "aws:") {
			return nil, APIError("InvalidInput", fmt.Sprintf("Tag key '%s' is not valid.", k))
		}
		m[k] = aws.ToString(t.Value)
	}
	return m, nil
}

func toIAMTags(m map[string]string) []iamtypes.Tag {
	var out []iamtypes.Tag
	for _, k := range slices.Sorted(maps.Keys(m)) {
		out = append(out, iamtypes.Tag{Key: aws.String(k), Value: aws.String(m[k])})
	}
	return out
}

func (r *iamRole) view() iamtypes.Role {
	return iamtypes.Role{
		RoleName: aws.String(r.name), RoleId: aws.String(r.id), Path: aws.String("/"),
		Arn: aws.String("arn:aws:iam::" + OwnerID + ":role/" + r.name), CreateDate: aws.Time(r.created),
		AssumeRolePolicyDocument: aws.String(r.trust), Tags: toIAMTags(r.tags),
	}
}

func (st *iamState) profileView(p *iamProfile) *iamtypes.InstanceProfile {
	v := &iamtypes.InstanceProfile{
		InstanceProfileName: aws.String(p.name), InstanceProfileId: aws.String(p.id), Path: aws.String("/"),
		Arn: aws.String("arn:aws:iam::" + OwnerID + ":instance-profile/" + p.name), CreateDate: aws.Time(p.created),
		Roles: []iamtypes.Role{}, Tags: toIAMTags(p.tags),
	}
	for _, n := range p.roles {
		if r, ok := st.roles[n]; ok {
			v.Roles = append(v.Roles, r.view())
		}
	}
	return v
}

// GetInstanceProfile returns an instance profile with its roles.
func (x *IAM) GetInstanceProfile(ctx context.Context, in *iam.GetInstanceProfileInput, _ ...func(*iam.Options)) (*iam.GetInstanceProfileOutput, error) {
	f := x.f
	f.mu.Lock()
	defer f.mu.Unlock()
	if err := x.begin(ctx, ActionGetInstanceProfile); err != nil {
		return nil, err
	}
	name := aws.ToString(in.InstanceProfileName)
	if !iamNameRe.MatchString(name) {
		return nil, APIError("ValidationError", "1 validation error detected: Value at 'instanceProfileName' failed to satisfy constraint")
	}
	st := f.iam()
	p, ok := st.profiles[name]
	if !ok {
		return nil, APIError("NoSuchEntity", fmt.Sprintf("Instance Profile %s cannot be found.", name))
	}
	return &iam.GetInstanceProfileOutput{InstanceProfile: st.profileView(p)}, nil
}

// CreateRole creates a role with a trust policy.
func (x *IAM) CreateRole(ctx context.Context, in *iam.CreateRoleInput, _ ...func(*iam.Options)) (*iam.CreateRoleOutput, error) {
	f := x.f
	f.mu.Lock()
	defer f.mu.Unlock()
	if err := x.begin(ctx, ActionCreateRole); err != nil {
		return nil, err
	}
	name := aws.ToString(in.RoleName)
	if !iamNameRe.MatchString(name) || len(name) > 64 {
		return nil, APIError("ValidationError", "1 validation error detected: Value at 'roleName' failed to satisfy constraint")
	}
	var doc struct {
		Version   string
		Statement []json.RawMessage
	}
	trust := aws.ToString(in.AssumeRolePolicyDocument)
	if err := json.Unmarshal([]byte(trust), &doc); err != nil || len(doc.Statement) == 0 {
		return nil, APIError("MalformedPolicyDocument", "This policy contains invalid Json")
	}
	tags, err := iamTags(in.Tags)
	if err != nil {
		return nil, err
	}
	st := f.iam()
	if _, ok := st.roles[name]; ok {
		return nil, APIError("EntityAlreadyExists", fmt.Sprintf("Role with name %s already exists.", name))
	}
	r := &iamRole{name: name, id: "AROA" + strings.ToUpper(randomHex(17)), trust: trust, tags: tags, created: f.clock.Now()}
	st.roles[name] = r
	v := r.view()
	return &iam.CreateRoleOutput{Role: &v}, nil
}

// CreateInstanceProfile creates an empty instance profile.
func (x *IAM) CreateInstanceProfile(ctx context.Context, in *iam.CreateInstanceProfileInput, _ ...func(*iam.Options)) (*iam.CreateInstanceProfileOutput, error) {
	f := x.f
	f.mu.Lock()
	defer f.mu.Unlock()
	if err := x.begin(ctx, ActionCreateInstanceProfile); err != nil {
		return nil, err
	}
	name := aws.ToString(in.InstanceProfileName)
	if !iamNameRe.MatchString(name) {
		return nil, APIError("ValidationError", "1 validation error detected: Value at 'instanceProfileName' failed to satisfy constraint")
	}
	tags, err := iamTags(in.Tags)
	if err != nil {
		return nil, err
	}
	st := f.iam()
	if _, ok := st.profiles[name]; ok {
		return nil, APIError("EntityAlreadyExists", fmt.Sprintf("Instance Profile %s already exists.", name))
	}
	p := &iamProfile{name: name, id: "AIPA" + strings.ToUpper(randomHex(17)), tags: tags, created: f.clock.Now(), unusable: f.opts.ProfileUnusableFor}
	st.profiles[name] = p
	return &iam.CreateInstanceProfileOutput{InstanceProfile: st.profileView(p)}, nil
}

// AddRoleToInstanceProfile puts a role in a profile (at most one).
func (x *IAM) AddRoleToInstanceProfile(ctx context.Context, in *iam.AddRoleToInstanceProfileInput, _ ...func(*iam.Options)) (*iam.AddRoleToInstanceProfileOutput, error) {
	f := x.f
	f.mu.Lock()
	defer f.mu.Unlock()
	if err := x.begin(ctx, ActionAddRoleToInstanceProfile); err != nil {
		return nil, err
	}
	st := f.iam()
	pn, rn := aws.ToString(in.InstanceProfileName), aws.ToString(in.RoleName)
	p, ok := st.profiles[pn]
	if !ok {
		return nil, APIError("NoSuchEntity", fmt.Sprintf("Instance Profile %s cannot be found.", pn))
	}
	if _, ok := st.roles[rn]; !ok {
		return nil, APIError("NoSuchEntity", fmt.Sprintf("The role with name %s cannot be found.", rn))
	}
	if len(p.roles) > 0 {
		return nil, APIError("LimitExceeded", "Cannot exceed quota for InstanceSessionsPerInstanceProfile: 1")
	}
	p.roles = append(p.roles, rn)
	return &iam.AddRoleToInstanceProfileOutput{}, nil
}

// Role returns role name's trust policy and tags, and whether it exists.
func (x *IAM) Role(name string) (trust string, tags map[string]string, ok bool) {
	x.f.mu.Lock()
	defer x.f.mu.Unlock()
	r, ok := x.f.iam().roles[name]
	if !ok {
		return "", nil, false
	}
	return r.trust, maps.Clone(r.tags), true
}

// InstanceProfile returns the roles of profile name and whether it exists.
func (x *IAM) InstanceProfile(name string) (roles []string, ok bool) {
	x.f.mu.Lock()
	defer x.f.mu.Unlock()
	p, ok := x.f.iam().profiles[name]
	if !ok {
		return nil, false
	}
	return slices.Clone(p.roles), true
}

// profileUsable returns EC2's error for a launch naming an instance profile
// that EC2 cannot use yet (Options.ProfileUnusableFor), counting the call.
// The caller holds f.mu.
func (f *Fake) profileUsable(spec *types.IamInstanceProfileSpecification) error {
	if spec == nil || f.rs.iam == nil {
		return nil
	}
	arn := profileARN(spec)
	p := f.rs.iam.profiles[arn[strings.LastIndex(arn, "/")+1:]]
	if p == nil || p.unusable <= 0 {
		return nil
	}
	p.unusable--
	if spec.Arn != nil {
		return APIError("InvalidParameterValue", fmt.Sprintf("Value (%s) for parameter iamInstanceProfile.arn is invalid. Invalid IAM Instance Profile ARN", aws.ToString(spec.Arn)))
	}
	return APIError("InvalidParameterValue", fmt.Sprintf("Value (%s) for parameter iamInstanceProfile.name is invalid. Invalid IAM Instance Profile name", aws.ToString(spec.Name)))
}

// SetProfileUnusable makes the next n RunInstances calls naming the
// instance profile name fail as if IAM had not yet told EC2 of it.
func (f *Fake) SetProfileUnusable(name string, n int) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	p := f.iam().profiles[name]
	if p == nil {
		return fmt.Errorf("ec2fake: no instance profile %s", name)
	}
	p.unusable = n
	return nil
}
