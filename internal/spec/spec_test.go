package spec

import (
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/stratus-cloud/stratus/api"
	"github.com/stratus-cloud/stratus/internal/cost"
)

// specWith returns the default template changed by f.
func specWith(f func(s *api.ClusterSpec)) api.ClusterSpec {
	s := DefaultTemplate()
	f(&s)
	return s
}

// asErrors returns err's Errors, failing the test if err is not one.
func asErrors(t *testing.T, err error) Errors {
	t.Helper()
	if err == nil {
		return nil
	}
	var es Errors
	if !errors.As(err, &es) {
		t.Fatalf("error %T %q is not an Errors", err, err)
	}
	return es
}

func TestValidate_Rules(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		spec api.ClusterSpec
		want Errors
	}{
		{"DefaultTemplateIsValid", DefaultTemplate(), nil},
		{"RegionMayBeEmpty", specWith(func(s *api.ClusterSpec) { s.Region = "" }), nil},
		{"RegionAccepted", specWith(func(s *api.ClusterSpec) { s.Region = "us-east-1" }), nil},
		{"RegionUpperCase", specWith(func(s *api.ClusterSpec) { s.Region = "US-East-1" }),
			Errors{{Field: "region", Message: `must be a region name of lower-case letters, digits and dashes, like us-east-1, got "US-East-1"`}}},
		{"RegionTrailingDash", specWith(func(s *api.ClusterSpec) { s.Region = "us-" }),
			Errors{{Field: "region", Message: `must be a region name of lower-case letters, digits and dashes, like us-east-1, got "us-"`}}},
		{"RegionTooLong", specWith(func(s *api.ClusterSpec) { s.Region = strings.Repeat("a", 64) }),
			Errors{{Field: "region", Message: `must be a region name of lower-case letters, digits and dashes, like us-east-1, got "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"...`}}},
		{"HeadTypeEmpty", specWith(func(s *api.ClusterSpec) { s.Head.Type = "" }),
			Errors{{Field: "head.type", Message: "must name an instance type, like t3.small"}}},
		{"HeadTypeUnknownWithSuggestion", specWith(func(s *api.ClusterSpec) { s.Head.Type = "m5.lage" }),
			Errors{{Field: "head.type", Message: `unknown instance type "m5.lage"; did you mean m5.large?`}}},
		{"HeadTypeUnknownFamilySuggestion", specWith(func(s *api.ClusterSpec) { s.Head.Type = "c5.metal" }),
			Errors{{Field: "head.type", Message: `unknown instance type "c5.metal"; did you mean c5.2xlarge, c5.4xlarge, c5.large?`}}},
		{"HeadTypeUnknownNoSuggestion", specWith(func(s *api.ClusterSpec) { s.Head.Type = "x1e.32xlarge" }),
			Errors{{Field: "head.type", Message: `unknown instance type "x1e.32xlarge"; it is not in the instance type catalog`}}},
		{"HeadVolumeTooSmall", specWith(func(s *api.ClusterSpec) { s.Head.VolumeGB = 7 }),
			Errors{{Field: "head.volume_gb", Message: "must be between 8 and 16384 (GB), got 7"}}},
		{"HeadVolumeSmallestAccepted", specWith(func(s *api.ClusterSpec) { s.Head.VolumeGB = 8 }), nil},
		{"HeadVolumeLargestAccepted", specWith(func(s *api.ClusterSpec) { s.Head.VolumeGB = 16384 }), nil},
		{"ComputeVolumeTooLarge", specWith(func(s *api.ClusterSpec) { s.Compute.VolumeGB = 16385 }),
			Errors{{Field: "compute.volume_gb", Message: "must be between 8 and 16384 (GB), got 16385"}}},
		{"ComputeVolumeNegative", specWith(func(s *api.ClusterSpec) { s.Compute.VolumeGB = -16 }),
			Errors{{Field: "compute.volume_gb", Message: "must be between 8 and 16384 (GB), got -16"}}},
		{"TypesEmpty", specWith(func(s *api.ClusterSpec) { s.Compute.Types = nil }),
			Errors{{Field: "compute.types", Message: "must list at least one instance type, like [t3.small]"}}},
		{"TypesFallbacksAccepted", specWith(func(s *api.ClusterSpec) { s.Compute.Types = []string{"m5.large", "m5.xlarge", "c5.large"} }), nil},
		{"TypesRepeated", specWith(func(s *api.ClusterSpec) { s.Compute.Types = []string{"m5.large", "c5.large", "m5.large"} }),
			Errors{{Field: "compute.types[2]", Message: `lists "m5.large" twice; each fallback type once is enough`}}},
		{"TypesUnknownEntry", specWith(func(s *api.ClusterSpec) { s.Compute.Types = []string{"m5.large", "r4.large-2C-15.25GB"} }),
			Errors{{Field: "compute.types[1]", Message: `unknown instance type "r4.large-2C-15.25GB"; did you mean r4.2xlarge, r4.large, r4.xlarge?`}}},
		{"InitialNegative", specWith(func(s *api.ClusterSpec) { s.Compute.InitialNodes = -1 }),
			Errors{{Field: "compute.initial_nodes", Message: "must not be negative, got -1"}}},
		{"MinNegative", specWith(func(s *api.ClusterSpec) { s.Compute.MinNodes = -2 }),
			Errors{{Field: "compute.min_nodes", Message: "must not be negative, got -2"}}},
		{"MaxNegative", specWith(func(s *api.ClusterSpec) { s.Compute.MaxNodes = -1 }),
			Errors{{Field: "compute.max_nodes", Message: "must not be negative, got -1"}}},
		{"MaxZeroAccepted", specWith(func(s *api.ClusterSpec) { s.Compute.MaxNodes = 0 }), nil},
		{"MaxAbsurd", specWith(func(s *api.ClusterSpec) { s.Compute.MaxNodes = 1001 }),
			Errors{{Field: "compute.max_nodes", Message: "must be at most 1000, got 1001"}}},
		{"MaxLargestAccepted", specWith(func(s *api.ClusterSpec) { s.Compute.MaxNodes = 1000 }), nil},
		{"MinAboveMax", specWith(func(s *api.ClusterSpec) { s.Compute.MinNodes, s.Compute.InitialNodes = 5, 5 }),
			Errors{{Field: "compute.max_nodes", Message: "must be at least compute.min_nodes (5), got 4"}}},
		{"InitialAboveMax", specWith(func(s *api.ClusterSpec) { s.Compute.InitialNodes = 5 }),
			Errors{{Field: "compute.max_nodes", Message: "must be at least compute.initial_nodes (5), got 4"}}},
		{"InitialBelowMin", specWith(func(s *api.ClusterSpec) { s.Compute.MinNodes = 2 }),
			Errors{{Field: "compute.initial_nodes", Message: "must be at least compute.min_nodes (2), got 0"}}},
		{"SpotPriceAccepted", specWith(func(s *api.ClusterSpec) { s.Compute.SpotPrice = "0.03" }), nil},
		{"SpotPriceSixDecimalsAccepted", specWith(func(s *api.ClusterSpec) { s.Compute.SpotPrice = "0.000001" }), nil},
		{"SpotPriceMalformed", specWith(func(s *api.ClusterSpec) { s.Compute.SpotPrice = "$0.03" }),
			Errors{{Field: "compute.spot_price", Message: `must be an hourly price in dollars, like 0.03: "$0.03" is not a dollar amount: use digits and one decimal point, like 0.03`}}},
		{"SpotPriceNegative", specWith(func(s *api.ClusterSpec) { s.Compute.SpotPrice = "-0.03" }),
			Errors{{Field: "compute.spot_price", Message: `must be an hourly price in dollars, like 0.03: "-0.03" is not a dollar amount: use digits and one decimal point, like 0.03`}}},
		{"SpotPriceTooManyDecimals", specWith(func(s *api.ClusterSpec) { s.Compute.SpotPrice = "0.0300001" }),
			Errors{{Field: "compute.spot_price", Message: `must be an hourly price in dollars, like 0.03: "0.0300001" has more than six decimals`}}},
		{"SpotPriceZero", specWith(func(s *api.ClusterSpec) { s.Compute.SpotPrice = "0.00" }),
			Errors{{Field: "compute.spot_price", Message: `must be more than 0, got "0.00"; to use on-demand instances leave it out`}}},
		{"SpotPriceAbsurd", specWith(func(s *api.ClusterSpec) { s.Compute.SpotPrice = "100.01" }),
			Errors{{Field: "compute.spot_price", Message: `must be at most 100.00 dollars per hour, got "100.01"`}}},
		{"SpotPriceHighestAccepted", specWith(func(s *api.ClusterSpec) { s.Compute.SpotPrice = "100" }), nil},
		{"AutoscalingDisabledAccepted", specWith(func(s *api.ClusterSpec) { s.Compute.Autoscaling = "disabled" }), nil},
		{"AutoscalingInvalid", specWith(func(s *api.ClusterSpec) { s.Compute.Autoscaling = "Enabled" }),
			Errors{{Field: "compute.autoscaling", Message: `must be "enabled" or "disabled", got "Enabled"`}}},
		{"AutoscalingEmpty", specWith(func(s *api.ClusterSpec) { s.Compute.Autoscaling = "" }),
			Errors{{Field: "compute.autoscaling", Message: `must be "enabled" or "disabled", got ""`}}},
		{"ScaleDownPoliciesAccepted", specWith(func(s *api.ClusterSpec) { s.Compute.ScaleDown = "billing-hour" }), nil},
		{"ScaleDownInvalid", specWith(func(s *api.ClusterSpec) { s.Compute.ScaleDown = "Idle" }),
			Errors{{Field: "compute.scale_down", Message: `must be "stratus", "immediate", "idle" or "billing-hour", got "Idle"`}}},
		{"ScaleDownEmpty", specWith(func(s *api.ClusterSpec) { s.Compute.ScaleDown = "" }),
			Errors{{Field: "compute.scale_down", Message: `must be "stratus", "immediate", "idle" or "billing-hour", got ""`}}},
		{"IdleTimeoutNotADuration", specWith(func(s *api.ClusterSpec) { s.Compute.IdleTimeout = "ten" }),
			Errors{{Field: "compute.idle_timeout", Message: `must be a duration like 10m, got "ten"`}}},
		{"IdleTimeoutWithoutUnit", specWith(func(s *api.ClusterSpec) { s.Compute.IdleTimeout = "10" }),
			Errors{{Field: "compute.idle_timeout", Message: `must be a duration like 10m, got "10"`}}},
		{"IdleTimeoutEmpty", specWith(func(s *api.ClusterSpec) { s.Compute.IdleTimeout = "" }),
			Errors{{Field: "compute.idle_timeout", Message: `must be a duration like 10m, got ""`}}},
		{"IdleTimeoutZeroAccepted", specWith(func(s *api.ClusterSpec) { s.Compute.IdleTimeout = "0s" }), nil},
		{"IdleTimeoutLongestAccepted", specWith(func(s *api.ClusterSpec) { s.Compute.IdleTimeout = "24h" }), nil},
		{"IdleTimeoutTooLong", specWith(func(s *api.ClusterSpec) { s.Compute.IdleTimeout = "24h0m1s" }),
			Errors{{Field: "compute.idle_timeout", Message: `must be between 0s and 24h, got "24h0m1s"`}}},
		{"IdleTimeoutNegative", specWith(func(s *api.ClusterSpec) { s.Compute.IdleTimeout = "-1m" }),
			Errors{{Field: "compute.idle_timeout", Message: `must be between 0s and 24h, got "-1m"`}}},
		{"IdleTimeoutOverflow", specWith(func(s *api.ClusterSpec) { s.Compute.IdleTimeout = "9999999999h" }),
			Errors{{Field: "compute.idle_timeout", Message: `must be a duration like 10m, got "9999999999h"`}}},
		{"BatchWindowZeroAccepted", specWith(func(s *api.ClusterSpec) { s.Compute.BatchWindow = "0s" }), nil},
		{"BatchWindowLongestAccepted", specWith(func(s *api.ClusterSpec) { s.Compute.BatchWindow = "10m" }), nil},
		{"BatchWindowTooLong", specWith(func(s *api.ClusterSpec) { s.Compute.BatchWindow = "601s" }),
			Errors{{Field: "compute.batch_window", Message: `must be between 0s and 10m, got "601s"`}}},
		{"BatchWindowNegative", specWith(func(s *api.ClusterSpec) { s.Compute.BatchWindow = "-1ns" }),
			Errors{{Field: "compute.batch_window", Message: `must be between 0s and 10m, got "-1ns"`}}},
		{"BatchWindowNotADuration", specWith(func(s *api.ClusterSpec) { s.Compute.BatchWindow = "10 s" }),
			Errors{{Field: "compute.batch_window", Message: `must be a duration like 10s, got "10 s"`}}},
		{"TimeLimitShortestAccepted", specWith(func(s *api.ClusterSpec) { s.Compute.DefaultTimeLimit = "1s" }), nil},
		{"TimeLimitLongestAccepted", specWith(func(s *api.ClusterSpec) { s.Compute.DefaultTimeLimit = "720h" }), nil},
		{"TimeLimitTooShort", specWith(func(s *api.ClusterSpec) { s.Compute.DefaultTimeLimit = "999ms" }),
			Errors{{Field: "compute.default_time_limit", Message: `must be between 1s and 720h, got "999ms"`}}},
		{"TimeLimitZero", specWith(func(s *api.ClusterSpec) { s.Compute.DefaultTimeLimit = "0s" }),
			Errors{{Field: "compute.default_time_limit", Message: `must be between 1s and 720h, got "0s"`}}},
		{"TimeLimitTooLong", specWith(func(s *api.ClusterSpec) { s.Compute.DefaultTimeLimit = "720h0m1s" }),
			Errors{{Field: "compute.default_time_limit", Message: `must be between 1s and 720h, got "720h0m1s"`}}},
		{"TimeLimitDaysNotADuration", specWith(func(s *api.ClusterSpec) { s.Compute.DefaultTimeLimit = "2d" }),
			Errors{{Field: "compute.default_time_limit", Message: `must be a duration like 1h, got "2d"`}}},
		{"MaxRequeuesZeroAccepted", specWith(func(s *api.ClusterSpec) { s.Compute.MaxRequeues = 0 }), nil},
		{"MaxRequeuesLargestAccepted", specWith(func(s *api.ClusterSpec) { s.Compute.MaxRequeues = 100 }), nil},
		{"MaxRequeuesTooMany", specWith(func(s *api.ClusterSpec) { s.Compute.MaxRequeues = 101 }),
			Errors{{Field: "compute.max_requeues", Message: "must be between 0 and 100, got 101"}}},
		{"MaxRequeuesNegative", specWith(func(s *api.ClusterSpec) { s.Compute.MaxRequeues = -1 }),
			Errors{{Field: "compute.max_requeues", Message: "must be between 0 and 100, got -1"}}},
		{"AllProblemsListed", specWith(func(s *api.ClusterSpec) {
			s.Head.Type = "nope"
			s.Compute.Types = []string{}
			s.Compute.MaxNodes = 5000
			s.Compute.Autoscaling = "maybe"
		}), Errors{
			{Field: "head.type", Message: `unknown instance type "nope"; it is not in the instance type catalog`},
			{Field: "compute.types", Message: "must list at least one instance type, like [t3.small]"},
			{Field: "compute.max_nodes", Message: "must be at most 1000, got 5000"},
			{Field: "compute.autoscaling", Message: `must be "enabled" or "disabled", got "maybe"`},
		}},
		{"NegativeCountsNotReportedTwice", specWith(func(s *api.ClusterSpec) { s.Compute.InitialNodes, s.Compute.MaxNodes = -3, -1 }),
			Errors{
				{Field: "compute.initial_nodes", Message: "must not be negative, got -3"},
				{Field: "compute.max_nodes", Message: "must not be negative, got -1"},
			}},
	}
	cat := cost.DefaultCatalog()
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			got := asErrors(t, Validate(tc.spec, cat))
			if diff := cmp.Diff(tc.want, got); diff != "" {
				t.Errorf("Validate (-want +got):\n%s", diff)
			}
		})
	}
}

