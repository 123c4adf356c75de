package sip

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/emiago/sipgo"
	gosip "github.com/emiago/sipgo/sip"
)

// StatusError is a final non-2xx answer to an INVITE we sent.
type StatusError struct {
	Code   int
	Reason string
}

func (e *StatusError) Error() string { return fmt.Sprintf("%d %s", e.Code, e.Reason) }

// OfferHandler answers an SDP offer received inside a dialog (re-INVITE, UPDATE) with
// the SDP to send back.
type OfferHandler func(offer []byte) (answer []byte, err error)

// legState is what inbound and outbound legs share: the end signal, its cause, digits
// received by SIP INFO, and the hook for mid-call offers.
type legState struct {
	done     chan struct{}
	doneOnce sync.Once
	mu       sync.Mutex
	cause    string
	local    []byte
	onOffer  atomic.Pointer[OfferHandler]
	onRefer  atomic.Pointer[ReferHandler]
	dtmf     chan rune
	cleanup  func() // set before the leg is shared; runs once when it ends
	// offering is set while our own re-INVITE waits for its answer: a re-INVITE
	// from the peer then is glare and gets 491 (RFC 3261 section 14.2).
	offering atomic.Bool
	// offerTurn lets our own re-INVITEs on this leg go one at a time (a quick
	// hold then unhold): the second waits for the first to finish.
	offerTurn chan struct{}
	// ownCallID is set on legs whose Call-ID we chose (outbound legs): they wait
	// longer after a 491 than the peer does (RFC 3261 section 14.1).
	ownCallID bool
	// contact is our Contact on this leg, naming the listener and transport the
	// peer reaches us on; set before the leg is shared.
	contact *gosip.ContactHeader
}

// ErrNoConnection is returned by Dial for a phone reached over WebSocket whose
// connection has closed: nothing else can reach it until it registers again.
var ErrNoConnection = errors.New("sip: the phone's WebSocket connection is closed")

// reachable decides where a request to a phone goes: dest (where its REGISTER came
// from) as is over UDP, or over a TCP/TLS/WS connection the phone still holds open.
// Once that connection is gone, dest was the phone's own end of it, not a listener,
// and connecting there could reach another program: a TCP/TLS phone is then reached
// at its Contact (""), a WebSocket phone, which listens nowhere, not at all.
func (s *Server) reachable(transport, dest string) (string, error) {
	if dest == "" || strings.EqualFold(transport, "UDP") {
		return dest, nil
	}
	if s.Connected(transport, dest) {
		return dest, nil
	}
	if strings.EqualFold(transport, "WS") || strings.EqualFold(transport, "WSS") {
		return "", ErrNoConnection
	}
	return "", nil
}

// Connected reports whether the TCP, TLS, WS or WSS connection from remote (the
// phone's host:port as its requests came from) is still open; always true over UDP.
// The registrar asks it to drop the bindings of a WebSocket phone that went away.
func (s *Server) Connected(transport, remote string) bool {
	if strings.EqualFold(transport, "UDP") {
		return true
	}
	c, err := s.ua.TransportLayer().GetConnection(transport, remote)
	if err != nil {
		return false
	}
	// GetConnection takes a reference for a sender; a mere look gives it back, so
	// that checking often keeps the count where sipgo expects it.
	c.Ref(-1)
	return true
}

// glareRetries is how often a re-INVITE answered 491 is sent again.
const glareRetries = 3

// offer runs one offer of ours (re-INVITE, or an UPDATE refresh) through send:
// one at a time per leg, and again after 491 following the random wait of RFC 3261
// section 14.1: 2.1 to 4 s on a leg whose Call-ID we chose, 0 to 2 s otherwise.
// Only while a request is out does a crossing re-INVITE from the peer get 491; the
// peer's own retry during our wait is accepted.
func (l *legState) offer(ctx context.Context, send func() (*Response, error)) (*Response, error) {
	select {
	case l.offerTurn <- struct{}{}:
	case <-ctx.Done():
		return nil, ctx.Err()
	case <-l.done:
		return nil, errors.New("sip: re-INVITE: call ended")
	}
	defer func() { <-l.offerTurn }()
	for attempt := 0; ; attempt++ {
		l.offering.Store(true)
		res, err := send()
		l.offering.Store(false)
		if err != nil || res.StatusCode != 491 || attempt == glareRetries {
			return res, err
		}
		wait := time.Duration(rand.Int64N(int64(2 * time.Second)))
		if l.ownCallID {
			wait = 2100*time.Millisecond + time.Duration(rand.Int64N(int64(1900*time.Millisecond)))
		}
		select {
		case <-time.After(wait):
		case <-ctx.Done():
			return nil, ctx.Err()
		case <-l.done:
			return nil, errors.New("sip: re-INVITE: call ended")
		}
	}
}

