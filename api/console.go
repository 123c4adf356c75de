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

// serveConsole serves the agent app. The strict CSP is why the script and the
// styles are separate files: no inline script or style may run, so injected
// markup cannot either.
func serveConsole(w http.ResponseWriter, r *http.Request) {
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
	h.Set("Content-Security-Policy", "default-src 'self'; frame-ancestors 'none'")
	h.Set("X-Frame-Options", "DENY")
	h.Set("Cache-Control", "no-cache")
	w.Write(b) //nolint:errcheck // the client went away
}
