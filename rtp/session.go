package rtp

import (
	"errors"
	"net"
	"net/netip"
	"sync"
	"sync/atomic"
	"time"

	"github.com/pion/rtp"

	"switchboard/internal/udpsys"
)

// ErrClosed is returned by Play, PlayLoop and SendDTMF when the session closes.
var ErrClosed = errors.New("rtp: session closed")

const (
	// maxPacket bounds one datagram; RTP over UDP on Ethernet never comes close.
	maxPacket = 1500
	// headerLen is the size of the plain RTP header we write (no CSRC, no
	// extensions).
	headerLen = 12
	// relatchAfter is how long the latched source must be silent before another
	// source may take over: a NAT rebinding recovers after this gap, while a
	// stray or spoofed stream cannot hijack a live call.
	relatchAfter = time.Second
	// dtmfBuffer is the capacity of the DTMF channel; digits beyond it are dropped.
	dtmfBuffer = 32
)

// processStart anchors the monotonic clock readings of every session; it is set
// once at start-up and never changes.
var processStart = time.Now()

func nanotime() int64 { return int64(time.Since(processStart)) }

// Stats are a session's counters since it was opened.
type Stats struct {
	PacketsIn, BytesIn   uint64
	PacketsOut, BytesOut uint64
	// Lost counts sequence numbers skipped by the peer's stream.
	Lost uint64
	// Dropped counts packets ignored on receive: malformed, from a source that
	// is not the latched one, or of a payload type we did not negotiate.
	Dropped uint64
	// Latched is the source address we latched to, invalid until a packet came.
	Latched netip.AddrPort
	// Remote is the address from the peer's SDP (via SetRemote).
	Remote netip.AddrPort
}

// remoteConfig is what SetRemote stores; it is replaced whole, never mutated, so
// that the read goroutine reads it with one atomic load per packet.
type remoteConfig struct {
	addr   netip.AddrPort
	codec  Codec
	law    law
	dtmfPT int
}

// Session is one leg's media endpoint: a local even RTP port, the peer's address,
// and one outgoing stream (a single SSRC, sequence and timestamp space) that
// bridged audio, prompts and DTMF all feed, so the far end sees one stream.
type Session struct {
	// dtmfMu orders InjectDTMF against Close; the read loop needs no lock (it has
	// stopped before Close closes the channel).
	dtmfMu     sync.Mutex
	dtmfClosed bool

	pool  *Pool
	port  int
	conn  *net.UDPConn
	rtcp  *net.UDPConn
	sys   *udpsys.Conn // conn's raw-send wrapper, kept with the sockets; nil: none
	local netip.AddrPort

	// rtc is set for a WebRTC session: its packets go through a peer
	// connection instead of conn, and pion's ICE replaces our latching.
	rtc *webrtcLeg

	remote  atomic.Pointer[remoteConfig]
	latched atomic.Pointer[netip.AddrPort]
	peer    atomic.Pointer[Session] // bridge destination of our received media
	onAudio atomic.Pointer[func([]int16)]
	dtmf    chan rune

	out      outStream
	localSem chan struct{} // one local writer (Play, SendDTMF) at a time

	pktIn, bytesIn, pktOut, bytesOut, lost, dropped atomic.Uint64

	closeOnce sync.Once
	closeErr  error
	// closing is done's twin for the read loop, which checks it per batch: a
	// field beside the counters it touches anyway, not another cache line.
	closing  atomic.Bool
	done     chan struct{}
	readDone chan struct{}

	rx rxState // owned by the read goroutine
}

// newSessionOn makes a session on a reserved port; the caller starts its reader.
func newSessionOn(p *Pool, sk sockets) *Session {
	s := &Session{
		pool:     p,
		port:     sk.port,
		conn:     sk.rtp,
		rtcp:     sk.rtcp,
		sys:      sk.sys,
		local:    netip.AddrPortFrom(p.ip, uint16(sk.port)),
		dtmf:     make(chan rune, dtmfBuffer),
		localSem: make(chan struct{}, 1),
		done:     make(chan struct{}),
		readDone: make(chan struct{}),
	}
	s.out.init()
	if sk.sys != nil {
		s.out.w = sk.sys.NewWriter()
	}
	// Until the peer's SDP is known we expect what the PBX offers first.
	s.remote.Store(&remoteConfig{codec: PCMU, law: lawU, dtmfPT: DefaultDTMFPT})
	return s
}

// LocalAddr returns the local RTP address to put into our SDP.
func (s *Session) LocalAddr() netip.AddrPort { return s.local }

