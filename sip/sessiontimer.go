package sip

import (
	"context"
	"errors"
	"strconv"
	"strings"
	"sync"
	"time"

	gosip "github.com/emiago/sipgo/sip"
)

// Session timers (RFC 4028), kept where the caller asks for them: a caller whose
// INVITE carries Session-Expires gets the interval confirmed in our 200, and either
// refreshes the session itself (refresher=uac) or lets us do it (refresher=uas, which
// is forced when it does not support "timer"). A session that is not refreshed in time
// is ended with BYE on both sides, so a phone that vanished does not hold an agent.

// DefaultMinSE is RFC 4028's smallest allowed session interval.
const DefaultMinSE = 90 * time.Second

// ErrIntervalTooSmall is returned by Accept when it answered 422 because the caller's
// Session-Expires is below our Min-SE; the caller retries with a larger one.
var ErrIntervalTooSmall = errors.New("sip: session interval too small (422 sent)")

// sessionParams is what one request says about session timers.
type sessionParams struct {
	present   bool
	interval  time.Duration
	refresher string // "uac", "uas" or "" when the request leaves it to us
	minSE     time.Duration
	timerOK   bool // Supported or Require lists "timer"
}

// readSessionParams reads Session-Expires (compact form "x"), Min-SE and Supported.
// A malformed Session-Expires counts as absent: the call goes on without timers
// rather than failing over a header the caller did not need.
func readSessionParams(req *gosip.Request) sessionParams {
	var p sessionParams
	for _, name := range []string{"Supported", "k", "Require"} {
		for _, h := range req.GetHeaders(name) {
			for _, opt := range strings.Split(h.Value(), ",") {
				if strings.EqualFold(strings.TrimSpace(opt), "timer") {
					p.timerOK = true
				}
			}
		}
	}
	if h := req.GetHeader("min-se"); h != nil {
		if d, _, ok := parseDeltaParams(h.Value()); ok {
			p.minSE = d
		}
	}
	h := req.GetHeader("session-expires")
	if h == nil {
		h = req.GetHeader("x")
	}
	if h == nil {
		return p
	}
	d, params, ok := parseDeltaParams(h.Value())
	if !ok || d <= 0 {
		return p
	}
	p.present, p.interval = true, d
	for _, kv := range params {
		k, v, _ := strings.Cut(kv, "=")
		if strings.EqualFold(strings.TrimSpace(k), "refresher") {
			v = strings.ToLower(strings.TrimSpace(v))
			if v == "uac" || v == "uas" {
				p.refresher = v
			}
		}
	}
	return p
}

// parseDeltaParams reads "1800;refresher=uac" into 1800 s and its parameters.
func parseDeltaParams(v string) (time.Duration, []string, bool) {
	parts := strings.Split(v, ";")
	n, err := strconv.ParseUint(strings.TrimSpace(parts[0]), 10, 32)
	if err != nil {
		return 0, nil, false
	}
	return time.Duration(n) * time.Second, parts[1:], true
}

// negotiate decides the interval and the refresher for a request from the peer
// (the initial INVITE or a refresh): "uac" means the peer refreshes. ok is false
// when the interval is below minSE and the request must get 422. A peer without
// timer support cannot act on a 422: its interval is raised to minSE instead, and
// we refresh (RFC 4028 section 9).
func (p sessionParams) negotiate(minSE time.Duration) (interval time.Duration, refresher string, ok bool) {
	if p.interval < minSE {
		if p.timerOK {
			return 0, "", false
		}
		return max(minSE, p.minSE), "uas", true
	}
	interval = max(p.interval, p.minSE)
	refresher = p.refresher
	if !p.timerOK {
		refresher = "uas" // a peer without timer support cannot be the refresher
	} else if refresher == "" {
		refresher = "uac"
	}
	return interval, refresher, true
}

func secs(d time.Duration) string { return strconv.Itoa(int(d / time.Second)) }

// tooSmall answers 422 with our Min-SE.
func (s *Server) tooSmall(tx ServerTransaction, req *gosip.Request) {
	s.respond(tx, req, 422, "Session Interval Too Small", gosip.NewHeader("Min-SE", secs(s.minSE())))
}

