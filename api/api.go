// Package api serves Switchboard's HTTP side: the JSON admin and agent API, the
// small web console at / and the Prometheus /metrics endpoint. It owns the HTTP
// authentication (admin bearer token, agent login sessions) and the mapping of
// requests onto pbx and store calls; it holds no call logic of its own.
//
// Every error answer is JSON {"error": "..."} with a fitting status code, including
// the 404 and 405 answers of the router.
package api

import (
	"crypto/sha256"
	"crypto/subtle"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/netip"
	"net/url"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"switchboard/dialplan"
	"switchboard/pbx"
	"switchboard/store"
)

// Deps are what the API reads and drives.
type Deps struct {
	PBX   *pbx.PBX
	Store *store.Store
	// Token is the admin bearer token; empty disables admin access.
	Token  string
	Logger *slog.Logger
	// Health, when set, tells /healthz why the server cannot take traffic (a
	// listener that stopped); nil error: healthy.
	Health func() error
	// TrustedProxies are the reverse proxies whose X-Forwarded-Proto is
	// believed: a session cookie set through one that says https is Secure.
	TrustedProxies []netip.Prefix
}

// Server is the HTTP handler of the API. Build it with New.
type Server struct {
	d        Deps
	log      *slog.Logger
	mux      *http.ServeMux
	tokenSum [sha256.Size]byte
	sessions *sessions
	limiter  *failLimiter
	metrics  http.Handler
	now      func() time.Time
	streams  streams       // open /api/events streams
	backups  chan struct{} // one slot: the backup being taken
}

// Limits of request handling.
const (
	maxBody          = 64 << 10
	sessionTTL       = 12 * time.Hour
	sessionCookie    = "switchboard_session"
	loginFailures    = 10 // wrong logins per client IP ...
	loginFailWindow  = time.Minute
	defaultCallLimit = 100
	maxListLimit     = 1000
)

// New builds the API handler.
func New(d Deps) *Server {
	if d.Logger == nil {
		d.Logger = slog.New(slog.DiscardHandler)
	}
	s := &Server{
		d:        d,
		log:      d.Logger.With("component", "api"),
		mux:      http.NewServeMux(),
		tokenSum: sha256.Sum256([]byte(d.Token)),
		now:      time.Now,
		streams:  streams{closing: make(chan struct{})},
		backups:  make(chan struct{}, 1),
	}
	s.sessions = newSessions(s.now, func(se session) {
		if se.sip.Username != "" {
			d.PBX.RevokeSessionCredentials(se.sip.Username)
		}
	})
	s.limiter = newFailLimiter(loginFailures, loginFailWindow, s.now)

	reg := prometheus.NewRegistry()
	reg.MustRegister(newCollector(d.PBX, d.Store, s.log),
		collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	s.metrics = promhttp.HandlerFor(reg, promhttp.HandlerOpts{ErrorHandling: promhttp.ContinueOnError})

	m := s.mux
	m.HandleFunc("GET /healthz", func(w http.ResponseWriter, r *http.Request) {
		if d.Health != nil {
			if err := d.Health(); err != nil {
				writeJSON(w, http.StatusServiceUnavailable, map[string]string{"status": "failing", "error": err.Error()})
				return
			}
		}
		writeJSON(w, http.StatusOK, map[string]string{"status": "ok"})
	})
	m.HandleFunc("GET /metrics", s.handleMetrics)
	m.HandleFunc("GET /{$}", s.serveConsole)
	m.HandleFunc("GET /app.js", s.serveConsole)
	m.HandleFunc("GET /app.css", s.serveConsole)

	m.HandleFunc("POST /api/login", s.handleLogin)
	m.HandleFunc("POST /api/logout", s.handleLogout)
	m.HandleFunc("GET /api/me", s.auth(s.handleMe))
	m.HandleFunc("POST /api/me/firm", s.auth(s.handleMeFirm))
	m.HandleFunc("GET /api/me/sip", s.auth(s.handleMeSIP))
	m.HandleFunc("GET /api/events", s.auth(s.handleEvents))

	m.HandleFunc("GET /api/agents", s.auth(s.handleAgents))
	m.HandleFunc("GET /api/agents/{id}", s.auth(s.handleAgent))
	m.HandleFunc("PUT /api/agents/{id}/status", s.auth(s.handleSetStatus))
	m.HandleFunc("POST /api/agents/{id}/ready", s.auth(s.handleReady))

	m.HandleFunc("GET /api/trunks", s.auth(s.handleTrunks))
	m.HandleFunc("GET /api/calls", s.auth(s.handleCalls))
	m.HandleFunc("GET /api/calls/live", s.auth(s.handleLiveCalls))
	m.HandleFunc("POST /api/calls", s.auth(s.handleDial))
	m.HandleFunc("POST /api/calls/{id}/transfer", s.auth(s.handleTransfer))
	m.HandleFunc("POST /api/calls/{id}/record", s.auth(s.handleRecord))

	m.HandleFunc("GET /api/recordings", s.auth(s.handleRecordings))
	m.HandleFunc("GET /api/recordings/{id}", s.auth(s.handleRecordingGet))
	m.HandleFunc("DELETE /api/recordings/{id}", s.auth(s.handleRecordingDelete))
	m.HandleFunc("POST /api/calls/{id}/monitor", s.auth(s.handleMonitor))

	m.HandleFunc("GET /api/queues", s.auth(s.handleQueues))

	m.HandleFunc("GET /api/callbacks", s.auth(s.handleCallbacks))
	m.HandleFunc("POST /api/callbacks/{id}/{action}", s.auth(s.handleCallbackAction))

	m.HandleFunc("GET /api/voicemail/{mailbox}", s.auth(s.handleVoicemailList))
	m.HandleFunc("GET /api/voicemail/{mailbox}/{id}", s.auth(s.handleVoicemailGet))
	m.HandleFunc("DELETE /api/voicemail/{mailbox}/{id}", s.auth(s.handleVoicemailDelete))
	m.HandleFunc("POST /api/voicemail/{mailbox}/{id}/heard", s.auth(s.handleVoicemailHeard))

	m.HandleFunc("GET /api/backup", s.auth(s.handleBackup))
	return s
}

// ServeHTTP routes a request. Requests no route matches get the router's status
// (404 or 405 with Allow) as a JSON error instead of its plain-text body.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("X-Content-Type-Options", "nosniff")
	if h, pattern := s.mux.Handler(r); pattern == "" {
		rec := &statusRecorder{header: http.Header{}}
		h.ServeHTTP(rec, r)
		if rec.code == 0 || rec.code == http.StatusOK {
			rec.code = http.StatusNotFound
		}
		if allow := rec.header.Get("Allow"); allow != "" {
			w.Header().Set("Allow", allow)
		}
		msg := "not found"
		if rec.code == http.StatusMethodNotAllowed {
			msg = fmt.Sprintf("method %s not allowed", r.Method)
		}
		writeError(w, rec.code, msg)
		return
	}
	s.mux.ServeHTTP(w, r)
}

