package policy

// Per-user customisation of clusters: the ssh_keys and bootstrap fields of
// a limits entry.
//
//	limits:
//	  ann:
//	    ssh_keys:
//	      - ssh-ed25519 AAAAC3Nza... ann@laptop
//	    bootstrap:
//	      all: [scripts/common.sh]      # every node, first
//	      head: [scripts/head.sh]       # then the head node's
//	      compute: [scripts/compute.sh] # then each compute node's
//
// Parse checks the fields' shape and every key (ssh.ParseAuthorizedKey);
// ReadFile then reads the scripts, relative to the policy file's directory,
// so a missing, oversized or shebang-less script is an error of the policy
// file like a syntax error, and a reload keeps the last good policy. The
// customisation that applies to a user is that of the entry their limits
// come from (For).

import (
	"bytes"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"golang.org/x/crypto/ssh"
	"gopkg.in/yaml.v3"

	"github.com/stratus-cloud/stratus/api"
	"github.com/stratus-cloud/stratus/internal/spec"
)

// Limits on customisation.
const (
	// MaxScriptSize is the largest bootstrap script accepted.
	MaxScriptSize = 64 << 10
	// MaxSSHKeys is the most ssh_keys one entry may list.
	MaxSSHKeys = 100
	// MaxScripts is the most scripts one bootstrap list may name.
	MaxScripts = 20
)

// Bootstrap names the scripts an entry's users' nodes run once when they
// first start: All on every node, then Head on the head node or Compute on
// each compute node.
type Bootstrap struct {
	All, Head, Compute []Script
}

// Empty reports whether b names no script.
func (b Bootstrap) Empty() bool { return len(b.All)+len(b.Head)+len(b.Compute) == 0 }

// Script is one bootstrap script of the policy.
type Script struct {
	// Path is the path as the policy file gives it.
	Path string
	// Field and Line say where the policy names it.
	Field string
	Line  int
	// Content is the file's content, read by LoadScripts.
	Content []byte
}

// parseSSHKeys reads an ssh_keys list: authorized_keys lines.
func parseSSHKeys(v *yaml.Node, field string, fail failFunc) []string {
	if v.Kind != yaml.SequenceNode || len(v.Content) == 0 {
		fail(v, field, "must be a non-empty list of authorized_keys lines, like [\"ssh-ed25519 AAAA... ann@laptop\"]")
		return nil
	}
	if len(v.Content) > MaxSSHKeys {
		fail(v, field, "lists %d keys; at most %d are allowed", len(v.Content), MaxSSHKeys)
		return nil
	}
	var keys []string
	for i, n := range v.Content {
		f := fmt.Sprintf("%s[%d]", field, i)
		line := strings.TrimSpace(n.Value)
		if n.Kind != yaml.ScalarNode || line == "" {
			fail(n, f, "must be an authorized_keys line, like \"ssh-ed25519 AAAA... ann@laptop\"")
			continue
		}
		if err := CheckAuthorizedKey(line); err != nil {
			fail(n, f, "%v", err)
			continue
		}
		if slices.Contains(keys, line) {
			fail(n, f, "lists the same key twice")
			continue
		}
		keys = append(keys, line)
	}
	return keys
}

// CheckAuthorizedKey reports whether line is one authorized_keys line: an
// optional options field, a key type, the base64 key and a comment.
func CheckAuthorizedKey(line string) error {
	if strings.ContainsAny(line, "\r\n") {
		return fmt.Errorf("must be one authorized_keys line, without line breaks")
	}
	_, _, _, rest, err := ssh.ParseAuthorizedKey([]byte(line))
	if err != nil {
		return fmt.Errorf("not an authorized_keys line (%v): %q", strings.TrimPrefix(err.Error(), "ssh: "), shorten(line))
	}
	if len(bytes.TrimSpace(rest)) > 0 {
		return fmt.Errorf("must be one authorized_keys line: %q", shorten(line))
	}
	return nil
}

func shorten(s string) string {
	if len(s) > 60 {
		return s[:57] + "..."
	}
	return s
}

// parseBootstrap reads a bootstrap mapping of head, compute and all to
// lists of script paths. The scripts are read later, by LoadScripts.
func parseBootstrap(v *yaml.Node, field string, fail failFunc) Bootstrap {
	var b Bootstrap
	if v.Kind != yaml.MappingNode || len(v.Content) == 0 {
		fail(v, field, "must map head, compute or all to lists of script files, like {head: [setup-head.sh]}")
		return b
	}
	seen := map[string]bool{}
	for i := 0; i+1 < len(v.Content); i += 2 {
		k, lv := v.Content[i], v.Content[i+1]
		f := field + "." + k.Value
		if !once(seen, k, f, fail) {
			continue
		}
		var list *[]Script
		switch k.Value {
		case "head":
			list = &b.Head
		case "compute":
			list = &b.Compute
		case "all":
			list = &b.All
		default:
			fail(k, f, "unknown role; use head, compute or all")
			continue
		}
		if lv.Kind != yaml.SequenceNode || len(lv.Content) == 0 {
			fail(lv, f, "must be a non-empty list of script files, relative to the policy file's directory, like [setup.sh]")
			continue
		}
		if len(lv.Content) > MaxScripts {
			fail(lv, f, "lists %d scripts; at most %d are allowed", len(lv.Content), MaxScripts)
			continue
		}
		for j, n := range lv.Content {
			sf := fmt.Sprintf("%s[%d]", f, j)
			if n.Kind != yaml.ScalarNode || n.Value == "" || strings.ContainsRune(n.Value, 0) {
				fail(n, sf, "must be a script file's path, relative to the policy file's directory")
				continue
			}
			*list = append(*list, Script{Path: n.Value, Field: sf, Line: n.Line})
		}
	}
	return b
}