func (s *Server) minSE() time.Duration {
	if s.cfg.MinSE > 0 {
		return s.cfg.MinSE
	}
	return DefaultMinSE
}

// sessionTimer runs the timer of one answered inbound leg.
type sessionTimer struct {
	l *InboundLeg

	mu        sync.Mutex
	peerTimer bool // the caller's last request said it supports "timer"
	interval  time.Duration
	weRefresh bool      // we send the refreshes; otherwise the caller does and we watch
	lastOK    time.Time // the session was last confirmed (answer, refresh either way)
	t         *time.Timer
	stopped   bool
}

func newSessionTimer(interval time.Duration, refresher string, peerTimer bool) *sessionTimer {
	return &sessionTimer{interval: interval, weRefresh: refresher == "uas", peerTimer: peerTimer}
}

// sessionExpires is the Session-Expires header for a message in which we are the
// UAC (our re-INVITE or UPDATE) or the UAS (our 2xx to the caller): refresher
// names the role of whoever refreshes. Called with st.mu held.
func (st *sessionTimer) sessionExpires(weAreUAC bool) Header {
	who := "uas"
	if st.weRefresh == weAreUAC {
		who = "uac"
	}
	return gosip.NewHeader("Session-Expires", secs(st.interval)+";refresher="+who)
}

// headers are what a 2xx to the caller's INVITE or refresh carries.
func (st *sessionTimer) headers() []Header {
	st.mu.Lock()
	defer st.mu.Unlock()
	hs := []Header{st.sessionExpires(false)}
	if st.peerTimer {
		hs = append(hs, gosip.NewHeader("Require", "timer"))
	}
	return hs
}

// requestHeaders are what a re-INVITE or UPDATE of ours carries. Without them the
// caller could take the session timer as switched off.
func (st *sessionTimer) requestHeaders() []Header {
	st.mu.Lock()
	defer st.mu.Unlock()
	return []Header{st.sessionExpires(true), gosip.NewHeader("Supported", "timer")}
}

// confirmed applies a 2xx to a request of ours: it restarts the clock, with the
// interval and refresher it names when it names them.
func (st *sessionTimer) confirmed(res *gosip.Response, minSE time.Duration) {
	h := res.GetHeader("session-expires")
	if h == nil {
		h = res.GetHeader("x")
	}
	if h != nil {
		if d, params, ok := parseDeltaParams(h.Value()); ok && d > 0 {
			st.mu.Lock()
			st.interval = max(d, minSE)
			for _, kv := range params {
				k, v, _ := strings.Cut(kv, "=")
				if strings.EqualFold(strings.TrimSpace(k), "refresher") {
					switch strings.ToLower(strings.TrimSpace(v)) {
					case "uac":
						st.weRefresh = true
					case "uas":
						st.weRefresh = false
					}
				}
			}
			st.mu.Unlock()
		}
	}
	st.arm()
}

// arm (re)starts the timer for the current interval, counting the session as
// confirmed now: a refresh of ours at half of it, or, when the caller refreshes,
// the end of the session a little before it expires (RFC 4028 section 10: the
// interval minus a third of it, at most 32 s).
func (st *sessionTimer) arm() {
	st.mu.Lock()
	defer st.mu.Unlock()
	st.lastOK = time.Now()
	st.schedule()
}

// schedule sets the timer without counting a confirmation. Called with st.mu held.
func (st *sessionTimer) schedule() {
	if st.stopped {
		return
	}
	wait := st.interval / 2
	fire := st.refresh
	if !st.weRefresh {
		wait = st.interval - min(32*time.Second, st.interval/3)
		fire = st.expire
	}
	if st.t != nil {
		st.t.Stop()
	}
	st.t = time.AfterFunc(wait, fire)
}

// refreshed applies a refresh the caller sent, and restarts the clock.
func (st *sessionTimer) refreshed(interval time.Duration, refresher string, peerTimer bool) {
	st.mu.Lock()
	st.interval, st.weRefresh, st.peerTimer = interval, refresher == "uas", peerTimer
	st.mu.Unlock()
	st.arm()
}

