// Package sip owns everything that speaks SIP: transports, the dialog bookkeeping of a
// B2BUA (inbound and outbound legs), and out-of-dialog requests. Digest checks live in
// sip/auth and the binding table in sip/registrar; call control decisions belong to pbx.
// It is built on github.com/emiago/sipgo and imports none of our other packages but
// internal/limit, whose listener wrapper keeps sipgo's accept loops alive and within
// the connection budget.
package sip

import (
	"bytes"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"net/url"
	"runtime/debug"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/emiago/sipgo"
	gosip "github.com/emiago/sipgo/sip"

	"switchboard/internal/limit"
	"switchboard/internal/udpsys"
)

// Request, Response and ServerTransaction are sipgo's types, re-exported so that pbx can
// write handlers without importing sipgo under another name.
type (
	Request           = gosip.Request
	Response          = gosip.Response
	ServerTransaction = gosip.ServerTransaction
	Header            = gosip.Header
	Uri               = gosip.Uri
)

// NewHeader builds a header for Respond.
func NewHeader(name, value string) Header { return gosip.NewHeader(name, value) }

// ParseURI parses a SIP URI.
func ParseURI(s string, u *Uri) error { return gosip.ParseUri(s, u) }

// RequestHandler handles one request; it must send a final response before it returns.
type RequestHandler = sipgo.RequestHandler

// Config says where the server listens and how it presents itself.
type Config struct {
	// Listen holds URLs such as "udp://127.0.0.1:5060" or "tcp://127.0.0.1:0".
	// Port 0 binds a port chosen by the OS; later listeners that also say port 0 reuse
	// the first port picked, so that UDP and TCP share one port as phones expect.
	Listen []string
	// PublicIP, when set, is written into Contact and Via instead of the listen address.
	PublicIP string
	// TLS is used for tls:// listeners.
	TLS *tls.Config
	// UserAgent is the User-Agent/Server header value.
	UserAgent string
	Logger    *slog.Logger
	// Drop, when set, is asked for every packet before parsing; true discards it. The
	// place to enforce failed-auth bans cheaply.
	Drop func(src netip.Addr) bool
	// Malformed, when set, is told the source of every message that does not
	// parse or breaks the protocol (bad version, bad Content-Length), so that
	// garbage counts toward the sender's ban.
	Malformed func(src netip.Addr)
	// MinSE is the smallest session-timer interval accepted from a caller (RFC 4028
	// Min-SE); 0 means DefaultMinSE. Only tests go below 90 s.
	MinSE time.Duration
	// Conns is the connection budget (total and per source address) the TCP, TLS,
	// WS and WSS listeners share with the HTTP listener; nil: no caps.
	Conns *limit.Conns
	// IdleTimeout closes a stream connection that carries no registration and no
	// dialog this long after it was opened or last found carrying one; 0: never.
	IdleTimeout time.Duration
}

// Listener is one bound transport.
type Listener struct {
	Network string // udp, tcp, tls, ws, wss
	Addr    netip.AddrPort
}

// Server is the SIP side of the PBX: one sipgo user agent, server and client.
type Server struct {
	cfg    Config
	log    *slog.Logger
	ua     *sipgo.UserAgent
	srv    *sipgo.Server
	client *sipgo.Client
	dua    *sipgo.DialogUA

	listeners []Listener
	closers   []func() error
	udpLocal  gosip.Addr
	host      string
	port      int

	mu       sync.RWMutex            // legs: findLeg on the UDP read loop takes it to read
	inbound  map[string]*InboundLeg  // by UAS dialog id
	outbound map[string]*OutboundLeg // by UAC dialog id, once answered

	onInvite atomic.Pointer[RequestHandler]
	// onChallenge answers new UDP REGISTERs and INVITEs without credentials on
	// the read path (OnChallenge).
	onChallenge atomic.Pointer[func(*gosip.Request) *gosip.Response]
	requests    sync.Map         // method -> *atomic.Uint64
	handlers    sync.Map         // method -> RequestHandler
	responses   [7]atomic.Uint64 // final responses sent, by class
	dropped     atomic.Uint64
	closed      atomic.Bool
	wg          sync.WaitGroup

	// pins holds, per remote address of a stream connection, until when a
	// registration made over it lasts: such a connection is never idle.
	pinMu sync.Mutex
	pins  map[netip.AddrPort]time.Time
	// loglim rate-limits warnings, ours about the wire and sipgo's alike.
	loglim *logLimiter
	// parser checks UDP datagrams before sipgo does, so that a bad one is
	// logged with its source and counted toward the sender's ban.
	parser    *gosip.Parser
	malformed atomic.Uint64
	// udpConns are the UDP listening sockets by local address: answers to
	// datagrams sipgo never parsed go out on them (sipgo's pool knows a UDP
	// peer only once it parsed a message from it).
	udpConns sync.Map // string -> net.PacketConn
	// udpTxs are the server transactions of REGISTERs and BYEs over UDP;
	// acksOnReadPath counts the ACKs serveAckUDP ended without sipgo (udptx.go).
	udpTxs         udpTxs
	acksOnReadPath atomic.Uint64
	// stopErr is the error of the first listener that stopped while serving.
	stopErr atomic.Pointer[error]
}

// New creates a server; Listen binds it.
func New(cfg Config) (*Server, error) {
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	if cfg.UserAgent == "" {
		cfg.UserAgent = "Switchboard"
	}
	s := &Server{
		cfg:      cfg,
		log:      cfg.Logger,
		inbound:  map[string]*InboundLeg{},
		outbound: map[string]*OutboundLeg{},
		pins:     map[netip.AddrPort]time.Time{},
		loglim:   newLogLimiter(),
		parser:   gosip.NewParser(),
	}
	quiet := slog.New(quietHandler{inner: cfg.Logger.Handler(), lim: s.loglim})
	var tpOpts []gosip.TransportLayerOption
	tpOpts = append(tpOpts, gosip.WithTransportLayerReadFilter(s.readFilter), gosip.WithTransportLayerLogger(quiet))
	ua, err := sipgo.NewUA(
		sipgo.WithUserAgent(cfg.UserAgent),
		sipgo.WithUserAgentTransportLayerOptions(tpOpts...),
		sipgo.WithUserAgenTLSConfig(cfg.TLS),
	)
	if err != nil {
		return nil, fmt.Errorf("sip: user agent: %w", err)
	}
	s.ua = ua
	srv, err := sipgo.NewServer(ua, sipgo.WithServerLogger(quiet))
	if err != nil {
		ua.Close()
		return nil, fmt.Errorf("sip: server: %w", err)
	}
	s.srv = srv
	srv.OnInvite(s.guard(s.handleInvite))
	srv.OnAck(s.guard(s.handleAck))
	srv.OnBye(s.guard(s.handleBye))
	srv.OnCancel(s.guard(s.handleCancel))
	srv.OnOptions(s.guard(s.handleOptions))
	srv.OnInfo(s.guard(s.handleInfo))
	srv.OnUpdate(s.guard(s.handleUpdate))
	// sipgo's handler table is not safe to change once serving, so every method is
	// routed here up front and OnRequest only fills our own table.
	for _, m := range []gosip.RequestMethod{gosip.REGISTER, gosip.SUBSCRIBE, gosip.NOTIFY, gosip.MESSAGE, gosip.PUBLISH, gosip.PRACK} {
		srv.OnRequest(m, s.guard(s.dispatch))
	}
	// REFER inside a dialog is ours (transfer); outside one it goes to the table.
	srv.OnRequest(gosip.REFER, s.guard(s.handleRefer))
	srv.OnNoRoute(s.guard(func(req *gosip.Request, tx gosip.ServerTransaction) {
		s.count(req)
		s.respond(tx, req, 405, "Method Not Allowed", gosip.NewHeader("Allow", allowed))
	}))
	return s, nil
}

