package aws

import "github.com/stratus-cloud/stratus/internal/cost"

var _ cost.SpotPricer = (*Provider)(nil)

// SpotPricing says, for cost reports, how EC2 spot instances are charged
// and how the provider records it (spotprice.go).
func (p *Provider) SpotPricing() string {
	return "the spot market price of their type in their zone for the time it held, capped at their max price (charged at the max price, an upper bound, while the provider cannot read the market price)"
}