func TestBuild_Rules(t *testing.T) {
	t.Parallel()
	lab := specWith(func(s *api.ClusterSpec) {
		s.Compute.SpotPrice = "0.05"
		s.Compute.MinNodes, s.Compute.InitialNodes, s.Compute.MaxNodes = 1, 1, 8
	})
	tests := []struct {
		name     string
		filename string
		tmpl     *api.ClusterSpec // nil: DefaultTemplate
		in       string
		want     Errors
	}{
		{name: "CFCreateUnknownKeySuggestsClosest", in: `{"ComputeMaxNode": "5"}`,
			want: Errors{{Field: "ComputeMaxNode", Line: 1, Message: "unknown key; did you mean ComputeMaxNodes?"}}},
		{name: "CFCreateUnknownKeyWrongCase", in: `{"computeMaxNodes": "5", "Region": "us-east-1"}`,
			want: Errors{{Field: "computeMaxNodes", Line: 1, Message: "unknown key; did you mean ComputeMaxNodes?"}}},
		{name: "CFCreateNotWholeNumber", in: `{"ComputeMaxNodes": "ten"}`,
			want: Errors{{Field: "ComputeMaxNodes", Line: 1, Message: `must be a whole number, got "ten"`}}},
		{name: "CFCreateFractionNumber", in: `{"MasterSystemVolumeSize": 16.5}`,
			want: Errors{{Field: "MasterSystemVolumeSize", Line: 1, Message: "must be a whole number, got 16.5"}}},
		{name: "CFCreateBooleanNumber", in: `{"ComputeMinNodes": true}`,
			want: Errors{{Field: "ComputeMinNodes", Line: 1, Message: "must be a whole number, got true"}}},
		{name: "CFCreateListNumber", in: `{"ComputeMaxNodes": [5]}`,
			want: Errors{{Field: "ComputeMaxNodes", Line: 1, Message: "must be a whole number, got a list"}}},
		{name: "CFCreateNumberOutOfRange", in: `{"ComputeMaxNodes": "99999999999999999999"}`,
			want: Errors{{Field: "ComputeMaxNodes", Line: 1, Message: `must be a whole number, got "99999999999999999999" (out of range)`}}},
		{name: "CFCreateNumberWithSpaces", in: `{"ComputeMaxNodes": " 5"}`,
			want: Errors{{Field: "ComputeMaxNodes", Line: 1, Message: `must be a whole number, got " 5"`}}},
		{name: "CFCreateInstanceTypeNotString", in: `{"ComputeInstanceType": 5}`,
			want: Errors{{Field: "ComputeInstanceType", Line: 1, Message: "must be an instance type name, like t3.small, got 5"}}},
		{name: "CFCreateOtherWithoutOtherKey", in: `{"ComputeInstanceType": "other"}`,
			want: Errors{{Field: "ComputeInstanceType", Line: 1, Message: `is "other" but ComputeInstanceTypeOther is not set; set ComputeInstanceTypeOther to the instance type, or set ComputeInstanceType to it directly`}}},
		{name: "CFCreateOtherKeyWithoutOther", in: `{"MasterInstanceType": "m5.large", "MasterInstanceTypeOther": "c5.large"}`,
			want: Errors{{Field: "MasterInstanceTypeOther", Line: 1, Message: `is only used when MasterInstanceType is "other", but MasterInstanceType is "m5.large"; remove one of them`}}},
		{name: "CFCreateMasterTypeIsNotAList", in: `{"MasterInstanceType": "m5.large,c5.large"}`,
			want: Errors{{Field: "MasterInstanceType", Line: 1, Message: `must be a single instance type, got "m5.large,c5.large" (only ComputeInstanceType takes a list)`}}},
		{name: "CFCreateUnknownTypeInList", in: `{"ComputeInstanceType": "m5.large, c5.larg"}`,
			want: Errors{{Field: "ComputeInstanceType", Line: 1, Message: `unknown instance type "c5.larg"; did you mean c5.large?`}}},
		{name: "CFCreateUnknownTypeViaOther", in: "{\n\"MasterInstanceType\": \"other\",\n\"MasterInstanceTypeOther\": \"q9.large-2C-4GB\"\n}",
			want: Errors{{Field: "MasterInstanceTypeOther", Line: 3, Message: `unknown instance type "q9.large"; did you mean c5.large, m5.large, r4.large?`}}},
		{name: "CFCreateInitialAboveMaxBothSet", in: `{"ComputeInitialNodes": "5", "ComputeMaxNodes": "2"}`,
			want: Errors{{Field: "ComputeMaxNodes", Line: 1, Message: "must be at least ComputeInitialNodes (5), got 2"}}},
		{name: "CFCreateInitialAboveTemplateMax", in: `{"ComputeInitialNodes": "5"}`,
			want: Errors{{Field: "ComputeInitialNodes", Line: 1, Message: "must be at most ComputeMaxNodes (4), got 5"}}},
		{name: "CFCreateMaxBelowTemplateMin", tmpl: &lab, in: `{"ComputeMaxNodes": "0"}`,
			want: Errors{{Field: "ComputeMaxNodes", Line: 1, Message: "must be at least ComputeMinNodes (1), got 0"}}},
		{name: "CFCreateInitialBelowMinBothSet", in: `{"ComputeInitialNodes": "1", "ComputeMinNodes": "2"}`,
			want: Errors{{Field: "ComputeInitialNodes", Line: 1, Message: "must be at least ComputeMinNodes (2), got 1"}}},
		{name: "CFCreateMinAboveMax", in: `{"ComputeMinNodes": "6", "ComputeMaxNodes": "5"}`,
			want: Errors{{Field: "ComputeMaxNodes", Line: 1, Message: "must be at least ComputeMinNodes (6), got 5"}}},
		{name: "CFCreateBadValueSkipsRelation", in: `{"ComputeMaxNodes": "ten", "ComputeInitialNodes": "10"}`,
			want: Errors{{Field: "ComputeMaxNodes", Line: 1, Message: `must be a whole number, got "ten"`}}},
		{name: "CFCreateTemplateFieldNamedByKey", tmpl: ptr(specWith(func(s *api.ClusterSpec) { s.Compute.Autoscaling = "sometimes" })), in: `{}`,
			want: Errors{{Field: "compute.autoscaling", Message: `must be "enabled" or "disabled", got "sometimes"`}}},
		{name: "CFCreateTemplateFieldNamedByCFKey", tmpl: ptr(specWith(func(s *api.ClusterSpec) { s.Compute.Autoscaling = "sometimes" })), in: `{"Region": "us-east-1"}`,
			want: Errors{{Field: "AutoscalingPolicy", Message: `must be "enabled" or "disabled", got "sometimes"`}}},
		{name: "CFCreateSpotWithoutPrice", in: `{"ClusterType": "spot"}`,
			want: Errors{{Field: "ClusterType", Line: 1, Message: `is "spot" but no ComputeSpotPrice is set; set ComputeSpotPrice to the most to pay per node and hour in dollars, like 0.03`}}},
		{name: "CFCreateSpotWithTemplatePrice", tmpl: &lab, in: `{"ClusterType": "spot"}`},
		{name: "CFCreateOnDemandWithPrice", in: `{"ClusterType": "ondemand", "ComputeSpotPrice": "0.03"}`,
			want: Errors{{Field: "ComputeSpotPrice", Line: 1, Message: `must not be set when ClusterType is "ondemand"; remove one of them`}}},
		{name: "CFCreateClusterTypeInvalid", in: `{"ClusterType": "Spot"}`,
			want: Errors{{Field: "ClusterType", Line: 1, Message: `must be "ondemand" or "spot", got "Spot"`}}},
		{name: "CFCreateSpotPriceZero", in: `{"ComputeSpotPrice": 0}`,
			want: Errors{{Field: "ComputeSpotPrice", Line: 1, Message: `must be more than 0, got "0"; to use on-demand instances leave it out`}}},
		{name: "CFCreateAutoscalingInvalid", in: `{"AutoscalingPolicy": "yes"}`,
			want: Errors{{Field: "AutoscalingPolicy", Line: 1, Message: `must be "enabled" or "disabled", got "yes"`}}},
		{name: "CFCreateDuplicateKey", in: "{\"ComputeMaxNodes\": \"5\",\n\"ComputeMaxNodes\": \"6\"}",
			want: Errors{{Field: "ComputeMaxNodes", Line: 2, Message: "set twice (first on line 1); keep one"}}},
		{name: "CFCreateNullIsUnset", in: `{"ComputeMaxNodes": null, "Region": "eu-west-1"}`},
		{name: "CFCreateInYAML", in: "ComputeMaxNodes: 3\nComputeInitialNodes: 5\n",
			want: Errors{{Field: "ComputeMaxNodes", Line: 1, Message: "must be at least ComputeInitialNodes (5), got 3"}}},
		{name: "CFCreateErrorsOrderedByLine", in: "{\n\"ComputeMaxNodes\": \"x\",\n\"MasterSystemVolumeSize\": \"1\",\n\"Foo\": 1\n}",
			want: Errors{
				{Field: "ComputeMaxNodes", Line: 2, Message: `must be a whole number, got "x"`},
				{Field: "MasterSystemVolumeSize", Line: 3, Message: "must be between 8 and 16384 (GB), got 1"},
				{Field: "Foo", Line: 4, Message: "unknown key; the cf-create keys are " + strings.Join(cfKeyNames(), ", ")},
			}},
		{name: "CFCreateUnprintableKeyQuoted", in: `{"Bad\nKey": 1}`,
			want: Errors{{Field: `"Bad\nKey"`, Line: 1, Message: "unknown key; the cf-create keys are " + strings.Join(cfKeyNames(), ", ")}}},
		{name: "NativeEmptyKeyQuoted", in: `{"": 1}`,
			want: Errors{{Field: `""`, Line: 1, Message: "unknown field; the fields here are region, head, compute"}}},
		{name: "NativeUnknownNestedField", in: "compute:\n  max_node: 3\n",
			want: Errors{{Field: "compute.max_node", Line: 2, Message: "unknown field; did you mean compute.max_nodes?"}}},
		{name: "NativeStringForNumber", in: "head:\n  volume_gb: \"16\"\n",
			want: Errors{{Field: "head.volume_gb", Line: 2, Message: `must be a whole number, got "16" (a string; write it without quotes)`}}},
		{name: "NativeTypesNotAList", in: "compute:\n  types: m5.large\n",
			want: Errors{{Field: "compute.types", Line: 2, Message: `must be a list of instance types, like [m5.large], got "m5.large"`}}},
		{name: "NativeTypeLineOfEntry", in: "compute:\n  types:\n    - m5.large\n    - m5.hueg\n",
			want: Errors{{Field: "compute.types[1]", Line: 4, Message: `unknown instance type "m5.hueg"; did you mean m5.2xlarge, m5.4xlarge, m5.large?`}}},
		{name: "NativeInitialAboveMax", in: "{\"compute\": {\n  \"initial_nodes\": 9}}",
			want: Errors{{Field: "compute.initial_nodes", Line: 2, Message: "must be at most compute.max_nodes (4), got 9"}}},
		{name: "NativeSpotPriceAsNumber", in: "compute: {spot_price: 0.5}"},
		{name: "NativeEmptySpotPriceMeansOnDemand", tmpl: &lab, in: "compute: {spot_price: \"\"}"},
		{name: "NativeNotAMapping", in: "just a string",
			want: Errors{{Line: 1, Message: `the request must be a mapping of keys to values (a JSON object or YAML mapping), got "just a string"`}}},
		{name: "NativeYAMLAlias", in: "head: &h {type: t3.small}\ncompute: *h\n",
			want: Errors{{Line: 2, Message: "invalid YAML: aliases (*h) are not supported; write the value out"}}},
		{name: "NativeTwoYAMLDocuments", in: "region: us-east-1\n---\nregion: eu-west-1\n",
			want: Errors{{Line: 2, Message: "invalid YAML: only one document is allowed, found a second one"}}},
		{name: "NativeDuplicateField", in: "compute:\n  max_nodes: 3\n  max_nodes: 4\n",
			want: Errors{{Field: "compute.max_nodes", Line: 3, Message: "set twice (first on line 2); keep one"}}},

		// Scheduling fields, native.
		{name: "NativeScaleDownInvalid", in: "compute:\n  scale_down: never\n",
			want: Errors{{Field: "compute.scale_down", Line: 2, Message: `must be "stratus", "immediate", "idle" or "billing-hour", got "never"`}}},
		{name: "NativeScaleDownNotString", in: "compute:\n  scale_down: 5\n",
			want: Errors{{Field: "compute.scale_down", Line: 2, Message: `must be "stratus", "immediate", "idle" or "billing-hour", got 5`}}},
		{name: "NativeIdleTimeoutUnquoted", in: "compute:\n  scale_down: idle\n  idle_timeout: 5m\n"},
		{name: "NativeIdleTimeoutNotADuration", in: "compute:\n  idle_timeout: ten\n",
			want: Errors{{Field: "compute.idle_timeout", Line: 2, Message: `must be a duration like 10m, got "ten"`}}},
		{name: "NativeIdleTimeoutNumber", in: "compute:\n  idle_timeout: 10\n",
			want: Errors{{Field: "compute.idle_timeout", Line: 2, Message: "must be a duration like 10m, got 10 (a number without a unit; write it like 10s or 10m)"}}},
		{name: "NativeIdleTimeoutZeroNumber", in: `{"compute": {"idle_timeout": 0}}`},
		{name: "NativeIdleTimeoutTooLong", in: "compute:\n  idle_timeout: 25h\n",
			want: Errors{{Field: "compute.idle_timeout", Line: 2, Message: `must be between 0s and 24h, got "25h"`}}},
		{name: "NativeIdleTimeoutList", in: "compute:\n  idle_timeout: [10m]\n",
			want: Errors{{Field: "compute.idle_timeout", Line: 2, Message: "must be a duration like 10m, got a list"}}},
		{name: "NativeIdleTimeoutEmpty", in: "compute:\n  idle_timeout: \"\"\n",
			want: Errors{{Field: "compute.idle_timeout", Line: 2, Message: `must be a duration like 10m, got ""`}}},
		{name: "NativeIdleTimeoutNullIsUnset", in: "compute:\n  idle_timeout:\n"},
		{name: "NativeBatchWindowTooLong", in: `{"compute": {"batch_window": "11m"}}`,
			want: Errors{{Field: "compute.batch_window", Line: 1, Message: `must be between 0s and 10m, got "11m"`}}},
		{name: "NativeBatchWindowBool", in: "compute:\n  batch_window: true\n",
			want: Errors{{Field: "compute.batch_window", Line: 2, Message: "must be a duration like 10s, got true"}}},
		{name: "NativeTimeLimitTooShort", in: "compute:\n  default_time_limit: 0s\n",
			want: Errors{{Field: "compute.default_time_limit", Line: 2, Message: `must be between 1s and 720h, got "0s"`}}},
		{name: "NativeTimeLimitZeroNumber", in: "compute:\n  default_time_limit: 0\n",
			want: Errors{{Field: "compute.default_time_limit", Line: 2, Message: `must be between 1s and 720h, got "0"`}}},
		{name: "NativeTimeLimitFloat", in: "compute:\n  default_time_limit: 1.5\n",
			want: Errors{{Field: "compute.default_time_limit", Line: 2, Message: "must be a duration like 1h, got 1.5 (a number without a unit; write it like 1.5s or 1.5m)"}}},
		{name: "NativeMaxRequeuesString", in: "compute:\n  max_requeues: \"5\"\n",
			want: Errors{{Field: "compute.max_requeues", Line: 2, Message: `must be a whole number, got "5" (a string; write it without quotes)`}}},
		{name: "NativeMaxRequeuesTooMany", in: "compute:\n  max_requeues: 101\n",
			want: Errors{{Field: "compute.max_requeues", Line: 2, Message: "must be between 0 and 100, got 101"}}},
		{name: "NativeMaxRequeuesNegative", in: "compute:\n  max_requeues: -1\n",
			want: Errors{{Field: "compute.max_requeues", Line: 2, Message: "must be between 0 and 100, got -1"}}},
		{name: "NativeUnknownSchedulingFieldSuggests", in: "compute:\n  idle_timout: 5m\n",
			want: Errors{{Field: "compute.idle_timout", Line: 2, Message: "unknown field; did you mean compute.idle_timeout?"}}},
		{name: "NativeTemplateDurationNamedByPath", tmpl: ptr(specWith(func(s *api.ClusterSpec) { s.Compute.BatchWindow = "soon" })), in: `{"compute": {"max_nodes": 2}}`,
			want: Errors{{Field: "compute.batch_window", Message: `must be a duration like 10s, got "soon"`}}},

		// Scheduling fields, cf-create.
		{name: "CFCreateScaleDownPolicyInvalid", in: `{"ScaleDownPolicy": "hourly"}`,
			want: Errors{{Field: "ScaleDownPolicy", Line: 1, Message: `must be "stratus", "immediate", "idle" or "billing-hour", got "hourly"`}}},
		{name: "CFCreateIdletimeAsString", in: `{"ScaledownIdletime": "15"}`},
		{name: "CFCreateIdletimeWithIdlePolicy", in: `{"ScaleDownPolicy": "idle", "ScaledownIdletime": 15}`},
		{name: "CFCreateIdletimeNotMinutes", in: `{"ScaledownIdletime": "10m"}`,
			want: Errors{{Field: "ScaledownIdletime", Line: 1, Message: `must be a whole number of minutes, like 10, got "10m"`}}},
		{name: "CFCreateIdletimeFraction", in: `{"ScaledownIdletime": 1.5}`,
			want: Errors{{Field: "ScaledownIdletime", Line: 1, Message: "must be a whole number of minutes, like 10, got 1.5"}}},
		{name: "CFCreateIdletimeNegative", in: `{"ScaledownIdletime": -1}`,
			want: Errors{{Field: "ScaledownIdletime", Line: 1, Message: "must be between 0 and 1440 (minutes), got -1"}}},
		{name: "CFCreateIdletimeTooLong", in: `{"ScaledownIdletime": "1441"}`,
			want: Errors{{Field: "ScaledownIdletime", Line: 1, Message: `must be between 0 and 1440 (minutes), got "1441"`}}},
		{name: "CFCreateIdletimeOutOfRange", in: `{"ScaledownIdletime": 99999999999999999999}`,
			want: Errors{{Field: "ScaledownIdletime", Line: 1, Message: "must be a whole number of minutes, like 10, got 99999999999999999999 (out of range)"}}},
		{name: "CFCreateIdletimeWithOtherPolicy", in: "{\"ScaledownIdletime\": 5,\n\"ScaleDownPolicy\": \"immediate\"}",
			want: Errors{{Field: "ScaledownIdletime", Line: 1, Message: `is only used by the "idle" policy, but ScaleDownPolicy is "immediate"; set ScaleDownPolicy to "idle", or remove ScaledownIdletime`}}},
		{name: "CFCreateIdletimeWithInvalidPolicy", in: `{"ScaledownIdletime": 5, "ScaleDownPolicy": "sometimes"}`,
			want: Errors{{Field: "ScaleDownPolicy", Line: 1, Message: `must be "stratus", "immediate", "idle" or "billing-hour", got "sometimes"`}}},
		{name: "CFCreateTimeLimitDuration", in: `{"JobDefaultTimeLimit": "1h30m"}`},
		{name: "CFCreateTimeLimitMinutes", in: `{"JobDefaultTimeLimit": 90}`},
		{name: "CFCreateTimeLimitNotADuration", in: `{"JobDefaultTimeLimit": "1:30:00"}`,
			want: Errors{{Field: "JobDefaultTimeLimit", Line: 1, Message: `must be a duration like 1h, or a whole number of minutes, got "1:30:00"`}}},
		{name: "CFCreateTimeLimitZeroMinutes", in: `{"JobDefaultTimeLimit": "0"}`,
			want: Errors{{Field: "JobDefaultTimeLimit", Line: 1, Message: `must be between 1 and 43200 (minutes), got "0"`}}},
		{name: "CFCreateTimeLimitTooManyMinutes", in: `{"JobDefaultTimeLimit": 43201}`,
			want: Errors{{Field: "JobDefaultTimeLimit", Line: 1, Message: "must be between 1 and 43200 (minutes), got 43201"}}},
		{name: "CFCreateTimeLimitDurationTooLong", in: `{"JobDefaultTimeLimit": "721h"}`,
			want: Errors{{Field: "JobDefaultTimeLimit", Line: 1, Message: `must be between 1s and 720h, got "721h"`}}},
		{name: "CFCreateTimeLimitBool", in: `{"JobDefaultTimeLimit": false}`,
			want: Errors{{Field: "JobDefaultTimeLimit", Line: 1, Message: "must be a duration like 1h, or a whole number of minutes, got false"}}},
		{name: "CFCreateMaxRequeuesString", in: `{"MaxRequeues": "0"}`},
		{name: "CFCreateMaxRequeuesTooMany", in: `{"MaxRequeues": "500"}`,
			want: Errors{{Field: "MaxRequeues", Line: 1, Message: "must be between 0 and 100, got 500"}}},
		{name: "CFCreateMaxRequeuesNotNumber", in: `{"MaxRequeues": "many"}`,
			want: Errors{{Field: "MaxRequeues", Line: 1, Message: `must be a whole number, got "many"`}}},
		{name: "CFCreateScaleDownTypoSuggests", in: `{"ScaleDownIdleTime": 10}`,
			want: Errors{{Field: "ScaleDownIdleTime", Line: 1, Message: "unknown key; did you mean ScaledownIdletime?"}}},
		{name: "CFCreateTemplateTimeLimitNamedByCFKey", tmpl: ptr(specWith(func(s *api.ClusterSpec) { s.Compute.DefaultTimeLimit = "0s" })), in: `{"Region": "us-east-1"}`,
			want: Errors{{Field: "JobDefaultTimeLimit", Message: `must be between 1s and 720h, got "0s"`}}},
	}
	cat := cost.DefaultCatalog()
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			tmpl := DefaultTemplate()
			if tc.tmpl != nil {
				tmpl = *tc.tmpl
			}
			s, err := Build([]byte(tc.in), tc.filename, tmpl, cat)
			got := asErrors(t, err)
			if diff := cmp.Diff(tc.want, got); diff != "" {
				t.Errorf("Build(%q) (-want +got):\n%s", tc.in, diff)
			}
			if err == nil {
				if verr := Validate(s, cat); verr != nil {
					t.Errorf("Build returned a spec that Validate rejects: %v", verr)
				}
			} else if !cmp.Equal(s, api.ClusterSpec{}) {
				t.Errorf("Build returned an error and a spec: %+v", s)
			}
		})
	}
}