// guard keeps malformed requests away from the handlers (400 when a header every
// request must carry is missing) and turns a handler panic into a 500 and a log line
// instead of a dead PBX.
func (s *Server) guard(h RequestHandler) RequestHandler {
	return func(req *gosip.Request, tx gosip.ServerTransaction) {
		defer func() {
			if r := recover(); r != nil {
				s.log.Error("sip handler panic", "method", string(req.Method), "panic", r, "stack", string(debug.Stack()))
				if !req.IsAck() {
					s.respond(tx, req, 500, "Server Internal Error")
				}
			}
		}()
		if code, reason := s.protocolError(req); code != 0 {
			s.count(req)
			if src, err := netip.ParseAddrPort(req.Source()); err == nil {
				s.badMessage(src, strings.ToLower(req.Transport()), []byte(req.StartLine()), errors.New(reason))
			}
			if !req.IsAck() && req.Via() != nil {
				res := gosip.NewResponseFromRequest(req, code, reason, nil)
				res.SipVersion = "SIP/2.0" // the only one we speak, whatever the request said
				s.respondStateless(tx, res)
			}
			return
		}
		if req.From() == nil || req.To() == nil || req.CallID() == nil || req.CSeq() == nil || req.Via() == nil {
			s.count(req)
			if !req.IsAck() && req.Via() != nil {
				s.respond(tx, req, 400, "Bad Request")
			}
			return
		}
		h(req, countingTx{ServerTransaction: tx, s: s, req: req})
	}
}

// MaxBody is the largest message body accepted; a larger one gets 513. SDP
// offers, even a browser's with many candidates, stay far below it, and the
// whole message must fit sipgo's 32 KiB UDP read buffer.
const MaxBody = 16 << 10

// protocolError checks what sipgo's parser lets through: another SIP version
// (505), a Content-Length that is not a count or differs between copies of the
// header (400), a body over MaxBody (513). 0 when the request is fine.
func (s *Server) protocolError(req *gosip.Request) (int, string) {
	if req.SipVersion != "SIP/2.0" {
		return 505, "Version Not Supported"
	}
	cl := ""
	for _, h := range req.GetHeaders("Content-Length") {
		v := strings.TrimSpace(h.Value())
		if n, err := strconv.Atoi(v); err != nil || n < 0 || (cl != "" && v != cl) {
			return 400, "Bad Content-Length"
		}
		cl = v
	}
	if len(req.Body()) > MaxBody {
		return 513, "Message Too Large"
	}
	return 0, ""
}

// respondStateless sends res without the transaction's retransmissions and ends
// the transaction. A lost answer is repaired by the client's own retransmission,
// which gets a fresh one: we never send more than one packet per request, so a
// spoofed source cannot use us as an amplifier (issue 14, problem 4).
func (s *Server) respondStateless(tx gosip.ServerTransaction, res *gosip.Response) error {
	if res.StatusCode >= 200 {
		s.responses[min(res.StatusCode/100, 6)].Add(1)
	}
	if u, ok := tx.(*udpTx); ok {
		return u.RespondStateless(res) // our own transaction sends on its socket
	}
	err := s.srv.WriteResponse(res)
	tx.Terminate()
	if err != nil {
		return fmt.Errorf("sip: stateless %d: %w", res.StatusCode, err)
	}
	return nil
}

// RespondStateless sends res without retransmissions (see respondStateless):
// sip/auth challenges with it.
func (t countingTx) RespondStateless(res *gosip.Response) error {
	return t.s.respondStateless(t.ServerTransaction, res)
}

// countingTx counts the final answers we send, by class (2xx, 4xx...), for metrics.
type countingTx struct {
	gosip.ServerTransaction
	s   *Server
	req *gosip.Request
}

func (t countingTx) Respond(res *gosip.Response) error {
	if res.StatusCode >= 200 {
		t.s.responses[min(res.StatusCode/100, 6)].Add(1)
	}
	if res.StatusCode/100 == 2 && t.req.Method == gosip.REGISTER {
		t.s.pinRegistration(t.req, res)
	}
	return t.ServerTransaction.Respond(res)
}

// pinRegistration remembers that a stream connection carries a registration for
// as long as the 2xx grants, so that the idle limit leaves it open.
func (s *Server) pinRegistration(req *gosip.Request, res *gosip.Response) {
	if strings.EqualFold(req.Transport(), "udp") {
		return
	}
	remote, err := netip.ParseAddrPort(req.Source())
	if err != nil {
		return
	}
	longest := time.Duration(0)
	if h := res.GetHeader("expires"); h != nil {
		if n, err := strconv.Atoi(strings.TrimSpace(h.Value())); err == nil {
			longest = time.Duration(n) * time.Second
		}
	}
	for _, h := range res.GetHeaders("Contact") {
		if c, ok := h.(*gosip.ContactHeader); ok {
			if v, ok := c.Params.Get("expires"); ok {
				if n, err := strconv.Atoi(v); err == nil {
					longest = max(longest, time.Duration(n)*time.Second)
				}
			}
		}
	}
	remote = netip.AddrPortFrom(remote.Addr().Unmap(), remote.Port())
	s.pinMu.Lock()
	defer s.pinMu.Unlock()
	if longest <= 0 {
		delete(s.pins, remote)
		return
	}
	s.pins[remote] = time.Now().Add(longest)
}

