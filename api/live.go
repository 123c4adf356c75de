package api

import (
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/netip"
	"strconv"
	"strings"
	"sync"
	"time"

	"switchboard/pbx"
)

// Server-Sent Events timing.
const (
	ssePing         = 15 * time.Second // a comment line keeps proxies from closing the stream
	sseWriteTimeout = 10 * time.Second // a client that takes no data for this long is dropped
	sseRetry        = 3 * time.Second  // how soon EventSource reconnects
)

// streams tracks the open event streams so that Close can end them and wait:
// http.Server.Shutdown waits only for idle connections, and a stream never is.
type streams struct {
	mu      sync.Mutex
	wg      sync.WaitGroup
	closed  bool
	closing chan struct{}
}

// begin registers a stream; false once Close has begun.
func (st *streams) begin() bool {
	st.mu.Lock()
	defer st.mu.Unlock()
	if st.closed {
		return false
	}
	st.wg.Add(1)
	return true
}

// Close ends every event stream and waits for their handlers to return. Call it
// before http.Server.Shutdown, which would otherwise wait for them in vain.
func (s *Server) Close() {
	st := &s.streams
	st.mu.Lock()
	if !st.closed {
		st.closed = true
		close(st.closing)
	}
	st.mu.Unlock()
	st.wg.Wait()
}

// handleEvents streams PBX events as Server-Sent Events: every event for the
// admin, an agent's own (their firm, them among the event's agents) for a
// session. The stream ends when the client goes away, the session ends, or the
// server shuts down.
func (s *Server) handleEvents(w http.ResponseWriter, r *http.Request, p principal) {
	if !s.streams.begin() {
		s.fail(w, r, errorf(http.StatusServiceUnavailable, "server is shutting down"))
		return
	}
	defer s.streams.wg.Done()
	// The admin skips the copies of news meant for agents alone: another copy,
	// with more in it, comes their way (pbx.Event.AgentsOnly).
	filter := func(e pbx.Event) bool { return !e.AgentsOnly }
	if !p.admin {
		firm, agent := p.firm.ID, p.agent.ID
		filter = func(e pbx.Event) bool { return e.Concerns(firm, agent) }
	}
	sub := s.d.PBX.Events().Subscribe(0, filter)
	defer sub.Cancel()

	rc := http.NewResponseController(w)
	// The stream outlives the server's read timeout, which would otherwise end
	// it (net/http cancels the request when its background read times out); a
	// client that went away is noticed by the failing pings.
	rc.SetReadDeadline(time.Time{}) //nolint:errcheck // not every writer has deadlines
	h := w.Header()
	h.Set("Content-Type", "text/event-stream")
	h.Set("Cache-Control", "no-cache")
	h.Set("X-Accel-Buffering", "no") // nginx: do not buffer the stream
	w.WriteHeader(http.StatusOK)
	send := func(chunk string) bool {
		// A stuck client must not hold this goroutine (and Close) forever.
		rc.SetWriteDeadline(time.Now().Add(sseWriteTimeout)) //nolint:errcheck // not every writer has deadlines
		if _, err := io.WriteString(w, chunk); err != nil {
			return false
		}
		return rc.Flush() == nil
	}
	if !send(fmt.Sprintf("retry: %d\n: connected\n\n", sseRetry.Milliseconds())) {
		return
	}
	ping := time.NewTicker(ssePing)
	defer ping.Stop()
	lost := uint64(0)
	for {
		select {
		case <-r.Context().Done():
			return
		case <-s.streams.closing:
			return
		case <-ping.C:
			if p.sess != nil {
				if cur := s.sessions.get(p.sess.id); cur == nil || cur.firm != p.firm.ID {
					return // logged out, expired or switched firm
				}
			}
			if !send(": ping\n\n") {
				return
			}
		case e, ok := <-sub.C:
			if !ok {
				return
			}
			// A logout or a firm switch ends the stream at once, not at the
			// next ping: the next event might belong to the old firm.
			if p.sess != nil {
				if cur := s.sessions.get(p.sess.id); cur == nil || cur.firm != p.firm.ID {
					return
				}
			}
			if n := sub.Lost(); n != lost {
				s.log.Warn("event stream lost events: client too slow", "lost", n-lost, "by", p.who())
				lost = n
			}
			b, err := json.Marshal(e.Data)
			if err != nil {
				s.log.Error("encode event", "event", e.Name, "err", err)
				continue
			}
			if !send("event: " + e.Name + "\ndata: " + string(b) + "\n\n") {
				return
			}
		}
	}
}

