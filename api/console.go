package api

import (
	"embed"
	"net/http"
)

// consoleFiles is the agents' web console: one page and its script, no build step.
//
//go:embed console/index.html console/console.js
var consoleFiles embed.FS

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
		"style-src 'self' 'unsafe-inline'; frame-ancestors 'none'; base-uri 'none'; form-action 'self'"
}

// serveConsole serves / and /console.js. The strict CSP is why the script is a
// separate file: no inline script may run, so injected markup cannot either.
func (s *Server) serveConsole(w http.ResponseWriter, r *http.Request) {
	name, ctype := "console/index.html", "text/html; charset=utf-8"
	if r.URL.Path == "/console.js" {
		name, ctype = "console/console.js", "text/javascript; charset=utf-8"
	}
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
