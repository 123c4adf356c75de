package dialplan

import (
	"bytes"
	_ "embed"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"

	"go.yaml.in/yaml/v3"
)

// DemoYAML is the embedded demo configuration that runs when no config file
// exists: loopback only, two agents, a team, an IVR, no trunk.
//
//go:embed demo.yaml
var DemoYAML []byte

// Demo parses DemoYAML. Its data_dir is "data", relative to the working
// directory.
func Demo() (*Config, error) {
	return Parse("demo.yaml", DemoYAML)
}

// maxFileSize bounds a configuration file; real ones are a few kilobytes.
const maxFileSize = 4 << 20

// Defaults applied when the file leaves a key out.
const (
	DefaultDomain         = "localhost"
	DefaultHTTP           = "127.0.0.1:8080"
	DefaultRTPMin         = 10000
	DefaultRTPMax         = 20000
	DefaultDataDir        = "./data"
	DefaultRingTimeout    = 20 * time.Second
	DefaultMaxWait        = 5 * time.Minute
	DefaultRetryDelay     = 60 * time.Second
	DefaultServiceLevel   = 20 * time.Second
	DefaultIVRTimeout     = 5 * time.Second
	DefaultSilenceTimeout = 5 * time.Second
	DefaultMaxLength      = 120 * time.Second
	DefaultTrunkExpires   = 3600 * time.Second
	DefaultMaxAttempts    = 3
)

// DefaultSIPListen is the default listen.sip: loopback UDP and TCP on 5060.
func DefaultSIPListen() []string {
	return []string{"udp://127.0.0.1:5060", "tcp://127.0.0.1:5060"}
}

// Load reads and validates the configuration file at path and the firm files
// it lists. A missing or unreadable main file gives an error wrapping the
// os error (so errors.Is(err, fs.ErrNotExist) works); an invalid
// configuration gives a *ValidationError listing every problem.
func Load(path string) (*Config, error) {
	data, err := readConfigFile(path)
	if err != nil {
		return nil, fmt.Errorf("dialplan: %w", err)
	}
	return Parse(path, data)
}

// Parse validates configuration data as if read from path; firm files are
// read relative to path's directory. On failure the error is a
// *ValidationError.
func Parse(path string, data []byte) (*Config, error) {
	return parse(path, data, readConfigFile)
}

func parse(path string, data []byte, readFile func(string) ([]byte, error)) (*Config, error) {
	l := &loader{readFile: readFile}
	cfg := l.loadMain(path, data)
	if len(l.problems) > 0 {
		l.sortProblems()
		return nil, &ValidationError{Problems: l.problems}
	}
	return cfg, nil
}

// readConfigFile reads a regular file of bounded size: a config path that
// names a FIFO or a device (/dev/zero) must not hang or exhaust the loader.
func readConfigFile(path string) ([]byte, error) {
	fi, err := os.Stat(path)
	if err != nil {
		return nil, err
	}
	if !fi.Mode().IsRegular() {
		return nil, fmt.Errorf("%s: not a regular file", path)
	}
	if fi.Size() > maxFileSize {
		return nil, fmt.Errorf("%s: larger than %d bytes", path, maxFileSize)
	}
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	data, err := io.ReadAll(io.LimitReader(f, maxFileSize+1))
	if err != nil {
		return nil, fmt.Errorf("read %s: %w", path, err)
	}
	if len(data) > maxFileSize {
		return nil, fmt.Errorf("%s: larger than %d bytes", path, maxFileSize)
	}
	return data, nil
}

func (l *loader) sortProblems() {
	rank := func(file string) int {
		if i := slices.Index(l.files, file); i >= 0 {
			return i
		}
		return len(l.files)
	}
	slices.SortStableFunc(l.problems, func(a, b Problem) int {
		if ra, rb := rank(a.File), rank(b.File); ra != rb {
			return ra - rb
		}
		return a.Line - b.Line
	})
}

var yamlLineErr = regexp.MustCompile(`^yaml: line (\d+): (.*)$`)

// document parses data into its root mapping, or returns nil (with a problem
// recorded for syntax errors; an empty file is not a problem).
func (f *fl) document(data []byte) *yaml.Node {
	f.files = append(f.files, f.file)
	dec := yaml.NewDecoder(bytes.NewReader(data))
	var doc yaml.Node
	if err := safeDecode(dec, &doc); err != nil {
		if !errors.Is(err, io.EOF) {
			f.syntaxError(data, err)
		}
		return nil
	}
	var extra yaml.Node
	switch err := safeDecode(dec, &extra); {
	case err == nil:
		if len(extra.Content) > 0 && !isNull(extra.Content[0]) {
			f.errf(extra.Content[0], "", "only one YAML document is allowed (found another after ---)")
		}
	case !errors.Is(err, io.EOF):
		f.syntaxError(data, err)
	}
	if len(doc.Content) == 0 {
		return nil
	}
	root := doc.Content[0]
	if isNull(deref(root)) {
		return nil
	}
	if r := deref(root); r == nil || r.Kind != yaml.MappingNode {
		f.errf(root, "", "the file must be a mapping of settings (domain:, agents:, ...)")
		return nil
	}
	return root
}