func newLegState() legState {
	return legState{done: make(chan struct{}), dtmf: make(chan rune, 16), offerTurn: make(chan struct{}, 1)}
}

func (l *legState) end() {
	l.doneOnce.Do(func() {
		close(l.done)
		if l.cleanup != nil {
			l.cleanup()
		}
	})
}

func (l *legState) ended() bool {
	select {
	case <-l.done:
		return true
	default:
		return false
	}
}

func (l *legState) setCause(c string) {
	l.mu.Lock()
	if l.cause == "" {
		l.cause = c
	}
	l.mu.Unlock()
}

func (l *legState) setLocalSDP(b []byte) {
	l.mu.Lock()
	l.local = b
	l.mu.Unlock()
}

func (l *legState) lastLocalSDP() []byte {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.local
}

func (l *legState) pushDTMF(d rune) {
	select {
	case l.dtmf <- d:
	default:
	}
}

// SetLocalSDP records the SDP we last sent, so that a refresh offer without body
// gets the same answer.
func (l *legState) SetLocalSDP(b []byte) { l.setLocalSDP(b) }

// LastLocalSDP is the SDP we last sent on this leg.
func (l *legState) LastLocalSDP() []byte { return l.lastLocalSDP() }

// Done is closed when the leg has ended (BYE either way, CANCEL, final failure).
func (l *legState) Done() <-chan struct{} { return l.done }

// Cause says why the leg ended: "BYE" (remote hung up), "CANCEL", "local", or a status.
func (l *legState) Cause() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.cause
}

// OnOffer sets the handler for SDP offers inside the dialog (hold, unhold, codec change).
func (l *legState) OnOffer(h OfferHandler) { l.onOffer.Store(&h) }

// InfoDTMF delivers digits that arrive as SIP INFO (application/dtmf-relay).
func (l *legState) InfoDTMF() <-chan rune { return l.dtmf }

// InboundLeg is the caller's side of a call: an INVITE that reached us.
type InboundLeg struct {
	legState
	s        *Server
	d        *sipgo.DialogServerSession
	req      *gosip.Request
	answered atomic.Bool
	respMu   sync.Mutex // sipgo's dialog responses are not safe for concurrent use
	ackSDP   atomic.Pointer[[]byte]
	timer    atomic.Pointer[sessionTimer] // set when the caller asked for session timers
}

// AckSDP is the SDP the caller put in its ACK: the answer to our offer when the
// INVITE came without one (late offer).
func (l *InboundLeg) AckSDP() []byte {
	if b := l.ackSDP.Load(); b != nil {
		return *b
	}
	return nil
}

// Accept takes over an authenticated INVITE: it creates the dialog and sends 100 Trying.
// The caller keeps the handler goroutine until it has answered or rejected the leg.
func (s *Server) Accept(req *Request, tx ServerTransaction) (*InboundLeg, error) {
	var st *sessionTimer
	if sp := readSessionParams(req); sp.present {
		interval, refresher, ok := sp.negotiate(s.minSE())
		if !ok {
			s.tooSmall(tx, req)
			return nil, ErrIntervalTooSmall
		}
		st = newSessionTimer(interval, refresher, sp.timerOK)
	}
	contact := s.ContactFor(req.Transport(), req.Source())
	d, err := s.dialogUA(contact).ReadInvite(req, tx)
	if err != nil {
		s.respond(tx, req, 400, "Bad Request")
		return nil, fmt.Errorf("sip: accept INVITE: %w", err)
	}
	l := &InboundLeg{legState: newLegState(), s: s, d: d, req: req}
	l.contact = contact
	if st != nil {
		st.l = l
		l.timer.Store(st)
	}
	// The leg leaves the table when it ends: by the dialog's end, or by our own
	// Hangup even when the BYE got no answer. No goroutine waits for it.
	l.cleanup = func() {
		if st != nil {
			st.stop()
		}
		s.mu.Lock()
		delete(s.inbound, d.ID)
		s.mu.Unlock()
	}
	s.mu.Lock()
	s.inbound[d.ID] = l
	s.mu.Unlock()
	context.AfterFunc(d.Context(), func() {
		if errors.Is(context.Cause(d.Context()), gosip.ErrTransactionCanceled) {
			l.setCause("CANCEL")
		}
		l.setCause("ended")
		l.end()
	})
	l.respMu.Lock()
	err = d.Respond(100, "Trying", nil)
	l.respMu.Unlock()
	if err != nil {
		return l, fmt.Errorf("sip: 100 Trying: %w", err)
	}
	return l, nil
}

