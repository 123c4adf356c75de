// Package testphone owns a scripted SIP phone for integration tests. A Phone
// registers with digest credentials, places and answers calls, holds and
// resumes them, subscribes to message-waiting notifications, sends a known tone
// or DTMF over RTP and reports what audio and digits it received, so that tests
// can check that a 1 kHz tone sent by a caller really arrives at the callee.
//
// It is built directly on sipgo, pion/rtp, pion/sdp and zaf/g711 and imports no
// other switchboard package except audio, so that it can test the PBX from the
// outside like a real phone would.
package testphone

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/emiago/sipgo"
	"github.com/emiago/sipgo/sip"
	"github.com/pion/webrtc/v4"
)

// Config describes one test phone.
type Config struct {
	// User is the extension: the user part of the AOR and the digest username.
	User string
	// Password is the digest password; empty means challenges are not answered.
	Password string
	// AuthUser, when set, is the digest username instead of User (a browser's
	// JsSIP authorization_user with session credentials); User stays the AOR.
	AuthUser string
	// Domain is the From/To domain and the digest realm the server uses. Empty
	// means the host of Server, or 127.0.0.1 without a server.
	Domain string
	// Server is the PBX ("127.0.0.1:5060"), used as outbound proxy: every request
	// the phone sends goes there. Empty means requests go to the host in their
	// request URI (phone-to-phone calls in tests).
	Server string
	// Transport is "udp" (default), "tcp", "tls", "ws" or "wss". A WebSocket
	// phone (RFC 7118) is a client only, like a browser: it opens no listening
	// socket, needs Server, and is reached only over the connection it opened
	// to the server. Its Contact names an unresolvable ".invalid" host. Its
	// media is WebRTC, as a browser's: full ICE on loopback host candidates,
	// DTLS-SRTP, rtcp-mux (UDP/TLS/RTP/SAVPF); it refuses plain RTP offers.
	Transport string
	// TLS is used for "tls" and "wss": its RootCAs (or InsecureSkipVerify)
	// check the PBX, and for "tls" its Certificates serve the phone's own
	// listener.
	TLS *tls.Config
	// Codec is "PCMU" (default) or "PCMA": the only codec a SIP phone offers
	// and accepts. A WebRTC phone (ws, wss) offers and accepts both, this one
	// first, as a browser lists its codecs by preference.
	Codec string
	// Logger receives debug logs; nil discards them.
	Logger *slog.Logger
	// AutoRing is kept for readability of configs: ringing (180 on every new
	// INVITE) is on unless NoAutoRing is set, so the zero Config rings.
	AutoRing bool
	// NoAutoRing stops the automatic 180; use Incoming.Ring to ring by hand.
	NoAutoRing bool
	// Observe, when set, sees every request the phone receives before the phone
	// handles it, for tests that check what the PBX wrote (its Contact in an
	// in-dialog request, say). It runs on sipgo's handler goroutine: keep it short.
	Observe func(*sip.Request)
	// ExternalMedia, when set, gives the RTP address a plain SIP phone puts in
	// the SDP of each new call instead of opening a socket of its own: the
	// phone then neither sends nor receives media, and something else (a load
	// generator holding many calls on a few sockets, bench/cmd/rtpload) moves
	// the packets to the call's RemoteMedia. Such a call has no audio, tone
	// or DTMF of its own: SendDTMF waits until its context ends.
	ExternalMedia func() netip.AddrPort
}

// Stats counts requests the phone received, for tests that check "the other
// branch got CANCEL" or "this phone never rang".
type Stats struct {
	InvitesReceived   int // initial INVITEs (re-INVITEs not counted)
	ReInvitesReceived int
	CancelsReceived   int
	ByesReceived      int
	OptionsReceived   int
	NotifiesReceived  int
}

// StatusError is returned for a non-2xx final answer to a request the phone sent.
type StatusError struct {
	Code   int
	Reason string
}

// Error implements error.
func (e *StatusError) Error() string {
	return fmt.Sprintf("sip status %d %s", e.Code, e.Reason)
}

// ErrClosed is returned by operations on a closed Phone.
var ErrClosed = errors.New("testphone: phone closed")