// KeepConn reports whether the stream connection from remote carries a live
// registration or a dialog; the idle limit closes it otherwise.
func (s *Server) KeepConn(remote netip.AddrPort) bool {
	remote = netip.AddrPortFrom(remote.Addr().Unmap(), remote.Port())
	s.pinMu.Lock()
	until, ok := s.pins[remote]
	if ok && !time.Now().Before(until) {
		delete(s.pins, remote)
		ok = false
	}
	s.pinMu.Unlock()
	if ok {
		return true
	}
	src := remote.String()
	s.mu.RLock()
	defer s.mu.RUnlock()
	for _, l := range s.inbound {
		if l.req.Source() == src {
			return true
		}
	}
	for _, l := range s.outbound {
		if l.d.InviteRequest.Destination() == src {
			return true
		}
	}
	return false
}

// ResponseCounts returns how many final responses of each class ("2xx"...) were
// sent (retransmissions included).
func (s *Server) ResponseCounts() map[string]uint64 {
	out := map[string]uint64{}
	for c := 2; c <= 6; c++ {
		out[strconv.Itoa(c)+"xx"] = s.responses[c].Load()
	}
	return out
}

const allowed = "INVITE, ACK, CANCEL, BYE, OPTIONS, INFO, UPDATE, REFER, REGISTER, SUBSCRIBE, NOTIFY"

// supported lists the extensions we take part in: Replaces (RFC 3891) in INVITE and
// Refer-To, and REFER without subscription (RFC 4488). Phones look for these (and
// REFER in Allow) before offering transfer.
const supported = "replaces, norefersub"

func (s *Server) readFilter(info gosip.TransportReadProps, data []byte) ([]byte, error) {
	if info.RemoteAddr == nil {
		return data, nil
	}
	ap, err := remoteAddrPort(info.RemoteAddr)
	udp := strings.EqualFold(info.Transport, "udp")
	if err == nil && s.cfg.Drop != nil && s.cfg.Drop(ap.Addr().Unmap()) {
		s.dropped.Add(1)
		if strings.EqualFold(info.Transport, "udp") {
			// Empty data, not an error: sipgo's UDP loop skips empty packets but
			// stops reading the shared socket altogether on a filter error.
			return nil, nil
		}
		return nil, errBanned // on a stream transport this closes that connection
	}
	if err != nil || keepAlive(data) {
		return data, nil
	}
	if udp {
		if len(data) >= int(gosip.TransportBufferReadSize) {
			// sipgo reads datagrams into a buffer of this size: a full one
			// was cut short, so the message is too large.
			s.badMessage(ap, "udp", data, errors.New("datagram fills the read buffer"))
			s.answerBroken(ap, "UDP", info.LocalAddr, data, 513, "Message Too Large")
			return nil, nil
		}
		// A datagram is one whole message. Parsing it twice costs a few
		// microseconds; sipgo would log a bad one at ERROR with all its bytes
		// and no source, and nobody would count it.
		msg, perr := s.parser.ParseSIP(data)
		if perr != nil {
			s.badMessage(ap, "udp", data, perr)
			if badContentLength(data) {
				s.answerBroken(ap, "UDP", info.LocalAddr, data, 400, "Bad Content-Length")
			}
			return nil, nil
		}
		if req, ok := msg.(*gosip.Request); ok && (s.answerEarly(req, ap, info.LocalAddr) || s.serveNonInviteUDP(req, ap, info.LocalAddr) || s.serveAckUDP(req, ap)) {
			return nil, nil
		}
		return data, nil
	}
	// On a stream, a bad Content-Length leaves no way to find the next
	// message: answer 400 while the request is at hand, then close. Only a
	// read that starts with a request line is checked (a message sent in one
	// write, as phones do); anything else is sipgo's parser's to judge.
	if startsRequest(data) && badContentLength(data) {
		s.badMessage(ap, strings.ToLower(info.Transport), data, errors.New("bad Content-Length"))
		s.answerBroken(ap, strings.ToUpper(info.Transport), info.LocalAddr, data, 400, "Bad Content-Length")
		return nil, errMalformed
	}
	return data, nil
}

var errMalformed = errors.New("sip: connection closed after a malformed message")

// remoteAddrPort is a read's source address. A UDP or TCP address converts as
// it is; anything else goes through its text.
func remoteAddrPort(a net.Addr) (netip.AddrPort, error) {
	switch a := a.(type) {
	case *net.UDPAddr:
		if ap := a.AddrPort(); ap.Addr().IsValid() {
			return netip.AddrPortFrom(ap.Addr().Unmap(), ap.Port()), nil
		}
	case *net.TCPAddr:
		if ap := a.AddrPort(); ap.Addr().IsValid() {
			return netip.AddrPortFrom(ap.Addr().Unmap(), ap.Port()), nil
		}
	}
	return netip.ParseAddrPort(a.String())
}

// responseAddr is where a response to a request over UDP goes (RFC 3261
// section 18.2.2, RFC 3581): the datagram's source address, with its source port
// when the top Via asks for rport, else the Via's port (5060 when it has none).
// sipgo's transaction layer answers the same way (rport=N in a request: port N).
func responseAddr(req *gosip.Request, src netip.AddrPort) netip.AddrPort {
	via := req.Via()
	if via == nil {
		return src
	}
	rport, ok := via.Params.Get("rport")
	if ok && rport == "" {
		return src
	}
	port := via.Port
	if n, err := strconv.Atoi(rport); ok && err == nil {
		port = n // a value in the request's rport names the port, as sipgo reads it
	}
	if port <= 0 || port > 65535 {
		port = 5060
	}
	return netip.AddrPortFrom(src.Addr(), uint16(port))
}

// OnChallenge sets the early answer to a new REGISTER or INVITE that came over
// UDP without credentials. It is asked on the read path, before sipgo creates a
// transaction and a goroutine for the request; the response it returns (the
// digest challenge) goes out at once, statelessly, and the request goes no
// further. nil sends the request down the normal path. It must not block.
func (s *Server) OnChallenge(f func(req *Request) *Response) { s.onChallenge.Store(&f) }

