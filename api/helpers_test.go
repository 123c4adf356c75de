package api_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/cookiejar"
	"os"
	"path/filepath"
	"runtime/pprof"
	"strings"
	"testing"
	"time"

	"switchboard/dialplan"
	"switchboard/internal/app"
	"switchboard/internal/testphone"
)

const testToken = "test-token"

// mainYAML is the default firm; acmeYAML a second firm where alice holds an
// account with the same password, so a login without domain matches two firms.
const mainYAML = `
domain: pbx.test
listen:
  sip: [udp://127.0.0.1:0]
  http: 127.0.0.1:0
  rtp_ports: %s
firms: [acme.yaml]
agents:
  - {id: alice, name: Alice, extension: "1001", password: alice-pw}
  - {id: bob, name: Bob, extension: "1002", password: bob-pw}
  - {id: dave, name: Dave, extension: "1004", password: dave-pw}
teams:
  - {id: support, extension: "2000", members: [alice, bob]}
  - {id: sales, extension: "2001", members: [dave]}
mailboxes: [{id: general}]
`

const acmeYAML = `
domain: acme.test
agents:
  - {id: alice, name: Alice at Acme, extension: "1001", password: alice-pw}
  - {id: carol, name: Carol, extension: "1003", password: carol-pw}
teams:
  - {id: helpdesk, extension: "2000", members: [carol]}
`

// rtpRange gives each test process its own port block, so parallel packages
// rarely compete (the pool skips busy ports anyway).
func rtpRange() string {
	lo := 20000 + (os.Getpid()%500)*40
	return fmt.Sprintf("%d-%d", lo, lo+39)
}

// startApp runs a real server (store, SIP, RTP, PBX, HTTP) on loopback.
func startApp(t *testing.T) *app.App {
	t.Helper()
	return startAppYAML(t, mainYAML)
}

// startAppYAML runs a server with main (its %s is the RTP port range) and acmeYAML.
func startAppYAML(t *testing.T, main string) *app.App {
	t.Helper()
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "acme.yaml"), []byte(acmeYAML), 0o600); err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(dir, "switchboard.yaml")
	cfg, err := dialplan.Parse(path, []byte(fmt.Sprintf(main, rtpRange())))
	if err != nil {
		t.Fatalf("config: %v", err)
	}
	log := slog.New(slog.NewTextHandler(testWriter{t}, &slog.HandlerOptions{Level: slog.LevelWarn}))
	a, err := app.Start(context.Background(), cfg, app.Options{DataDir: filepath.Join(dir, "data"), Token: testToken, Logger: log})
	if err != nil {
		t.Fatalf("start: %v", err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		if err := a.Stop(ctx); err != nil {
			// What still runs says which call did not end.
			var stacks strings.Builder
			_ = pprof.Lookup("goroutine").WriteTo(&stacks, 1)
			t.Errorf("stop: %v\n%s", err, stacks.String())
		}
	})
	return a
}

// registerPhone registers a test phone (UDP unless cfg says otherwise) with the
// app's first SIP listener filled in when cfg.Server is empty.
func registerPhone(t *testing.T, a *app.App, cfg testphone.Config) *testphone.Phone {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if cfg.Server == "" {
		cfg.Server = a.SIPAddr()
	}
	ph, err := testphone.New(ctx, cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ph.Close() })
	if err := ph.Register(ctx, time.Hour); err != nil {
		t.Fatalf("register %s@%s: %v", cfg.User, cfg.Domain, err)
	}
	return ph
}

type testWriter struct{ t *testing.T }

func (w testWriter) Write(b []byte) (int, error) {
	w.t.Log(strings.TrimRight(string(b), "\n"))
	return len(b), nil
}

// client talks to the API as the admin (token set) or as an agent (cookie jar).
type client struct {
	t     *testing.T
	base  string
	token string
	hc    *http.Client
}

func adminClient(t *testing.T, base string) *client {
	return &client{t: t, base: base, token: testToken, hc: &http.Client{Timeout: 10 * time.Second}}
}

func anonClient(t *testing.T, base string) *client {
	jar, err := cookiejar.New(nil)
	if err != nil {
		t.Fatal(err)
	}
	return &client{t: t, base: base, hc: &http.Client{Jar: jar, Timeout: 10 * time.Second}}
}

// agentClient logs in and returns a client holding the session cookie.
func agentClient(t *testing.T, base, user, password, domain string) *client {
	t.Helper()
	c := anonClient(t, base)
	c.mustDo("POST", "/api/login", map[string]string{"username": user, "password": password, "domain": domain}, http.StatusOK, nil)
	return c
}

type response struct {
	code   int
	header http.Header
	body   []byte
}

func (c *client) do(method, path string, body any, hdr ...string) response {
	c.t.Helper()
	var rd io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			c.t.Fatal(err)
		}
		rd = bytes.NewReader(b)
	}
	req, err := http.NewRequest(method, "http://"+c.base+path, rd)
	if err != nil {
		c.t.Fatal(err)
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	if c.token != "" {
		req.Header.Set("Authorization", "Bearer "+c.token)
	}
	// As a browser on the console's page does; tests of the check override it.
	req.Header.Set("Origin", "http://"+c.base)
	for i := 0; i+1 < len(hdr); i += 2 {
		req.Header.Set(hdr[i], hdr[i+1])
	}
	res, err := c.hc.Do(req)
	if err != nil {
		c.t.Fatalf("%s %s: %v", method, path, err)
	}
	defer res.Body.Close()
	b, err := io.ReadAll(res.Body)
	if err != nil {
		c.t.Fatal(err)
	}
	return response{res.StatusCode, res.Header, b}
}

// mustDo checks the status and decodes the JSON answer into out (if not nil).
func (c *client) mustDo(method, path string, body any, want int, out any) response {
	c.t.Helper()
	r := c.do(method, path, body)
	if r.code != want {
		c.t.Fatalf("%s %s: status %d, want %d; body %s", method, path, r.code, want, r.body)
	}
	if out != nil {
		if err := json.Unmarshal(r.body, out); err != nil {
			c.t.Fatalf("%s %s: decode %s: %v", method, path, r.body, err)
		}
	}
	return r
}

// wantError checks an error answer: status, JSON content type, non-empty
// "error" field.
func (c *client) wantError(method, path string, body any, want int) string {
	c.t.Helper()
	r := c.do(method, path, body)
	if r.code != want {
		c.t.Fatalf("%s %s: status %d, want %d; body %s", method, path, r.code, want, r.body)
	}
	return checkErrorBody(c.t, r)
}

func checkErrorBody(t *testing.T, r response) string {
	t.Helper()
	if ct := r.header.Get("Content-Type"); ct != "application/json" {
		t.Errorf("error Content-Type %q", ct)
	}
	var e struct {
		Error string `json:"error"`
	}
	if err := json.Unmarshal(r.body, &e); err != nil || e.Error == "" {
		t.Errorf("error body %s is not {\"error\": ...} (%v)", r.body, err)
	}
	return e.Error
}