// statusRecorder captures what the router would answer for an unmatched request.
type statusRecorder struct {
	header http.Header
	code   int
}

func (r *statusRecorder) Header() http.Header         { return r.header }
func (r *statusRecorder) Write(b []byte) (int, error) { return len(b), nil }
func (r *statusRecorder) WriteHeader(code int) {
	if r.code == 0 {
		r.code = code
	}
}

// principal is who makes a request: the admin, or an agent of one firm.
type principal struct {
	admin bool
	firm  *dialplan.Firm
	agent *dialplan.Agent
	sess  *session
}

// isSelf reports whether p is the agent id of firm.
func (p principal) isSelf(firm, agent string) bool {
	return !p.admin && p.firm.ID == firm && p.agent.ID == agent
}

// errUnauthorized is the answer to a request without valid credentials.
var errUnauthorized = &httpError{http.StatusUnauthorized, "authentication required: bearer token or login session"}

// authenticate finds the principal of a request. A bearer header wins over a
// session cookie, and a wrong token is refused even if a cookie is present.
func (s *Server) authenticate(r *http.Request) (principal, *httpError) {
	if h := r.Header.Get("Authorization"); h != "" {
		// The scheme name is case-insensitive (RFC 9110 section 11.1).
		scheme, tok, ok := strings.Cut(strings.TrimSpace(h), " ")
		if !ok || !strings.EqualFold(scheme, "Bearer") || !s.tokenOK(strings.TrimSpace(tok)) {
			return principal{}, &httpError{http.StatusUnauthorized, "invalid bearer token"}
		}
		return principal{admin: true}, nil
	}
	c, err := r.Cookie(sessionCookie)
	if err != nil {
		return principal{}, errUnauthorized
	}
	sess := s.sessions.get(c.Value)
	if sess == nil {
		return principal{}, &httpError{http.StatusUnauthorized, "session expired or unknown: log in again"}
	}
	f := s.d.PBX.Config().Firm(sess.firm)
	var a *dialplan.Agent
	if f != nil {
		a = f.Agent(sess.agent)
	}
	if a == nil {
		// The agent was removed from the config since the login.
		s.sessions.delete(c.Value)
		return principal{}, &httpError{http.StatusUnauthorized, "agent no longer exists: log in again"}
	}
	return principal{firm: f, agent: a, sess: sess}, nil
}

