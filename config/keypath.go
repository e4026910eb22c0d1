package config

import (
	"errors"
	"fmt"
	"regexp"
	"strconv"
	"strings"

	"gopkg.in/yaml.v3"
)

// keyAt is one mapping entry of the document: its dotted path and nodes.
type keyAt struct {
	path       string
	key, value *yaml.Node
}

// collectKeys lists every mapping entry under n with its dotted path
// (list items as [i]).
func collectKeys(n *yaml.Node, prefix string, out *[]keyAt) {
	switch n.Kind {
	case yaml.DocumentNode:
		for _, c := range n.Content {
			collectKeys(c, prefix, out)
		}
	case yaml.MappingNode:
		for i := 0; i+1 < len(n.Content); i += 2 {
			k, v := n.Content[i], n.Content[i+1]
			p := k.Value
			if prefix != "" {
				p = prefix + "." + k.Value
			}
			*out = append(*out, keyAt{p, k, v})
			collectKeys(v, p, out)
		}
	case yaml.SequenceNode:
		for i, c := range n.Content {
			collectKeys(c, fmt.Sprintf("%s[%d]", prefix, i), out)
		}
	}
}

var (
	lineRe    = regexp.MustCompile(`^\s*line (\d+): (.*)$`)
	unknownRe = regexp.MustCompile(`^field (\S+) not found in type`)
)

// nameKeys rewrites a YAML decode error so that each problem names its key
// ("config: server.adr: unknown key") instead of only a line number.
func nameKeys(doc []byte, err error) error {
	var root yaml.Node
	if yaml.Unmarshal(doc, &root) != nil {
		return fmt.Errorf("config: %w", err)
	}
	var keys []keyAt
	collectKeys(&root, "", &keys)
	var errs []error
	for _, msg := range strings.Split(strings.TrimPrefix(err.Error(), "yaml: unmarshal errors:\n"), "\n") {
		m := lineRe.FindStringSubmatch(msg)
		if m == nil {
			errs = append(errs, fmt.Errorf("config: %s", strings.TrimPrefix(msg, "yaml: ")))
			continue
		}
		line, _ := strconv.Atoi(m[1])
		path := ""
		if u := unknownRe.FindStringSubmatch(m[2]); u != nil {
			for _, k := range keys {
				if k.key.Line == line && k.key.Value == u[1] {
					path = k.path
				}
			}
			if path != "" {
				errs = append(errs, fmt.Errorf("config: %s: unknown key (line %d)", path, line))
				continue
			}
		}
		for _, k := range keys { // the last entry whose value starts on that line (innermost)
			if k.value.Line == line && (path == "" || k.value.Kind != yaml.ScalarNode || strings.Contains(m[2], strconv.Quote(k.value.Value))) {
				path = k.path
			}
		}
		if path == "" {
			errs = append(errs, fmt.Errorf("config: line %d: %s", line, m[2]))
			continue
		}
		errs = append(errs, fmt.Errorf("config: %s: line %d: %s", path, line, m[2]))
	}
	return errors.Join(errs...)
}