// answerEarly hands a request to OnChallenge and sends its answer from the read
// loop. Every REGISTER and every call from a phone starts with such a request;
// answering it here spares it a second parse, a transaction with its timers,
// channels and context, and a goroutine: a third of the server's CPU per
// REGISTER (bench/README.md). Anything unusual takes the normal path, which
// answers it: a protocol error, a missing header, a request inside a dialog,
// credentials to check.
func (s *Server) answerEarly(req *gosip.Request, src netip.AddrPort, local net.Addr) (answered bool) {
	f := s.onChallenge.Load()
	if f == nil || (req.Method != gosip.REGISTER && req.Method != gosip.INVITE) || s.closed.Load() {
		return false
	}
	// No handler's guard runs here, and sipgo's read loop has no recover: a
	// panic would end the process. The normal path gets the request instead.
	defer func() {
		if r := recover(); r != nil {
			s.log.Error("sip early answer panic", "method", string(req.Method), "panic", r, "stack", string(debug.Stack()))
			answered = false
		}
	}()
	if code, _ := s.protocolError(req); code != 0 {
		return false
	}
	if req.From() == nil || req.To() == nil || req.CallID() == nil || req.CSeq() == nil || req.Via() == nil ||
		req.To().Params.Has("tag") || req.GetHeader("authorization") != nil || req.GetHeader("proxy-authorization") != nil {
		return false
	}
	c, ok := s.udpConns.Load(local.String())
	if !ok {
		return false
	}
	req.SetSource(src.String())
	req.SetTransport("UDP")
	res := (*f)(req)
	if res == nil {
		return false
	}
	if to := res.To(); to != nil && req.Method == gosip.INVITE {
		// Its ACK finds no transaction: serveAckUDP knows it by this tag.
		tag, _ := to.Params.Get("tag")
		to.Params.Add("tag", challengeTagPrefix+tag)
	}
	s.count(req)
	s.responses[min(res.StatusCode/100, 6)].Add(1)
	if _, err := c.(net.PacketConn).WriteTo([]byte(res.String()), net.UDPAddrFromAddrPort(responseAddr(req, src))); err != nil {
		s.log.Debug("sip: early answer", "code", res.StatusCode, "err", err)
	}
	return true
}

// headerSection returns the start line and headers of a raw message (all of
// data when the blank line is missing).
func headerSection(data []byte) []byte {
	if i := bytes.Index(data, []byte("\r\n\r\n")); i >= 0 {
		return data[:i+2]
	}
	return data
}

// contentLengths returns the values of the Content-Length (and compact "l")
// headers of a raw message.
func contentLengths(data []byte) []string {
	var out []string
	for _, line := range bytes.Split(headerSection(data), []byte("\r\n"))[1:] {
		name, value, ok := bytes.Cut(line, []byte(":"))
		if !ok {
			continue
		}
		n := strings.TrimSpace(string(name))
		if strings.EqualFold(n, "Content-Length") || strings.EqualFold(n, "l") {
			out = append(out, strings.TrimSpace(string(value)))
		}
	}
	return out
}

// badContentLength reports a Content-Length that is not a count, or copies of
// it that disagree.
func badContentLength(data []byte) bool {
	first := ""
	for i, v := range contentLengths(data) {
		if n, err := strconv.Atoi(v); err != nil || n < 0 || (i > 0 && v != first) {
			return true
		}
		if i == 0 {
			first = v
		}
	}
	return false
}

// startsRequest reports whether data begins with a request line.
func startsRequest(data []byte) bool {
	line, _, _ := bytes.Cut(data, []byte("\r\n"))
	return bytes.HasSuffix(line, []byte(" SIP/2.0")) && !bytes.HasPrefix(line, []byte("SIP/"))
}

// answerBroken answers a request the parser refused (code 400 or 513) when its
// headers, without Content-Length and body, still make a request; a response or
// worse gets no answer. Stateless: one answer per message received.
func (s *Server) answerBroken(src netip.AddrPort, transport string, local net.Addr, data []byte, code int, reason string) {
	var head bytes.Buffer
	for i, line := range bytes.Split(headerSection(data), []byte("\r\n")) {
		name, _, _ := bytes.Cut(line, []byte(":"))
		n := strings.TrimSpace(string(name))
		if i > 0 && (strings.EqualFold(n, "Content-Length") || strings.EqualFold(n, "l")) || len(line) == 0 {
			continue
		}
		head.Write(line)
		head.WriteString("\r\n")
	}
	head.WriteString("Content-Length: 0\r\n\r\n")
	msg, err := s.parser.ParseSIP(head.Bytes())
	if err != nil {
		return
	}
	req, ok := msg.(*gosip.Request)
	if !ok || req.IsAck() || req.Via() == nil {
		return
	}
	req.SetSource(src.String())
	req.SetTransport(transport)
	res := gosip.NewResponseFromRequest(req, code, reason, nil)
	res.SipVersion = "SIP/2.0"
	s.responses[code/100].Add(1)
	if transport == "UDP" {
		if c, ok := s.udpConns.Load(local.String()); ok {
			if _, err := c.(net.PacketConn).WriteTo([]byte(res.String()), net.UDPAddrFromAddrPort(responseAddr(req, src))); err != nil {
				s.log.Debug("sip: answer a malformed message", "code", code, "err", err)
			}
		}
		return
	}
	if err := s.srv.WriteResponse(res); err != nil {
		s.log.Debug("sip: answer a malformed message", "code", code, "err", err)
	}
}

// keepAlive reports whether data is a CRLF keep-alive (RFC 5626), which sipgo
// takes before parsing.
func keepAlive(data []byte) bool {
	for _, c := range data {
		if c != '\r' && c != '\n' && c != 0 {
			return false
		}
	}
	return true
}

// badMessage logs a message that does not parse or breaks the protocol (rate
// limited, with its source and a short escaped excerpt) and counts it toward the
// sender's ban.
func (s *Server) badMessage(src netip.AddrPort, transport string, data []byte, err error) {
	s.malformed.Add(1)
	if s.cfg.Malformed != nil {
		s.cfg.Malformed(src.Addr().Unmap())
	}
	now := time.Now()
	if ok, suppressed := s.loglim.allow("sip malformed message", now); ok {
		args := []any{"src", src.String(), "transport", transport, "len", len(data), "excerpt", excerpt(data), "err", excerpt([]byte(err.Error()))}
		if suppressed > 0 {
			args = append(args, "suppressed", suppressed)
		}
		s.log.Warn("sip malformed message", args...)
	}
}

// MalformedMessages counts messages that did not parse or broke the protocol.
func (s *Server) MalformedMessages() uint64 { return s.malformed.Load() }

var errBanned = errors.New("sip: connection from a banned address closed")

// DroppedPackets counts packets dropped before parsing (banned sources).
func (s *Server) DroppedPackets() uint64 { return s.dropped.Load() }