// tokenOK compares in constant time; hashing first hides the token's length too.
func (s *Server) tokenOK(tok string) bool {
	if s.d.Token == "" || tok == "" {
		return false
	}
	sum := sha256.Sum256([]byte(tok))
	return subtle.ConstantTimeCompare(sum[:], s.tokenSum[:]) == 1
}

// auth wraps a handler that needs an admin or an agent.
func (s *Server) auth(h func(http.ResponseWriter, *http.Request, principal)) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		p, herr := s.authenticate(r)
		if herr != nil {
			writeError(w, herr.code, herr.msg)
			return
		}
		if p.sess != nil {
			if herr := s.checkCookieRequest(r); herr != nil {
				s.log.Warn("cookie request refused", "err", herr.msg, "method", r.Method, "path", r.URL.Path, "origin", r.Header.Get("Origin"), "ip", clientIP(r))
				writeError(w, herr.code, herr.msg)
				return
			}
		}
		h(w, r, p)
	}
}

// checkCookieRequest guards state-changing requests that a browser sends with
// the session cookie: they must come from our own origin (Origin, else Referer,
// naming the Host the request was sent to) and carry JSON, which a form on
// another site cannot send without a CORS preflight that we never grant.
// SameSite=Strict alone leaves older browsers and same-site subdomains.
// Bearer-token clients (CLI, scripts) are not browsers and are not checked.
func (s *Server) checkCookieRequest(r *http.Request) *httpError {
	switch r.Method {
	case http.MethodGet, http.MethodHead, http.MethodOptions:
		return nil
	}
	if herr := s.checkOrigin(r, true); herr != nil {
		return herr
	}
	ct := r.Header.Get("Content-Type")
	if ct == "" && r.ContentLength == 0 {
		return nil // no body: the agent app's POSTs without payload
	}
	if mt, _, _ := strings.Cut(ct, ";"); !strings.EqualFold(strings.TrimSpace(mt), "application/json") {
		return errorf(http.StatusUnsupportedMediaType, "requests with a session cookie must send Content-Type: application/json")
	}
	return nil
}

// checkOrigin checks that Origin (else Referer) names the host the request was
// sent to. required: a request with neither is refused (every browser sends
// Origin on a cross-origin POST, and the agent app's fetch sends it too).
func (s *Server) checkOrigin(r *http.Request, required bool) *httpError {
	src := r.Header.Get("Origin")
	if src == "" || src == "null" {
		src = r.Header.Get("Referer")
	}
	if src == "" {
		if required {
			return errorf(http.StatusForbidden, "cross-site request refused: no Origin or Referer")
		}
		return nil
	}
	host := r.Host
	if fwd := r.Header.Get("X-Forwarded-Host"); fwd != "" && s.fromTrustedProxy(r) {
		// A reverse proxy that rewrites Host says here what the browser asked for.
		host = strings.TrimSpace(strings.Split(fwd, ",")[0])
	}
	u, err := url.Parse(src)
	if err != nil || !strings.EqualFold(u.Host, host) {
		return errorf(http.StatusForbidden, "cross-site request refused: origin %q is not %q", src, host)
	}
	return nil
}

// fromTrustedProxy reports whether the request came from a listen.trusted_proxies address.
func (s *Server) fromTrustedProxy(r *http.Request) bool {
	ap, err := netip.ParseAddrPort(r.RemoteAddr)
	if err != nil {
		return false
	}
	for _, p := range s.d.TrustedProxies {
		if p.Contains(ap.Addr().Unmap()) {
			return true
		}
	}
	return false
}

// secureRequest reports whether the client reached us over TLS: directly, or
// through a trusted proxy that says so in X-Forwarded-Proto.
func (s *Server) secureRequest(r *http.Request) bool {
	if r.TLS != nil {
		return true
	}
	return s.fromTrustedProxy(r) && strings.EqualFold(strings.TrimSpace(r.Header.Get("X-Forwarded-Proto")), "https")
}

// handleMetrics serves /metrics: open to loopback clients (a local Prometheus or
// curl on the box), the admin token for everyone else.
func (s *Server) handleMetrics(w http.ResponseWriter, r *http.Request) {
	if !isLoopback(r.RemoteAddr) {
		if p, herr := s.authenticate(r); herr != nil || !p.admin {
			writeError(w, http.StatusUnauthorized, "metrics need the admin bearer token from non-loopback addresses")
			return
		}
	}
	s.metrics.ServeHTTP(w, r)
}