func ptr[T any](v T) *T { return &v }

func cfKeyNames() []string {
	var out []string
	for _, k := range cfCreateKeys {
		out = append(out, k.key)
	}
	return out
}

func TestParse_SyntaxErrorLines(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name     string
		filename string
		in       string
		want     FieldError
	}{
		{"JSONMissingComma", "", "{\n  \"ComputeMaxNodes\": \"5\"\n  \"ComputeInitialNodes\": \"0\"\n}",
			FieldError{Line: 3, Message: `invalid JSON (column 3): invalid character '"' after object key:value pair`}},
		{"JSONTrailingComma", "", "{\"compute\": {\n    \"max_nodes\": 3,\n  }\n}",
			FieldError{Line: 3, Message: "invalid JSON (column 3): invalid character '}' looking for beginning of object key string"}},
		{"JSONUnterminated", "", "{\n  \"Region\": \"us-east-1\"",
			FieldError{Line: 2, Message: "invalid JSON (column 23): unexpected end of JSON input"}},
		{"JSONGarbageAfter", "", "{}\n\nx",
			FieldError{Line: 3, Message: "invalid JSON (column 1): invalid character 'x' after top-level value"}},
		{"JSONByExtension", "req.cf-create", "Region: us-east-1\n",
			FieldError{Line: 1, Message: "invalid JSON (column 1): invalid character 'R' looking for beginning of value"}},
		{"JSONFirstLineColumn", "", `{"a" 1}`,
			FieldError{Line: 1, Message: "invalid JSON (column 6): invalid character '1' after object key"}},
		{"YAMLBadIndentation", "", "region: us-east-1\ncompute:\n  max_nodes: 4\n   min_nodes: 1\n",
			FieldError{Line: 4, Message: "invalid YAML: mapping values are not allowed in this context"}},
		{"YAMLTab", "", "compute:\n\tmax_nodes: 4\n",
			FieldError{Line: 2, Message: "invalid YAML: found character that cannot start any token"}},
		{"YAMLUnclosedFlow", "spec.yaml", "compute: {max_nodes: 4\nregion: x\n",
			FieldError{Line: 1, Message: "invalid YAML: did not find expected ',' or '}'"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			_, err := Parse([]byte(tc.in), tc.filename)
			got := asErrors(t, err)
			if diff := cmp.Diff(Errors{tc.want}, got); diff != "" {
				t.Errorf("Parse(%q) (-want +got):\n%s", tc.in, diff)
			}
		})
	}
}

