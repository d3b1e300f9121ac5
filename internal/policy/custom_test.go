package policy

import (
	"bytes"
	"errors"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/stratus-cloud/stratus/api"
	"github.com/stratus-cloud/stratus/internal/spec"
)

const (
	keyAnn = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIM7MFQfcHd1ylZUcKQiI8JWtuQRNG3PWlubfBl1oO9T8 ann@laptop"
	keyBob = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIGt5xX5qCVI5KCwEgY6WES8/A6QAG6l6VkwjhSo/HqX8 bob"
)

// writeFiles writes name → content files under dir.
func writeFiles(t *testing.T, dir string, files map[string]string) {
	t.Helper()
	for name, content := range files {
		p := filepath.Join(dir, name)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
}

func TestCustomisationGood(t *testing.T) {
	dir := t.TempDir()
	writeFiles(t, dir, map[string]string{
		"policy.yaml": `users: "*"
groups:
  lab: [bob]
limits:
  ann:
    max_nodes_per_cluster: 4
    ssh_keys:
      - ` + keyAnn + `
      - 'from="10.0.0.0/8" ` + keyBob + `'
    bootstrap:
      all: [scripts/common.sh]
      head: [scripts/head.sh, /ABS/extra.sh]
      compute: [scripts/compute.sh]
  lab:
    bootstrap:
      head: [scripts/head.sh]
  "*":
    max_nodes_per_cluster: 2
`,
		"scripts/common.sh":  "#!/bin/sh\necho common\n",
		"scripts/head.sh":    "#!/bin/sh\necho head\n",
		"scripts/compute.sh": "#!/bin/sh\necho compute\n",
	})
	abs := t.TempDir()
	writeFiles(t, abs, map[string]string{"extra.sh": "#!/bin/bash\necho extra\n"})
	policyFile := filepath.Join(dir, "policy.yaml")
	data, _ := os.ReadFile(policyFile)
	os.WriteFile(policyFile, bytes.ReplaceAll(data, []byte("/ABS"), []byte(abs)), 0o644)

	p, err := ReadFile(policyFile)
	if err != nil {
		t.Fatal(err)
	}
	script := func(name, content string) api.BootstrapScript {
		return api.BootstrapScript{Name: name, Content: []byte(content)}
	}
	want := api.Customisation{
		SSHKeys: []string{keyAnn, `from="10.0.0.0/8" ` + keyBob},
		Head: []api.BootstrapScript{
			script("scripts/common.sh", "#!/bin/sh\necho common\n"),
			script("scripts/head.sh", "#!/bin/sh\necho head\n"),
			script(abs+"/extra.sh", "#!/bin/bash\necho extra\n"),
		},
		Compute: []api.BootstrapScript{
			script("scripts/common.sh", "#!/bin/sh\necho common\n"),
			script("scripts/compute.sh", "#!/bin/sh\necho compute\n"),
		},
	}
	if d := cmp.Diff(want, p.Customisation("ann")); d != "" {
		t.Errorf("ann's customisation (-want +got):\n%s", d)
	}
	// bob's limits come from the lab group, and so does his customisation.
	if d := cmp.Diff(api.Customisation{Head: []api.BootstrapScript{script("scripts/head.sh", "#!/bin/sh\necho head\n")}}, p.Customisation("bob")); d != "" {
		t.Errorf("bob's customisation (-want +got):\n%s", d)
	}
	// carol gets the "*" entry's: none.
	if c := p.Customisation("carol"); !c.Empty() {
		t.Errorf("carol's customisation = %+v, want none", c)
	}
}

func TestCustomisationParseErrors(t *testing.T) {
	testParseErrors(t, []parseErrorCase{
		{"keys scalar", "limits:\n  ann:\n    ssh_keys: " + keyAnn + "\n", "limits.ann.ssh_keys", 3, "list of authorized_keys lines"},
		{"keys empty", "limits:\n  ann:\n    ssh_keys: []\n", "limits.ann.ssh_keys", 3, "non-empty"},
		{"bad key", "limits:\n  ann:\n    ssh_keys:\n      - " + keyAnn + "\n      - ssh-ed25519 notbase64 x\n", "limits.ann.ssh_keys[1]", 5, "not an authorized_keys line"},
		{"not a key", "limits:\n  ann:\n    ssh_keys: [hello]\n", "limits.ann.ssh_keys[0]", 3, `"hello"`},
		{"two keys one line", "limits:\n  ann:\n    ssh_keys: [\"" + keyAnn + "\\n" + keyBob + "\"]\n", "limits.ann.ssh_keys[0]", 3, "one authorized_keys line"},
		{"dup key", "limits:\n  ann:\n    ssh_keys: [\"" + keyAnn + "\", \"" + keyAnn + "\"]\n", "limits.ann.ssh_keys[1]", 3, "twice"},
		{"bootstrap list", "limits:\n  ann:\n    bootstrap: [a.sh]\n", "limits.ann.bootstrap", 3, "must map head, compute or all"},
		{"bootstrap role", "limits:\n  ann:\n    bootstrap:\n      login: [a.sh]\n", "limits.ann.bootstrap.login", 4, "unknown role"},
		{"bootstrap scalar", "limits:\n  ann:\n    bootstrap:\n      head: a.sh\n", "limits.ann.bootstrap.head", 4, "non-empty list"},
		{"bootstrap empty path", "limits:\n  ann:\n    bootstrap:\n      head: [\"\"]\n", "limits.ann.bootstrap.head[0]", 4, "script file's path"},
	})
}

func TestCustomisationScriptErrors(t *testing.T) {
	big := "#!/bin/sh\n" + strings.Repeat("#", MaxScriptSize)
	for _, tc := range []struct {
		name  string
		files map[string]string
		dirs  []string
		field string
		line  int
		msg   string
	}{
		{"missing", nil, nil, "limits.ann.bootstrap.head[1]", 5, "does not exist"},
		{"no shebang", map[string]string{"b.sh": "echo hi\n"}, nil, "limits.ann.bootstrap.head[1]", 5, `must start with "#!"`},
		{"empty", map[string]string{"b.sh": ""}, nil, "limits.ann.bootstrap.head[1]", 5, `must start with "#!"`},
		{"too large", map[string]string{"b.sh": big}, nil, "limits.ann.bootstrap.head[1]", 5, "at most 65536"},
		{"directory", nil, []string{"b.sh"}, "limits.ann.bootstrap.head[1]", 5, "not a regular file"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			files := map[string]string{
				"policy.yaml": "users: [ann]\nlimits:\n  ann:\n    bootstrap:\n      head: [a.sh, b.sh]\n",
				"a.sh":        "#!/bin/sh\ntrue\n",
			}
			for k, v := range tc.files {
				files[k] = v
			}
			writeFiles(t, dir, files)
			for _, d := range tc.dirs {
				os.Mkdir(filepath.Join(dir, d), 0o755)
			}
			_, err := ReadFile(filepath.Join(dir, "policy.yaml"))
			var es spec.Errors
			if !errors.As(err, &es) || len(es) != 1 {
				t.Fatalf("got %v, want one spec.Error", err)
			}
			e := es[0]
			if e.Field != tc.field || e.Line != tc.line || !strings.Contains(e.Message, tc.msg) {
				t.Errorf("got %q (field %q line %d), want field %q line %d containing %q", e.Error(), e.Field, e.Line, tc.field, tc.line, tc.msg)
			}
		})
	}
}