// Listen binds every configured listener and starts serving them until ctx ends.
// It returns once the sockets are bound, so that Listeners reports real ports.
func (s *Server) Listen(ctx context.Context) error {
	if len(s.cfg.Listen) == 0 {
		return errors.New("sip: no listen addresses")
	}
	// With port 0 the first socket picks the port and the others take the same one;
	// if another program holds that port for another transport, pick again.
	var bound []boundSocket
	var err error
	for attempt := 0; ; attempt++ {
		bound, err = s.bindAll()
		if err == nil || !errors.Is(err, errSharedPortTaken) || attempt == 20 {
			break
		}
	}
	if err != nil {
		return err
	}
	for _, b := range bound {
		s.closers = append(s.closers, b.close)
		stopped := s.serve(b.serve)
		if b.reading != nil {
			select {
			case <-b.reading:
			case <-stopped:
			}
		}
		s.listeners = append(s.listeners, b.listener)
		if b.listener.Network == "udp" && s.udpLocal.IP == nil {
			a := b.listener.Addr
			s.udpLocal = gosip.Addr{IP: net.IP(a.Addr().AsSlice()), Port: int(a.Port())}
		}
	}
	first := s.listeners[0].Addr
	s.host = first.Addr().String()
	if first.Addr().IsUnspecified() {
		// Listening everywhere: name the address that routes outward in
		// Contact and Via, so that phones elsewhere reach us (public_ip wins).
		s.host = outboundIP().String()
	}
	if s.cfg.PublicIP != "" {
		s.host = s.cfg.PublicIP
	}
	s.port = int(first.Port())
	client, err := sipgo.NewClient(s.ua, sipgo.WithClientHostname(s.host), sipgo.WithClientPort(s.port))
	if err != nil {
		return fmt.Errorf("sip: client: %w", err)
	}
	s.client = client
	s.dua = &sipgo.DialogUA{
		Client:         client,
		ContactHDR:     gosip.ContactHeader{Address: gosip.Uri{Scheme: "sip", User: "switchboard", Host: s.host, Port: s.port}},
		RewriteContact: true,
	}
	go func() {
		<-ctx.Done()
		s.Close()
	}()
	return nil
}

// boundSocket is a listener bound but not serving yet.
type boundSocket struct {
	listener Listener
	serve    func() error
	close    func() error
	reading  chan struct{} // UDP: closed when sipgo starts reading the socket
}

// udpConn is a UDP listening socket as sipgo reads and writes it.
//
// It tells when sipgo starts reading: sipgo puts the socket into its pool just
// before its first read, and a request sent from it earlier (a trunk REGISTER
// right at start, a Dial) makes sipgo bind the same port again, which fails.
//
// Its datagram calls are raw (internal/udpsys): through the net package, every
// message woke the runtime's monitor thread of a server that was idle between
// messages, which cost more than the message itself at moderate rates. And its
// reads coalesce wake-ups (udpsys.NewQuiet, readWindow).
type udpConn struct {
	sys     *udpsys.Conn
	r       *udpsys.Reader // sipgo reads in one goroutine
	writers sync.Pool      // *udpsys.Writer: responses and requests go out from many
	once    sync.Once
	reading chan struct{}
}

// readWindow is how long the SIP socket is left unwatched after a read found a
// datagram, while datagrams come close together: what arrives in between is
// read at once when it ends, with one wake-up of the process instead of one
// per datagram. Each wake-up costs about the same whatever it finds: on the
// virtual machine of bench/README.md, several hundred microseconds of CPU more
// than the same work without a pause, more than a message's handling. So the
// window is as long as signalling can afford: at 100 calls/s, 20 ms cost a
// tenth to a fifth less CPU per call than 10 ms, 30 ms a tenth less again, and
// 45 ms a seventh less than 30 (at 500 calls/s the process is busy anyway and
// the length makes no difference). A message waits at most this much longer
// than without it: an INVITE still gets its 100 Trying (sent once the digest is
// checked) well inside RFC 3261's 200 ms, and SIP's retransmissions (T1 is 500
// ms) are far off. A call's set-up (four exchanges through the server) takes
// at most 180 ms more: a small part of the delay before the ring that a caller
// already hears (seconds through a carrier). After a quiet spell the first message is read at once, and sparse
// traffic (datagrams more than a window apart) gets no window. Media never
// waits: RTP has sockets of its own.
const readWindow = 45 * time.Millisecond

func newUDPConn(uc *net.UDPConn) (*udpConn, error) {
	sys, err := udpsys.NewQuiet(uc, readWindow)
	if err != nil {
		return nil, err
	}
	c := &udpConn{sys: sys, r: sys.NewReader(), reading: make(chan struct{})}
	c.writers.New = func() any { return sys.NewWriter() }
	return c, nil
}

func (c *udpConn) ReadFrom(b []byte) (int, net.Addr, error) {
	c.once.Do(func() { close(c.reading) })
	n, from, err := c.r.ReadFrom(b)
	if err != nil {
		return 0, nil, err
	}
	return n, net.UDPAddrFromAddrPort(from), nil
}

func (c *udpConn) WriteTo(b []byte, addr net.Addr) (int, error) {
	ua, ok := addr.(*net.UDPAddr)
	if !ok {
		return 0, &net.OpError{Op: "write", Net: "udp", Source: c.LocalAddr(), Addr: addr, Err: syscall.EINVAL}
	}
	w := c.writers.Get().(*udpsys.Writer)
	defer c.writers.Put(w)
	return w.WriteTo(b, ua.AddrPort())
}

func (c *udpConn) Close() error        { return c.sys.Close() }
func (c *udpConn) LocalAddr() net.Addr { return c.sys.LocalAddr() }

// Deadlines are not kept: sipgo sets none on its UDP listeners, and a read that
// waits for the next datagram is what they are for.
var errNoDeadline = errors.New("sip: the UDP listener keeps no deadlines")

func (c *udpConn) SetDeadline(time.Time) error      { return errNoDeadline }
func (c *udpConn) SetReadDeadline(time.Time) error  { return errNoDeadline }
func (c *udpConn) SetWriteDeadline(time.Time) error { return errNoDeadline }

var errSharedPortTaken = errors.New("sip: the shared port is taken for another transport")

