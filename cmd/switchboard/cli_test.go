package main

import (
	"bytes"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
)

// fakeAPI answers every admin request with an empty JSON answer and records
// the requests it got ("METHOD path?query").
type fakeAPI struct {
	mu   sync.Mutex
	reqs []string
	auth []string
}

func (f *fakeAPI) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	f.mu.Lock()
	f.reqs = append(f.reqs, r.Method+" "+r.URL.RequestURI())
	f.auth = append(f.auth, r.Header.Get("Authorization"))
	f.mu.Unlock()
	switch {
	case r.Method == http.MethodDelete:
		w.WriteHeader(http.StatusNoContent)
	case r.Method == http.MethodGet && !strings.HasSuffix(r.URL.Path, ".wav"):
		w.Header().Set("Content-Type", "application/json")
		fmt.Fprint(w, "[]")
	default:
		w.Header().Set("Content-Type", "application/json")
		fmt.Fprint(w, "{}")
	}
}

func (f *fakeAPI) last() (req, auth string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if len(f.reqs) == 0 {
		return "", ""
	}
	return f.reqs[len(f.reqs)-1], f.auth[len(f.auth)-1]
}

func runCLI(args ...string) (code int, stdout, stderr string) {
	var out, errb bytes.Buffer
	code = run(args, &out, &errb)
	return code, out.String(), errb.String()
}