// SetRemote sets what the peer's SDP says: where to send, which codec and which
// telephone-event payload type (-1 for none). It may be called again on a
// re-INVITE; a new address drops the latched source so that the next packet
// latches afresh. An unspecified address (c=0.0.0.0) or port 0 stops sending.
func (s *Session) SetRemote(addr netip.AddrPort, codec Codec, dtmfPT int) {
	addr = netip.AddrPortFrom(addr.Addr().Unmap(), addr.Port())
	if dtmfPT > 127 {
		dtmfPT = -1
	}
	old := s.remote.Swap(&remoteConfig{addr: addr, codec: codec, law: codecLaw(codec), dtmfPT: dtmfPT})
	if old == nil || old.addr != addr {
		s.latched.Store(nil)
	}
}

// Codec returns the codec set by SetRemote (PCMU before that).
func (s *Session) Codec() Codec { return s.remote.Load().codec }

// OnAudio sets the receive hook: fn gets each decoded frame from the peer (20 ms,
// 160 samples, for a usual peer). It runs on the read goroutine, so it must be
// quick, must copy the samples to keep them, and must not call Close. nil clears
// the hook.
func (s *Session) OnAudio(fn func(pcm []int16)) {
	if fn == nil {
		s.onAudio.Store(nil)
		return
	}
	s.onAudio.Store(&fn)
}

// DTMF returns the digits received as RFC 4733 events, one per key press. The
// channel is buffered; digits are dropped when nobody reads. It is closed when
// the session closes.
func (s *Session) DTMF() <-chan rune { return s.dtmf }

// InjectDTMF delivers a digit that arrived another way (SIP INFO) to DTMF's
// readers, as if it had come in RFC 4733. It is dropped when the buffer is full or
// the session closed.
func (s *Session) InjectDTMF(d rune) {
	s.dtmfMu.Lock()
	defer s.dtmfMu.Unlock()
	if s.dtmfClosed {
		return
	}
	select {
	case s.dtmf <- d:
	default:
	}
}

// Stats returns a snapshot of the session's counters.
func (s *Session) Stats() Stats {
	st := Stats{
		PacketsIn:  s.pktIn.Load(),
		BytesIn:    s.bytesIn.Load(),
		PacketsOut: s.pktOut.Load(),
		BytesOut:   s.bytesOut.Load(),
		Lost:       s.lost.Load(),
		Dropped:    s.dropped.Load(),
		Remote:     s.remote.Load().addr,
	}
	if l := s.latched.Load(); l != nil {
		st.Latched = *l
	}
	return st
}

// Close stops the read goroutine, leaves any bridge and returns the port (with its
// bound sockets, for reuse) to the pool. Play, PlayLoop and SendDTMF return ErrClosed.
// Close is idempotent.
func (s *Session) Close() error {
	s.closeOnce.Do(func() {
		s.closing.Store(true)
		close(s.done)
		s.unbridge()
		conn := s.conn
		if s.rtc != nil {
			s.closeErr = s.rtc.close()
			conn = nil // closed with the peer connection's transport
		} else {
			// The read loop is woken by a deadline, not by closing: the pool
			// keeps the socket for a later session.
			s.closeErr = s.conn.SetReadDeadline(time.Now())
		}
		<-s.readDone
		s.dtmfMu.Lock()
		s.dtmfClosed = true
		close(s.dtmf)
		s.dtmfMu.Unlock()
		s.pool.release(sockets{port: s.port, rtp: conn, rtcp: s.rtcp, sys: s.sys})
	})
	return s.closeErr
}

func (s *Session) closed() bool {
	select {
	case <-s.done:
		return true
	default:
		return false
	}
}

// sendAddr is where our outgoing stream goes: the latched source if any,
// otherwise the SDP address. Nothing is sent before SetRemote or while the peer
// holds with c=0.0.0.0 or port 0.
func (s *Session) sendAddr(cfg *remoteConfig) netip.AddrPort {
	if s.rtc != nil {
		return s.local // any valid address: the peer connection knows where its peer is
	}
	if !cfg.addr.IsValid() || cfg.addr.Port() == 0 || cfg.addr.Addr().IsUnspecified() {
		return netip.AddrPort{}
	}
	if l := s.latched.Load(); l != nil {
		return *l
	}
	return cfg.addr
}