// Phone is a scripted SIP user agent with its own sipgo UA, server and client.
type Phone struct {
	cfg          Config
	log          *slog.Logger
	network      string // "udp", "tcp", "tls", "ws" or "wss"
	sipTransport string // "UDP", "TCP", "TLS", "WS" or "WSS", as written in Via
	codec        string
	domain       string
	// rtc builds the WebRTC peers of a ws/wss phone; nil for a SIP phone,
	// whose media is plain RTP.
	rtc *webrtc.API

	ua      *sipgo.UserAgent
	srv     *sipgo.Server
	client  *sipgo.Client
	dua     *sipgo.DialogUA
	contact sip.ContactHeader
	laddr   sip.Addr       // UDP only: forces requests out of the listening socket
	addr    netip.AddrPort // listening address; invalid for ws/wss, which do not listen

	udpConn net.PacketConn
	tcpLn   net.Listener

	ctx    context.Context
	cancel context.CancelCauseFunc
	wg     sync.WaitGroup
	// handlers counts INVITE handlers still deciding on a new call.
	handlers sync.WaitGroup
	// sends counts requests sent from background goroutines (CANCEL, the ACK and
	// BYE of a late 2xx): Close waits for them before it closes the transport,
	// because sipgo opens a fresh socket, whose reader leaks, for a request
	// written after its pool was cleared.
	sends sync.WaitGroup

	incoming chan *Incoming

	mu        sync.Mutex
	closed    bool
	calls     map[string]*Call
	subs      map[string]*subscription // by Call-ID
	regCallID string
	regCSeq   uint32

	invites, reinvites, cancels, byes, options, notifies atomic.Int64
	draining                                             atomic.Bool
}

// readFilter drops every incoming SIP packet once Close has started tearing down.
func (p *Phone) readFilter(_ sip.TransportReadProps, data []byte) ([]byte, error) {
	if p.draining.Load() {
		return nil, nil
	}
	return data, nil
}