func TestParse_Format(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name, filename, in string
		want               Format
	}{
		{"CFCreateJSON", "", `{"ComputeMaxNodes": "3"}`, FormatCFCreate},
		{"CFCreateAnyUpperCaseKey", "", `{"region": "x", "ComputeMaxNodes": "3"}`, FormatCFCreate},
		{"NativeJSON", "", `{"compute": {"max_nodes": 3}}`, FormatNative},
		{"NativeYAML", "", "compute:\n  max_nodes: 3\n", FormatNative},
		{"NativeYAMLFlowMapping", "x.yaml", "{compute: {max_nodes: 3}}", FormatNative},
		{"EmptyDocument", "", "  \n", FormatNative},
		{"EmptyObject", "x.cf-create", "{}", FormatNative},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			req, _ := Parse([]byte(tc.in), tc.filename) // unknown keys are errors, but the format is known
			if req.Format != tc.want {
				t.Errorf("Format = %q, want %q", req.Format, tc.want)
			}
		})
	}
}

func TestParse_SourcesNameTheUsersKeys(t *testing.T) {
	t.Parallel()
	in := "{\n\"ComputeInstanceType\": \"other\",\n\"ComputeInstanceTypeOther\": \"r4.large-2C-15.25GB\",\n\"ComputeMaxNodes\": 3\n}"
	req, err := Parse([]byte(in), "")
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]Source{
		"compute.types":     {Key: "ComputeInstanceTypeOther", Line: 3},
		"compute.max_nodes": {Key: "ComputeMaxNodes", Line: 4},
	}
	if diff := cmp.Diff(want, req.Sources); diff != "" {
		t.Errorf("Sources (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff(&[]string{"r4.large"}, req.ComputeTypes); diff != "" {
		t.Errorf("ComputeTypes (-want +got):\n%s", diff)
	}
}

