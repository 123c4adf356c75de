package api_test

import (
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"testing"

	"switchboard/api"
)

func TestHealthzAndConsole(t *testing.T) {
	t.Parallel()
	a := startApp(t)
	c := anonClient(t, a.HTTPAddr)
	var h map[string]string
	c.mustDo("GET", "/healthz", nil, http.StatusOK, &h)
	if h["status"] != "ok" {
		t.Errorf("healthz = %v", h)
	}
	r := c.mustDo("GET", "/", nil, http.StatusOK, nil)
	if ct := r.header.Get("Content-Type"); !strings.HasPrefix(ct, "text/html") || !strings.Contains(string(r.body), "/app.js") {
		t.Errorf("console: %s %q", ct, r.body)
	}
	if csp := r.header.Get("Content-Security-Policy"); !strings.Contains(csp, "default-src 'self'") {
		t.Errorf("CSP %q", csp)
	}
	if csp := r.header.Get("Content-Security-Policy"); strings.Contains(csp, "unsafe-inline") {
		t.Errorf("CSP allows inline code: %q", csp)
	}
	r = c.mustDo("GET", "/app.js", nil, http.StatusOK, nil)
	if !strings.Contains(string(r.body), "/api/login") || !strings.HasPrefix(r.header.Get("Content-Type"), "text/javascript") {
		t.Error("app.js does not log in")
	}
	r = c.mustDo("GET", "/app.css", nil, http.StatusOK, nil)
	if !strings.HasPrefix(r.header.Get("Content-Type"), "text/css") {
		t.Errorf("app.css: %q", r.header.Get("Content-Type"))
	}
}

func TestRouterErrorsAreJSON(t *testing.T) {
	t.Parallel()
	a := startApp(t)
	c := adminClient(t, a.HTTPAddr)
	c.wantError("GET", "/nope", nil, http.StatusNotFound)
	c.wantError("GET", "/api/agents/alice/nothing", nil, http.StatusNotFound)
	r := c.do("DELETE", "/api/agents", nil)
	if r.code != http.StatusMethodNotAllowed || !strings.Contains(r.header.Get("Allow"), "GET") {
		t.Errorf("DELETE /api/agents: %d Allow=%q", r.code, r.header.Get("Allow"))
	}
	checkErrorBody(t, r)
	c.wantError("GET", "/api/callbacks/x/claim", nil, http.StatusMethodNotAllowed)
}

func TestAuth(t *testing.T) {
	t.Parallel()
	a := startApp(t)
	base := a.HTTPAddr
	anon := anonClient(t, base)
	for _, p := range []string{"/api/me", "/api/agents", "/api/calls", "/api/calls/live", "/api/callbacks", "/api/voicemail/general"} {
		anon.wantError("GET", p, nil, http.StatusUnauthorized)
	}
	bad := adminClient(t, base)
	bad.token = "wrong"
	bad.wantError("GET", "/api/agents", nil, http.StatusUnauthorized)
	bad.token = testToken + "x"
	bad.wantError("GET", "/api/agents", nil, http.StatusUnauthorized)
	r := anon.do("GET", "/api/agents", nil, "Authorization", "Basic "+testToken)
	if r.code != http.StatusUnauthorized {
		t.Errorf("Basic auth accepted: %d", r.code)
	}

	var me map[string]any
	adminClient(t, base).mustDo("GET", "/api/me", nil, http.StatusOK, &me)
	if me["role"] != "admin" {
		t.Errorf("admin me = %v", me)
	}

	tests := []struct {
		name string
		body any
		want int
	}{
		{"wrong password", map[string]string{"username": "1001", "password": "nope"}, http.StatusUnauthorized},
		{"unknown user", map[string]string{"username": "9999", "password": "alice-pw"}, http.StatusUnauthorized},
		{"wrong domain", map[string]string{"username": "1001", "password": "alice-pw", "domain": "other.test"}, http.StatusUnauthorized},
		{"missing password", map[string]string{"username": "1001"}, http.StatusBadRequest},
		{"unknown field", map[string]string{"username": "1001", "password": "alice-pw", "pin": "1"}, http.StatusBadRequest},
		{"not an object", []int{1}, http.StatusBadRequest},
		{"firm not matching", map[string]string{"username": "dave", "password": "dave-pw", "firm": "acme.test"}, http.StatusUnauthorized},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			anonClient(t, base).wantError("POST", "/api/login", tc.body, tc.want)
		})
	}

	c := anonClient(t, base)
	r = c.mustDo("POST", "/api/login", map[string]string{"username": "1002", "password": "bob-pw", "domain": "pbx.test"}, http.StatusOK, &me)
	if me["role"] != "agent" || me["agent"] != "bob" || me["firm"] != "pbx.test" {
		t.Errorf("login answer %v", me)
	}
	cookie := r.header.Get("Set-Cookie")
	for _, want := range []string{"HttpOnly", "SameSite=Strict", "Path=/", "Max-Age=43200"} {
		if !strings.Contains(cookie, want) {
			t.Errorf("cookie %q lacks %s", cookie, want)
		}
	}
	c.mustDo("GET", "/api/me", nil, http.StatusOK, &me)
	if me["agent"] != "bob" || me["status"] != "online" {
		t.Errorf("me = %v", me)
	}
	c.mustDo("POST", "/api/logout", nil, http.StatusNoContent, nil)
	c.wantError("GET", "/api/me", nil, http.StatusUnauthorized)
	// A forged cookie is no session.
	r = anonClient(t, base).do("GET", "/api/me", nil, "Cookie", "switchboard_session=forged")
	if r.code != http.StatusUnauthorized {
		t.Errorf("forged cookie: %d", r.code)
	}
}

