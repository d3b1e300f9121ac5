package cost

import (
	_ "embed"
	"fmt"
	"sort"
	"strings"

	"gopkg.in/yaml.v3"
)

// InstanceType is one entry of the catalog.
type InstanceType struct {
	Name      string  `yaml:"name" json:"name"`
	VCPUs     int     `yaml:"vcpus" json:"vcpus"`
	MemoryGiB float64 `yaml:"memory_gib" json:"memory_gib"`
	// HourlyMicros is the on-demand price per hour.
	HourlyMicros Micros `yaml:"hourly_micros" json:"hourly_micros"`
}

// Catalog lists the instance types a provider offers, with prices.
type Catalog struct {
	// Source says where the prices come from and when they were read.
	Source string `yaml:"source"`
	// StorageMicrosPerGBMonth is the price of a GB of disk for a month
	// (30 days), charged for stopped instances' disks.
	StorageMicrosPerGBMonth Micros         `yaml:"storage_micros_per_gb_month"`
	Types                   []InstanceType `yaml:"types"`
	// RegionPrices, optional, gives hourly on-demand prices that differ
	// by region: region → type → micro-dollars. A type a region does not
	// list costs its HourlyMicros there.
	RegionPrices map[string]map[string]Micros `yaml:"region_prices"`

	byName map[string]InstanceType
}

//go:embed catalog.yaml
var defaultCatalogYAML []byte

// DefaultCatalog returns the catalog shipped with stratus.
func DefaultCatalog() *Catalog {
	c, err := ParseCatalog(defaultCatalogYAML)
	if err != nil {
		panic("built-in catalog: " + err.Error())
	}
	return c
}

// ParseCatalog reads a catalog in the YAML form of catalog.yaml.
func ParseCatalog(data []byte) (*Catalog, error) {
	var c Catalog
	if err := yaml.Unmarshal(data, &c); err != nil {
		return nil, fmt.Errorf("catalog: %w", err)
	}
	c.byName = make(map[string]InstanceType, len(c.Types))
	for i, t := range c.Types {
		if t.Name == "" {
			return nil, fmt.Errorf("catalog: types[%d].name is empty", i)
		}
		if t.HourlyMicros <= 0 {
			return nil, fmt.Errorf("catalog: types[%d].hourly_micros must be positive", i)
		}
		if _, dup := c.byName[t.Name]; dup {
			return nil, fmt.Errorf("catalog: type %s listed twice", t.Name)
		}
		c.byName[t.Name] = t
	}
	for region, prices := range c.RegionPrices {
		for typ, price := range prices {
			if _, ok := c.byName[typ]; !ok {
				return nil, fmt.Errorf("catalog: region_prices.%s.%s: no such type in types", region, typ)
			}
			if price <= 0 {
				return nil, fmt.Errorf("catalog: region_prices.%s.%s must be positive", region, typ)
			}
		}
	}
	return &c, nil
}

// Price returns the hourly on-demand price of typ in region: the region's
// own price if the catalog lists one, else the type's HourlyMicros.
func (c *Catalog) Price(region, typ string) (Micros, bool) {
	t, ok := c.byName[typ]
	if !ok {
		return 0, false
	}
	if p, ok := c.RegionPrices[region][typ]; ok {
		return p, true
	}
	return t.HourlyMicros, true
}

// Lookup returns the type called name.
func (c *Catalog) Lookup(name string) (InstanceType, bool) {
	t, ok := c.byName[name]
	return t, ok
}

// Names returns every type name, sorted.
func (c *Catalog) Names() []string {
	names := make([]string, 0, len(c.byName))
	for n := range c.byName {
		names = append(names, n)
	}
	sort.Strings(names)
	return names
}

// Suggest returns up to three type names that look like name, for error
// messages ("did you mean ...").
func (c *Catalog) Suggest(name string) []string {
	family, _, _ := strings.Cut(name, ".")
	var out []string
	for _, n := range c.Names() {
		if f, _, _ := strings.Cut(n, "."); f == family {
			out = append(out, n)
		}
		if len(out) == 3 {
			break
		}
	}
	return out
}
