package api

import (
	"crypto/rand"
	"encoding/base64"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"

	"switchboard/callinfo"
	"switchboard/dialplan"
	"switchboard/internal/limit"
	"switchboard/pbx"
)

// session is an agent's login. Sessions live in memory only: a restart logs
// agents out, which is cheaper than persisting secrets. Requests get copies
// (sessions.get); changes go through sessions.update.
type session struct {
	id      string
	firm    string // the firm the session acts in
	agent   string
	firms   []firmRef // every firm the credentials matched, for the firm picker
	expires time.Time
	sip     pbx.SessionCredentials // the browser softphone's, once issued
}

type firmRef struct {
	Firm  string `json:"firm"`
	Agent string `json:"agent"`
}

type sessions struct {
	mu  sync.Mutex
	m   map[string]*session
	now func() time.Time
	// dropped runs (outside the lock) for every session that ends: logout,
	// expiry, replacement; it revokes what the session was given.
	dropped func(session)
}

func newSessions(now func() time.Time, dropped func(session)) *sessions {
	if dropped == nil {
		dropped = func(session) {}
	}
	return &sessions{m: make(map[string]*session), now: now, dropped: dropped}
}

func (ss *sessions) create(firm, agent string, firms []firmRef) *session {
	b := make([]byte, 32)
	rand.Read(b)
	now := ss.now()
	s := &session{id: base64.RawURLEncoding.EncodeToString(b), firm: firm, agent: agent, firms: firms, expires: now.Add(sessionTTL)}
	var gone []session
	ss.mu.Lock()
	for id, old := range ss.m {
		if !now.Before(old.expires) {
			delete(ss.m, id)
			gone = append(gone, *old)
		}
	}
	ss.m[s.id] = s
	cp := *s
	ss.mu.Unlock()
	for _, g := range gone {
		ss.dropped(g)
	}
	return &cp
}

// get returns a copy of a live session, or nil.
func (ss *sessions) get(id string) *session {
	ss.mu.Lock()
	s := ss.m[id]
	if s == nil {
		ss.mu.Unlock()
		return nil
	}
	if !ss.now().Before(s.expires) {
		delete(ss.m, id)
		ss.mu.Unlock()
		ss.dropped(*s)
		return nil
	}
	cp := *s
	ss.mu.Unlock()
	return &cp
}

// update changes a live session with fn (under the lock: fn must be quick) and
// returns a copy of the result, or nil when the session is gone.
func (ss *sessions) update(id string, fn func(*session)) *session {
	ss.mu.Lock()
	defer ss.mu.Unlock()
	s := ss.m[id]
	if s == nil || !ss.now().Before(s.expires) {
		return nil
	}
	fn(s)
	cp := *s
	return &cp
}

func (ss *sessions) delete(id string) {
	ss.mu.Lock()
	s := ss.m[id]
	delete(ss.m, id)
	ss.mu.Unlock()
	if s != nil {
		ss.dropped(*s)
	}
}

// failLimiter throttles logins per key (the client's address): max attempts in
// a window, counted by the shared limit.Window.
type failLimiter struct {
	max int
	now func() time.Time
	w   *limit.Window[string]
}

func newFailLimiter(max int, window time.Duration, now func() time.Time) *failLimiter {
	return &failLimiter{max: max, now: now, w: limit.New[string](window)}
}

// attempt checks and counts a login attempt in one step, so that attempts in
// flight count too (a client cannot start many before the first fails). It
// reports how long the key stays blocked when it is.
func (l *failLimiter) attempt(key string) (time.Duration, bool) {
	now := l.now()
	if _, end, ok := l.w.Add(key, now, l.max); !ok {
		return end.Sub(now), false
	}
	return 0, true
}

// succeeded gives back the slot of an attempt that turned out right.
func (l *failLimiter) succeeded(key string) { l.w.Undo(key) }

type loginRequest struct {
	Username string `json:"username"`
	Password string `json:"password"`
	Domain   string `json:"domain"`
	Firm     string `json:"firm"`
}

