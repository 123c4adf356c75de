package api

import (
	"embed"
	"net/http"
)

// consoleFiles is the agent app: its page, its stylesheet and its script. app.js
// is the esbuild bundle of web/src (JsSIP included), committed so that go build
// needs no Node; `make web` rebuilds it.
//
//go:embed console/index.html console/app.js console/app.css
var consoleFiles embed.FS

// consoleAssets maps the URL paths of the agent app to its files and types.
var consoleAssets = map[string][2]string{
	"/":        {"console/index.html", "text/html; charset=utf-8"},
	"/app.js":  {"console/app.js", "text/javascript; charset=utf-8"},
	"/app.css": {"console/app.css", "text/css; charset=utf-8"},
}

// contentSecurityPolicy is the CSP of the console's pages: scripts, styles and
// connections from our own origin only, plus exactly the SIP WebSocket that
// GET /api/me/sip hands the page (computed the same way, from the request), and
// media from blob: URLs (recorded or generated audio).
func (s *Server) contentSecurityPolicy(r *http.Request) string {
	connect := "'self'"
	if ws, ok := s.sipWebSocket(r); ok {
		connect += " " + ws
	}
	return "default-src 'self'; connect-src " + connect + "; media-src 'self' blob:; " +
		"frame-ancestors 'none'; base-uri 'none'; form-action 'self'"
}

// serveConsole serves the agent app. The strict CSP is why the script and the
// styles are separate files: no inline script or style may run, so injected
// markup cannot either.
func (s *Server) serveConsole(w http.ResponseWriter, r *http.Request) {
	asset, ok := consoleAssets[r.URL.Path]
	if !ok {
		writeError(w, http.StatusNotFound, "not found")
		return
	}
	name, ctype := asset[0], asset[1]
	b, err := consoleFiles.ReadFile(name)
	if err != nil {
		writeError(w, http.StatusNotFound, "not found")
		return
	}
	h := w.Header()
	h.Set("Content-Type", ctype)
	h.Set("Content-Security-Policy", s.contentSecurityPolicy(r))
	h.Set("X-Frame-Options", "DENY")
	h.Set("Cache-Control", "no-cache")
	w.Write(b) //nolint:errcheck // the client went away
}