// bindAll binds every configured listener; on error it closes what it bound.
func (s *Server) bindAll() (out []boundSocket, err error) {
	defer func() {
		if err != nil {
			for _, b := range out {
				b.close()
			}
			out = nil
		}
	}()
	sharedPort := 0
	streamOnShared := false // a TCP-based listener took the shared port already
	for _, raw := range s.cfg.Listen {
		u, err := url.Parse(raw)
		if err != nil || u.Host == "" {
			return out, fmt.Errorf("sip: listen address %q: want scheme://host:port", raw)
		}
		network := strings.ToLower(u.Scheme)
		host, portStr, err := net.SplitHostPort(u.Host)
		if err != nil {
			return out, fmt.Errorf("sip: listen address %q: %w", raw, err)
		}
		port, err := strconv.Atoi(portStr)
		if err != nil {
			return out, fmt.Errorf("sip: listen address %q: bad port", raw)
		}
		stream := network != "udp"
		// Port 0 shares the first listener's port, once per socket type: UDP and
		// TCP on 5060 as phones expect; a second TCP-based transport (tls after
		// tcp) gets its own port.
		shared := port == 0 && sharedPort != 0 && !(stream && streamOnShared)
		if shared {
			port = sharedPort
		}
		addr := net.JoinHostPort(host, strconv.Itoa(port))
		var b boundSocket
		switch network {
		case "udp":
			conn, err := net.ListenPacket("udp", addr)
			if err != nil {
				if shared {
					return out, fmt.Errorf("%w: %w", errSharedPortTaken, err)
				}
				return out, fmt.Errorf("sip: listen %s: %w", raw, err)
			}
			if uc, ok := conn.(*net.UDPConn); ok {
				// Bursts of requests must wait in the socket, not be dropped and
				// retransmitted (the kernel caps this at net.core.rmem_max).
				uc.SetReadBuffer(4 << 20)
				uc.SetWriteBuffer(4 << 20)
			}
			rc, err := newUDPConn(conn.(*net.UDPConn))
			if err != nil {
				conn.Close()
				return out, fmt.Errorf("sip: listen %s: %w", raw, err)
			}
			s.udpConns.Store(rc.LocalAddr().String(), rc)
			b = boundSocket{
				listener: Listener{Network: network, Addr: netip.MustParseAddrPort(rc.LocalAddr().String())},
				serve:    func() error { return s.srv.ServeUDP(rc) },
				close:    rc.Close,
				reading:  rc.reading,
			}
		case "tcp", "tls", "ws", "wss":
			if (network == "tls" || network == "wss") && s.cfg.TLS == nil {
				return out, fmt.Errorf("sip: listen %s: no TLS certificate configured", raw)
			}
			tl, err := net.Listen("tcp", addr)
			if err != nil {
				if shared {
					return out, fmt.Errorf("%w: %w", errSharedPortTaken, err)
				}
				return out, fmt.Errorf("sip: listen %s: %w", raw, err)
			}
			// sipgo's accept loops end on the first accept error, EMFILE
			// included; the wrapper retries instead, and enforces the
			// connection budget and idle limit below TLS and WebSocket.
			l := limit.NewListener(tl, limit.ListenerConfig{
				Name: "sip " + network, Conns: s.cfg.Conns, Idle: s.cfg.IdleTimeout, Keep: s.KeepConn, Logger: s.log,
			})
			b = boundSocket{
				listener: Listener{Network: network, Addr: netip.MustParseAddrPort(l.Addr().String())},
				close:    l.Close,
			}
			switch network {
			case "tcp":
				b.serve = func() error { return s.srv.ServeTCP(l) }
			case "tls":
				tl := tls.NewListener(l, s.cfg.TLS)
				b.serve = func() error { return s.srv.ServeTLS(tl) }
			case "ws":
				b.serve = func() error { return s.srv.ServeWS(l) }
			case "wss":
				tl := tls.NewListener(l, s.cfg.TLS)
				b.serve = func() error { return s.srv.ServeWSS(tl) }
			}
		default:
			return out, fmt.Errorf("sip: listen %s: transport %q not supported (udp, tcp, tls, ws, wss)", raw, network)
		}
		out = append(out, b)
		if sharedPort == 0 {
			sharedPort = int(b.listener.Addr.Port())
		}
		if stream && int(b.listener.Addr.Port()) == sharedPort {
			streamOnShared = true
		}
	}
	return out, nil
}

// serve runs fn until the server closes; the channel is closed when fn returns.
func (s *Server) serve(fn func() error) <-chan struct{} {
	stopped := make(chan struct{})
	s.wg.Add(1)
	go func() {
		defer s.wg.Done()
		defer close(stopped)
		err := fn()
		if s.closed.Load() {
			return
		}
		if err == nil {
			err = errors.New("serving loop returned")
		}
		err = fmt.Errorf("sip listener stopped: %w", err)
		s.stopErr.CompareAndSwap(nil, &err)
		s.log.Error("sip listener stopped", "err", err)
	}()
	return stopped
}

// Err returns why a listener stopped serving while the server runs (nil while
// all serve); /healthz fails on it.
func (s *Server) Err() error {
	if p := s.stopErr.Load(); p != nil {
		return *p
	}
	return nil
}

// Listeners reports the bound transports.
func (s *Server) Listeners() []Listener { return append([]Listener(nil), s.listeners...) }

// Host and Port are what the server writes into Contact and Via.
func (s *Server) Host() string { return s.host }

// Port is the advertised SIP port.
func (s *Server) Port() int { return s.port }

// Close stops the listeners and the user agent.
func (s *Server) Close() error {
	if s.closed.Swap(true) {
		return nil
	}
	for _, c := range s.closers {
		c()
	}
	err := s.ua.Close()
	s.wg.Wait()
	s.udpTxs.close()
	return err
}

// OnInvite sets the handler for new (out-of-dialog) INVITEs. The handler owns the
// transaction: it authenticates, then calls Accept, and must not return before a
// final response has been sent.
func (s *Server) OnInvite(h RequestHandler) { s.onInvite.Store(&h) }

// OnRequest sets the handler of another method: REGISTER, SUBSCRIBE, NOTIFY,
// MESSAGE, REFER, PUBLISH or PRACK. Methods without a handler get 405.
func (s *Server) OnRequest(method string, h RequestHandler) {
	s.handlers.Store(method, h)
}

func (s *Server) dispatch(req *gosip.Request, tx gosip.ServerTransaction) {
	s.count(req)
	if h, ok := s.handlers.Load(string(req.Method)); ok {
		h.(RequestHandler)(req, tx)
		return
	}
	s.respond(tx, req, 405, "Method Not Allowed", gosip.NewHeader("Allow", allowed))
}

// RequestCounts returns how many requests of each method arrived.
func (s *Server) RequestCounts() map[string]uint64 {
	out := map[string]uint64{}
	s.requests.Range(func(k, v any) bool {
		out[k.(string)] = v.(*atomic.Uint64).Load()
		return true
	})
	return out
}

func (s *Server) count(req *gosip.Request) {
	m := string(req.Method)
	v, ok := s.requests.Load(m)
	if !ok {
		v, _ = s.requests.LoadOrStore(m, new(atomic.Uint64))
	}
	v.(*atomic.Uint64).Add(1)
}