func (st *sessionTimer) stop() {
	st.mu.Lock()
	st.stopped = true
	if st.t != nil {
		st.t.Stop()
	}
	st.mu.Unlock()
}

func (st *sessionTimer) expire() {
	st.l.s.log.Info("sip: session expired without refresh, ending the call", "call_id", st.l.CallID())
	st.end()
}

func (st *sessionTimer) end() {
	st.l.setCause("session-expired")
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	_ = st.l.Hangup(ctx)
}

// refresh sends our refresh: UPDATE without a body when the caller allows it (no
// offer/answer to get wrong), else a re-INVITE with our last SDP; either waits its
// turn with our other offers on the leg. No answer, 408 or 481 ends the call (RFC
// 4028 section 10); after other failures the session is tried again, and ended once
// a whole interval has passed without a confirmed refresh.
func (st *sessionTimer) refresh() {
	l := st.l
	select {
	case <-l.done:
		return
	default:
	}
	ctx, cancel := context.WithTimeout(context.Background(), 32*time.Second)
	defer cancel()
	hdrs := st.requestHeaders()
	var res *gosip.Response
	var err error
	if allows(l.req, "UPDATE") {
		res, err = l.offer(ctx, func() (*Response, error) {
			req := gosip.NewRequest(gosip.UPDATE, l.req.Contact().Address)
			for _, h := range hdrs {
				req.AppendHeader(h)
			}
			l.answeredSync()
			return l.d.Do(ctx, req)
		})
	} else {
		res, err = l.reinvite(ctx, l.lastLocalSDP(), hdrs...)
	}
	if err == nil && res.IsSuccess() {
		st.confirmed(res, l.s.minSE())
		return
	}
	code := 0
	if res != nil {
		code = res.StatusCode
	}
	st.mu.Lock()
	lapsed := time.Since(st.lastOK) >= st.interval
	st.mu.Unlock()
	if err != nil || code == 408 || code == 481 || lapsed {
		select {
		case <-l.done:
			return // the call ended meanwhile: nothing failed
		default:
		}
		l.s.log.Info("sip: session refresh failed, ending the call", "call_id", l.CallID(), "status", code, "err", err)
		st.end()
		return
	}
	l.s.log.Debug("sip: session refresh refused; trying again later", "call_id", l.CallID(), "status", code)
	st.mu.Lock()
	st.schedule()
	st.mu.Unlock()
}

// allows reports whether the request's Allow header lists method. No Allow header
// says nothing, and then we do not assume the method is supported.
func allows(req *gosip.Request, method string) bool {
	for _, h := range req.GetHeaders("Allow") {
		for _, m := range strings.Split(h.Value(), ",") {
			if strings.EqualFold(strings.TrimSpace(m), method) {
				return true
			}
		}
	}
	return false
}

// startSessionTimer is called once the leg is answered.
func (l *InboundLeg) startSessionTimer() {
	st := l.timer.Load()
	if st == nil {
		return
	}
	st.arm()
	select {
	case <-l.done:
		st.stop() // ended while we armed it
	default:
	}
}

// sessionRefreshed handles a session timer in a re-INVITE or UPDATE from the caller;
// false means it has answered 422 and the request must not be processed further.
func (s *Server) sessionRefreshed(l *InboundLeg, req *gosip.Request, tx ServerTransaction) (headers []Header, ok bool) {
	st := l.timer.Load()
	if st == nil {
		return nil, true
	}
	p := readSessionParams(req)
	if !p.present {
		// A refresh without the header still proves the caller is there. A caller
		// that no longer says it supports timers cannot be the refresher.
		st.mu.Lock()
		st.peerTimer = p.timerOK
		if !p.timerOK {
			st.weRefresh = true
		}
		st.mu.Unlock()
		st.arm()
		return st.headers(), true
	}
	interval, refresher, ok := p.negotiate(s.minSE())
	if !ok {
		s.tooSmall(tx, req)
		return nil, false
	}
	st.refreshed(interval, refresher, p.timerOK)
	return st.headers(), true
}