// New starts a phone listening on 127.0.0.1 with an OS-picked port.
func New(ctx context.Context, cfg Config) (*Phone, error) {
	network := strings.ToLower(cfg.Transport)
	if network == "" {
		network = "udp"
	}
	switch network {
	case "udp", "tcp", "tls":
	case "ws", "wss":
		if cfg.Server == "" {
			// Nothing could reach a phone that neither listens nor has a
			// connection to a server.
			return nil, fmt.Errorf("testphone: transport %s needs Config.Server", network)
		}
	default:
		return nil, fmt.Errorf("testphone: unsupported transport %q", cfg.Transport)
	}
	if (network == "tls" || network == "wss") && cfg.TLS == nil {
		return nil, fmt.Errorf("testphone: transport %s needs Config.TLS", network)
	}
	codec := strings.ToUpper(cfg.Codec)
	if codec == "" {
		codec = "PCMU"
	}
	if codec != "PCMU" && codec != "PCMA" {
		return nil, fmt.Errorf("testphone: unsupported codec %q", cfg.Codec)
	}
	if strings.ContainsAny(cfg.User+cfg.Domain, "\r\n<>\" ") {
		return nil, fmt.Errorf("testphone: user or domain contains forbidden characters")
	}
	log := cfg.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	user := cfg.User
	if user == "" {
		user = "testphone"
	}
	domain := cfg.Domain
	if domain == "" {
		domain = "127.0.0.1"
		if cfg.Server != "" {
			if h, _, err := net.SplitHostPort(cfg.Server); err == nil {
				domain = h
			}
		}
	}

	p := &Phone{
		cfg:          cfg,
		log:          log.With("phone", user),
		network:      network,
		sipTransport: strings.ToUpper(network),
		codec:        codec,
		domain:       domain,
		incoming:     make(chan *Incoming, 16),
		calls:        make(map[string]*Call),
		subs:         make(map[string]*subscription),
		regCallID:    sip.GenerateTagN(24),
	}
	if network == "ws" || network == "wss" {
		api, err := newWebRTCAPI(p.codecs())
		if err != nil {
			return nil, err
		}
		p.rtc = api
	}
	p.ctx, p.cancel = context.WithCancelCause(context.Background())

	// viaHost is the sent-by host of our Via headers and contactHost the host
	// of our Contact: the listening address, or for WebSocket a random
	// ".invalid" name (RFC 7118 section 5) that no server can resolve, so that
	// a server trying to open a connection to it fails instead of working by
	// accident.
	var viaHost, contactHost string
	var contactPort int
	var lc net.ListenConfig
	var local string
	switch network {
	case "udp":
		c, err := lc.ListenPacket(ctx, "udp", "127.0.0.1:0")
		if err != nil {
			return nil, fmt.Errorf("testphone: listen sip udp: %w", err)
		}
		p.udpConn, local = &readyPacketConn{PacketConn: c, ready: make(chan struct{})}, c.LocalAddr().String()
	case "tcp", "tls":
		l, err := lc.Listen(ctx, "tcp", "127.0.0.1:0")
		if err != nil {
			return nil, fmt.Errorf("testphone: listen sip tcp: %w", err)
		}
		p.tcpLn, local = l, l.Addr().String()
		if network == "tls" {
			p.tcpLn = tls.NewListener(l, cfg.TLS)
		}
	default: // ws, wss: client only
		viaHost = wsInvalidHost()
		contactHost = viaHost
	}
	if local != "" {
		ap, err := netip.ParseAddrPort(local)
		if err != nil {
			p.closeListener()
			return nil, fmt.Errorf("testphone: listen address %q: %w", local, err)
		}
		p.addr = ap
		viaHost, contactHost, contactPort = ap.Addr().String(), ap.Addr().String(), int(ap.Port())
	}

	ua, err := sipgo.NewUA(sipgo.WithUserAgent(user), sipgo.WithUserAgentHostname(domain),
		sipgo.WithUserAgentTransportLayerOptions(sip.WithTransportLayerReadFilter(p.readFilter)),
		sipgo.WithUserAgenTLSConfig(cfg.TLS))
	if err != nil {
		p.closeListener()
		return nil, fmt.Errorf("testphone: new user agent: %w", err)
	}
	p.ua = ua
	clientOpts := []sipgo.ClientOption{sipgo.WithClientHostname(viaHost), sipgo.WithClientLogger(p.log)}
	if network == "udp" {
		// Without this, requests to addresses we never heard from leave from a new
		// ephemeral socket and Via/Contact would not match where we listen.
		clientOpts = append(clientOpts, sipgo.WithClientConnectionAddr(local))
		p.laddr = sip.Addr{IP: net.IP(p.addr.Addr().AsSlice()), Port: int(p.addr.Port()), Hostname: p.addr.Addr().String()}
	}
	if p.client, err = sipgo.NewClient(ua, clientOpts...); err != nil {
		_ = ua.Close()
		p.closeListener()
		return nil, fmt.Errorf("testphone: new client: %w", err)
	}
	if p.srv, err = sipgo.NewServer(ua, sipgo.WithServerLogger(p.log)); err != nil {
		_ = ua.Close()
		p.closeListener()
		return nil, fmt.Errorf("testphone: new server: %w", err)
	}

	p.contact = sip.ContactHeader{Address: sip.Uri{Scheme: "sip", User: user, Host: contactHost, Port: contactPort}}
	if network != "udp" {
		p.contact.Address.UriParams = sip.NewParams()
		p.contact.Address.UriParams.Add("transport", contactTransport(network))
	}
	p.dua = &sipgo.DialogUA{Client: p.client, ContactHDR: p.contact}

	p.srv.OnInvite(p.onInvite)
	p.srv.OnAck(p.onAck)
	p.srv.OnBye(p.onBye)
	p.srv.OnCancel(p.onCancel)
	p.srv.OnOptions(p.onOptions)
	p.srv.OnNotify(p.onNotify)

	if network == "ws" || network == "wss" {
		// No listener: requests from the server arrive on the connection the
		// first request opens, and sipgo hands them to p.srv's handlers.
		return p, nil
	}
	p.wg.Add(1)
	go func() {
		defer p.wg.Done()
		var err error
		switch {
		case p.udpConn != nil:
			err = p.srv.ServeUDP(p.udpConn)
		case network == "tls":
			err = p.srv.ServeTLS(p.tcpLn)
		default:
			err = p.srv.ServeTCP(p.tcpLn)
		}
		if err != nil && p.ctx.Err() == nil {
			p.log.Debug("sip listener stopped", "error", err)
		}
	}()
	if rc, ok := p.udpConn.(*readyPacketConn); ok {
		// sipgo adds the listener to its pool just before the first read; a
		// request sent earlier would open a second socket on the same port.
		select {
		case <-rc.ready:
		case <-ctx.Done():
			_ = p.Close()
			return nil, fmt.Errorf("testphone: waiting for sip listener: %w", ctx.Err())
		}
	}
	return p, nil
}