func (f *fl) syntaxError(data []byte, err error) {
	if m := yamlLineErr.FindStringSubmatch(err.Error()); m != nil {
		line, _ := strconv.Atoi(m[1])
		f.add(Problem{File: f.file, Line: line, Msg: "YAML syntax error: " + m[2]})
		return
	}
	msg := trimYAMLPrefix(err.Error())
	f.add(Problem{File: f.file, Line: guessLine(data, msg), Msg: "YAML syntax error: " + msg})
}

var unknownAnchor = regexp.MustCompile(`^unknown anchor '(.*)' referenced$`)

// guessLine finds the line of the errors the YAML library reports without
// one: a control character, or an alias to an unknown anchor. 0 if unknown.
func guessLine(data []byte, msg string) int {
	at := -1
	switch {
	case strings.HasPrefix(msg, "control characters"):
		at = bytes.IndexFunc(data, func(r rune) bool {
			return r != '\t' && r != '\n' && r != '\r' && (r < 0x20 || (r >= 0x7f && r < 0xa0))
		})
	case unknownAnchor.MatchString(msg):
		at = bytes.Index(data, []byte("*"+unknownAnchor.FindStringSubmatch(msg)[1]))
	}
	if at < 0 {
		return 0
	}
	return bytes.Count(data[:at], []byte("\n")) + 1
}

func trimYAMLPrefix(s string) string {
	if len(s) > 6 && s[:6] == "yaml: " {
		return s[6:]
	}
	return s
}

// safeDecode turns a panic inside the YAML library into an error: whatever
// the input, the loader reports a problem instead of crashing the PBX.
func safeDecode(dec *yaml.Decoder, n *yaml.Node) (err error) {
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("yaml: cannot parse: %v", r)
		}
	}()
	return dec.Decode(n)
}

// loadMain reads the main file, then the firm files it lists, then checks
// references and cross-firm rules.
func (l *loader) loadMain(path string, data []byte) *Config {
	dir := filepath.Dir(path)
	cfg := &Config{
		File:             path,
		Domain:           DefaultDomain,
		Listen:           Listen{SIP: DefaultSIPListen(), HTTP: DefaultHTTP, RTPMin: DefaultRTPMin, RTPMax: DefaultRTPMax},
		DataDir:          filepath.Join(dir, DefaultDataDir),
		DigestAlgorithms: []string{"MD5"},
		Voicemail:        VoicemailSettings{SilenceTimeout: DefaultSilenceTimeout, MaxLength: DefaultMaxLength},
		Limits: Limits{
			MaxConnectionsPerIP: DefaultMaxConnectionsPerIP, SIPIdleTimeout: DefaultSIPIdleTimeout,
			HTTPReadTimeout: DefaultHTTPReadTimeout, HTTPIdleTimeout: DefaultHTTPIdleTimeout,
		},
		ShutdownTimeout: DefaultShutdownTimeout,
	}
	main := &fl{loader: l, file: path}
	root := main.document(data)
	ms := newFirmSrc(main, root)
	var firmsNode *yaml.Node
	h := ms.firmHandlers(cfg)
	h["listen"] = func(p string, v *yaml.Node) { main.listen(p, v, &cfg.Listen, dir) }
	h["data_dir"] = func(p string, v *yaml.Node) {
		if s, ok := main.str(p, v); ok && s != "" {
			cfg.DataDir = relTo(dir, s)
		}
	}
	h["digest_algorithms"] = func(p string, v *yaml.Node) { cfg.DigestAlgorithms = main.digestAlgorithms(p, v) }
	h["recordings"] = func(p string, v *yaml.Node) { main.recordings(p, v, &cfg.Recordings) }
	h["limits"] = func(p string, v *yaml.Node) { main.limits(p, v, &cfg.Limits) }
	h["shutdown_timeout"] = func(p string, v *yaml.Node) {
		main.dur(p, v, &cfg.ShutdownTimeout, 0, time.Hour)
	}
	// silence_timeout and max_length may also stand at the top level, as SPEC
	// §1 names them; either place sets the same global limits, and giving one
	// limit in both places is an error whatever their order.
	var vmKeys map[string]*yaml.Node
	topVM := map[string]*yaml.Node{}
	h["voicemail"] = func(p string, v *yaml.Node) { vmKeys = main.voicemail(p, v, &cfg.Voicemail) }
	for key, set := range main.voicemailHandlers(&cfg.Voicemail) {
		h[key] = func(p string, v *yaml.Node) {
			topVM[key] = v
			set(p, v)
		}
	}
	h["firms"] = func(_ string, v *yaml.Node) { firmsNode = v }
	var smtpNode *yaml.Node
	h["smtp"] = func(p string, v *yaml.Node) {
		smtpNode = v
		main.smtp(p, v, &cfg.SMTP)
	}
	if root != nil {
		main.fields("", root, h)
	}
	for _, key := range []string{"silence_timeout", "max_length"} {
		if top, in := topVM[key], vmKeys[key]; top != nil && in != nil {
			main.errf(top, key, "set either here or as voicemail.%s (line %d), not both", key, in.Line)
		}
	}
	ms.firm.Domain = ms.domain
	if ms.domain == "" {
		ms.firm.Domain = DefaultDomain
	}
	ms.firm.ID = ms.firm.Domain
	cfg.Domain = ms.firm.Domain
	cfg.SoundsDir = ms.firm.SoundsDir
	// The main file's hold_music is both the default firm's and the top-level
	// fallback of the firm files, which are read below, after it is known.
	cfg.HoldMusic = ms.firm.holdMusic
	ms.firm.mainHoldMusic = cfg.HoldMusic
	ms.firm.mainRecord, ms.firm.mainRecordNotice = ms.firm.record, ms.firm.recordNotice
	cfg.Firms = append(cfg.Firms, ms.firm)
	srcs := []*firmSrc{ms}

	seenFiles := map[string]*yaml.Node{}
	for i, item := range main.list("firms", firmsNode) {
		p := index("firms", i)
		name, ok := main.str(p, item)
		if !ok {
			continue
		}
		if name == "" {
			main.errf(item, p, "empty file name")
			continue
		}
		fpath := relTo(dir, name)
		if first, dup := seenFiles[filepath.Clean(fpath)]; dup {
			main.errf(item, p, "firm file %q listed twice (first at line %d)", name, first.Line)
			continue
		}
		seenFiles[filepath.Clean(fpath)] = item
		fdata, err := l.readFile(fpath)
		if err != nil {
			reason := err.Error()
			if errors.Is(err, fs.ErrNotExist) {
				reason = "file does not exist"
			}
			main.errf(item, p, "cannot read firm file %q: %s", name, reason)
			continue
		}
		fs := l.loadFirm(fpath, fdata, cfg)
		srcs = append(srcs, fs)
		cfg.Firms = append(cfg.Firms, fs.firm)
	}

	for _, s := range srcs {
		s.validate(cfg)
	}
	l.crossFirm(srcs)
	main.smtpNeeded(cfg, smtpNode, srcs)
	return cfg
}

