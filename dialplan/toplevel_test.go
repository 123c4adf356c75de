package dialplan

import (
	"errors"
	"io/fs"
	"strings"
	"testing"
	"time"
)

// parseWithFirms parses main as dir/main.yaml; firm files come from files.
func parseWithFirms(main string, files map[string]string) (*Config, error) {
	read := func(p string) ([]byte, error) {
		if s, ok := files[p]; ok {
			return []byte(s), nil
		}
		return nil, fs.ErrNotExist
	}
	return parse("dir/main.yaml", []byte(main), read)
}

// wantProblem checks that err is a *ValidationError whose only problem starts
// with at ("file:line: ") and contains msg.
func wantProblem(t *testing.T, err error, at, msg string) {
	t.Helper()
	var verr *ValidationError
	if !errors.As(err, &verr) {
		t.Fatalf("err = %v, want *ValidationError", err)
	}
	if len(verr.Problems) != 1 {
		t.Fatalf("got %d problems, want 1:\n%v", len(verr.Problems), err)
	}
	if got := verr.Problems[0].String(); !strings.HasPrefix(got, at+": ") || !strings.Contains(got, msg) {
		t.Fatalf("problem = %q, want prefix %q and %q", got, at, msg)
	}
}

// SPEC §1 names silence_timeout and max_length bare: the top level of the main
// file sets the same global voicemail limits as the voicemail: block.
func TestTopLevelVoicemailLimits(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name    string
		main    string
		silence time.Duration
		max     time.Duration
		at, msg string // expected problem, if any
	}{
		{name: "defaults", main: "domain: a.example\n", silence: 5 * time.Second, max: 120 * time.Second},
		{name: "top level", main: "silence_timeout: 3s\nmax_length: 60s\n", silence: 3 * time.Second, max: 60 * time.Second},
		{name: "bare seconds", main: "silence_timeout: 7\nmax_length: 300\n", silence: 7 * time.Second, max: 300 * time.Second},
		{name: "block", main: "voicemail: {silence_timeout: 3s, max_length: 60s}\n", silence: 3 * time.Second, max: 60 * time.Second},
		{name: "mixed keys", main: "max_length: 90s\nvoicemail: {silence_timeout: 4s}\n", silence: 4 * time.Second, max: 90 * time.Second},
		{name: "merged from x- anchor", main: "x-vm: &vm {silence_timeout: 2s}\n<<: *vm\n", silence: 2 * time.Second, max: 120 * time.Second},
		{name: "both silence_timeout", main: "silence_timeout: 3s\nvoicemail:\n  silence_timeout: 4s\n",
			at: "dir/main.yaml:1", msg: "silence_timeout: set either here or as voicemail.silence_timeout (line 3), not both"},
		{name: "both max_length, block first", main: "voicemail:\n  max_length: 60s\nmax_length: 90s\n",
			at: "dir/main.yaml:3", msg: "max_length: set either here or as voicemail.max_length (line 2), not both"},
		{name: "out of range", main: "max_length: 2h\n", at: "dir/main.yaml:1", msg: `max_length: duration "2h" out of range (1s to 1h0m0s)`},
		{name: "bad duration", main: "silence_timeout: soon\n", at: "dir/main.yaml:1", msg: `silence_timeout: invalid duration "soon"`},
		{name: "firm file", main: "firms: [acme.yaml]\n", at: "dir/acme.yaml:2", msg: "silence_timeout: only allowed in the main file"},
	}
	firms := map[string]string{"dir/acme.yaml": "domain: acme.example\nsilence_timeout: 3s\n"}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			cfg, err := parseWithFirms(tc.main, firms)
			if tc.msg != "" {
				wantProblem(t, err, tc.at, tc.msg)
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if cfg.Voicemail.SilenceTimeout != tc.silence || cfg.Voicemail.MaxLength != tc.max {
				t.Errorf("Voicemail = %+v, want silence %s max %s", cfg.Voicemail, tc.silence, tc.max)
			}
		})
	}
}

// Top-level keys starting with x- hold YAML anchors (the docker-compose
// convention): ignored in the main file and firm files, and only there.
func TestXKeysIgnored(t *testing.T) {
	t.Parallel()
	const agent = "  - <<: *d\n    id: a\n    extension: \"1001\"\n    password: p\n"
	tests := []struct {
		name    string
		main    string
		firms   map[string]string
		at, msg string
	}{
		{name: "anchor holder", main: "x-defaults: &d {ring_timeout: 5s, no_answer: callback}\nagents:\n" + agent},
		{name: "any value", main: "x-notes: [1, {a: b}, \"text\"]\nx-: null\ndomain: a.example\n"},
		{name: "in a firm file", main: "firms: [acme.yaml]\n",
			firms: map[string]string{"dir/acme.yaml": "domain: acme.example\nx-defaults: &d {ring_timeout: 5s, no_answer: callback}\nagents:\n" + agent}},
		{name: "upper case X- is a typo", main: "X-defaults: 1\n", at: "dir/main.yaml:1", msg: `unknown key "X-defaults"`},
		{name: "not below the top level", main: "agents:\n  - {id: a, extension: \"1\", password: p, x-note: hi}\n",
			at: "dir/main.yaml:2", msg: `agents[0]: unknown key "x-note"`},
		{name: "not inside listen", main: "listen: {x-a: 1}\n", at: "dir/main.yaml:1", msg: `listen: unknown key "x-a"`},
		{name: "other keys still checked", main: "x-a: 1\nbogus: 2\n", at: "dir/main.yaml:2", msg: `unknown key "bogus"`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			cfg, err := parseWithFirms(tc.main, tc.firms)
			if tc.msg != "" {
				wantProblem(t, err, tc.at, tc.msg)
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			for _, f := range cfg.Firms {
				if a := f.Agent("a"); a != nil && (a.RingTimeout != 5*time.Second || a.NoAnswer != "callback") {
					t.Errorf("agent a in %s = %+v, want the x-defaults merged in", f.ID, a)
				}
			}
		})
	}
}
