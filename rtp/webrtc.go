package rtp

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/netip"
	"sync"
	"sync/atomic"
	"time"

	"github.com/pion/ice/v4"
	"github.com/pion/logging"
	"github.com/pion/rtp"
	"github.com/pion/sdp/v3"
	"github.com/pion/webrtc/v4"
)

// A WebRTC session carries the same outgoing stream, bridge, playback and DTMF
// decoding as a plain one; only its packets travel differently: through a pion
// PeerConnection (ICE-lite on our side, DTLS-SRTP, rtcp-mux) on the session's
// pool port instead of a bare UDP socket. Browsers speak G.711 too, so nothing is
// transcoded beyond PCMU<->PCMA.

// telephoneEventFmtp is what browsers write for telephone-event; pion only keeps
// a codec whose fmtp matches the remote one.
const telephoneEventFmtp = "0-15"

// webrtcLeg is the WebRTC part of a Session.
type webrtcLeg struct {
	pc    *webrtc.PeerConnection
	mux   *ice.UDPMuxDefault
	sock  *muxSocket
	track *localTrack

	// rxMu serialises the track readers: the session's receive state belongs to
	// one reader at a time, and a renegotiation may start a new track while the
	// old one drains.
	rxMu sync.Mutex

	// connected is closed when ICE and DTLS are up: what is sent before is lost.
	connected chan struct{}

	mu      sync.Mutex // guards closed and readers' Add against Close's Wait
	closed  bool
	readers sync.WaitGroup
}

// localTrack is our sending side of the audio transceiver. It writes packets
// with the payload type the Session chose (audio or telephone-event), which
// pion's static tracks would overwrite with the one codec they were bound to.
type localTrack struct {
	w    atomic.Pointer[trackWriter]
	ssrc atomic.Uint32
}

type trackWriter struct{ webrtc.TrackLocalWriter }

func (t *localTrack) Bind(ctx webrtc.TrackLocalContext) (webrtc.RTPCodecParameters, error) {
	codecs := ctx.CodecParameters()
	if len(codecs) == 0 {
		return webrtc.RTPCodecParameters{}, webrtc.ErrUnsupportedCodec
	}
	t.ssrc.Store(uint32(ctx.SSRC()))
	t.w.Store(&trackWriter{ctx.WriteStream()})
	return codecs[0], nil
}

func (t *localTrack) Unbind(webrtc.TrackLocalContext) error {
	t.w.Store(nil)
	return nil
}

func (t *localTrack) ID() string                { return "audio" }
func (t *localTrack) RID() string               { return "" }
func (t *localTrack) StreamID() string          { return "switchboard" }
func (t *localTrack) Kind() webrtc.RTPCodecType { return webrtc.RTPCodecTypeAudio }

// writeRTP sends one packet through SRTP; before the transceiver is bound
// (signalling not done) the packet is lost, as on a wire not yet plugged in.
func (t *localTrack) writeRTP(h *rtp.Header, payload []byte) (int, error) {
	w := t.w.Load()
	if w == nil {
		return 0, nil
	}
	h.SSRC = t.ssrc.Load()
	return w.WriteRTP(h, payload)
}