// codecs lists the codecs the phone offers and accepts, preferred first.
func (p *Phone) codecs() []string {
	if p.network != "ws" && p.network != "wss" {
		return []string{p.codec}
	}
	if p.codec == "PCMA" {
		return []string{"PCMA", "PCMU"}
	}
	return []string{"PCMU", "PCMA"}
}

// newMedia opens a call's media: a WebRTC peer for a WebSocket phone, an RTP
// socket for the others.
func (p *Phone) newMedia() (*media, error) {
	var tr transport
	var err error
	switch {
	case p.rtc != nil:
		tr, err = newWebRTCTransport(p.rtc, p.codecs())
	case p.cfg.ExternalMedia != nil:
		tr = &externalTransport{plainSDP{local: p.cfg.ExternalMedia()}}
	default:
		tr, err = newRTPTransport()
	}
	if err != nil {
		return nil, err
	}
	return newMedia(p.log, tr, p.codecs())
}

// canAnswer reports whether the phone takes an offered stream: a browser only
// a WebRTC one, a SIP phone only plain RTP, each with one of its codecs. A
// stream put on hold with port 0 needs no codec.
func (p *Phone) canAnswer(rm remoteMedia) bool {
	if (p.rtc != nil) != rm.webrtc || (p.rtc == nil && rm.proto == profileWebRTC) {
		return false
	}
	if rm.addr.Port() == 0 && p.rtc == nil {
		return true
	}
	for _, c := range p.codecs() {
		if _, ok := rm.codecs[c]; ok {
			return true
		}
	}
	return false
}

// wsInvalidHost returns a random host name under the reserved ".invalid" TLD,
// as RFC 7118 section 5 has WebSocket clients use in Via and Contact.
func wsInvalidHost() string {
	return strings.ToLower(sip.GenerateTagN(12)) + ".invalid"
}

// contactTransport is the transport URI parameter for network. RFC 7118
// defines only "ws" as URI transport, for WS and WSS alike (section 5.2).
func contactTransport(network string) string {
	if network == "wss" {
		return "ws"
	}
	return network
}

// readyPacketConn tells when sipgo starts reading the listening socket.
type readyPacketConn struct {
	net.PacketConn
	once  sync.Once
	ready chan struct{}
}

// ReadFrom implements net.PacketConn.
func (c *readyPacketConn) ReadFrom(b []byte) (int, net.Addr, error) {
	c.once.Do(func() { close(c.ready) })
	return c.PacketConn.ReadFrom(b)
}

func (p *Phone) closeListener() {
	if p.udpConn != nil {
		_ = p.udpConn.Close()
	}
	if p.tcpLn != nil {
		_ = p.tcpLn.Close()
	}
}

// Close hangs up established calls (BYE, bounded by a short timeout), abandons
// calls still being set up without signalling, and stops every goroutine and
// socket of the phone. It is safe to call more than once.
func (p *Phone) Close() error {
	p.mu.Lock()
	if p.closed {
		p.mu.Unlock()
		return nil
	}
	p.closed = true
	calls := make([]*Call, 0, len(p.calls))
	for _, c := range p.calls {
		calls = append(calls, c)
	}
	p.mu.Unlock()

	// Pending dials see this cause and return without waiting for a CANCEL
	// transaction that could take 32 s against a dead peer.
	p.cancel(sipgo.WaitAnswerForceCancelErr)

	var hwg sync.WaitGroup
	for _, c := range calls {
		hwg.Add(1)
		go func() {
			defer hwg.Done()
			ctx, cancel := context.WithTimeout(context.Background(), time.Second)
			defer cancel()
			if err := c.Hangup(ctx); err != nil {
				p.log.Debug("hangup on close", "error", err)
			}
			c.end()
		}()
	}
	hwg.Wait()
	p.handlers.Wait()
	p.sends.Wait()

	// A message handled while the UA closes makes sipgo open a fresh socket for
	// its answer after the pool was cleared, and that socket's reader leaks.
	p.draining.Store(true)
	err := p.ua.Close()
	p.closeListener()
	p.wg.Wait()

	p.mu.Lock()
	for id, s := range p.subs {
		s.close()
		delete(p.subs, id)
	}
	p.mu.Unlock()
	return err
}

