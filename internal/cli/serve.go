package cli

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/stratus-cloud/stratus/internal/dropbox"
	"github.com/stratus-cloud/stratus/internal/server"
)

// serveOptions are the flags of `stratus serve`.
type serveOptions struct {
	DataDir          string
	Listen           string
	AdvertiseURL     string
	TemplateFile     string
	Provider         string
	BootDelay        time.Duration
	Billing          string
	HeartbeatTimeout time.Duration
	ClockFile        string
	CatalogFile      string
	PolicyFile       string
	ChecksFile       string
	NotifyFile       string
	AWS              server.AWSOptions
	Dropbox          string
	DropboxEndpoint  string
	DropboxRegion    string
	DropboxInterval  time.Duration
	DropboxTokenFile string
}

func (a *app) newServeCmd() *cobra.Command {
	var opts serveOptions
	cmd := &cobra.Command{
		Use:   "serve",
		Short: "Run the control plane",
		Long: `Run the stratus control plane: the HTTP API, the controllers and the
provider, with state in the data directory. It writes the admin token to
DIR/admin.token, where the other commands run in the same directory find it.
Stop it with Ctrl-C; local instances keep running and are picked up again
on the next start.`,
		Args: exactArgs(),
		RunE: a.runE(func(cmd *cobra.Command, _ []string) error {
			if !cmd.Flags().Changed("data") {
				if dir := a.env.getenv(envData); dir != "" {
					opts.DataDir = dir
				}
			}
			if err := opts.validate(); err != nil {
				return err
			}
			return runServe(cmd.Context(), opts, a.env)
		}),
	}
	f := cmd.Flags()
	f.StringVar(&opts.DataDir, "data", DefaultDataDir, "data `DIR` for the database, the admin token and local instances (env "+envData+")")
	f.StringVar(&opts.Listen, "listen", "127.0.0.1:7070", "`ADDR` the HTTP API listens on")
	f.StringVar(&opts.AdvertiseURL, "advertise-url", "", "`URL` agents use to reach the API (default http://ADDR)")
	f.StringVar(&opts.TemplateFile, "template", "", "admin template `FILE` that cluster requests are merged onto (default: built-in)")
	f.StringVar(&opts.Provider, "provider", "local", "cloud provider `NAME`: local or aws")
	f.StringVar(&opts.CatalogFile, "catalog", "", "instance type catalog `FILE` with prices, replacing the built-in one")
	f.StringVar(&opts.PolicyFile, "policy", "", "administrator's policy `FILE` (YAML: who may create clusters, instance types, node limits, spot price, monthly budget); reloaded when it changes")
	f.StringVar(&opts.NotifyFile, "notify", "", "notifications `FILE` (YAML: SMTP server, admin address, signed webhooks) for cluster, budget, lifetime, schedule and check events")
	f.StringVar(&opts.ChecksFile, "checks", "", "health checks `FILE` (YAML: HTTP(S) probes and replica groups that must agree on a value); see 'stratus check'")
	f.StringVar(&opts.AWS.File, "aws-config", "", "aws provider: YAML `FILE` listing regions with subnet, security groups, key pair, instance profile and image")
	f.StringVar(&opts.AWS.Region, "aws-region", "", "aws provider: the `REGION` (one region from flags)")
	f.StringVar(&opts.AWS.Image, "aws-image", "", "aws provider: the AMI `ID` instances start from")
	f.StringVar(&opts.AWS.Subnet, "aws-subnet", "", "aws provider: subnet `ID` (default: the default VPC's)")
	f.StringSliceVar(&opts.AWS.SecurityGroups, "aws-security-groups", nil, "aws provider: security group `IDS`, comma-separated (default: the VPC's default)")
	f.StringVar(&opts.AWS.KeyName, "aws-key-name", "", "aws provider: EC2 key pair `NAME` for ssh")
	f.StringVar(&opts.AWS.InstanceProfile, "aws-instance-profile", "", "aws provider: instance profile `NAME` or ARN")
	f.StringVar(&opts.AWS.RootDevice, "aws-root-device", "", "aws provider: the AMI's root `DEVICE` (default /dev/xvda)")
	f.StringVar(&opts.AWS.LoginUser, "aws-login-user", "", "aws provider: the images' login `USER`, who gets the cluster owner's ssh keys (default ec2-user)")
	f.StringVar(&opts.AWS.Endpoint, "aws-endpoint", "", "aws provider: base `URL` of an EC2-compatible endpoint (default: AWS)")
	f.StringVar(&opts.Dropbox, "dropbox", "", "drop-box `URL` watched for home/<user>/<cluster>.cf-create and .cf-delete: dir://PATH, s3://BUCKET[/PREFIX] or none (default dir://DIR/dropbox)")
	f.StringVar(&opts.DropboxEndpoint, "dropbox-endpoint", "", "drop-box: base `URL` of an S3-compatible server such as MinIO (default: AWS S3)")
	f.StringVar(&opts.DropboxRegion, "dropbox-region", "us-east-1", "drop-box: the S3 `REGION`")
	f.DurationVar(&opts.DropboxInterval, "dropbox-interval", 30*time.Second, "drop-box: how often it is listed, so that requests whose event notification was lost are found")
	f.StringVar(&opts.DropboxTokenFile, "dropbox-webhook-token-file", "", "drop-box: `FILE` with the token S3 event notifications carry (default DIR/dropbox.token, made on first start)")
	f.DurationVar(&opts.BootDelay, "boot-delay", 0, "simulated boot time of local instances")
	f.StringVar(&opts.Billing, "billing", "second", "billing model of the local provider: second (per second, 60 s minimum) or hour (per started hour)")
	f.DurationVar(&opts.HeartbeatTimeout, "heartbeat-timeout", 0, "time without heartbeats after which a node is unhealthy (default 30s)")
	f.StringVar(&opts.ClockFile, "clock-file", "", "read the schedules' current time from `FILE` (RFC 3339), for tests")
	_ = f.MarkHidden("clock-file")
	return cmd
}