// rxState is touched only by the read goroutine.
type rxState struct {
	buf []byte // recvBatch datagrams of maxPacket, the pool's while the read loop runs
	mm  recvState
	pcm []int16
	pkt rtp.Packet

	seqValid bool
	seqSSRC  uint32
	nextSeq  uint16

	latchSeen int64 // last time the latched source sent, nanotime
	dtmf      dtmfDecoder
}

// release drops what still points into the read buffer once the read loop
// gave it back to the pool: the last packet and the recvmmsg vector.
func (r *rxState) release() {
	r.buf, r.pkt, r.mm = nil, rtp.Packet{}, recvState{}
}

// readLoopPortable reads with Go's ReadFrom: one recvfrom per datagram, and
// one more that finds the socket empty before each wait.
func (s *Session) readLoopPortable() {
	buf := s.rx.buf[:maxPacket]
	for {
		n, from, err := s.conn.ReadFromUDPAddrPort(buf)
		if err != nil {
			if errors.Is(err, net.ErrClosed) || s.closed() {
				return
			}
			continue // the socket is still fine
		}
		s.receive(buf[:n], netip.AddrPortFrom(from.Addr().Unmap(), from.Port()))
	}
}

// receive handles one datagram: latching, stats, DTMF decoding, the audio hook
// and the bridge. It must not allocate in the steady state.
func (s *Session) receive(b []byte, from netip.AddrPort) {
	pkt := &s.rx.pkt
	if err := pkt.Unmarshal(b); err != nil || pkt.Version != 2 {
		s.dropped.Add(1)
		return
	}
	cfg := s.remote.Load()
	now := nanotime()
	if s.rtc == nil && !s.acceptSource(from, cfg, now) {
		s.dropped.Add(1)
		return
	}
	s.pktIn.Add(1)
	s.bytesIn.Add(uint64(len(b)))

	h := &pkt.Header
	switch {
	case cfg.dtmfPT >= 0 && int(h.PayloadType) == cfg.dtmfPT:
		s.trackSeq(h)
		digits, n := s.rx.dtmf.decode(pkt.Payload, h.Timestamp)
		for _, d := range digits[:n] {
			select {
			case s.dtmf <- d:
			default:
			}
		}
		if dst := s.peer.Load(); dst != nil {
			dst.forward(s, h, pkt.Payload, lawNone, now)
		}
	case ptLaw(h.PayloadType) != lawNone:
		l := ptLaw(h.PayloadType)
		s.trackSeq(h)
		if fn := s.onAudio.Load(); fn != nil && len(pkt.Payload) > 0 {
			if s.rx.pcm == nil {
				// Only recording, voicemail and prompts listen: a bridged
				// call's sessions never need the decoded audio.
				s.rx.pcm = make([]int16, maxPacket)
			}
			(*fn)(decodeInto(s.rx.pcm, pkt.Payload, l))
		}
		if dst := s.peer.Load(); dst != nil {
			dst.forward(s, h, pkt.Payload, l, now)
		}
	default:
		// Comfort noise and codecs we never offered: nothing to do with them.
		s.dropped.Add(1)
	}
}

// acceptSource implements symmetric RTP: latch to the first source, follow the
// SDP address when it starts sending, and let another source take over only
// after the latched one has gone quiet (NAT rebinding).
func (s *Session) acceptSource(from netip.AddrPort, cfg *remoteConfig, now int64) bool {
	cur := s.latched.Load()
	if cur != nil && *cur == from {
		s.rx.latchSeen = now
		return true
	}
	if cur != nil && from != cfg.addr && now-s.rx.latchSeen < int64(relatchAfter) {
		return false
	}
	p := new(netip.AddrPort) // only when the source changes, never per packet
	*p = from
	s.latched.Store(p)
	s.rx.latchSeen = now
	return true
}

// trackSeq counts sequence gaps per SSRC for Stats.Lost.
func (s *Session) trackSeq(h *rtp.Header) {
	rx := &s.rx
	if !rx.seqValid || h.SSRC != rx.seqSSRC {
		rx.seqValid, rx.seqSSRC, rx.nextSeq = true, h.SSRC, h.SequenceNumber+1
		return
	}
	switch d := h.SequenceNumber - rx.nextSeq; {
	case d == 0:
		rx.nextSeq++
	case d < 3000: // a gap: packets missing
		s.lost.Add(uint64(d))
		rx.nextSeq = h.SequenceNumber + 1
	case d < 0x8000: // a jump too large to be loss: the sender restarted
		rx.nextSeq = h.SequenceNumber + 1
	default:
		// late or duplicate packet: already counted as lost or received
	}
}