// newWebRTCAPI builds the pion API of one leg: G.711 and telephone-event only,
// ICE-lite with a single host candidate on the leg's own pool socket (advertised
// as public when set), UDP over IPv4, no mDNS.
func newWebRTCAPI(conn net.PacketConn, local, public netip.Addr) (*webrtc.API, *ice.UDPMuxDefault, error) {
	me := &webrtc.MediaEngine{}
	for _, c := range []webrtc.RTPCodecParameters{
		{RTPCodecCapability: webrtc.RTPCodecCapability{MimeType: webrtc.MimeTypePCMU, ClockRate: clockRate, Channels: 1}, PayloadType: webrtc.PayloadType(PCMU.PT)},
		{RTPCodecCapability: webrtc.RTPCodecCapability{MimeType: webrtc.MimeTypePCMA, ClockRate: clockRate, Channels: 1}, PayloadType: webrtc.PayloadType(PCMA.PT)},
		{RTPCodecCapability: webrtc.RTPCodecCapability{MimeType: "audio/telephone-event", ClockRate: clockRate, SDPFmtpLine: telephoneEventFmtp}, PayloadType: DefaultDTMFPT},
	} {
		if err := me.RegisterCodec(c, webrtc.RTPCodecTypeAudio); err != nil {
			return nil, nil, fmt.Errorf("webrtc: register codec %s: %w", c.MimeType, err)
		}
	}
	logs := logging.NewDefaultLoggerFactory()
	logs.DefaultLogLevel = logging.LogLevelError
	logs.Writer = io.Discard // pion's own log would bypass slog; failures surface as errors
	var se webrtc.SettingEngine
	se.LoggerFactory = logs
	se.SetLite(true)
	se.SetNetworkTypes([]webrtc.NetworkType{webrtc.NetworkTypeUDP4})
	se.SetIncludeLoopbackCandidate(true)
	se.SetICEMulticastDNSMode(ice.MulticastDNSModeDisabled)
	// A browser that vanished without BYE is noticed by SIP; media just stops.
	se.SetICETimeouts(10*time.Second, 30*time.Second, 2*time.Second)
	if public.IsValid() && !public.IsUnspecified() && public != local {
		if err := se.SetICEAddressRewriteRules(webrtc.ICEAddressRewriteRule{
			External:        []string{public.String()},
			AsCandidateType: webrtc.ICECandidateTypeHost,
			Mode:            webrtc.ICEAddressRewriteReplace,
		}); err != nil {
			return nil, nil, fmt.Errorf("webrtc: public address %s: %w", public, err)
		}
	}
	// Last, so that nothing fails after the mux's reader took the socket.
	mux := ice.NewUDPMuxDefault(ice.UDPMuxParams{UDPConn: conn, Logger: logs.NewLogger("ice")})
	se.SetICEUDPMux(mux)
	return webrtc.NewAPI(webrtc.WithMediaEngine(me), webrtc.WithSettingEngine(se)), mux, nil
}

// OpenWebRTC opens a session whose peer is a WebRTC endpoint (a browser): its
// ICE host candidate is the pool port (public, when valid, is written instead of
// the local address). Call AnswerWebRTC with the peer's offer, or OfferWebRTC and
// later AcceptWebRTCAnswer, before media flows.
func (p *Pool) OpenWebRTC(public netip.Addr) (*Session, error) {
	sk, err := p.take()
	if err != nil {
		return nil, err
	}
	sock := newMuxSocket(sk.rtp)
	api, mux, err := newWebRTCAPI(sock, p.ip, public)
	if err != nil {
		p.release(sk)
		return nil, err
	}
	pc, err := api.NewPeerConnection(webrtc.Configuration{})
	if err != nil {
		left := sock.stop()
		mux.Close()
		<-left
		p.release(sockets{port: sk.port, rtcp: sk.rtcp})
		return nil, fmt.Errorf("webrtc: peer connection: %w", err)
	}
	s := newSessionOn(p, sk)
	leg := &webrtcLeg{pc: pc, mux: mux, sock: sock, track: &localTrack{}, connected: make(chan struct{})}
	var connectedOnce sync.Once
	pc.OnConnectionStateChange(func(st webrtc.PeerConnectionState) {
		if st == webrtc.PeerConnectionStateConnected {
			connectedOnce.Do(func() { close(leg.connected) })
		}
	})
	s.rtc = leg
	close(s.readDone) // pion reads the socket; our readers are the track loops
	pc.OnTrack(func(tr *webrtc.TrackRemote, _ *webrtc.RTPReceiver) {
		if tr.Kind() != webrtc.RTPCodecTypeAudio {
			return
		}
		leg.mu.Lock()
		if leg.closed {
			leg.mu.Unlock()
			return
		}
		leg.readers.Add(1)
		leg.mu.Unlock()
		defer leg.readers.Done()
		s.readTrack(tr)
	})
	if _, err := pc.AddTransceiverFromTrack(leg.track, webrtc.RTPTransceiverInit{Direction: webrtc.RTPTransceiverDirectionSendrecv}); err != nil {
		s.Close()
		return nil, fmt.Errorf("webrtc: add audio track: %w", err)
	}
	return s, nil
}