func TestMerge(t *testing.T) {
	t.Parallel()
	lab := specWith(func(s *api.ClusterSpec) {
		s.Region = "eu-west-1"
		s.Compute.SpotPrice = "0.05"
		s.Compute.MinNodes, s.Compute.InitialNodes, s.Compute.MaxNodes = 1, 3, 8
	})
	tests := []struct {
		name string
		req  Request
		want api.ClusterSpec
	}{
		{"NothingSet", Request{}, lab},
		{"OnlySetFieldsChange", Request{Region: ptr("us-east-1"), HeadVolumeGB: ptr(100), ComputeTypes: &[]string{"m5.large"}},
			specWith(func(s *api.ClusterSpec) {
				*s = lab
				s.Region, s.Head.VolumeGB, s.Compute.Types = "us-east-1", 100, []string{"m5.large"}
			})},
		{"EveryField", Request{
			Region: ptr("r"), HeadType: ptr("h"), HeadVolumeGB: ptr(1), ComputeTypes: &[]string{"a", "b"},
			ComputeInitialNodes: ptr(2), ComputeMinNodes: ptr(2), ComputeMaxNodes: ptr(9), ComputeVolumeGB: ptr(3),
			ComputeSpotPrice: ptr("0.01"), ComputeAutoscaling: ptr("disabled"),
			ComputeScaleDown: ptr("idle"), ComputeIdleTimeout: ptr("5m"), ComputeBatchWindow: ptr("0s"),
			ComputeDefaultTimeLimit: ptr("90m"), ComputeMaxRequeues: ptr(0),
		}, api.ClusterSpec{Region: "r", Head: api.HeadSpec{Type: "h", VolumeGB: 1}, Compute: api.ComputeSpec{
			Types: []string{"a", "b"}, InitialNodes: 2, MinNodes: 2, MaxNodes: 9, VolumeGB: 3, SpotPrice: "0.01", Autoscaling: "disabled",
			ScaleDown: "idle", IdleTimeout: "5m", BatchWindow: "0s", DefaultTimeLimit: "90m", MaxRequeues: 0}}},
		{"SchedulingFieldsOneByOne", Request{ComputeMaxRequeues: ptr(0), ComputeIdleTimeout: ptr("1h")},
			specWith(func(s *api.ClusterSpec) { *s = lab; s.Compute.MaxRequeues, s.Compute.IdleTimeout = 0, "1h" })},
		{"OnDemandDropsTemplateSpotPrice", Request{ClusterType: "ondemand"},
			specWith(func(s *api.ClusterSpec) { *s = lab; s.Compute.SpotPrice = "" })},
		{"EmptySpotPriceOverrides", Request{ComputeSpotPrice: ptr("")},
			specWith(func(s *api.ClusterSpec) { *s = lab; s.Compute.SpotPrice = "" })},
		{"MinRaisesTemplateInitial", Request{ComputeMinNodes: ptr(5)},
			specWith(func(s *api.ClusterSpec) { *s = lab; s.Compute.MinNodes, s.Compute.InitialNodes = 5, 5 })},
		{"TemplateMinRaisesRequestInitial", Request{ComputeInitialNodes: ptr(0)},
			specWith(func(s *api.ClusterSpec) { *s = lab; s.Compute.InitialNodes = 1 })},
		{"InitialBelowMinBothSetKept", Request{ComputeInitialNodes: ptr(1), ComputeMinNodes: ptr(2)},
			specWith(func(s *api.ClusterSpec) { *s = lab; s.Compute.MinNodes, s.Compute.InitialNodes = 2, 1 })},
		{"MaxLowersTemplateInitial", Request{ComputeMaxNodes: ptr(2)},
			specWith(func(s *api.ClusterSpec) { *s = lab; s.Compute.MaxNodes, s.Compute.InitialNodes = 2, 2 })},
		{"RequestInitialAboveMaxKept", Request{ComputeInitialNodes: ptr(9)},
			specWith(func(s *api.ClusterSpec) { *s = lab; s.Compute.InitialNodes = 9 })},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			tmpl := lab
			tmpl.Compute.Types = []string{"t3.small"}
			got := Merge(tmpl, tc.req)
			if diff := cmp.Diff(tc.want, got); diff != "" {
				t.Errorf("Merge (-want +got):\n%s", diff)
			}
			got.Compute.Types[0] = "changed"
			if tmpl.Compute.Types[0] != "t3.small" {
				t.Error("Merge's result shares the template's types")
			}
		})
	}
}