// smtpNeeded reports a mailbox email that no mail server could deliver: an
// admin who writes an address expects mail, so silence would be a surprise.
// Without any smtp: block it is a warning (addresses may be filled in before
// the mail server is known); an smtp: block without addr is an error. One
// report (at the first email) is enough to say what is missing.
func (f *fl) smtpNeeded(cfg *Config, smtpNode *yaml.Node, srcs []*firmSrc) {
	if cfg.SMTP.Addr != "" {
		return
	}
	for _, s := range srcs {
		for i, mb := range s.firm.Mailboxes {
			if mb.Email == "" {
				continue
			}
			e := s.mailboxes[i]
			if smtpNode == nil || isNull(deref(smtpNode)) {
				line := 0
				if n := e.at("email"); n != nil {
					line = n.Line
				}
				cfg.Warnings = append(cfg.Warnings, Problem{File: s.file, Line: line,
					Msg: fmt.Sprintf("%s: voicemail will not be mailed: no smtp: block with addr and from in the main file (%s)", join(e.path, "email"), cfg.File)})
				return
			}
			f.errf(smtpNode, "smtp", "missing addr (needed to mail voicemail to %s, %s:%d)", mb.Email, s.file, e.at("email").Line)
			return
		}
	}
}

// loadFirm reads one file listed under firms:.
func (l *loader) loadFirm(path string, data []byte, cfg *Config) *firmSrc {
	f := &fl{loader: l, file: path}
	root := f.document(data)
	s := newFirmSrc(f, root)
	s.firm.SoundsDir = cfg.SoundsDir
	s.firm.mainHoldMusic = cfg.HoldMusic
	main := cfg.DefaultFirm()
	s.firm.mainRecord, s.firm.mainRecordNotice = main.record, main.recordNotice
	h := s.firmHandlers(cfg)
	for _, k := range []string{"listen", "data_dir", "digest_algorithms", "voicemail", "silence_timeout", "max_length", "smtp", "recordings", "limits", "shutdown_timeout", "firms"} {
		h[k] = func(p string, v *yaml.Node) {
			f.errf(v, p, "only allowed in the main file (%s)", cfg.File)
		}
	}
	if root != nil {
		f.fields("", root, h)
	}
	if s.domain == "" && root != nil {
		f.errf(root, "", "domain is required in a firm file")
	} else if root == nil && !l.hasProblemIn(path) {
		f.add(Problem{File: path, Msg: "empty firm file (domain is required)"})
	}
	s.firm.Domain, s.firm.ID = s.domain, s.domain
	return s
}

func (l *loader) hasProblemIn(file string) bool {
	return slices.ContainsFunc(l.problems, func(p Problem) bool { return p.File == file })
}

// relTo resolves a relative path against the directory of the file that
// names it, so that the PBX finds the same files whatever its working
// directory.
func relTo(dir, p string) string {
	if filepath.IsAbs(p) {
		return p
	}
	return filepath.Join(dir, p)
}