// WaitMedia returns once the session can carry media to its peer: at once for a
// plain session, when ICE and DTLS are up for a WebRTC one, whose peer cannot
// hear what was played before (the start of a prompt, a beep).
func (s *Session) WaitMedia(ctx context.Context) error {
	if s.rtc == nil {
		return nil
	}
	select {
	case <-s.rtc.connected:
		return nil
	case <-s.done:
		return ErrClosed
	case <-ctx.Done():
		return ctx.Err()
	}
}

// IsWebRTC reports whether the session's peer is a WebRTC endpoint.
func (s *Session) IsWebRTC() bool { return s.rtc != nil }

// readTrack feeds the remote track's packets (SRTP already removed) into the
// same receive path as a plain socket's, until the track ends.
func (s *Session) readTrack(tr *webrtc.TrackRemote) {
	buf := make([]byte, maxPacket)
	for {
		n, _, err := tr.Read(buf)
		if err != nil {
			// A packet of a payload type we did not negotiate still comes
			// with its bytes (receive drops it); an error without a packet
			// means the track is gone, and retrying would spin.
			if n == 0 || errors.Is(err, io.EOF) || s.closed() {
				return
			}
		}
		s.rtc.rxMu.Lock()
		s.receive(buf[:n], netip.AddrPort{})
		s.rtc.rxMu.Unlock()
	}
}

// ErrNotWebRTC is returned by the WebRTC signalling methods of a plain session.
var ErrNotWebRTC = errors.New("rtp: not a WebRTC session")

// AnswerWebRTC applies the peer's offer (the first one, or a renegotiation such
// as hold) and returns our answer: the negotiated codec, telephone-event, our ICE
// candidate and DTLS fingerprint. The session then sends with that codec.
func (s *Session) AnswerWebRTC(offer []byte) ([]byte, error) {
	if s.rtc == nil {
		return nil, ErrNotWebRTC
	}
	md, err := ParseSDP(offer)
	if err != nil {
		return nil, fmt.Errorf("webrtc: offer: %w", err)
	}
	// pion stops a transceiver for good when an offer says inactive (both
	// sides on hold), so the browser would never hear us again after unhold:
	// pion sees sendonly instead. And pion answers with its own transceiver's
	// direction (sendrecv) whatever the offer said; the browser gets the
	// direction RFC 3264 asks for.
	if md.Direction == Inactive {
		if offer, err = withDirection(offer, SendOnly); err != nil {
			return nil, fmt.Errorf("webrtc: offer: %w", err)
		}
	}
	pc := s.rtc.pc
	if err := pc.SetRemoteDescription(webrtc.SessionDescription{Type: webrtc.SDPTypeOffer, SDP: string(offer)}); err != nil {
		return nil, fmt.Errorf("webrtc: offer: %w", err)
	}
	answer, err := pc.CreateAnswer(nil)
	if err != nil {
		return nil, fmt.Errorf("webrtc: answer: %w", err)
	}
	local, err := s.setLocal(answer)
	if err != nil {
		return nil, err
	}
	if local, err = withDirection(local, AnswerDirection(md.Direction)); err != nil {
		return nil, fmt.Errorf("webrtc: answer: %w", err)
	}
	if err := s.applyNegotiated(local); err != nil {
		return nil, err
	}
	return local, nil
}

// withDirection sets the audio stream's direction attribute.
func withDirection(body []byte, dir string) ([]byte, error) {
	var sd sdp.SessionDescription
	if err := sd.Unmarshal(body); err != nil {
		return nil, err
	}
	for _, m := range sd.MediaDescriptions {
		if m == nil || m.MediaName.Media != "audio" {
			continue
		}
		attrs := m.Attributes[:0]
		for _, a := range m.Attributes {
			if _, ok := direction([]sdp.Attribute{a}); !ok {
				attrs = append(attrs, a)
			}
		}
		m.Attributes = append(attrs, sdp.NewPropertyAttribute(dir))
	}
	return sd.Marshal()
}