func TestReduceType(t *testing.T) {
	t.Parallel()
	tests := map[string]string{
		"r4.large-2C-15.25GB":   "r4.large",
		"m5.xlarge-4vCPU-16GiB": "m5.xlarge",
		"t3.small":              "t3.small",
		"r4.large-memory":       "r4.large-memory", // not a description
		"my-type":               "my-type",
		"r4.large-":             "r4.large-",
		"r4.large-2C--15GB":     "r4.large-2C--15GB",
		"other":                 "other",
		"-2C":                   "-2C",
		"R4.large-2C":           "R4.large-2C", // not a type name
	}
	for in, want := range tests {
		if got := reduceType(in); got != want {
			t.Errorf("reduceType(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestValidateName(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name, in, wantMsg string
	}{
		{"Simple", "lab-1", ""},
		{"SingleDigit", "7", ""},
		{"UpperCase", "Lab-A", ""},
		{"LongestAccepted", strings.Repeat("a", 63), ""},
		{"Empty", "", "must not be empty; use letters, digits and dashes, like lab-1"},
		{"TooLong", strings.Repeat("a", 64), "must be at most 63 characters, got 64"},
		{"LeadingDash", "-lab", `must match [a-zA-Z0-9][-a-zA-Z0-9]* (letters, digits and dashes, not starting with a dash), got "-lab"`},
		{"Underscore", "my_lab", `must match [a-zA-Z0-9][-a-zA-Z0-9]* (letters, digits and dashes, not starting with a dash), got "my_lab"`},
		{"Dot", "lab.1", `must match [a-zA-Z0-9][-a-zA-Z0-9]* (letters, digits and dashes, not starting with a dash), got "lab.1"`},
		{"Unicode", "läb", `must match [a-zA-Z0-9][-a-zA-Z0-9]* (letters, digits and dashes, not starting with a dash), got "läb"`},
		{"Newline", "lab\n", `must match [a-zA-Z0-9][-a-zA-Z0-9]* (letters, digits and dashes, not starting with a dash), got "lab\n"`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			got := asErrors(t, ValidateName(tc.in))
			var want Errors
			if tc.wantMsg != "" {
				want = Errors{{Field: "name", Message: tc.wantMsg}}
			}
			if diff := cmp.Diff(want, got); diff != "" {
				t.Errorf("ValidateName(%q) (-want +got):\n%s", tc.in, diff)
			}
		})
	}
}

func TestErrors_Format(t *testing.T) {
	t.Parallel()
	es := Errors{
		{Field: "ComputeMaxNodes", Line: 3, Message: "must be at least ComputeInitialNodes (5), got 2"},
		{Field: "compute.types", Message: "must list at least one instance type"},
		{Line: 7, Message: "invalid YAML: x"},
	}
	want := "line 3: ComputeMaxNodes: must be at least ComputeInitialNodes (5), got 2\n" +
		"compute.types: must list at least one instance type\n" +
		"line 7: invalid YAML: x"
	if got := es.Error(); got != want {
		t.Errorf("Error() =\n%s\nwant\n%s", got, want)
	}
	wantAPI := []api.FieldError{
		{Field: "ComputeMaxNodes", Line: 3, Message: "must be at least ComputeInitialNodes (5), got 2"},
		{Field: "compute.types", Message: "must list at least one instance type"},
		{Line: 7, Message: "invalid YAML: x"},
	}
	if diff := cmp.Diff(wantAPI, es.API()); diff != "" {
		t.Errorf("API() (-want +got):\n%s", diff)
	}
}

func TestParseTemplate_DefaultsFillGaps(t *testing.T) {
	t.Parallel()
	got, err := ParseTemplate([]byte("region: eu-north-1\ncompute:\n  spot_price: 0.050\n"), "t.yaml")
	if err != nil {
		t.Fatal(err)
	}
	want := DefaultTemplate()
	want.Region = "eu-north-1"
	want.Compute.SpotPrice = "0.05"
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("(-want +got):\n%s", diff)
	}
}

