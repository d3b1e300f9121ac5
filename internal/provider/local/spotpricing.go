package local

import (
	"fmt"

	"github.com/stratus-cloud/stratus/internal/cost"
)

var _ cost.SpotPricer = (*Provider)(nil)

// SpotPricing says, for cost reports, how the local cloud prices spot
// instances (see Prices in the package doc): a flat share of the on-demand
// price, never above the max price.
func (p *Provider) SpotPricing() string {
	return fmt.Sprintf("%d%% of the on-demand price of their type (the local cloud's flat spot price), capped at their max price", SpotPercent)
}