func TestLoginSeveralFirms(t *testing.T) {
	t.Parallel()
	a := startApp(t)
	type me struct {
		Agent, Firm string
		Firms       []struct{ Firm, Agent string }
	}
	var m me
	c := anonClient(t, a.HTTPAddr)
	c.mustDo("POST", "/api/login", map[string]string{"username": "alice", "password": "alice-pw"}, http.StatusOK, &m)
	if m.Firm != "pbx.test" || len(m.Firms) != 2 || m.Firms[1].Firm != "acme.test" {
		t.Fatalf("login without domain: %+v", m)
	}
	c.mustDo("POST", "/api/login", map[string]string{"username": "1001", "password": "alice-pw", "firm": "acme.test"}, http.StatusOK, &m)
	if m.Firm != "acme.test" {
		t.Fatalf("firm pick: %+v", m)
	}
	// The session now acts in acme: its agents, not the default firm's.
	var agents []struct{ ID, Firm string }
	c.mustDo("GET", "/api/agents", nil, http.StatusOK, &agents)
	if len(agents) != 2 || agents[0].Firm != "acme.test" || agents[1].ID != "carol" {
		t.Errorf("agents in acme session: %+v", agents)
	}
	c.wantError("GET", "/api/agents?firm=pbx.test", nil, http.StatusForbidden)
	c.mustDo("POST", "/api/login", map[string]string{"username": "1001", "password": "alice-pw", "domain": "acme.test"}, http.StatusOK, &m)
	if len(m.Firms) != 1 {
		t.Errorf("login with domain lists %d firms", len(m.Firms))
	}
}

func TestLoginRateLimit(t *testing.T) {
	t.Parallel()
	a := startApp(t)
	// A private Server: its limiter counts only this test's failures.
	srv := httptest.NewServer(api.New(api.Deps{PBX: a.PBX, Store: a.Store, Token: testToken}))
	defer srv.Close()
	c := anonClient(t, strings.TrimPrefix(srv.URL, "http://"))
	bad := map[string]string{"username": "1001", "password": "guess"}
	for i := range 10 {
		if r := c.do("POST", "/api/login", bad); r.code != http.StatusUnauthorized {
			t.Fatalf("attempt %d: %d", i+1, r.code)
		}
	}
	r := c.do("POST", "/api/login", map[string]string{"username": "1001", "password": "alice-pw"})
	if r.code != http.StatusTooManyRequests {
		t.Fatalf("after 10 failures, good password: %d %s", r.code, r.body)
	}
	checkErrorBody(t, r)
	if s, err := strconv.Atoi(r.header.Get("Retry-After")); err != nil || s < 1 || s > 61 {
		t.Errorf("Retry-After %q", r.header.Get("Retry-After"))
	}
	// The admin token is unaffected.
	adminClient(t, strings.TrimPrefix(srv.URL, "http://")).mustDo("GET", "/api/agents", nil, http.StatusOK, nil)
}