// Global flags work before the command name as well as after it, for every
// admin command.
func TestGlobalFlagsBeforeCommand(t *testing.T) {
	t.Parallel()
	api := &fakeAPI{}
	srv := httptest.NewServer(api)
	t.Cleanup(srv.Close)
	data := t.TempDir()
	if err := os.WriteFile(filepath.Join(data, "admin.token"), []byte("file-token\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	// -config gives the server address (listen.http) and the data dir.
	cfgFile := filepath.Join(t.TempDir(), "switchboard.yaml")
	body := fmt.Sprintf("listen: {http: %q}\ndata_dir: %q\n", strings.TrimPrefix(srv.URL, "http://"), data)
	if err := os.WriteFile(cfgFile, []byte(body), 0o600); err != nil {
		t.Fatal(err)
	}
	g := []string{"-server", srv.URL, "-data", data, "-firm", "acme.test"}
	tests := []struct {
		args []string
		req  string // the request the server must see
	}{
		{append(g, "agents"), "GET /api/agents?firm=acme.test"},
		{append([]string{"-json"}, append(g, "agents")...), "GET /api/agents?firm=acme.test"},
		{[]string{"-server=" + srv.URL, "--data=" + data, "--firm", "acme.test", "agents"}, "GET /api/agents?firm=acme.test"},
		{[]string{"-server", srv.URL, "agents", "-firm", "acme.test", "-data", data}, "GET /api/agents?firm=acme.test"},
		{[]string{"-server", "http://127.0.0.1:1", "agents", "-server", srv.URL, "-data", data}, "GET /api/agents"},
		{[]string{"-config", cfgFile, "agents"}, "GET /api/agents"},
		{[]string{"-config", cfgFile, "-firm", "acme.test", "--", "agents"}, "GET /api/agents?firm=acme.test"},
		{append(g, "status", "bob", "away"), "PUT /api/agents/bob/status?firm=acme.test"},
		{append(g, "calls", "-n", "5"), "GET /api/calls?firm=acme.test&limit=5"},
		{append(g, "callbacks", "-all"), "GET /api/callbacks?firm=acme.test"},
		{append(g, "callback", "done", "7"), "POST /api/callbacks/7/done?firm=acme.test"},
		{append(g, "voicemail", "general"), "GET /api/voicemail/general?firm=acme.test"},
		{append(g, "voicemail", "delete", "general", "9"), "DELETE /api/voicemail/general/9?firm=acme.test"},
		{append(g, "dial", "alice", "1002"), "POST /api/calls?firm=acme.test"},
	}
	for _, tc := range tests {
		code, stdout, stderr := runCLI(tc.args...)
		if code != 0 {
			t.Errorf("%q: exit %d, stderr %q", tc.args, code, stderr)
			continue
		}
		req, auth := api.last()
		if req != tc.req {
			t.Errorf("%q: server got %q, want %q (stdout %q)", tc.args, req, tc.req, stdout)
		}
		if os.Getenv("SWITCHBOARD_TOKEN") == "" && auth != "Bearer file-token" {
			t.Errorf("%q: Authorization %q, want the token from -data", tc.args, auth)
		}
	}
}

// serve and check take their flags before the command name too; flags that
// are nobody's, or a missing command, are usage errors.
func TestGlobalFlagsServeCheckAndErrors(t *testing.T) {
	t.Parallel()
	good := filepath.Join("..", "..", "dialplan", "testdata", "good", "full.yaml")
	bad := filepath.Join("..", "..", "dialplan", "testdata", "bad", "dup_agent_id.yaml")
	tests := []struct {
		args     []string
		code     int
		out, err string // substrings of stdout and stderr
	}{
		{[]string{"-config", good, "check"}, 0, good + ": ok", ""},
		{[]string{"--config=" + good, "check"}, 0, good + ": ok", ""},
		{[]string{"-config", bad, "check"}, 1, "", "dup_agent_id.yaml:5: "},
		{[]string{"-config", bad, "serve"}, 1, "", "dup_agent_id.yaml:5: "},
		{[]string{"-config", bad, "-data", t.TempDir(), "serve"}, 1, "", "dup_agent_id.yaml:5: "},
		{[]string{"serve", "-config", bad}, 1, "", "dup_agent_id.yaml:5: "},
		{[]string{"-json", "check"}, 2, "", "flag provided but not defined: -json"},
		{[]string{"-server"}, 2, "", "flag needs an argument: -server"},
		{[]string{"-server", "http://127.0.0.1:1"}, 2, "", "missing command"},
		{[]string{"-n", "5", "calls"}, 2, "", "-n must come after the command"},
		{[]string{"-server", "x", "bogus"}, 2, "", `unknown command "bogus"`},
		{[]string{"-config", good, "-h"}, 0, "usage: switchboard", ""},
	}
	for _, tc := range tests {
		code, stdout, stderr := runCLI(tc.args...)
		if code != tc.code || !strings.Contains(stdout, tc.out) || !strings.Contains(stderr, tc.err) {
			t.Errorf("%q: exit %d, stdout %q, stderr %q; want exit %d, stdout with %q, stderr with %q",
				tc.args, code, stdout, stderr, tc.code, tc.out, tc.err)
		}
	}
}

// `check FILE` checks FILE, like -config FILE; two different files is a
// usage error.
func TestCheckPositionalFile(t *testing.T) {
	t.Parallel()
	good := filepath.Join("..", "..", "dialplan", "testdata", "good", "full.yaml")
	good2 := filepath.Join("..", "..", "dialplan", "testdata", "good", "minimal.yaml")
	bad := filepath.Join("..", "..", "dialplan", "testdata", "bad", "dup_agent_id.yaml")
	missing := filepath.Join(t.TempDir(), "nope.yaml")
	tests := []struct {
		args     []string
		code     int
		out, err string
	}{
		{[]string{"check", good}, 0, good + ": ok", ""},
		{[]string{"check", bad}, 1, "", "dup_agent_id.yaml:5: agents[1].id: duplicate agent id"},
		{[]string{"check", missing}, 1, "", "nope.yaml"},
		{[]string{"check", good, "-config", good}, 0, good + ": ok", ""},
		{[]string{"check", "-config", "./" + good, good}, 0, ": ok", ""},
		{[]string{"check", "-config", good2, good}, 2, "", "two config files"},
		{[]string{"check", good, good2}, 2, "", "usage: switchboard check"},
		{[]string{"serve", bad}, 1, "", "dup_agent_id.yaml:5: "},
		{[]string{"serve", good2, "-config", good}, 2, "", "two config files"},
	}
	for _, tc := range tests {
		code, stdout, stderr := runCLI(tc.args...)
		if code != tc.code || !strings.Contains(stdout, tc.out) || !strings.Contains(stderr, tc.err) {
			t.Errorf("%q: exit %d, stdout %q, stderr %q; want exit %d, stdout with %q, stderr with %q",
				tc.args, code, stdout, stderr, tc.code, tc.out, tc.err)
		}
	}
}

// check's summary uses singular and plural right.
func TestCheckSummaryPlural(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	write := func(name, body string) string {
		t.Helper()
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(body), 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	write("acme.yaml", "domain: acme.example\nagents: [{id: a, extension: \"1\", password: p}]\n")
	write("globex.yaml", "domain: globex.example\n")
	const one = "  - {id: a, extension: \"1\", password: p}\n"
	tests := []struct {
		body string
		want string
	}{
		{"domain: a.example\n", "ok (1 firm, 0 agents)"},
		{"agents:\n" + one, "ok (1 firm, 1 agent)"},
		{"agents:\n" + one + "  - {id: b, extension: \"2\", password: p}\n", "ok (1 firm, 2 agents)"},
		{"firms: [acme.yaml]\n", "ok (2 firms, 1 agent)"},
		{"agents:\n" + one + "firms: [acme.yaml, globex.yaml]\n", "ok (3 firms, 2 agents)"},
	}
	for i, tc := range tests {
		file := write(fmt.Sprintf("main%d.yaml", i), tc.body)
		code, stdout, stderr := runCLI("check", file)
		if code != 0 || stdout != file+": "+tc.want+"\n" {
			t.Errorf("%q: exit %d, stdout %q, stderr %q; want %q", tc.body, code, stdout, stderr, tc.want)
		}
	}
}

// check reports an IVR prompt that exists nowhere the PBX looks.
func TestCheckPrompts(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "menu.wav"), []byte("RIFF"), 0o600); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		prompt string
		code   int
		err    string
	}{
		{"main-menu.wav", 0, ""},
		{"vm-menu", 0, ""},
		{"menu.wav", 0, ""},
		{filepath.Join(dir, "menu.wav"), 0, ""},
		{"welcome.wav", 0, `:3: warning: ivrs[0].prompt: prompt file "welcome.wav" not found`},
		{filepath.Join(dir, "gone.wav"), 0, `:3: warning: ivrs[0].prompt: prompt file`},
	}
	for i, tc := range tests {
		file := filepath.Join(dir, fmt.Sprintf("sb%d.yaml", i))
		body := "ivrs:\n  - id: main\n    prompt: " + tc.prompt + "\n"
		if err := os.WriteFile(file, []byte(body), 0o600); err != nil {
			t.Fatal(err)
		}
		code, _, stderr := runCLI("check", file)
		if code != tc.code || !strings.Contains(stderr, tc.err) || (tc.err != "" && !strings.HasPrefix(stderr, file+":3: ")) {
			t.Errorf("prompt %q: exit %d, stderr %q; want exit %d with %q", tc.prompt, code, stderr, tc.code, tc.err)
		}
	}
}