// beginSend registers a background send; false once Close has started, when the
// request must not be written at all.
func (p *Phone) beginSend() bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.closed {
		return false
	}
	p.sends.Add(1)
	return true
}

// ContactAddr returns the ip:port the phone listens on for SIP. A WebSocket
// phone listens nowhere: it returns the ".invalid" host of its Contact.
func (p *Phone) ContactAddr() string {
	if !p.addr.IsValid() {
		return p.contact.Address.Host
	}
	return p.addr.String()
}

// URI returns the phone's contact URI, usable as a Dial target for
// phone-to-phone calls ("sip:1001@127.0.0.1:40000"), except for a WebSocket
// phone, whose URI names a ".invalid" host that only its server can reach.
func (p *Phone) URI() string { return p.contact.Address.String() }

// Incoming delivers calls offered to this phone. Every offered call must be
// answered, rejected or left to be cancelled by the caller.
func (p *Phone) Incoming() <-chan *Incoming { return p.incoming }

// Stats returns the number of requests received so far.
func (p *Phone) Stats() Stats {
	return Stats{
		InvitesReceived:   int(p.invites.Load()),
		ReInvitesReceived: int(p.reinvites.Load()),
		CancelsReceived:   int(p.cancels.Load()),
		ByesReceived:      int(p.byes.Load()),
		OptionsReceived:   int(p.options.Load()),
		NotifiesReceived:  int(p.notifies.Load()),
	}
}

// prepare sets the socket, destination and transport every outgoing request
// needs. Requests to the server always go to it (outbound proxy); without a
// server they go to the host in their request URI.
func (p *Phone) prepare(req *sip.Request) {
	if p.laddr.IP != nil {
		p.laddr.Copy(&req.Laddr)
	}
	req.SetTransport(p.sipTransport)
	if p.cfg.Server != "" {
		req.SetDestination(p.cfg.Server)
		return
	}
	port := req.Recipient.Port
	if port == 0 {
		port = 5060
	}
	req.SetDestination(net.JoinHostPort(req.Recipient.Host, strconv.Itoa(port)))
}

// parseTarget turns "1002" into sip:1002@domain and accepts full sip: URIs.
func parseTarget(target, domain string) (sip.Uri, error) {
	if strings.ContainsAny(target, "\r\n\x00") {
		return sip.Uri{}, fmt.Errorf("target %q contains control characters", target)
	}
	if strings.HasPrefix(strings.ToLower(target), "sip:") {
		var u sip.Uri
		if err := sip.ParseUri(target, &u); err != nil {
			return sip.Uri{}, fmt.Errorf("parse target %q: %w", target, err)
		}
		if u.Host == "" {
			return sip.Uri{}, fmt.Errorf("target %q has no host", target)
		}
		return u, nil
	}
	if target == "" || strings.ContainsAny(target, "@:;<>\" \t") {
		return sip.Uri{}, fmt.Errorf("target %q is neither a user part nor a sip: URI", target)
	}
	return sip.Uri{Scheme: "sip", User: target, Host: domain}, nil
}

// dialogKey identifies a dialog from this phone's side.
func dialogKey(callID, localTag, remoteTag string) string {
	return callID + "\x00" + localTag + "\x00" + remoteTag
}

// keyForRequest gives the dialog key of an in-dialog request we received: the
// To tag is ours, the From tag the peer's.
func keyForRequest(req *sip.Request) (string, bool) {
	cid, from, to := req.CallID(), req.From(), req.To()
	if cid == nil || from == nil || to == nil {
		return "", false
	}
	lt, ok1 := to.Params.Get("tag")
	rt, ok2 := from.Params.Get("tag")
	if !ok1 || !ok2 {
		return "", false
	}
	return dialogKey(cid.Value(), lt, rt), true
}

func (p *Phone) lookupCall(req *sip.Request) *Call {
	key, ok := keyForRequest(req)
	if !ok {
		return nil
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.calls[key]
}

func (p *Phone) addCall(c *Call) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.closed {
		return ErrClosed
	}
	p.calls[c.key] = c
	return nil
}

func (p *Phone) removeCall(c *Call) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.calls[c.key] == c {
		delete(p.calls, c.key)
	}
}

// observe hands req to Config.Observe.
func (p *Phone) observe(req *sip.Request) {
	if p.cfg.Observe != nil {
		p.cfg.Observe(req)
	}
}