// A broken script keeps the last good policy, as a broken policy file
// does; an edited script is picked up without touching the policy file,
// and so is a script that a failed reload was missing.
func TestCustomisationReload(t *testing.T) {
	dir := t.TempDir()
	file := filepath.Join(dir, "policy.yaml")
	age := -time.Hour
	write := func(name, content string) {
		t.Helper()
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
		age += time.Minute // distinct modification times even on coarse file systems
		mt := time.Now().Add(age)
		if err := os.Chtimes(p, mt, mt); err != nil {
			t.Fatal(err)
		}
	}
	write("head.sh", "#!/bin/sh\necho v1\n")
	write("policy.yaml", "users: [ann]\nlimits:\n  ann:\n    bootstrap: {head: [head.sh]}\n")
	var logs bytes.Buffer
	e := &Enforcer{Path: file, Logger: slog.New(slog.NewTextHandler(&logs, nil))}
	if err := e.Load(); err != nil {
		t.Fatal(err)
	}
	headScript := func() string {
		c := e.Customisation("ann")
		if len(c.Head) != 1 {
			return ""
		}
		return string(c.Head[0].Content)
	}
	if got := headScript(); got != "#!/bin/sh\necho v1\n" {
		t.Fatalf("head script %q", got)
	}
	write("head.sh", "#!/bin/sh\necho v2\n")
	if got := headScript(); got != "#!/bin/sh\necho v2\n" {
		t.Fatalf("edited script not picked up: %q", got)
	}
	write("head.sh", "echo no interpreter\n")
	if got := headScript(); got != "#!/bin/sh\necho v2\n" {
		t.Fatalf("broken script replaced the last good one: %q", got)
	}
	if !strings.Contains(logs.String(), "keeping the last good policy") || !strings.Contains(logs.String(), "limits.ann.bootstrap.head[0]") {
		t.Errorf("log does not say why: %s", logs.String())
	}
	write("policy.yaml", "users: [ann]\nlimits:\n  ann:\n    bootstrap: {head: [new.sh]}\n")
	if got := headScript(); got != "#!/bin/sh\necho v2\n" {
		t.Fatalf("policy naming a missing script replaced the last good one: %q", got)
	}
	write("new.sh", "#!/bin/sh\necho new\n")
	if got := headScript(); got != "#!/bin/sh\necho new\n" {
		t.Fatalf("script created after a failed reload not picked up: %q", got)
	}
}