// The API's advice "add ?firm=" becomes the CLI's -firm flag.
func TestFirmHintInCLIWording(t *testing.T) {
	t.Parallel()
	tests := []struct{ in, want string }{
		{`agent "alice" exists in several firms (main.test, acme.test): add ?firm=`,
			`agent "alice" exists in several firms (main.test, acme.test): add -firm FIRM (e.g. -firm main.test)`},
		{`mailbox "general" exists in several firms (a.example, b.example): add ?firm=`,
			`mailbox "general" exists in several firms (a.example, b.example): add -firm FIRM (e.g. -firm a.example)`},
		{`ambiguous: add ?firm=`, `ambiguous: add -firm FIRM`},
		{`retry with ?firm=acme.test`, `retry with -firm acme.test`},
		{`unknown agent "zed"`, `unknown agent "zed"`},
	}
	for _, tc := range tests {
		if got := cliWording(tc.in); got != tc.want {
			t.Errorf("cliWording(%q) = %q, want %q", tc.in, got, tc.want)
		}
	}

	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusBadRequest)
		fmt.Fprint(w, `{"error": "agent \"alice\" exists in several firms (main.test, acme.test): add ?firm="}`)
	}))
	t.Cleanup(srv.Close)
	for _, args := range [][]string{
		{"status", "alice", "away", "-server", srv.URL},
		{"-server", srv.URL, "dial", "alice", "1002"},
	} {
		code, _, stderr := runCLI(args...)
		if code != 1 || !strings.Contains(stderr, "add -firm FIRM (e.g. -firm main.test)") || strings.Contains(stderr, "?firm=") {
			t.Errorf("%q: exit %d, stderr %q", args, code, stderr)
		}
	}
}

// FuzzSplitCommand: whatever the arguments, splitCommand does not panic, and
// on success it only moves the leading global flags behind the command,
// dropping at most the "--" that ended them.
func FuzzSplitCommand(f *testing.F) {
	for _, args := range []string{
		"agents", "-server\x00u\x00agents\x00-n\x005", "--json\x00-firm=a\x00--\x00calls", "-config", "-x\x00calls",
		"-h", "-\x00check", "--\x00--", "-data\x00--\x00serve",
	} {
		f.Add(args)
	}
	f.Fuzz(func(t *testing.T, joined string) {
		args := strings.Split(joined, "\x00")
		cmd, rest, err := splitCommand(args)
		if err != nil {
			if cmd != "" || rest != nil {
				t.Fatalf("%q: error %v with cmd %q rest %q", args, err, cmd, rest)
			}
			return
		}
		// Some split args = lead + ["--"]? + [cmd] + tail gives rest = lead + tail.
		for l := 0; l <= len(rest); l++ {
			for _, dash := range []int{0, 1} {
				at := l + dash
				if at >= len(args) || args[at] != cmd || (dash == 1 && args[l] != "--") {
					continue
				}
				if slices.Equal(rest[:l], args[:l]) && slices.Equal(rest[l:], args[at+1:]) {
					return
				}
			}
		}
		t.Fatalf("%q: split into %q %q", args, cmd, rest)
	})
}