func TestParseTemplate_ErrorsHaveLines(t *testing.T) {
	t.Parallel()
	_, err := ParseTemplate([]byte("head:\n  volume_gb: 2\ncompute:\n  types: [m5.lrge]\n"), "t.yaml")
	want := Errors{
		{Field: "head.volume_gb", Line: 2, Message: "must be between 8 and 16384 (GB), got 2"},
		{Field: "compute.types[0]", Line: 4, Message: `unknown instance type "m5.lrge"; did you mean m5.large?`},
	}
	if diff := cmp.Diff(want, asErrors(t, err)); diff != "" {
		t.Errorf("(-want +got):\n%s", diff)
	}
}

func TestParseTemplate_EmptyIsRefusedAsATemplate(t *testing.T) {
	t.Parallel()
	_, err := ParseTemplate([]byte("# nothing yet\n"), "template.yaml")
	want := Errors{{Message: "empty document: template.yaml has nothing in it but white space or comments; " +
		"write the template (YAML or JSON) in it, or {} to keep every built-in default"}}
	if diff := cmp.Diff(want, asErrors(t, err)); diff != "" {
		t.Errorf("(-want +got):\n%s", diff)
	}
}

func TestBuild_ManyProblemsCapped(t *testing.T) {
	t.Parallel()
	var b strings.Builder
	b.WriteString("{")
	for i := 0; i < MaxErrors+20; i++ {
		fmt.Fprintf(&b, "%q: 1,\n", fmt.Sprintf("Unknown%d", i))
	}
	b.WriteString("\"ComputeMaxNodes\": 2}")
	_, err := Build([]byte(b.String()), "", DefaultTemplate(), nil)
	es := asErrors(t, err)
	if len(es) != MaxErrors+1 {
		t.Fatalf("got %d problems, want %d", len(es), MaxErrors+1)
	}
	if want := (FieldError{Field: "Unknown0", Line: 1}); es[0].Field != want.Field || es[0].Line != want.Line {
		t.Errorf("first problem %+v, want field %s on line 1", es[0], want.Field)
	}
	if want := (FieldError{Message: "and 20 more problems"}); es[MaxErrors] != want {
		t.Errorf("last entry %+v, want %+v", es[MaxErrors], want)
	}
}