func (o serveOptions) validate() error {
	switch {
	case o.DataDir == "":
		return usagef("--data must name a directory")
	case o.Listen == "":
		return usagef("--listen must name an address such as 127.0.0.1:7070")
	case o.Provider != "local" && o.Provider != "aws":
		return usagef("--provider must be local or aws, got %q", o.Provider)
	case o.Provider == "aws" && o.AWS.File == "" && (o.AWS.Region == "" || o.AWS.Image == ""):
		return usagef("--provider aws needs --aws-region and --aws-image, or --aws-config FILE")
	case o.Provider == "aws" && o.AWS.File != "" && o.AWS.Region != "":
		return usagef("give the aws regions either with --aws-config or with --aws-region, not both")
	case o.BootDelay < 0:
		return usagef("--boot-delay must not be negative")
	case o.Billing != "second" && o.Billing != "hour":
		return usagef("--billing must be second or hour, got %q", o.Billing)
	case o.HeartbeatTimeout < 0:
		return usagef("--heartbeat-timeout must not be negative")
	case o.DropboxInterval <= 0:
		return usagef("--dropbox-interval must be positive, like 30s")
	case o.DropboxEndpoint != "" && !strings.HasPrefix(o.Dropbox, "s3://"):
		return usagef("--dropbox-endpoint needs --dropbox s3://BUCKET")
	}
	if o.Dropbox != "" && o.Dropbox != "none" {
		if _, err := dropbox.ParseLocation(o.Dropbox); err != nil {
			return usagef("%v", err)
		}
	}
	if o.DropboxEndpoint != "" {
		u, err := url.Parse(o.DropboxEndpoint)
		if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			return usagef("--dropbox-endpoint %q: want a URL such as http://127.0.0.1:9000", o.DropboxEndpoint)
		}
	}
	if o.AdvertiseURL != "" {
		u, err := url.Parse(o.AdvertiseURL)
		if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			return usagef("--advertise-url %q: want a URL such as http://10.0.0.5:7070", o.AdvertiseURL)
		}
	}
	return nil
}

func runServe(ctx context.Context, opts serveOptions, e *env) error {
	err := server.Run(ctx, server.Options{
		DataDir:          opts.DataDir,
		Listen:           opts.Listen,
		AdvertiseURL:     opts.AdvertiseURL,
		Provider:         opts.Provider,
		TemplateFile:     opts.TemplateFile,
		BootDelay:        opts.BootDelay,
		Billing:          opts.Billing,
		HeartbeatTimeout: opts.HeartbeatTimeout,
		ClockFile:        opts.ClockFile,
		CatalogFile:      opts.CatalogFile,
		PolicyFile:       opts.PolicyFile,
		ChecksFile:       opts.ChecksFile,
		Notify:           opts.NotifyFile,
		AWS:              opts.AWS,
		Dropbox:          opts.Dropbox,
		DropboxEndpoint:  opts.DropboxEndpoint,
		DropboxRegion:    opts.DropboxRegion,
		DropboxInterval:  opts.DropboxInterval,
		DropboxTokenFile: opts.DropboxTokenFile,
		Stdout:           e.stdout,
		Stderr:           e.stderr,
	})
	if err != nil && !errors.Is(err, context.Canceled) {
		return fmt.Errorf("serve: %w", err)
	}
	return nil
}
