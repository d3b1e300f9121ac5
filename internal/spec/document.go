package spec

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"path"
	"regexp"
	"sort"
	"strconv"
	"strings"

	"gopkg.in/yaml.v3"
)

// This file turns a request's bytes into a small syntax tree with line
// numbers, the same for JSON and YAML, so that the cf-create and native
// decoders need not care which syntax the user wrote.

type kind int

const (
	kindNull kind = iota
	kindString
	kindNumber
	kindBool
	kindMap
	kindList
)

// node is a value of the document.
type node struct {
	kind  kind
	text  string // scalars: the string, or the number or boolean as written
	line  int    // 1-based; 0 when unknown
	pairs []pair // kindMap, in document order
	items []*node
}

// pair is one key of a mapping.
type pair struct {
	key  string
	line int
	val  *node
}

// describe says what n is, for "got ..." in messages.
func (n *node) describe() string {
	switch n.kind {
	case kindString:
		return quote(n.text)
	case kindNumber, kindBool:
		return n.text
	case kindMap:
		return "a mapping"
	case kindList:
		return "a list"
	default:
		return "null"
	}
}

// maxDepth bounds the nesting of a document. Requests need three levels.
const maxDepth = 32

var utf8BOM = []byte("\xef\xbb\xbf")

// parseDocument parses data as JSON or YAML. It returns a nil node for an
// empty document. The syntax is chosen by the file name's extension
// (.json and .cf-create are JSON; .yaml and .yml are YAML); otherwise a
// document whose first non-blank character is '{' or '[' is JSON, and
// anything else YAML.
func parseDocument(data []byte, filename string) (*node, *FieldError) {
	data = bytes.TrimPrefix(data, utf8BOM)
	trimmed := bytes.TrimSpace(data)
	if len(trimmed) == 0 {
		return nil, nil
	}
	switch strings.ToLower(path.Ext(filename)) {
	case ".json", ".cf-create":
		return parseJSON(data)
	case ".yaml", ".yml":
		return parseYAML(data)
	}
	if trimmed[0] == '{' || trimmed[0] == '[' {
		return parseJSON(data)
	}
	return parseYAML(data)
}

// parseJSON parses a JSON document. Syntax errors carry the line, and the
// column in the message, computed from the byte offset.
func parseJSON(data []byte) (*node, *FieldError) {
	var raw json.RawMessage
	if err := json.Unmarshal(data, &raw); err != nil {
		var se *json.SyntaxError
		if errors.As(err, &se) {
			line, col := position(data, se.Offset)
			return nil, &FieldError{Line: line, Message: fmt.Sprintf("invalid JSON (column %d): %s", col, se.Error())}
		}
		return nil, &FieldError{Message: "invalid JSON: " + err.Error()}
	}
	p := jsonParser{dec: json.NewDecoder(bytes.NewReader(data)), lines: lineStarts(data)}
	p.dec.UseNumber()
	n, err := p.value(0)
	if err != nil {
		return nil, err
	}
	return n, nil
}

// position turns the offset of a json.SyntaxError (the error happened after
// reading offset bytes) into a 1-based line and column.
func position(data []byte, offset int64) (line, col int) {
	at := int(offset) - 1 // the byte the error is about
	if at < 0 {
		at = 0
	}
	if at > len(data) {
		at = len(data)
	}
	before := data[:at]
	line = 1 + bytes.Count(before, []byte("\n"))
	col = at - bytes.LastIndexByte(before, '\n')
	return line, col
}

// lineStarts returns the offsets at which each line of data starts.
func lineStarts(data []byte) []int {
	starts := []int{0}
	for i, b := range data {
		if b == '\n' {
			starts = append(starts, i+1)
		}
	}
	return starts
}

type jsonParser struct {
	dec   *json.Decoder
	lines []int
}

// line returns the line of the token just read. JSON tokens never span
// lines, so the line of its end is its line.
func (p *jsonParser) line() int {
	off := int(p.dec.InputOffset())
	return sort.Search(len(p.lines), func(i int) bool { return p.lines[i] >= off })
}

