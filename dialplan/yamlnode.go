package dialplan

import (
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"

	"go.yaml.in/yaml/v3"
)

// This file holds the schema-agnostic helpers that read yaml.Node trees and
// record problems with the line of the offending node.

// maxProblems stops a hopeless file from producing megabytes of output.
const maxProblems = 200

// loader collects problems across the main file and the firm files.
type loader struct {
	problems []Problem
	files    []string // in load order, for sorting problems
	// readFile reads a firm file; tests replace it to keep fuzzing off the disk.
	readFile func(path string) ([]byte, error)
}

// fl reads one file.
type fl struct {
	*loader
	file string
}

func (l *loader) add(p Problem) {
	switch {
	case len(l.problems) < maxProblems:
		l.problems = append(l.problems, p)
	case len(l.problems) == maxProblems:
		l.problems = append(l.problems, Problem{File: p.File, Line: p.Line, Msg: "too many problems; stopping here"})
	}
}

// errf records a problem at node n. path names the field ("agents[1].ring_timeout")
// and prefixes the message when not empty.
func (f *fl) errf(n *yaml.Node, path, format string, args ...any) {
	msg := fmt.Sprintf(format, args...)
	if path != "" {
		msg = path + ": " + msg
	}
	line := 0
	if n != nil {
		line = n.Line
	}
	f.add(Problem{File: f.file, Line: line, Msg: msg})
}

func join(path, key string) string {
	if path == "" {
		return key
	}
	return path + "." + key
}

func index(path string, i int) string { return path + "[" + strconv.Itoa(i) + "]" }

// deref follows aliases. Anchors cannot point at aliases, but a bound keeps a
// hand-built or corrupt tree from looping.
func deref(n *yaml.Node) *yaml.Node {
	for i := 0; n != nil && n.Kind == yaml.AliasNode && i < 8; i++ {
		n = n.Alias
	}
	if n != nil && n.Kind == yaml.AliasNode {
		return nil
	}
	return n
}

func isNull(n *yaml.Node) bool {
	return n == nil || n.Kind == 0 || (n.Kind == yaml.ScalarNode && n.ShortTag() == "!!null")
}

func describe(n *yaml.Node) string {
	switch n.Kind {
	case yaml.MappingNode:
		return "a mapping"
	case yaml.SequenceNode:
		return "a list"
	case yaml.ScalarNode:
		return strconv.Quote(n.Value)
	}
	return "nothing"
}

type kv struct {
	key  string
	k, v *yaml.Node
}

// mergeBudget bounds the work YAML merge keys can cause: aliases can refer
// to each other (even cyclically in a yaml.Node tree), so unbounded expansion
// could explode.
const mergeBudget = 1000

// pairs returns the key/value pairs of mapping m in document order, reporting
// duplicate keys and expanding merge keys ("<<: *defaults") with YAML's rules:
// explicit keys win over merged ones, earlier merge sources over later ones.
func (f *fl) pairs(path string, m *yaml.Node) []kv {
	var out []kv
	seen := map[string]*yaml.Node{}
	budget := mergeBudget
	var walk func(m *yaml.Node, depth int)
	walk = func(m *yaml.Node, depth int) {
		var merges []*yaml.Node
		for i := 0; i+1 < len(m.Content); i += 2 {
			k, v := m.Content[i], m.Content[i+1]
			if budget--; budget < 0 {
				return
			}
			kd := deref(k)
			if kd == nil || kd.Kind != yaml.ScalarNode {
				f.errf(k, path, "mapping keys must be plain strings")
				continue
			}
			if kd.ShortTag() == "!!merge" {
				merges = append(merges, v)
				continue
			}
			if first, dup := seen[kd.Value]; dup {
				if depth == 0 {
					f.errf(k, path, "duplicate key %q (first at line %d)", kd.Value, first.Line)
				}
				continue
			}
			seen[kd.Value] = k
			out = append(out, kv{key: kd.Value, k: k, v: v})
		}
		for _, mv := range merges {
			if depth >= 8 {
				f.errf(mv, path, "merge keys (<<) nested too deeply")
				return
			}
			src := deref(mv)
			switch {
			case src != nil && src.Kind == yaml.MappingNode:
				walk(src, depth+1)
			case src != nil && src.Kind == yaml.SequenceNode:
				for _, e := range src.Content {
					if e := deref(e); e != nil && e.Kind == yaml.MappingNode {
						walk(e, depth+1)
					} else {
						f.errf(mv, path, "merge key (<<) needs a mapping or a list of mappings")
					}
				}
			default:
				f.errf(mv, path, "merge key (<<) needs a mapping or a list of mappings")
			}
		}
	}
	walk(m, 0)
	if budget < 0 {
		f.errf(m, path, "mapping too large (merge keys expand to more than %d entries)", mergeBudget)
	}
	return out
}

// handlers map the known keys of a mapping to functions that read the value.
// A key ending in "*" matches every key that starts with the text before it.
type handlers map[string]func(path string, v *yaml.Node)

// lookup returns the handler of key: an exact entry, else a prefix entry.
func (h handlers) lookup(key string) (func(path string, v *yaml.Node), bool) {
	if fn, ok := h[key]; ok {
		return fn, true
	}
	for k, fn := range h {
		if prefix, ok := strings.CutSuffix(k, "*"); ok && strings.HasPrefix(key, prefix) {
			return fn, true
		}
	}
	return nil, false
}

