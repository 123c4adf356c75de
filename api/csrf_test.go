package api_test

import (
	"net/http"
	"strings"
	"testing"
)

// Issue 14, problem 9: a state-changing request with the session cookie must
// come from our origin and carry JSON; a form POST from another site is refused.
func TestCookieRequestsNeedOriginAndJSON(t *testing.T) {
	t.Parallel()
	a := startApp(t)
	c := agentClient(t, a.HTTPAddr, "alice", "alice-pw", "pbx.test")
	evil := "https://evil.example"
	tests := []struct {
		name string
		hdr  []string
		want int
	}{
		{"other origin", []string{"Origin", evil}, http.StatusForbidden},
		{"other referer", []string{"Origin", "", "Referer", evil + "/page"}, http.StatusForbidden},
		{"no origin at all", []string{"Origin", ""}, http.StatusForbidden},
		{"form content type", []string{"Content-Type", "application/x-www-form-urlencoded"}, http.StatusUnsupportedMediaType},
		{"text/plain", []string{"Content-Type", "text/plain"}, http.StatusUnsupportedMediaType},
		{"same origin JSON", nil, http.StatusOK},
	}
	for _, tc := range tests {
		res := c.do("PUT", "/api/agents/alice/status", map[string]string{"status": "away"}, tc.hdr...)
		if res.code != tc.want {
			t.Errorf("%s: status %d, want %d (%s)", tc.name, res.code, tc.want, strings.TrimSpace(string(res.body)))
		}
	}
	// The admin's bearer token is no browser credential: no Origin needed.
	admin := adminClient(t, a.HTTPAddr)
	if res := admin.do("PUT", "/api/agents/alice/status?firm=main", map[string]string{"status": "online"}, "Origin", ""); res.code == http.StatusForbidden || res.code == http.StatusUnsupportedMediaType {
		t.Errorf("bearer without Origin: %d", res.code)
	}
}

// The session cookie is Secure when the login came over TLS through a trusted
// proxy (X-Forwarded-Proto: https), and only then.
func TestSecureCookieBehindTrustedProxy(t *testing.T) {
	t.Parallel()
	a := startAppYAML(t, strings.Replace(mainYAML, "  http: 127.0.0.1:0\n", "  http: 127.0.0.1:0\n  trusted_proxies: [127.0.0.0/8]\n", 1))
	for _, proto := range []string{"https", "http", ""} {
		c := anonClient(t, a.HTTPAddr)
		res := c.do("POST", "/api/login", map[string]string{"username": "alice", "password": "alice-pw", "domain": "pbx.test"}, "X-Forwarded-Proto", proto)
		if res.code != http.StatusOK {
			t.Fatalf("login: %d", res.code)
		}
		secure := strings.Contains(res.header.Get("Set-Cookie"), "; Secure")
		if secure != (proto == "https") {
			t.Errorf("X-Forwarded-Proto %q: Set-Cookie %q", proto, res.header.Get("Set-Cookie"))
		}
	}
}

// Behind a trusted reverse proxy that rewrites Host, the browser's Origin names
// the host in X-Forwarded-Host; from anyone else that header counts for nothing.
func TestOriginBehindTrustedProxy(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name, proxies string
		want          int
	}{
		{"trusted proxy", "  trusted_proxies: [127.0.0.0/8]\n", http.StatusOK},
		{"no trusted proxy", "", http.StatusForbidden},
	} {
		a := startAppYAML(t, strings.Replace(mainYAML, "  http: 127.0.0.1:0\n", "  http: 127.0.0.1:0\n"+tc.proxies, 1))
		c := agentClient(t, a.HTTPAddr, "alice", "alice-pw", "pbx.test")
		res := c.do("PUT", "/api/agents/alice/status", map[string]string{"status": "away"},
			"Origin", "https://pbx.example.com", "X-Forwarded-Host", "pbx.example.com")
		if res.code != tc.want {
			t.Errorf("%s: status %d, want %d (%s)", tc.name, res.code, tc.want, strings.TrimSpace(string(res.body)))
		}
	}
}