func (s *Server) respond(tx gosip.ServerTransaction, req *gosip.Request, code int, reason string, hdrs ...gosip.Header) {
	res := gosip.NewResponseFromRequest(req, code, reason, nil)
	for _, h := range hdrs {
		res.AppendHeader(h)
	}
	if err := tx.Respond(res); err != nil {
		s.log.Debug("sip respond failed", "code", code, "err", err)
	}
}

// Respond sends a response without body to req on tx; a helper for pbx handlers.
func (s *Server) Respond(tx ServerTransaction, req *Request, code int, reason string, hdrs ...Header) {
	s.respond(tx, req, code, reason, hdrs...)
}

func (s *Server) handleInvite(req *gosip.Request, tx gosip.ServerTransaction) {
	s.count(req)
	if to := req.To(); to != nil && to.Params.Has("tag") {
		s.handleReinvite(req, tx)
		return
	}
	if s.closed.Load() {
		s.respond(tx, req, 503, "Service Unavailable")
		return
	}
	h := s.onInvite.Load()
	if h == nil {
		s.respond(tx, req, 503, "Service Unavailable")
		return
	}
	(*h)(req, tx)
}

// findLeg returns the leg a request inside a dialog belongs to.
func (s *Server) findLeg(req *gosip.Request) (*InboundLeg, *OutboundLeg) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	if id, err := gosip.DialogIDFromRequestUAS(req); err == nil {
		if l := s.inbound[id]; l != nil {
			return l, nil
		}
	}
	if id, err := gosip.DialogIDFromRequestUAC(req); err == nil {
		if l := s.outbound[id]; l != nil {
			return nil, l
		}
	}
	return nil, nil
}

func (s *Server) handleReinvite(req *gosip.Request, tx gosip.ServerTransaction) {
	in, out := s.findLeg(req)
	var ls *legState
	switch {
	case in != nil:
		ls = &in.legState
	case out != nil:
		ls = &out.legState
	default:
		s.respond(tx, req, 481, "Call/Transaction Does Not Exist")
		return
	}
	s.answerOffer(ls, in, req, tx)
}

// answerOffer answers a re-INVITE or UPDATE with the answer that pbx's hook gives.
// in is set when the request came from the caller's side, whose session timer it
// refreshes.
func (s *Server) answerOffer(ls *legState, in *InboundLeg, req *gosip.Request, tx gosip.ServerTransaction) {
	// An offer of the peer's (any re-INVITE, an UPDATE with SDP) crossing ours.
	if (req.Method == gosip.INVITE || len(req.Body()) > 0) && ls.offering.Load() {
		s.respond(tx, req, 491, "Request Pending")
		return
	}
	var timerHeaders []Header
	if in != nil {
		hs, ok := s.sessionRefreshed(in, req, tx)
		if !ok {
			return
		}
		timerHeaders = hs
	}
	hook := ls.onOffer.Load()
	body := req.Body()
	var answer []byte
	if hook != nil && len(body) > 0 {
		a, err := (*hook)(body)
		if err != nil {
			s.respond(tx, req, 488, "Not Acceptable Here")
			return
		}
		answer = a
		ls.setLocalSDP(a) // what a later refresh of ours must offer again
	} else if req.Method == gosip.INVITE {
		// An offerless re-INVITE gets our offer in the 200 (RFC 3264 section 5);
		// an UPDATE without SDP (a session refresh) gets none.
		answer = ls.lastLocalSDP()
	}
	res := gosip.NewResponseFromRequest(req, 200, "OK", answer)
	if len(answer) > 0 {
		res.AppendHeader(gosip.NewHeader("Content-Type", "application/sdp"))
	}
	res.AppendHeader(gosip.HeaderClone(ls.contact))
	for _, h := range timerHeaders {
		res.AppendHeader(h)
	}
	if err := tx.Respond(res); err != nil {
		s.log.Debug("sip: answer re-INVITE", "err", err)
	}
}

func (s *Server) handleAck(req *gosip.Request, tx gosip.ServerTransaction) {
	s.count(req)
	if in, _ := s.findLeg(req); in != nil {
		s.ackLeg(in, req, tx)
	}
}

// ackLeg hands an ACK to its leg's dialog.
func (s *Server) ackLeg(in *InboundLeg, req *gosip.Request, tx gosip.ServerTransaction) {
	if body := req.Body(); len(body) > 0 {
		// Stored before ReadAck wakes Answer: a late-offer caller answers here.
		b := append([]byte(nil), body...)
		in.ackSDP.CompareAndSwap(nil, &b)
	}
	// A re-INVITE's ACK carries another CSeq; sipgo rejects it and nothing is lost.
	_ = in.d.ReadAck(req, tx)
}

func (s *Server) handleBye(req *gosip.Request, tx gosip.ServerTransaction) {
	s.count(req)
	in, out := s.findLeg(req)
	switch {
	case in != nil:
		in.setCause("BYE")
		if err := in.d.ReadBye(req, tx); err != nil {
			s.respond(tx, req, 200, "OK")
		}
		in.end()
	case out != nil:
		out.setCause("BYE")
		if err := out.d.ReadBye(req, tx); err != nil {
			s.respond(tx, req, 200, "OK")
		}
		out.end()
	default:
		s.respond(tx, req, 481, "Call/Transaction Does Not Exist")
	}
}

func (s *Server) handleCancel(req *gosip.Request, tx gosip.ServerTransaction) {
	// CANCELs that match an INVITE transaction are answered by sipgo's transaction
	// layer; what reaches this handler matched nothing.
	s.count(req)
	s.respond(tx, req, 481, "Call/Transaction Does Not Exist")
}

func (s *Server) handleOptions(req *gosip.Request, tx gosip.ServerTransaction) {
	s.count(req)
	s.respond(tx, req, 200, "OK",
		gosip.NewHeader("Allow", allowed),
		gosip.NewHeader("Accept", "application/sdp"),
		gosip.NewHeader("Supported", supported),
	)
}

func (s *Server) handleInfo(req *gosip.Request, tx gosip.ServerTransaction) {
	s.count(req)
	in, out := s.findLeg(req)
	var ls *legState
	switch {
	case in != nil:
		ls = &in.legState
	case out != nil:
		ls = &out.legState
	default:
		s.respond(tx, req, 481, "Call/Transaction Does Not Exist")
		return
	}
	if ct := req.ContentType(); ct != nil && strings.EqualFold(ct.Value(), "application/dtmf-relay") {
		if d, ok := parseDTMFRelay(string(req.Body())); ok {
			ls.pushDTMF(d)
		}
	}
	s.respond(tx, req, 200, "OK")
}

