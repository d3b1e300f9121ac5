package server

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"strings"

	"gopkg.in/yaml.v3"

	"github.com/stratus-cloud/stratus/internal/bootstrap"
	"github.com/stratus-cloud/stratus/internal/clock"
	"github.com/stratus-cloud/stratus/internal/cost"
	"github.com/stratus-cloud/stratus/internal/httpapi"
	"github.com/stratus-cloud/stratus/internal/provider"
	awsprovider "github.com/stratus-cloud/stratus/internal/provider/aws"
)

// AWSOptions configure the aws provider: regions with their subnet,
// security groups, key pair, instance profile and image, from flags (one
// region) or a YAML file (any number). Credentials come from the standard
// AWS chain: environment, shared config and profiles, SSO, instance role.
type AWSOptions struct {
	// File is a YAML file in the form of AWSFile.
	File string
	// Region and the fields below describe one region from flags.
	Region          string
	Subnet          string
	SecurityGroups  []string
	KeyName         string
	InstanceProfile string
	Image           string
	RootDevice      string
	// Endpoint is an EC2-compatible endpoint's base URL (empty: AWS).
	Endpoint string
	// LoginUser is the images' login user, who gets the cluster owner's
	// ssh keys (empty: the file's, else bootstrap.DefaultLoginUser).
	LoginUser string
}

// AWSFile is the YAML form of the aws provider's settings.
type AWSFile struct {
	Endpoint string `yaml:"endpoint"`
	// LoginUser is the images' login user (default ec2-user).
	LoginUser string          `yaml:"login_user"`
	Regions   []AWSFileRegion `yaml:"regions"`
}

// AWSFileRegion is one region in AWSFile.
type AWSFileRegion struct {
	Name            string   `yaml:"name"`
	VPC             string   `yaml:"vpc"`
	Subnet          string   `yaml:"subnet"`
	SecurityGroups  []string `yaml:"security_groups"`
	KeyName         string   `yaml:"key_name"`
	InstanceProfile string   `yaml:"instance_profile"`
	Image           string   `yaml:"image"`
	RootDevice      string   `yaml:"root_device"`
}

// ParseAWSFile reads the aws provider's settings; unknown keys and regions
// without a name or image are errors naming the field.
func ParseAWSFile(data []byte, name string) (AWSFile, error) {
	var f AWSFile
	dec := yaml.NewDecoder(bytes.NewReader(data))
	dec.KnownFields(true)
	if err := dec.Decode(&f); err != nil {
		return f, fmt.Errorf("%s: %w", name, err)
	}
	if len(f.Regions) == 0 {
		return f, fmt.Errorf("%s: regions: list at least one region", name)
	}
	var errs []error
	for i, r := range f.Regions {
		if r.Name == "" {
			errs = append(errs, fmt.Errorf("%s: regions[%d].name: required, such as us-east-1", name, i))
		}
		if r.Image == "" {
			errs = append(errs, fmt.Errorf("%s: regions[%d].image: required: the AMI id instances start from", name, i))
		}
	}
	return f, errors.Join(errs...)
}

// regions turns the options into the provider's region settings, the
// endpoint and the login user.
func (o AWSOptions) regions() ([]awsprovider.RegionConfig, string, string, error) {
	if o.File != "" {
		data, err := os.ReadFile(o.File)
		if err != nil {
			return nil, "", "", err
		}
		f, err := ParseAWSFile(data, o.File)
		if err != nil {
			return nil, "", "", err
		}
		var out []awsprovider.RegionConfig
		for _, r := range f.Regions {
			out = append(out, awsprovider.RegionConfig{
				Name: r.Name, VpcID: r.VPC, SubnetID: r.Subnet, SecurityGroupIDs: r.SecurityGroups, KeyName: r.KeyName,
				InstanceProfile: r.InstanceProfile, ImageID: r.Image, RootDeviceName: r.RootDevice,
			})
		}
		endpoint := f.Endpoint
		if o.Endpoint != "" {
			endpoint = o.Endpoint
		}
		loginUser := f.LoginUser
		if o.LoginUser != "" {
			loginUser = o.LoginUser
		}
		return out, endpoint, loginUser, nil
	}
	if o.Region == "" || o.Image == "" {
		return nil, "", "", errors.New("the aws provider needs --aws-region and --aws-image (or --aws-config FILE)")
	}
	return []awsprovider.RegionConfig{{
		Name: o.Region, SubnetID: o.Subnet, SecurityGroupIDs: o.SecurityGroups, KeyName: o.KeyName,
		InstanceProfile: o.InstanceProfile, ImageID: o.Image, RootDeviceName: o.RootDevice,
	}}, o.Endpoint, o.LoginUser, nil
}

// newAWS makes the aws provider. Instances get user-data that installs the
// agent from this control plane's binary (checked by its SHA-256) at the
// advertised URL, known once the server listens.
func newAWS(ctx context.Context, o AWSOptions, catalog *cost.Catalog, clk clock.Clock, log *slog.Logger,
	binary *httpapi.Binary, advertise *string) (provider.Provider, error) {
	regions, endpoint, loginUser, err := o.regions()
	if err != nil {
		return nil, err
	}
	if err := bootstrap.CheckLoginUser(loginUser); err != nil {
		return nil, fmt.Errorf("aws login user: %w", err)
	}
	return awsprovider.New(ctx, awsprovider.Options{
		Regions: regions, Catalog: catalog, Clock: clk, Logger: log, Endpoint: endpoint,
		UserData: func(b provider.AgentBootstrap) ([]byte, error) {
			sum, err := binary.SHA256()
			if err != nil {
				return nil, fmt.Errorf("user-data: %w", err)
			}
			return bootstrap.Render(bootstrap.Config{
				ServerURL: b.ServerURL, Token: b.Token,
				BinaryURL: strings.TrimRight(*advertise, "/") + "/v1/agent/binary", BinarySHA256: sum,
				LoginUser: loginUser,
			})
		},
	})
}