// fields reads mapping n with the given handlers, reporting unknown keys and
// wrong types. It returns the value node of every key present, so that later
// checks can point at them. A null node reads as an empty mapping.
func (f *fl) fields(path string, n *yaml.Node, h handlers) map[string]*yaml.Node {
	got := map[string]*yaml.Node{}
	m := deref(n)
	if isNull(m) {
		return got
	}
	if m.Kind != yaml.MappingNode {
		f.errf(n, path, "expected a mapping (key: value), got %s", describe(m))
		return got
	}
	for _, p := range f.pairs(path, m) {
		fn, ok := h.lookup(p.key)
		if !ok {
			keys := make([]string, 0, len(h))
			for k := range h {
				keys = append(keys, k)
			}
			slices.Sort(keys)
			f.errf(p.k, path, "unknown key %q (known keys: %s)", p.key, strings.Join(keys, ", "))
			continue
		}
		got[p.key] = p.v
		fn(join(path, p.key), p.v)
	}
	return got
}

// list returns the items of a sequence; null reads as empty.
func (f *fl) list(path string, n *yaml.Node) []*yaml.Node {
	s := deref(n)
	if isNull(s) {
		return nil
	}
	if s.Kind != yaml.SequenceNode {
		f.errf(n, path, "expected a list, got %s", describe(s))
		return nil
	}
	return s.Content
}

// str reads a scalar as text. Numbers and booleans read as written, so that
// extension: 1001 (unquoted) works. Null reads as "".
func (f *fl) str(path string, n *yaml.Node) (string, bool) {
	s := deref(n)
	if isNull(s) {
		return "", true
	}
	if s.Kind != yaml.ScalarNode {
		f.errf(n, path, "expected a string, got %s", describe(s))
		return "", false
	}
	return s.Value, true
}

func (f *fl) boolean(path string, n *yaml.Node) bool {
	s := deref(n)
	if s != nil && s.Kind == yaml.ScalarNode && s.ShortTag() == "!!bool" {
		if b, err := strconv.ParseBool(strings.ToLower(s.Value)); err == nil {
			return b
		}
	}
	f.errf(n, path, "expected true or false, got %s", describeOrNull(s))
	return false
}

func describeOrNull(n *yaml.Node) string {
	if isNull(n) {
		return "nothing"
	}
	return describe(n)
}

func (f *fl) integer(path string, n *yaml.Node, lo, hi int) (int, bool) {
	s := deref(n)
	if s == nil || s.Kind != yaml.ScalarNode || s.ShortTag() != "!!int" {
		f.errf(n, path, "expected a whole number, got %s", describeOrNull(s))
		return 0, false
	}
	v, err := strconv.ParseInt(s.Value, 0, 64)
	if err != nil || v < int64(lo) || v > int64(hi) {
		f.errf(n, path, "%s out of range (%d to %d)", s.Value, lo, hi)
		return 0, false
	}
	return int(v), true
}

// duration reads "20s", "5m", "1h30m" or a bare number of seconds (an
// Asterisk habit), between lo and hi.
// longDuration is duration for retention periods: it also takes days, as
// "90d" or "1d12h" (a day is 24 hours).
func (f *fl) longDuration(path string, n *yaml.Node, lo, hi time.Duration) (time.Duration, bool) {
	s := deref(n)
	if s != nil && s.Kind == yaml.ScalarNode {
		if days, rest, ok := strings.Cut(s.Value, "d"); ok && days != "" && !strings.Contains(rest, "d") {
			nd, err := strconv.ParseUint(days, 10, 32)
			var d time.Duration
			if err == nil && rest != "" {
				d, err = time.ParseDuration(rest)
			}
			if err != nil || nd > uint64(hi/(24*time.Hour)) {
				f.errf(n, path, "invalid duration %q (use e.g. 90d, 36h, 1d12h)", s.Value)
				return 0, false
			}
			d += time.Duration(nd) * 24 * time.Hour
			if d < lo || d > hi {
				f.errf(n, path, "duration %q out of range (%s to %s)", s.Value, lo, hi)
				return 0, false
			}
			return d, true
		}
	}
	return f.duration(path, n, lo, hi)
}

func (f *fl) duration(path string, n *yaml.Node, lo, hi time.Duration) (time.Duration, bool) {
	s := deref(n)
	if s == nil || s.Kind != yaml.ScalarNode || isNull(s) {
		f.errf(n, path, "expected a duration such as 20s, got %s", describeOrNull(s))
		return 0, false
	}
	var d time.Duration
	if secs, err := strconv.ParseInt(s.Value, 10, 64); err == nil {
		if secs < 0 || secs > int64(hi/time.Second)+1 {
			f.errf(n, path, "duration %q out of range (%s to %s)", s.Value, lo, hi)
			return 0, false
		}
		d = time.Duration(secs) * time.Second
	} else {
		d, err = time.ParseDuration(s.Value)
		if err != nil {
			f.errf(n, path, "invalid duration %q (use e.g. 20s, 5m, 1h)", s.Value)
			return 0, false
		}
	}
	if d < lo || d > hi {
		f.errf(n, path, "duration %q out of range (%s to %s)", s.Value, lo, hi)
		return 0, false
	}
	return d, true
}