// OfferWebRTC returns our offer (G.711, telephone-event, ICE-lite host candidate,
// DTLS actpass) for calling a WebRTC endpoint; its answer goes to
// AcceptWebRTCAnswer.
func (s *Session) OfferWebRTC() ([]byte, error) {
	if s.rtc == nil {
		return nil, ErrNotWebRTC
	}
	offer, err := s.rtc.pc.CreateOffer(nil)
	if err != nil {
		return nil, fmt.Errorf("webrtc: offer: %w", err)
	}
	return s.setLocal(offer)
}

// AcceptWebRTCAnswer applies the peer's answer to OfferWebRTC.
func (s *Session) AcceptWebRTCAnswer(answer []byte) error {
	if s.rtc == nil {
		return ErrNotWebRTC
	}
	if err := s.rtc.pc.SetRemoteDescription(webrtc.SessionDescription{Type: webrtc.SDPTypeAnswer, SDP: string(answer)}); err != nil {
		return fmt.Errorf("webrtc: answer: %w", err)
	}
	return s.applyNegotiated(answer)
}

// setLocal sets our description and waits for the host candidate: SIP carries
// one complete SDP, there is no trickle ICE.
func (s *Session) setLocal(d webrtc.SessionDescription) ([]byte, error) {
	pc := s.rtc.pc
	gathered := webrtc.GatheringCompletePromise(pc)
	if err := pc.SetLocalDescription(d); err != nil {
		return nil, fmt.Errorf("webrtc: local description: %w", err)
	}
	select {
	case <-gathered:
	case <-s.done:
		return nil, ErrClosed
	}
	ld := pc.LocalDescription()
	if ld == nil {
		return nil, errors.New("webrtc: no local description after gathering")
	}
	return []byte(ld.SDP), nil
}

// applyNegotiated points the outgoing stream at the codec and telephone-event
// payload type that both sides agreed on (taken from the answer).
func (s *Session) applyNegotiated(answer []byte) error {
	md, err := ParseSDP(answer)
	if err != nil {
		return err
	}
	codec, ok := pickCodec(md, Supported)
	if !ok || md.Port == 0 {
		return errors.New("webrtc: no common codec (PCMU, PCMA)")
	}
	s.SetRemote(netip.AddrPort{}, codec, md.DTMFPT)
	return nil
}

// close ends the peer connection (DTLS close, ICE stop) and waits for the track
// readers; pion's mux closes the socket.
func (l *webrtcLeg) close() error {
	l.mu.Lock()
	l.closed = true
	l.mu.Unlock()
	err := l.pc.GracefulClose()
	l.readers.Wait()
	left := l.sock.stop()
	l.mux.Close()
	<-left
	return err
}

// muxSocket is the pool socket as pion's mux sees it. Close must not return
// while the mux's reader is still inside a read: the port goes back to the
// pool then. The reader may also be between reads (handling a packet) when the
// mux closes, and then never reads again, so "the reader has left" is known from
// the reads themselves, not from the reader's last error.
type muxSocket struct {
	*net.UDPConn

	mu      sync.Mutex
	closing bool
	reading bool
	left    chan struct{} // closed once closing and no read is in progress
}

func newMuxSocket(c *net.UDPConn) *muxSocket {
	// A pool socket may come back with the deadline that stopped its last reader.
	c.SetReadDeadline(time.Time{})
	return &muxSocket{UDPConn: c, left: make(chan struct{})}
}

// ReadFrom is the mux's read.
func (m *muxSocket) ReadFrom(b []byte) (int, net.Addr, error) {
	m.mu.Lock()
	if m.closing {
		m.mu.Unlock()
		return 0, nil, net.ErrClosed
	}
	m.reading = true
	m.mu.Unlock()
	n, a, err := m.UDPConn.ReadFrom(b)
	m.mu.Lock()
	m.reading = false
	if m.closing {
		m.signalLeft()
	}
	m.mu.Unlock()
	return n, a, err
}

// stop refuses further reads and returns a channel that is closed once no read
// is in progress; closing the socket then ends a read that is blocked.
func (m *muxSocket) stop() <-chan struct{} {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.closing = true
	if !m.reading {
		m.signalLeft()
	}
	return m.left
}

// signalLeft closes left once; called with mu held.
func (m *muxSocket) signalLeft() {
	select {
	case <-m.left:
	default:
		close(m.left)
	}
}
