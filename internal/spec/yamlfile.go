package spec

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"

	"gopkg.in/yaml.v3"
)

// DecodeYAMLFile decodes data, a settings file of at most maxSize bytes
// that holds one YAML document, and returns the document's top node. what
// names the file in messages ("policy file"); empty says what to write in
// an empty one. Problems are Errors naming the line.
func DecodeYAMLFile(data []byte, what string, maxSize int, empty string) (*yaml.Node, Errors) {
	if len(data) > maxSize {
		return nil, Errors{{Message: fmt.Sprintf("%s is larger than %d bytes", what, maxSize)}}
	}
	var doc yaml.Node
	dec := yaml.NewDecoder(bytes.NewReader(data))
	if err := dec.Decode(&doc); err != nil {
		if errors.Is(err, io.EOF) {
			return nil, Errors{{Message: what + " is empty; " + empty}}
		}
		return nil, Errors{yamlFileError(err)}
	}
	var extra yaml.Node
	if err := dec.Decode(&extra); err == nil {
		return nil, Errors{{Line: extra.Line, Message: "more than one YAML document; a " + what + " holds one"}}
	}
	root := &doc
	if root.Kind == yaml.DocumentNode && len(root.Content) == 1 {
		root = root.Content[0]
	}
	return root, nil
}

// yamlFileError is err from the YAML decoder with its line taken out of
// the message.
func yamlFileError(err error) FieldError {
	msg := strings.TrimPrefix(err.Error(), "yaml: ")
	line := 0
	if rest, ok := strings.CutPrefix(msg, "line "); ok {
		if num, after, ok := strings.Cut(rest, ":"); ok {
			if n, err := strconv.Atoi(num); err == nil {
				line, msg = n, strings.TrimSpace(after)
			}
		}
	}
	return FieldError{Line: line, Message: "not valid YAML: " + msg}
}