// Request is the INVITE as received.
func (l *InboundLeg) Request() *Request { return l.req }

// CallID of the caller's dialog.
func (l *InboundLeg) CallID() string {
	if c := l.req.CallID(); c != nil {
		return c.Value()
	}
	return ""
}

// FromUser is the user part of From (the caller's number or extension).
func (l *InboundLeg) FromUser() string { return l.req.From().Address.User }

// FromDisplay is the display name of From, with quotes removed.
func (l *InboundLeg) FromDisplay() string {
	return strings.Trim(l.req.From().DisplayName, `"`)
}

// FromHost is the host part of From (the caller's domain).
func (l *InboundLeg) FromHost() string { return l.req.From().Address.Host }

// Dialled is the number the caller asked for: the Request-URI user.
func (l *InboundLeg) Dialled() string {
	if u := l.req.Recipient.User; u != "" {
		return u
	}
	return l.req.To().Address.User
}

// Source is the ip:port the INVITE came from.
func (l *InboundLeg) Source() string { return l.req.Source() }

// SDP is the caller's offer (may be empty: offerless INVITE).
func (l *InboundLeg) SDP() []byte { return l.req.Body() }

// Ring sends 180 Ringing.
func (l *InboundLeg) Ring() error {
	l.respMu.Lock()
	defer l.respMu.Unlock()
	if l.answered.Load() {
		return nil
	}
	return l.d.Respond(180, "Ringing", nil)
}

// Progress sends 183 Session Progress with early media SDP.
func (l *InboundLeg) Progress(sdp []byte) error {
	l.setLocalSDP(sdp)
	l.respMu.Lock()
	defer l.respMu.Unlock()
	return l.d.Respond(183, "Session Progress", sdp, gosip.NewHeader("Content-Type", "application/sdp"))
}

// Answer sends 200 OK with sdp and waits for the ACK.
func (l *InboundLeg) Answer(sdp []byte) error {
	l.setLocalSDP(sdp)
	hdrs := []Header{
		gosip.NewHeader("Content-Type", "application/sdp"),
		// Phones offer transfer only when the dialog allows REFER.
		gosip.NewHeader("Allow", allowed),
		gosip.NewHeader("Supported", supported),
	}
	if st := l.timer.Load(); st != nil {
		hdrs = append(hdrs, st.headers()...)
	}
	l.respMu.Lock()
	l.answered.Store(true)
	err := l.d.Respond(200, "OK", sdp, hdrs...)
	l.respMu.Unlock()
	if err == nil {
		l.startSessionTimer()
	}
	if err != nil && l.d.LoadState() == gosip.DialogStateEnded {
		// The BYE overtook the ACK (messages are handled concurrently): the call
		// was answered and has already ended, which the caller sees on Done.
		return nil
	}
	if err != nil {
		return fmt.Errorf("sip: answer: %w", err)
	}
	return nil
}

// answeredSync orders a request inside the dialog after Answer: sipgo's 200
// writes the dialog's InviteResponse (and parses headers of its INVITE) under
// respMu, and its in-dialog requests read them. The ACK that lets such a request
// start travels through the network, which gives the race detector (and the memory
// model) no happens-before edge; passing respMu does.
func (l *InboundLeg) answeredSync() {
	l.respMu.Lock()
	defer l.respMu.Unlock()
}

// Answered reports whether Answer was called.
func (l *InboundLeg) Answered() bool { return l.answered.Load() }