func (p *jsonParser) value(depth int) (*node, *FieldError) {
	tok, err := p.dec.Token()
	if err != nil {
		return nil, &FieldError{Message: "invalid JSON: " + err.Error()}
	}
	n := &node{line: p.line()}
	if depth > maxDepth {
		return nil, &FieldError{Line: n.line, Message: "the document is nested too deeply"}
	}
	switch t := tok.(type) {
	case nil:
		n.kind = kindNull
	case bool:
		n.kind, n.text = kindBool, strconv.FormatBool(t)
	case json.Number:
		n.kind, n.text = kindNumber, t.String()
	case string:
		n.kind, n.text = kindString, t
	case json.Delim:
		switch t {
		case '{':
			n.kind = kindMap
			for p.dec.More() {
				ktok, err := p.dec.Token()
				if err != nil {
					return nil, &FieldError{Message: "invalid JSON: " + err.Error()}
				}
				key, _ := ktok.(string)
				kp := pair{key: key, line: p.line()}
				val, ferr := p.value(depth + 1)
				if ferr != nil {
					return nil, ferr
				}
				kp.val = val
				n.pairs = append(n.pairs, kp)
			}
		case '[':
			n.kind = kindList
			for p.dec.More() {
				item, err := p.value(depth + 1)
				if err != nil {
					return nil, err
				}
				n.items = append(n.items, item)
			}
		}
		if _, err := p.dec.Token(); err != nil { // the closing delimiter
			return nil, &FieldError{Message: "invalid JSON: " + err.Error()}
		}
	}
	return n, nil
}

var yamlLineRE = regexp.MustCompile(`(?s)^yaml: line (\d+): (.*)$`)

// parseYAML parses a single YAML document. Aliases are refused (they are
// never needed in a request, and expanding them can explode).
func parseYAML(data []byte) (n *node, ferr *FieldError) {
	defer func() {
		// yaml.v3 is third-party code; a panic on strange input must not
		// take the server down.
		if r := recover(); r != nil {
			n, ferr = nil, &FieldError{Message: fmt.Sprintf("invalid YAML: %v", r)}
		}
	}()
	dec := yaml.NewDecoder(bytes.NewReader(data))
	var doc yaml.Node
	if err := dec.Decode(&doc); err != nil {
		if err == io.EOF {
			return nil, nil
		}
		return nil, yamlError(err)
	}
	var next yaml.Node
	switch err := dec.Decode(&next); {
	case err == io.EOF:
	case err != nil:
		return nil, yamlError(err)
	default:
		return nil, &FieldError{Line: next.Line, Message: "invalid YAML: only one document is allowed, found a second one"}
	}
	return fromYAML(&doc, 0)
}

func yamlError(err error) *FieldError {
	msg := err.Error()
	if m := yamlLineRE.FindStringSubmatch(msg); m != nil {
		line, _ := strconv.Atoi(m[1])
		return &FieldError{Line: line, Message: "invalid YAML: " + m[2]}
	}
	return &FieldError{Message: "invalid YAML: " + strings.TrimPrefix(msg, "yaml: ")}
}

func fromYAML(y *yaml.Node, depth int) (*node, *FieldError) {
	if depth > maxDepth {
		return nil, &FieldError{Line: y.Line, Message: "the document is nested too deeply"}
	}
	n := &node{line: y.Line}
	switch y.Kind {
	case yaml.DocumentNode:
		if len(y.Content) == 0 {
			return nil, nil
		}
		return fromYAML(y.Content[0], depth)
	case yaml.AliasNode:
		return nil, &FieldError{Line: y.Line, Message: "invalid YAML: aliases (*" + y.Value + ") are not supported; write the value out"}
	case yaml.ScalarNode:
		n.text = y.Value
		switch y.ShortTag() {
		case "!!null":
			n.kind = kindNull
		case "!!bool":
			n.kind = kindBool
		case "!!int":
			n.kind = kindNumber
			var i int64
			if y.Decode(&i) == nil { // 0x10, 1_000, ... as decimal
				n.text = strconv.FormatInt(i, 10)
			}
		case "!!float":
			n.kind = kindNumber
		default:
			n.kind = kindString
		}
	case yaml.MappingNode:
		n.kind = kindMap
		for i := 0; i+1 < len(y.Content); i += 2 {
			k, v := y.Content[i], y.Content[i+1]
			if k.Kind != yaml.ScalarNode {
				return nil, &FieldError{Line: k.Line, Message: "invalid YAML: keys must be plain names"}
			}
			val, err := fromYAML(v, depth+1)
			if err != nil {
				return nil, err
			}
			if val == nil { // cannot happen for a value node; be safe
				val = &node{kind: kindNull, line: v.Line}
			}
			n.pairs = append(n.pairs, pair{key: k.Value, line: k.Line, val: val})
		}
	case yaml.SequenceNode:
		n.kind = kindList
		for _, c := range y.Content {
			item, err := fromYAML(c, depth+1)
			if err != nil {
				return nil, err
			}
			if item == nil {
				item = &node{kind: kindNull, line: c.Line}
			}
			n.items = append(n.items, item)
		}
	default:
		return nil, &FieldError{Line: y.Line, Message: "invalid YAML: unexpected node"}
	}
	return n, nil
}