// LoadScripts reads every bootstrap script of p, with relative paths taken
// from dir, and checks each: it exists, is a regular file of at most
// MaxScriptSize bytes and starts with "#!". Problems are spec.Errors naming
// the field and line; p is left unchanged unless every script is good.
func (p *Policy) LoadScripts(dir string) error {
	var es spec.Errors
	contents := map[string][]byte{}
	p.eachScript(func(s *Script) {
		if len(es) >= spec.MaxErrors {
			return
		}
		data, err := readScript(dir, s.Path)
		if err != nil {
			es = append(es, spec.FieldError{Field: s.Field, Line: s.Line, Message: err.Error()})
			return
		}
		contents[s.Field] = data
	})
	if len(es) > 0 {
		return es
	}
	p.eachScript(func(s *Script) { s.Content = contents[s.Field] })
	return nil
}

func (p *Policy) eachScript(fn func(s *Script)) {
	for i := range p.Limits {
		b := &p.Limits[i].Bootstrap
		for _, list := range [][]Script{b.All, b.Head, b.Compute} {
			for j := range list {
				fn(&list[j])
			}
		}
	}
}

func readScript(dir, name string) ([]byte, error) {
	path := name
	if !filepath.IsAbs(path) {
		path = filepath.Join(dir, name)
	}
	f, err := os.Open(path)
	if err != nil {
		if os.IsNotExist(err) {
			return nil, fmt.Errorf("script %s does not exist (paths are relative to the policy file's directory %s)", path, dir)
		}
		return nil, fmt.Errorf("script %s cannot be read: %v", path, err)
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return nil, fmt.Errorf("script %s cannot be read: %v", path, err)
	}
	if !fi.Mode().IsRegular() {
		return nil, fmt.Errorf("script %s is not a regular file", path)
	}
	if fi.Size() > MaxScriptSize {
		return nil, fmt.Errorf("script %s is %d bytes; at most %d are allowed", path, fi.Size(), MaxScriptSize)
	}
	data, err := io.ReadAll(io.LimitReader(f, MaxScriptSize+1))
	if err != nil {
		return nil, fmt.Errorf("script %s cannot be read: %v", path, err)
	}
	if len(data) > MaxScriptSize {
		return nil, fmt.Errorf("script %s is more than %d bytes", path, MaxScriptSize)
	}
	if !bytes.HasPrefix(data, []byte("#!")) {
		return nil, fmt.Errorf("script %s must start with \"#!\" and its interpreter, like #!/bin/sh", path)
	}
	return data, nil
}

// Customisation returns the customisation l gives its users' clusters:
// its ssh keys, and per role the scripts to run in order (all, then the
// role's own). Script names are their paths as the policy gives them.
func (l Limits) Customisation() api.Customisation {
	c := api.Customisation{SSHKeys: append([]string(nil), l.SSHKeys...)}
	conv := func(lists ...[]Script) []api.BootstrapScript {
		var out []api.BootstrapScript
		for _, list := range lists {
			for _, s := range list {
				out = append(out, api.BootstrapScript{Name: s.Path, Content: append([]byte(nil), s.Content...)})
			}
		}
		return out
	}
	c.Head = conv(l.Bootstrap.All, l.Bootstrap.Head)
	c.Compute = conv(l.Bootstrap.All, l.Bootstrap.Compute)
	return c
}

// Customisation returns the customisation in force for user's new
// clusters: that of the entry their limits come from (For), or none.
func (p *Policy) Customisation(user string) api.Customisation {
	l, ok := p.For(user)
	if !ok {
		return api.Customisation{}
	}
	return l.Customisation()
}

// scriptStamp describes the current size and modification time of every
// script p names, so that the Enforcer notices an edited script as it
// notices an edited policy file. A nil policy has the empty stamp.
func (p *Policy) scriptStamp(dir string) string {
	if p == nil {
		return ""
	}
	var b strings.Builder
	p.eachScript(func(s *Script) {
		path := s.Path
		if !filepath.IsAbs(path) {
			path = filepath.Join(dir, path)
		}
		fmt.Fprintf(&b, "%s\x00", path)
		if fi, err := os.Stat(path); err == nil {
			fmt.Fprintf(&b, "%d %d", fi.Size(), fi.ModTime().UnixNano())
		}
		b.WriteByte('\n')
	})
	return b.String()
}

// Customisation returns the customisation in force for user's new
// clusters under the current policy (none without a policy).
func (e *Enforcer) Customisation(user string) api.Customisation {
	p := e.Current()
	if p == nil {
		return api.Customisation{}
	}
	return p.Customisation(user)
}

// parsedOnly returns the policy file name as parsed, without its scripts,
// or else if it does not parse: the policy whose scripts to watch after a
// reload failed (a script it names may be created next).
func parsedOnly(name string, otherwise *Policy) *Policy {
	data, err := os.ReadFile(name)
	if err != nil {
		return otherwise
	}
	p, err := Parse(data)
	if err != nil {
		return otherwise
	}
	return p
}