// Reject sends a final failure answer. On a leg already answered (a caller whose
// transfer target turned out unroutable, say) no answer can be sent any more: it
// hangs up with BYE instead, the code and reason going into a Reason header
// (RFC 3326) so that the caller still learns why.
func (l *InboundLeg) Reject(code int, reason string, hdrs ...Header) error {
	l.setCause(fmt.Sprintf("%d %s", code, reason))
	if l.answered.Load() {
		text := strings.ReplaceAll(sanitize(reason), `\`, "")
		return l.bye(context.Background(), gosip.NewHeader("Reason", fmt.Sprintf("SIP;cause=%d;text=\"%s\"", code, text)))
	}
	l.respMu.Lock()
	err := l.d.Respond(code, reason, nil, hdrs...)
	l.respMu.Unlock()
	l.end()
	return err
}

// Hangup ends the leg from our side: BYE when answered, 480 otherwise.
func (l *InboundLeg) Hangup(ctx context.Context) error {
	if !l.answered.Load() {
		return l.Reject(480, "Temporarily Unavailable")
	}
	l.setCause("local")
	return l.bye(ctx)
}

// bye sends BYE with extra headers and ends the leg, whatever the answer.
func (l *InboundLeg) bye(ctx context.Context, hdrs ...Header) error {
	defer l.end()
	if l.ended() {
		return nil
	}
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	l.answeredSync()
	req := gosip.NewRequest(gosip.BYE, l.req.Contact().Address)
	req.SetTransport(l.req.Transport())
	for _, h := range hdrs {
		req.AppendHeader(h)
	}
	return l.d.WriteBye(ctx, req)
}

// Reinvite sends an offer inside the dialog and returns the peer's answer.
func (l *InboundLeg) Reinvite(ctx context.Context, sdp []byte) ([]byte, error) {
	st := l.timer.Load()
	var hdrs []Header
	if st != nil {
		hdrs = st.requestHeaders() // a re-INVITE is a session refresh too
	}
	res, err := l.reinvite(ctx, sdp, hdrs...)
	if err != nil {
		return nil, err
	}
	if !res.IsSuccess() {
		return nil, &StatusError{Code: res.StatusCode, Reason: res.Reason}
	}
	if st != nil {
		st.confirmed(res, l.s.minSE())
	}
	return res.Body(), nil
}

// reinvite sends a re-INVITE with sdp and extra headers and ACKs a 2xx.
func (l *InboundLeg) reinvite(ctx context.Context, sdp []byte, hdrs ...Header) (*Response, error) {
	req := gosip.NewRequest(gosip.INVITE, l.req.Contact().Address)
	req.SetBody(sdp)
	req.AppendHeader(gosip.NewHeader("Content-Type", "application/sdp"))
	for _, h := range hdrs {
		req.AppendHeader(h)
	}
	l.answeredSync()
	res, err := l.offer(ctx, func() (*Response, error) { return l.d.Do(ctx, req.Clone()) })
	if err != nil {
		return nil, err
	}
	if !res.IsSuccess() {
		return res, nil
	}
	ack := gosip.NewRequest(gosip.ACK, l.req.Contact().Address)
	ack.AppendHeader(gosip.HeaderClone(res.CSeq()))
	ack.CSeq().MethodName = gosip.ACK
	if err := l.d.WriteRequest(ack); err != nil {
		return nil, err
	}
	l.setLocalSDP(sdp)
	return res, nil
}

// DialSpec describes an outbound INVITE.
type DialSpec struct {
	URI         string // Request-URI, e.g. a registered Contact exactly as registered
	Destination string // host:port to send to (registration source for NAT); "" = from URI
	Transport   string // UDP (default), TCP, TLS
	FromUser    string
	FromDisplay string
	FromHost    string // "" = the server's host
	ToURI       string // To header; "" = URI without parameters
	SDP         []byte
	AuthUser    string // digest credentials for a trunk that challenges
	AuthPass    string
	Headers     []Header
}

// OutboundLeg is a call the PBX places: to a phone, a mobile through a trunk, a customer.
type OutboundLeg struct {
	legState
	s      *Server
	d      *sipgo.DialogClientSession
	spec   DialSpec
	remote []byte
}

// Dial sends an INVITE; Wait follows it to the final answer.
func (s *Server) Dial(ctx context.Context, spec DialSpec) (*OutboundLeg, error) {
	var ruri gosip.Uri
	if err := gosip.ParseUri(spec.URI, &ruri); err != nil {
		return nil, fmt.Errorf("sip: dial %q: %w", spec.URI, err)
	}
	req := gosip.NewRequest(gosip.INVITE, ruri)
	transport := strings.ToUpper(spec.Transport)
	if transport == "" {
		if t, ok := ruri.UriParams.Get("transport"); ok {
			transport = strings.ToUpper(t)
		} else {
			transport = "UDP"
		}
	}
	req.SetTransport(transport)
	dest, err := s.reachable(transport, spec.Destination)
	if err != nil {
		return nil, fmt.Errorf("sip: dial %s: %w", spec.URI, err)
	}
	if dest != "" {
		req.SetDestination(dest)
	}
	fromHost := spec.FromHost
	if fromHost == "" {
		fromHost = s.host
	}
	from := &gosip.FromHeader{
		DisplayName: sanitize(spec.FromDisplay),
		Address:     gosip.Uri{Scheme: "sip", User: sanitize(spec.FromUser), Host: fromHost},
	}
	from.Params.Add("tag", gosip.GenerateTagN(16))
	req.AppendHeader(from)
	to := &gosip.ToHeader{Address: gosip.Uri{Scheme: "sip", User: ruri.User, Host: ruri.Host, Port: ruri.Port}}
	if spec.ToURI != "" {
		var tu gosip.Uri
		if err := gosip.ParseUri(spec.ToURI, &tu); err == nil {
			to.Address = tu
		}
	}
	req.AppendHeader(to)
	contact := s.ContactFor(transport, dest)
	req.AppendHeader(contact)
	req.AppendHeader(gosip.NewHeader("User-Agent", s.cfg.UserAgent))
	for _, h := range spec.Headers {
		req.AppendHeader(h)
	}
	if len(spec.SDP) > 0 {
		req.SetBody(spec.SDP)
		req.AppendHeader(gosip.NewHeader("Content-Type", "application/sdp"))
	}
	s.pinUDP(req)
	d, err := s.dialogUA(contact).WriteInvite(ctx, req)
	if err != nil {
		return nil, fmt.Errorf("sip: dial %s: %w", spec.URI, err)
	}
	l := &OutboundLeg{legState: newLegState(), s: s, d: d, spec: spec}
	l.contact = contact
	l.ownCallID = true
	l.setLocalSDP(spec.SDP)
	return l, nil
}

// sanitize keeps user-supplied text from breaking out of a header (CR/LF, quotes).
func sanitize(s string) string {
	return strings.Map(func(r rune) rune {
		if r == '\r' || r == '\n' || r == '"' || r == '<' || r == '>' {
			return -1
		}
		return r
	}, s)
}

// ErrAbandoned, as the cause of cancelling Wait's context (context.WithCancelCause),
// ends the wait at once (the PBX is shutting down): a callee that has sent no
// response at all gets nothing, since there is no transaction to CANCEL yet (RFC
// 3261 9.1); one that did gets a single CANCEL whose answer, and the 487, nobody
// waits for. Waiting would hold a shutdown for up to 64*T1 when the phone went
// away after its 180.
var ErrAbandoned = errors.New("sip: INVITE abandoned")

// Wait blocks until the INVITE gets a final answer. On 2xx it sends the ACK and
// returns nil; a failure answer is a *StatusError. Cancelling ctx sends CANCEL and
// returns ctx's error. onProgress sees each 18x (code, early SDP).
func (l *OutboundLeg) Wait(ctx context.Context, onProgress func(code int, sdp []byte)) error {
	// pendingCancel is the CANCEL for the INVITE that got a provisional answer,
	// built on WaitAnswer's goroutine: a digest retry rewrites the INVITE there.
	var pendingCancel atomic.Pointer[gosip.Request]
	wctx, wcancel := context.WithCancelCause(context.WithoutCancel(ctx))
	defer wcancel(nil)
	stop := context.AfterFunc(ctx, func() {
		cause := context.Cause(ctx)
		if errors.Is(cause, ErrAbandoned) {
			if c := pendingCancel.Load(); c != nil {
				if err := l.d.UA.Client.WriteRequest(c); err != nil {
					l.s.log.Debug("sip: CANCEL at shutdown", "err", err)
				}
			}
			cause = sipgo.WaitAnswerForceCancelErr
		}
		wcancel(cause)
	})
	defer stop()
	err := l.d.WaitAnswer(wctx, sipgo.AnswerOptions{
		Username: l.spec.AuthUser,
		Password: l.spec.AuthPass,
		OnResponse: func(res *gosip.Response) error {
			if res.IsProvisional() {
				if c := cancelFor(l.d.InviteRequest); c != nil {
					pendingCancel.Store(c)
				}
			} else {
				pendingCancel.Store(nil) // a challenge: the next INVITE is another transaction
			}
			if res.StatusCode > 100 && res.StatusCode < 200 && onProgress != nil {
				onProgress(res.StatusCode, res.Body())
			}
			return nil
		},
	})
	if err != nil {
		// A 200 can cross our CANCEL: the callee is then up and must be hung up.
		if res := l.d.InviteResponse; res != nil && res.IsSuccess() {
			l.d.Ack(context.Background())
			bctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			l.d.Bye(bctx)
			cancel()
		}
		l.setCause("failed")
		l.end()
		var de *sipgo.ErrDialogResponse
		if errors.As(err, &de) {
			return &StatusError{Code: de.Res.StatusCode, Reason: de.Res.Reason}
		}
		if ctx.Err() != nil {
			return ctx.Err()
		}
		return fmt.Errorf("sip: INVITE %s: %w", l.spec.URI, err)
	}
	// Known before the ACK leaves, so that a BYE or re-INVITE the callee sends right
	// after it finds its dialog.
	l.remote = l.d.InviteResponse.Body()
	s, id := l.s, l.d.ID
	l.cleanup = func() {
		s.mu.Lock()
		delete(s.outbound, id)
		s.mu.Unlock()
	}
	s.mu.Lock()
	s.outbound[id] = l
	s.mu.Unlock()
	if err := l.d.Ack(ctx); err != nil {
		l.end()
		return fmt.Errorf("sip: ACK %s: %w", l.spec.URI, err)
	}
	context.AfterFunc(l.d.Context(), func() {
		l.setCause("ended")
		l.end()
	})
	return nil
}

// URI is the Request-URI the leg was dialled with.
func (l *OutboundLeg) URI() string { return l.spec.URI }

// RemoteSDP is the callee's answer.
func (l *OutboundLeg) RemoteSDP() []byte { return l.remote }

// Hangup sends BYE (the leg must have been answered).
func (l *OutboundLeg) Hangup(ctx context.Context) error {
	l.setCause("local")
	defer l.end()
	select {
	case <-l.done:
		return nil
	default:
	}
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	return l.d.Bye(ctx)
}

// Reinvite sends an offer inside the dialog and returns the peer's answer.
func (l *OutboundLeg) Reinvite(ctx context.Context, sdp []byte) ([]byte, error) {
	target := l.d.InviteResponse.Contact()
	if target == nil {
		return nil, errors.New("sip: re-INVITE: callee sent no Contact")
	}
	req := gosip.NewRequest(gosip.INVITE, target.Address)
	req.SetBody(sdp)
	req.AppendHeader(gosip.NewHeader("Content-Type", "application/sdp"))
	res, err := l.offer(ctx, func() (*Response, error) { return l.d.Do(ctx, req.Clone()) })
	if err != nil {
		return nil, err
	}
	if !res.IsSuccess() {
		return nil, &StatusError{Code: res.StatusCode, Reason: res.Reason}
	}
	ack := gosip.NewRequest(gosip.ACK, target.Address)
	ack.AppendHeader(gosip.HeaderClone(res.CSeq()))
	ack.CSeq().MethodName = gosip.ACK
	if err := l.d.WriteRequest(ack); err != nil {
		return nil, err
	}
	l.setLocalSDP(sdp)
	return res.Body(), nil
}

// cancelFor builds the CANCEL of an INVITE (RFC 3261 9.1), to be sent outside
// any transaction: the ringing phone stops, and nothing waits for its answer.
// nil when the INVITE lacks what a CANCEL copies.
func cancelFor(inv *gosip.Request) *gosip.Request {
	if inv == nil || inv.Via() == nil || inv.CSeq() == nil || inv.From() == nil || inv.To() == nil || inv.CallID() == nil {
		return nil
	}
	c := gosip.NewRequest(gosip.CANCEL, inv.Recipient)
	c.AppendHeader(gosip.HeaderClone(inv.Via())) // the INVITE's top Via: it names the transaction
	c.AppendHeader(gosip.HeaderClone(inv.From()))
	c.AppendHeader(gosip.HeaderClone(inv.To()))
	c.AppendHeader(gosip.HeaderClone(inv.CallID()))
	cseq := &gosip.CSeqHeader{SeqNo: inv.CSeq().SeqNo, MethodName: gosip.CANCEL}
	c.AppendHeader(cseq)
	gosip.CopyHeaders("Route", inv, c)
	c.AppendHeader(gosip.NewHeader("Max-Forwards", "70"))
	c.SetTransport(inv.Transport())
	c.SetDestination(inv.Destination())
	c.Laddr = inv.Laddr
	return c
}