// meJSON describes the caller: the agent of a session, or the admin.
type meJSON struct {
	Role      string          `json:"role"`
	Agent     string          `json:"agent,omitempty"`
	Name      string          `json:"name,omitempty"`
	Extension string          `json:"extension,omitempty"`
	Firm      string          `json:"firm,omitempty"`
	Status    callinfo.Status `json:"status,omitempty"`
	// WrapUpUntil: see agentJSON.
	WrapUpUntil *time.Time `json:"wrap_up_until,omitempty"`
	Routing     string     `json:"routing,omitempty"` // computer or mobile
	Mailbox     string     `json:"mailbox,omitempty"` // the agent's own mailbox
	Firms       []firmRef  `json:"firms,omitempty"`
	Expires     time.Time  `json:"expires,omitzero"`
	// Teams lists the teams of the agent's firm (all of them, not only the
	// agent's own): the console offers them as transfer targets.
	Teams []teamRef `json:"teams,omitempty"`
	// Supervises lists the ids of the teams the agent supervises: the console
	// shows them the Team view (GET /api/queues answers them).
	Supervises []string `json:"supervises,omitempty"`
}

// teamRef names a team the way a transfer target and a person need it.
type teamRef struct {
	ID        string `json:"id"`
	Name      string `json:"name"`
	Extension string `json:"extension,omitempty"`
}

// handleLogin checks an agent's SIP credentials and starts a session in the
// firm named by "firm", else the first firm that matched.
func (s *Server) handleLogin(w http.ResponseWriter, r *http.Request) {
	ip := clientIP(r)
	// Login CSRF (logging a victim into the attacker's account): a browser
	// posting from another site names it in Origin.
	if herr := s.checkOrigin(r, false); herr != nil {
		writeError(w, herr.code, herr.msg)
		return
	}
	var req loginRequest
	if herr := decodeBody(w, r, &req, false); herr != nil {
		writeError(w, herr.code, herr.msg)
		return
	}
	if req.Username == "" || req.Password == "" {
		writeError(w, http.StatusBadRequest, "username and password are required")
		return
	}
	if left, ok := s.limiter.attempt(ip); !ok {
		w.Header().Set("Retry-After", strconv.Itoa(int(left.Seconds())+1))
		writeError(w, http.StatusTooManyRequests, "too many failed logins; try again later")
		return
	}
	matches := s.d.PBX.CheckPassword(req.Domain, req.Username, req.Password)
	if len(matches) == 0 {
		s.log.Warn("login failed", "username", req.Username, "domain", req.Domain, "ip", ip)
		writeError(w, http.StatusUnauthorized, "invalid username or password")
		return
	}
	s.limiter.succeeded(ip)
	pick := matches[0]
	if req.Firm != "" {
		pick = pbx.FirmAgent{}
		for _, m := range matches {
			if strings.EqualFold(m.Firm.ID, req.Firm) || strings.EqualFold(m.Firm.Domain, req.Firm) {
				pick = m
				break
			}
		}
		if pick.Firm == nil {
			writeError(w, http.StatusUnauthorized, "these credentials are not valid in firm "+req.Firm)
			return
		}
	}
	refs := make([]firmRef, len(matches))
	for i, m := range matches {
		refs[i] = firmRef{Firm: m.Firm.ID, Agent: m.Agent.ID}
	}
	// A new login replaces the old session rather than piling them up.
	if c, err := r.Cookie(sessionCookie); err == nil {
		s.sessions.delete(c.Value)
	}
	sess := s.sessions.create(pick.Firm.ID, pick.Agent.ID, refs)
	http.SetCookie(w, &http.Cookie{
		Name: sessionCookie, Value: sess.id, Path: "/", Expires: sess.expires, MaxAge: int(sessionTTL.Seconds()),
		HttpOnly: true, SameSite: http.SameSiteStrictMode, Secure: s.secureRequest(r),
	})
	s.log.Info("agent logged in", "firm", pick.Firm.ID, "agent", pick.Agent.ID, "ip", ip)
	writeJSON(w, http.StatusOK, s.me(principal{firm: pick.Firm, agent: pick.Agent, sess: sess}))
}

