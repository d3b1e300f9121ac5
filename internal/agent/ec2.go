package agent

// EC2 mode. On EC2 the instance's user-data (internal/bootstrap) installs
// the agent, writes DIR/agent.json holding only server_url and token, and
// starts `stratus agent --ec2 --config-dir DIR`. The agent learns the rest
// from the instance metadata service: its instance id, region and address
// (LoadEC2Config), and spot interruption notices and rebalance
// recommendations (WatchIMDS), where the local provider uses a file.
//
// Wiring (agent.go and the CLI): Options gains
//
//	Config       *Config                                               // used instead of InstanceDir/agent.json
//	WatchNotices func(ctx context.Context, report func(api.Notice))    // used instead of the interruption file
//
// and `stratus agent --ec2 --config-dir DIR` runs
//
//	imds := agent.NewIMDS("")
//	cfg, err := agent.LoadEC2Config(ctx, dir, imds)
//	agent.Run(ctx, agent.Options{InstanceDir: dir, Config: &cfg,
//		WatchNotices: func(ctx context.Context, report func(api.Notice)) { agent.WatchIMDS(ctx, imds, report) }})

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"time"

	"github.com/stratus-cloud/stratus/api"
)

// LoadEC2Config reads configDir/agent.json, which must hold server_url and
// token, and fills in the instance's id, region and address (its private
// IPv4 address, empty on an IPv6-only instance) from the metadata service.
// What the metadata service says wins over the file.
func LoadEC2Config(ctx context.Context, configDir string, imds *IMDS) (Config, error) {
	var c Config
	path := filepath.Join(configDir, ConfigFile)
	data, err := os.ReadFile(path)
	if err != nil {
		return c, err
	}
	if err := json.Unmarshal(data, &c); err != nil {
		return c, fmt.Errorf("%s: %w", path, err)
	}
	if c.ServerURL == "" || c.Token == "" {
		return c, fmt.Errorf("%s: server_url and token are required", path)
	}
	if c.InstanceID, err = imds.InstanceID(ctx); err != nil {
		return c, fmt.Errorf("instance id: %w", err)
	}
	if c.Region, err = imds.Region(ctx); err != nil {
		return c, fmt.Errorf("region: %w", err)
	}
	c.Address, err = imds.LocalIPv4(ctx)
	if errors.Is(err, ErrIMDSNotFound) {
		c.Address, err = "", nil
	}
	if err != nil {
		return c, fmt.Errorf("address: %w", err)
	}
	return c, nil
}

// WatchIMDS polls the metadata service every imds.PollInterval (default 5 s)
// until ctx ends, for a spot instance action and a rebalance recommendation,
// and calls report once for each distinct notice it sees (a rebalance
// recommendation as Notice{Action: RebalanceAction}). report runs on the
// polling goroutine: polling waits while it does. Errors are logged to
// imds.Logger, if set, and the next poll tries again.
func WatchIMDS(ctx context.Context, imds *IMDS, report func(api.Notice)) {
	interval := imds.PollInterval
	if interval <= 0 {
		interval = 5 * time.Second
	}
	seen := map[api.Notice]bool{}
	lastErr := ""
	checks := []func(context.Context) (api.Notice, bool, error){
		imds.SpotInstanceAction, // the more urgent one first
		imds.RebalanceRecommendation,
	}
	for {
		errText := ""
		for _, check := range checks {
			n, ok, err := check(ctx)
			if ctx.Err() != nil {
				return
			}
			if err != nil {
				errText = err.Error()
				continue
			}
			n.Time = n.Time.UTC() // compare instants, not locations
			if ok && !seen[n] {
				seen[n] = true
				report(n)
			}
		}
		// Log an error when it starts or changes, not on every poll.
		if errText != "" && errText != lastErr && imds.Logger != nil {
			imds.Logger.Warn("cannot read interruption notices from instance metadata; will retry", "err", errText)
		}
		lastErr = errText
		select {
		case <-ctx.Done():
			return
		case <-time.After(interval):
		}
	}
}