func (s *Server) handleUpdate(req *gosip.Request, tx gosip.ServerTransaction) {
	s.count(req)
	in, out := s.findLeg(req)
	switch {
	case in != nil:
		s.answerOffer(&in.legState, in, req, tx)
	case out != nil:
		s.answerOffer(&out.legState, nil, req, tx)
	default:
		s.respond(tx, req, 481, "Call/Transaction Does Not Exist")
	}
}

// parseDTMFRelay reads "Signal=5" out of an application/dtmf-relay body.
func parseDTMFRelay(body string) (rune, bool) {
	for _, line := range strings.Split(body, "\n") {
		k, v, ok := strings.Cut(line, "=")
		if !ok || !strings.EqualFold(strings.TrimSpace(k), "signal") {
			continue
		}
		v = strings.TrimSpace(v)
		if len(v) != 1 {
			return 0, false
		}
		r := rune(strings.ToUpper(v)[0])
		if strings.ContainsRune("0123456789*#ABCD", r) {
			return r, true
		}
	}
	return 0, false
}

// Request sends an out-of-dialog request (NOTIFY, OPTIONS, REGISTER to a trunk) and
// returns the final response.
//
// A Destination over TCP, TLS or WebSocket is used only while the phone's connection
// is open (see reachable).
func (s *Server) Request(ctx context.Context, req *Request) (*Response, error) {
	if d := req.MessageData.Destination(); d != "" {
		dest, err := s.reachable(req.Transport(), d)
		if err != nil {
			return nil, err
		}
		req.SetDestination(dest) // "": from the Request-URI (route) again
	}
	s.pinUDP(req)
	return s.client.Do(ctx, req)
}

// RequestDigest sends req and answers one 401/407 challenge with the credentials.
func (s *Server) RequestDigest(ctx context.Context, req *Request, user, password string) (*Response, error) {
	s.pinUDP(req)
	res, err := s.client.Do(ctx, req)
	if err != nil {
		return nil, err
	}
	if res.StatusCode != 401 && res.StatusCode != 407 {
		return res, nil
	}
	// DoDigestAuth adds the credentials, raises CSeq and sends with a new Via.
	return s.client.DoDigestAuth(ctx, req, res, sipgo.DigestAuth{Username: user, Password: password})
}

// pinUDP makes UDP requests leave from the listening socket, so that Via and Contact
// name a port the peer can answer to (NOTES-deps pitfall 4).
func (s *Server) pinUDP(req *gosip.Request) {
	if strings.EqualFold(req.Transport(), "udp") && s.udpLocal.IP != nil {
		req.Laddr = gosip.Addr{IP: s.udpLocal.IP, Port: s.udpLocal.Port}
	}
}

// Contact is the Contact header the server puts into its requests and answers over
// UDP, where the shared port is right. Over a connection, use ContactFor.
func (s *Server) Contact() *gosip.ContactHeader { return &s.dua.ContactHDR }

// ContactFor is the Contact header for a message we send on transport (UDP, TCP,
// TLS, WS, WSS) to remote (the peer's host:port, "" when unknown). It names the port
// of the listener the peer's connection reached, else of our first listener of that
// transport, and, off UDP, the transport: a phone on a WebSocket that is told our UDP
// port sends its in-dialog requests nowhere we listen for it.
func (s *Server) ContactFor(transport, remote string) *gosip.ContactHeader {
	network := strings.ToLower(transport)
	if network == "" {
		network = "udp"
	}
	c := &gosip.ContactHeader{Address: *s.dua.ContactHDR.Address.Clone()}
	c.Address.Port = s.listenerPort(network, remote)
	if network != "udp" {
		param := network
		if param == "wss" {
			// RFC 7118 section 5.2 defines only "ws" as URI transport, for WS and
			// WSS alike; the port tells which listener.
			param = "ws"
		}
		c.Address.UriParams = gosip.NewParams()
		c.Address.UriParams.Add("transport", param)
	}
	return c
}

// listenerPort is the port of ours that a peer on network reaches: the local end of
// its open connection when there is one, else the first listener of that network,
// else the advertised port.
func (s *Server) listenerPort(network, remote string) int {
	if network != "udp" && remote != "" {
		if conn, err := s.ua.TransportLayer().GetConnection(network, remote); err == nil {
			// The lookup takes a reference; a kept one would stop sipgo from
			// ever closing the connection.
			local := conn.LocalAddr().String()
			conn.Ref(-1)
			if ap, err := netip.ParseAddrPort(local); err == nil {
				return int(ap.Port())
			}
		}
	}
	for _, l := range s.listeners {
		if l.Network == network {
			return int(l.Addr.Port())
		}
	}
	return s.port
}

// dialogUA is a copy of the server's dialog user agent whose default Contact suits
// one leg's transport: sipgo puts it into every answer and in-dialog request of that
// leg that does not bring its own.
func (s *Server) dialogUA(contact *gosip.ContactHeader) *sipgo.DialogUA {
	ua := *s.dua
	ua.ContactHDR = *contact
	return &ua
}

// LegByReplaces finds a confirmed leg by its dialog (call-id and both tags, matched in
// either order of to-tag/from-tag). nil, nil when none.
//
// Either order, because the tags of a Replaces are as its sender sees the dialog:
// the transferor names its own leg to us (our tag is its to-tag), a phone taking
// over another's call names the other phone's leg (our tag is then the from-tag).
func (s *Server) LegByReplaces(r Replaces) (*InboundLeg, *OutboundLeg) {
	if r.CallID == "" || r.ToTag == "" || r.FromTag == "" {
		return nil, nil
	}
	ids := []string{gosip.DialogIDMake(r.CallID, r.ToTag, r.FromTag), gosip.DialogIDMake(r.CallID, r.FromTag, r.ToTag)}
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, id := range ids {
		// An inbound leg is in the table from its INVITE on; only an answered
		// one is a confirmed dialog. Outbound legs enter it once answered.
		if l := s.inbound[id]; l != nil && l.Answered() && !l.ended() {
			return l, nil
		}
		if l := s.outbound[id]; l != nil && !l.ended() {
			return nil, l
		}
	}
	return nil, nil
}

// LegCount returns the number of live dialogs, for leak checks and metrics.
func (s *Server) LegCount() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.inbound) + len(s.outbound)
}

// outboundIP finds the address of the interface that routes outward, without
// sending anything (connecting a UDP socket only picks the route).
func outboundIP() netip.Addr {
	conn, err := net.Dial("udp", "192.0.2.1:9")
	if err != nil {
		return netip.MustParseAddr("127.0.0.1")
	}
	defer conn.Close()
	ap, err := netip.ParseAddrPort(conn.LocalAddr().String())
	if err != nil {
		return netip.MustParseAddr("127.0.0.1")
	}
	return ap.Addr().Unmap()
}