func (s *Server) handleLogout(w http.ResponseWriter, r *http.Request) {
	if herr := s.checkOrigin(r, false); herr != nil {
		writeError(w, herr.code, herr.msg)
		return
	}
	if c, err := r.Cookie(sessionCookie); err == nil {
		s.sessions.delete(c.Value)
	}
	http.SetCookie(w, &http.Cookie{
		Name: sessionCookie, Value: "", Path: "/", MaxAge: -1,
		HttpOnly: true, SameSite: http.SameSiteStrictMode, Secure: s.secureRequest(r),
	})
	w.WriteHeader(http.StatusNoContent)
}

func (s *Server) handleMe(w http.ResponseWriter, r *http.Request, p principal) {
	writeJSON(w, http.StatusOK, s.me(p))
}

func (s *Server) me(p principal) meJSON {
	if p.admin {
		return meJSON{Role: "admin"}
	}
	me := meJSON{
		Role: "agent", Agent: p.agent.ID, Name: p.agent.Name, Extension: p.agent.Extension,
		Firm: p.firm.ID, Status: s.status(p.firm.ID, p.agent), WrapUpUntil: s.wrapUpUntil(p.firm.ID, p.agent.ID),
		Routing: p.agent.Routing, Firms: p.sess.firms, Expires: p.sess.expires,
	}
	for _, t := range p.firm.Teams {
		me.Teams = append(me.Teams, teamRef{ID: t.ID, Name: t.Name, Extension: t.Extension})
	}
	for _, t := range p.firm.SupervisedBy(p.agent.ID) {
		me.Supervises = append(me.Supervises, t.ID)
	}
	if box := p.firm.Mailbox(p.agent.ID); box != nil {
		me.Mailbox = box.ID
	}
	return me
}

type firmRequest struct {
	Firm string `json:"firm"`
}

// handleMeFirm moves an agent's session to another firm its login matched,
// without the password: the firms were checked at login. The softphone's SIP
// credentials belong to the old firm's domain and are revoked.
func (s *Server) handleMeFirm(w http.ResponseWriter, r *http.Request, p principal) {
	if p.admin {
		s.fail(w, r, errorf(http.StatusBadRequest, "the admin has no firm to switch: use ?firm= on requests"))
		return
	}
	var req firmRequest
	if herr := decodeBody(w, r, &req, false); herr != nil {
		s.fail(w, r, herr)
		return
	}
	var pick *firmRef
	for i, ref := range p.sess.firms {
		if f := s.d.PBX.Config().Firm(ref.Firm); strings.EqualFold(ref.Firm, req.Firm) || f != nil && strings.EqualFold(f.Domain, req.Firm) {
			pick = &p.sess.firms[i]
			break
		}
	}
	if pick == nil {
		s.fail(w, r, errorf(http.StatusForbidden, "your login is not valid in firm %q", req.Firm))
		return
	}
	f := s.d.PBX.Config().Firm(pick.Firm)
	var a *dialplan.Agent
	if f != nil {
		a = f.Agent(pick.Agent)
	}
	if a == nil {
		s.fail(w, r, errorf(http.StatusNotFound, "firm %s or agent %s no longer exists", pick.Firm, pick.Agent))
		return
	}
	var old pbx.SessionCredentials
	sess := s.sessions.update(p.sess.id, func(se *session) {
		if se.firm != f.ID || se.agent != a.ID {
			old, se.sip = se.sip, pbx.SessionCredentials{}
		}
		se.firm, se.agent = f.ID, a.ID
	})
	if sess == nil {
		s.fail(w, r, errorf(http.StatusUnauthorized, "session expired or unknown: log in again"))
		return
	}
	if old.Username != "" {
		s.d.PBX.RevokeSessionCredentials(old.Username)
	}
	s.log.Info("agent switched firm", "firm", f.ID, "agent", a.ID)
	writeJSON(w, http.StatusOK, s.me(principal{firm: f, agent: a, sess: sess}))
}