func (p *Phone) respond(req *sip.Request, tx sip.ServerTransaction, code int, reason string) {
	res := sip.NewResponseFromRequest(req, code, reason, nil)
	if err := tx.Respond(res); err != nil {
		p.log.Debug("respond failed", "code", code, "method", req.Method, "error", err)
	}
}

func (p *Phone) onInvite(req *sip.Request, tx sip.ServerTransaction) {
	p.observe(req)
	if to := req.To(); to != nil && to.Params.Has("tag") {
		p.reinvites.Add(1)
		p.onReInvite(req, tx)
		return
	}
	p.invites.Add(1)
	p.handleNewInvite(req, tx)
}

func (p *Phone) onAck(req *sip.Request, tx sip.ServerTransaction) {
	p.observe(req)
	c := p.lookupCall(req)
	if c == nil {
		return // an unknown dialog: nothing to confirm
	}
	c.ackAnswer(req)
	if c.uas != nil {
		// A CSeq mismatch only means this ACKs a re-INVITE answer.
		_ = c.uas.ReadAck(req, tx)
	}
}

func (p *Phone) onBye(req *sip.Request, tx sip.ServerTransaction) {
	p.observe(req)
	p.byes.Add(1)
	c := p.lookupCall(req)
	if c == nil {
		p.respond(req, tx, sip.StatusCallTransactionDoesNotExists, "Call/Transaction Does Not Exist")
		return
	}
	c.remoteBye(req, tx)
}

// onCancel sees only CANCELs that match no pending INVITE: the transaction layer
// handles the others and reports them through the INVITE's OnCancel hook.
func (p *Phone) onCancel(req *sip.Request, tx sip.ServerTransaction) {
	p.observe(req)
	p.cancels.Add(1)
	p.respond(req, tx, sip.StatusCallTransactionDoesNotExists, "Call/Transaction Does Not Exist")
}

func (p *Phone) onOptions(req *sip.Request, tx sip.ServerTransaction) {
	p.observe(req)
	p.options.Add(1)
	res := sip.NewResponseFromRequest(req, sip.StatusOK, "OK", nil)
	res.AppendHeader(sip.NewHeader("Allow", "INVITE, ACK, CANCEL, BYE, OPTIONS, NOTIFY"))
	res.AppendHeader(sip.NewHeader("Accept", "application/sdp"))
	if err := tx.Respond(res); err != nil {
		p.log.Debug("respond OPTIONS", "error", err)
	}
}

func (p *Phone) onNotify(req *sip.Request, tx sip.ServerTransaction) {
	p.observe(req)
	p.notifies.Add(1)
	if c := p.lookupCall(req); c != nil && isReferEvent(req) {
		c.referNotify(req, tx)
		return
	}
	var s *subscription
	if cid := req.CallID(); cid != nil {
		p.mu.Lock()
		s = p.subs[cid.Value()]
		p.mu.Unlock()
	}
	if s == nil {
		p.respond(req, tx, sip.StatusCallTransactionDoesNotExists, "Subscription Does Not Exist")
		return
	}
	p.respond(req, tx, sip.StatusOK, "OK")
	s.deliver(string(req.Body()))
}

// isReferEvent reports whether a NOTIFY is about a REFER (Event: refer).
func isReferEvent(req *sip.Request) bool {
	ev := req.GetHeader("event")
	if ev == nil {
		return false
	}
	name, _, _ := strings.Cut(ev.Value(), ";")
	return strings.EqualFold(strings.TrimSpace(name), "refer")
}

// dialContext derives a context that also ends, with sipgo's force-cancel cause,
// when the phone closes.
func (p *Phone) dialContext(ctx context.Context) (context.Context, context.CancelFunc) {
	dctx, cancel := context.WithCancelCause(ctx)
	stop := context.AfterFunc(p.ctx, func() { cancel(sipgo.WaitAnswerForceCancelErr) })
	return dctx, func() {
		stop()
		cancel(context.Canceled)
	}
}

func (p *Phone) onReInvite(req *sip.Request, tx sip.ServerTransaction) {
	c := p.lookupCall(req)
	if c == nil {
		p.respond(req, tx, sip.StatusCallTransactionDoesNotExists, "Call/Transaction Does Not Exist")
		return
	}
	c.handleReInvite(req, tx)
}