// sipJSON is what the browser softphone needs to register.
type sipJSON struct {
	WSURL    string    `json:"ws_url"`
	URI      string    `json:"uri"`
	Username string    `json:"username"`
	Password string    `json:"password"`
	Expires  time.Time `json:"expires"`
}

// handleMeSIP gives an agent's session its SIP credentials for the browser
// softphone: issued once per session (a reload gets the same ones), revoked
// when the session ends or switches firm. Never the agent's own password.
func (s *Server) handleMeSIP(w http.ResponseWriter, r *http.Request, p principal) {
	if p.admin {
		s.fail(w, r, errorf(http.StatusBadRequest, "SIP credentials are for agent sessions"))
		return
	}
	wsURL, ok := s.sipWebSocket(r)
	if !ok {
		s.fail(w, r, errorf(http.StatusConflict, "no SIP WebSocket listener (add ws:// or wss:// to listen.sip)"))
		return
	}
	creds := p.sess.sip
	if creds.Username == "" {
		issued, err := s.d.PBX.IssueSessionCredentials(p.firm.ID, p.agent.ID, p.sess.expires)
		if err != nil {
			s.fail(w, r, err)
			return
		}
		// Two requests at once must not leave two sets alive: the first one
		// stored wins and the other set is revoked.
		sess := s.sessions.update(p.sess.id, func(se *session) {
			if se.sip.Username == "" && se.firm == p.firm.ID && se.agent == p.agent.ID {
				se.sip = issued
			}
		})
		if sess == nil || sess.sip.Username != issued.Username {
			s.d.PBX.RevokeSessionCredentials(issued.Username)
		}
		if sess == nil || sess.sip.Username == "" {
			s.fail(w, r, errorf(http.StatusConflict, "session changed meanwhile: try again"))
			return
		}
		creds = sess.sip
	}
	writeJSON(w, http.StatusOK, sipJSON{
		WSURL: wsURL, URI: "sip:" + p.agent.Extension + "@" + p.firm.Domain,
		Username: creds.Username, Password: creds.Password, Expires: creds.Expires,
	})
}

// sipWebSocket is the SIP WebSocket URL for a browser that loaded r: wss for an
// https page (a browser refuses ws:// there), ws (else wss) for an http one.
// A listener on 0.0.0.0 or :: is reached at the host the page came from; so is
// a wss listener when the page came by name, since its certificate names that.
func (s *Server) sipWebSocket(r *http.Request) (string, bool) {
	var ws, wss netip.AddrPort
	for _, l := range s.d.PBX.SIPListeners() {
		switch {
		case l.Network == "ws" && !ws.IsValid():
			ws = l.Addr
		case l.Network == "wss" && !wss.IsValid():
			wss = l.Addr
		}
	}
	scheme, addr := "ws", ws
	if r.TLS != nil || !ws.IsValid() {
		scheme, addr = "wss", wss
	}
	if !addr.IsValid() {
		return "", false
	}
	pageHost := r.Host
	if h, _, err := net.SplitHostPort(r.Host); err == nil {
		pageHost = h
	}
	pageHost = strings.Trim(pageHost, "[]")
	host := addr.Addr().Unmap().String()
	_, pageIsIP := netip.ParseAddr(pageHost)
	if pageHost != "" && (addr.Addr().IsUnspecified() || scheme == "wss" && pageIsIP != nil) {
		host = pageHost
	}
	return scheme + "://" + net.JoinHostPort(host, strconv.Itoa(int(addr.Port()))), true
}