func isLoopback(remote string) bool {
	ap, err := netip.ParseAddrPort(remote)
	if err != nil {
		host, _, serr := net.SplitHostPort(remote)
		if serr != nil {
			return false
		}
		a, aerr := netip.ParseAddr(host)
		return aerr == nil && a.Unmap().IsLoopback()
	}
	return ap.Addr().Unmap().IsLoopback()
}

// clientIP is the address rate limits count against. Forwarded headers are not
// trusted: anyone could send them.
func clientIP(r *http.Request) string {
	if ap, err := netip.ParseAddrPort(r.RemoteAddr); err == nil {
		return ap.Addr().Unmap().String()
	}
	if host, _, err := net.SplitHostPort(r.RemoteAddr); err == nil {
		return host
	}
	return r.RemoteAddr
}

// httpError is an error with the status code it is answered with.
type httpError struct {
	code int
	msg  string
}

func (e *httpError) Error() string { return e.msg }

func errorf(code int, format string, args ...any) *httpError {
	return &httpError{code, fmt.Sprintf(format, args...)}
}

func writeJSON(w http.ResponseWriter, code int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(code)
	enc := json.NewEncoder(w)
	enc.Encode(v) //nolint:errcheck // the client went away; nothing to do
}

func writeError(w http.ResponseWriter, code int, msg string) {
	writeJSON(w, code, map[string]string{"error": msg})
}

// fail answers err: an *httpError with its code, store and pbx errors with the
// fitting one, anything else as 500 (logged, with a generic message).
func (s *Server) fail(w http.ResponseWriter, r *http.Request, err error) {
	var he *httpError
	switch {
	case errors.As(err, &he):
		writeError(w, he.code, he.msg)
	case errors.Is(err, store.ErrNotFound):
		writeError(w, http.StatusNotFound, "not found")
	case errors.Is(err, store.ErrConflict):
		writeError(w, http.StatusConflict, "conflict: the record changed state")
	case errors.Is(err, store.ErrInvalid):
		writeError(w, http.StatusBadRequest, "invalid identifier")
	default:
		s.log.Error("request failed", "method", r.Method, "path", r.URL.Path, "err", err)
		writeError(w, http.StatusInternalServerError, "internal error")
	}
}

// decodeBody reads a JSON object into v, refusing unknown fields and oversize
// bodies. An empty body leaves v as it is when allowEmpty is set.
func decodeBody(w http.ResponseWriter, r *http.Request, v any, allowEmpty bool) *httpError {
	r.Body = http.MaxBytesReader(w, r.Body, maxBody)
	dec := json.NewDecoder(r.Body)
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		if errors.Is(err, io.EOF) && allowEmpty {
			return nil
		}
		return errorf(http.StatusBadRequest, "invalid JSON body: %v", err)
	}
	if dec.More() {
		return errorf(http.StatusBadRequest, "invalid JSON body: trailing data")
	}
	return nil
}

// firmScope returns the firms a request covers: an agent's own firm; for the
// admin the firm named by ?firm= (id or domain), or every firm.
func (s *Server) firmScope(r *http.Request, p principal) ([]*dialplan.Firm, *httpError) {
	name := r.URL.Query().Get("firm")
	if !p.admin {
		if name != "" && !strings.EqualFold(name, p.firm.ID) && !strings.EqualFold(name, p.firm.Domain) {
			return nil, errorf(http.StatusForbidden, "your session is for firm %s", p.firm.ID)
		}
		return []*dialplan.Firm{p.firm}, nil
	}
	cfg := s.d.PBX.Config()
	if name == "" {
		return cfg.Firms, nil
	}
	f := cfg.Firm(name)
	if f == nil {
		f = cfg.FirmByDomain(name)
	}
	if f == nil {
		return nil, errorf(http.StatusNotFound, "unknown firm %q", name)
	}
	return []*dialplan.Firm{f}, nil
}

// findOne picks the single firm of scope where found reports a hit: the admin
// may leave the firm out as long as the name is unambiguous.
func findOne(scope []*dialplan.Firm, what, name string, found func(*dialplan.Firm) bool) (*dialplan.Firm, *httpError) {
	var hit *dialplan.Firm
	for _, f := range scope {
		if !found(f) {
			continue
		}
		if hit != nil {
			return nil, errorf(http.StatusBadRequest, "%s %q exists in several firms (%s, %s): add ?firm=", what, name, hit.ID, f.ID)
		}
		hit = f
	}
	if hit == nil {
		return nil, errorf(http.StatusNotFound, "unknown %s %q", what, name)
	}
	return hit, nil
}

// lookupAgent finds agent id (or extension) in f.
func lookupAgent(f *dialplan.Firm, id string) *dialplan.Agent {
	if a := f.Agent(id); a != nil {
		return a
	}
	return f.AgentByExtension(id)
}
