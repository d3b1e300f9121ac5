package spec

import (
	"bytes"
	"encoding/json"
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/stratus-cloud/stratus/api"
	"github.com/stratus-cloud/stratus/internal/cost"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata")

// requestFiles lists the golden inputs in dir: every file but the .golden
// ones.
func requestFiles(t testing.TB, dir string) []string {
	t.Helper()
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	var files []string
	for _, e := range entries {
		if !e.IsDir() && filepath.Ext(e.Name()) != ".golden" {
			files = append(files, filepath.Join(dir, e.Name()))
		}
	}
	if len(files) == 0 {
		t.Fatalf("no inputs in %s", dir)
	}
	return files
}

// render is what a golden file holds: the spec as indented JSON, or the
// error text.
func render(s api.ClusterSpec, err error) []byte {
	if err != nil {
		return []byte("error:\n" + err.Error() + "\n")
	}
	b, jerr := json.MarshalIndent(s, "", "  ")
	if jerr != nil {
		panic(jerr)
	}
	return append(b, '\n')
}

func checkGolden(t *testing.T, input string, got []byte) {
	t.Helper()
	golden := strings.TrimSuffix(input, filepath.Ext(input)) + ".golden"
	if *update {
		if err := os.WriteFile(golden, got, 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(golden)
	if err != nil {
		t.Fatalf("%v (run go test ./internal/spec -update to create it)", err)
	}
	if diff := cmp.Diff(string(want), string(got)); diff != "" {
		t.Errorf("%s differs from %s (-want +got):\n%s", input, golden, diff)
	}
}

func mustTemplate(t testing.TB, path string) api.ClusterSpec {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	s, err := ParseTemplate(data, path)
	if err != nil {
		t.Fatalf("template %s: %v", path, err)
	}
	return s
}

// TestBuild_Golden builds every request in testdata/requests and compares
// the result with its .golden file. Requests whose name starts with "lab-"
// are merged onto testdata/templates/lab.yaml, the others onto
// DefaultTemplate.
func TestBuild_Golden(t *testing.T) {
	lab := mustTemplate(t, "testdata/templates/lab.yaml")
	cat := cost.DefaultCatalog()
	for _, file := range requestFiles(t, "testdata/requests") {
		name := filepath.Base(file)
		t.Run(name, func(t *testing.T) {
			data, err := os.ReadFile(file)
			if err != nil {
				t.Fatal(err)
			}
			tmpl := DefaultTemplate()
			if strings.HasPrefix(name, "lab-") {
				tmpl = lab
			}
			s, err := Build(data, name, tmpl, cat)
			checkGolden(t, file, render(s, err))
		})
	}
}

// TestParseTemplate_Golden reads every template in testdata/templates.
func TestParseTemplate_Golden(t *testing.T) {
	for _, file := range requestFiles(t, "testdata/templates") {
		t.Run(filepath.Base(file), func(t *testing.T) {
			data, err := os.ReadFile(file)
			if err != nil {
				t.Fatal(err)
			}
			s, err := ParseTemplate(data, filepath.Base(file))
			checkGolden(t, file, render(s, err))
		})
	}
}

// TestExample_Verbatim makes sure the golden example is the users' file,
// byte for byte, as it is in the shared folder beside the repository.
func TestExample_Verbatim(t *testing.T) {
	shared, err := os.ReadFile("../../../shared/examples/cf-create.json")
	if os.IsNotExist(err) {
		if os.Getenv("CI") != "" {
			t.Fatal("../shared is not beside this checkout: CI must run with it there")
		}
		t.Skip("../shared is not beside this checkout")
	}
	if err != nil {
		t.Fatal(err)
	}
	for _, copy := range []string{"testdata/requests/cf-create-example.json", "testdata/requests/lab-cf-create-example.json"} {
		ours, err := os.ReadFile(copy)
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(shared, ours) {
			t.Errorf("%s is not a verbatim copy of shared/examples/cf-create.json", copy)
		}
	}
}

// TestBuild_CFCreateExample checks the example request field by field,
// independently of the golden file.
func TestBuild_CFCreateExample(t *testing.T) {
	data := []byte(`{"ComputeInstanceType": "other", "ComputeSpotPrice": "0.03", "ComputeInstanceTypeOther": "r4.large-2C-15.25GB", "MasterSystemVolumeSize": "16", "MasterInstanceType": "other", "ComputeMaxNodes": "25", "MasterInstanceTypeOther": "r4.large-2C-15.25GB", "ComputeInitialNodes": "0", "AutoscalingPolicy": "enabled"}`)
	got, err := Build(data, "", DefaultTemplate(), cost.DefaultCatalog())
	if err != nil {
		t.Fatal(err)
	}
	want := api.ClusterSpec{
		Head: api.HeadSpec{Type: "r4.large", VolumeGB: 16},
		Compute: api.ComputeSpec{
			Types:        []string{"r4.large"},
			InitialNodes: 0,
			MinNodes:     0,
			MaxNodes:     25,
			VolumeGB:     16,
			SpotPrice:    "0.03",
			Autoscaling:  "enabled",

			ScaleDown:        "stratus",
			IdleTimeout:      "10m0s",
			BatchWindow:      "10s",
			DefaultTimeLimit: "1h0m0s",
			MaxRequeues:      3,
		},
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("(-want +got):\n%s", diff)
	}
}
