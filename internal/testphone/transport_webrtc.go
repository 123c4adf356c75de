package testphone

import (
	"errors"
	"fmt"
	"io"
	"net"
	"net/netip"
	"sync"
	"sync/atomic"

	"github.com/pion/ice/v4"
	"github.com/pion/logging"
	"github.com/pion/rtp"
	"github.com/pion/webrtc/v4"
)

// telephoneEventFmtp is what Chrome writes for telephone-event; pion keeps a
// codec only when both sides' fmtp lines match.
const telephoneEventFmtp = "0-15"

// newWebRTCAPI builds the pion API of a phone that behaves like a browser: full
// ICE (not lite), DTLS-SRTP, rtcp-mux, G.711 in the order of codecs and
// telephone-event. Every candidate is a UDP4 host candidate on loopback, so that
// test traffic never leaves the machine.
func newWebRTCAPI(codecs []string) (*webrtc.API, error) {
	me := &webrtc.MediaEngine{}
	for _, c := range codecParams(codecs) {
		if err := me.RegisterCodec(c, webrtc.RTPCodecTypeAudio); err != nil {
			return nil, fmt.Errorf("testphone: register %s: %w", c.MimeType, err)
		}
	}
	logs := logging.NewDefaultLoggerFactory()
	logs.Writer = io.Discard
	var se webrtc.SettingEngine
	se.LoggerFactory = logs
	se.SetNetworkTypes([]webrtc.NetworkType{webrtc.NetworkTypeUDP4})
	se.SetIPFilter(func(ip net.IP) bool { return ip.IsLoopback() })
	se.SetIncludeLoopbackCandidate(true)
	se.SetICEMulticastDNSMode(ice.MulticastDNSModeDisabled)
	return webrtc.NewAPI(webrtc.WithMediaEngine(me), webrtc.WithSettingEngine(se)), nil
}

// codecParams lists G.711 in the order of codecs, then telephone-event.
func codecParams(codecs []string) []webrtc.RTPCodecParameters {
	var out []webrtc.RTPCodecParameters
	for _, name := range codecs {
		mime, pt := webrtc.MimeTypePCMU, webrtc.PayloadType(ptPCMU)
		if name == "PCMA" {
			mime, pt = webrtc.MimeTypePCMA, ptPCMA
		}
		out = append(out, webrtc.RTPCodecParameters{
			RTPCodecCapability: webrtc.RTPCodecCapability{MimeType: mime, ClockRate: 8000, Channels: 1},
			PayloadType:        pt,
		})
	}
	return append(out, webrtc.RTPCodecParameters{
		RTPCodecCapability: webrtc.RTPCodecCapability{MimeType: "audio/telephone-event", ClockRate: 8000, SDPFmtpLine: telephoneEventFmtp},
		PayloadType:        ptEventDefault,
	})
}

// webrtcTransport is a browser-like phone's media: a pion PeerConnection with one
// audio transceiver. SIP carries complete SDP bodies, so every description is
// written only after ICE gathering completed (no trickle ICE).
type webrtcTransport struct {
	pc *webrtc.PeerConnection
	// prefs are our codecs, preferred first: pion would answer in the
	// offerer's order, a browser answers in its own.
	prefs []webrtc.RTPCodecParameters
	track *rawTrack
	tx    *webrtc.RTPTransceiver

	started chan struct{} // closed by start: deliver is set
	deliver func(*rtp.Packet, netip.AddrPort)

	mu      sync.Mutex // guards closed against the readers' Add
	closed  bool
	done    chan struct{}
	readers sync.WaitGroup
	once    sync.Once
}

func newWebRTCTransport(api *webrtc.API, codecs []string) (*webrtcTransport, error) {
	pc, err := api.NewPeerConnection(webrtc.Configuration{})
	if err != nil {
		return nil, fmt.Errorf("testphone: peer connection: %w", err)
	}
	t := &webrtcTransport{pc: pc, prefs: codecParams(codecs), track: &rawTrack{}, started: make(chan struct{}), done: make(chan struct{})}
	// Registered before any description: a track that starts before the call
	// is set up waits for start instead of being dropped by pion.
	pc.OnTrack(t.onTrack)
	if t.tx, err = pc.AddTransceiverFromTrack(t.track, webrtc.RTPTransceiverInit{Direction: webrtc.RTPTransceiverDirectionSendrecv}); err != nil {
		_ = pc.Close()
		return nil, fmt.Errorf("testphone: add audio track: %w", err)
	}
	return t, nil
}

// offer writes pion's offer with o's direction (a hold is sendonly).
func (t *webrtcTransport) offer(o mediaOffer) ([]byte, error) {
	d, err := t.pc.CreateOffer(nil)
	if err != nil {
		return nil, fmt.Errorf("webrtc offer: %w", err)
	}
	return t.setLocal(d, o.direction)
}

func (t *webrtcTransport) answer(body []byte, _ remoteMedia, o mediaOffer) ([]byte, error) {
	if err := t.pc.SetRemoteDescription(webrtc.SessionDescription{Type: webrtc.SDPTypeOffer, SDP: string(body)}); err != nil {
		return nil, fmt.Errorf("webrtc: apply offer: %w", err)
	}
	for _, tx := range t.pc.GetTransceivers() {
		if tx.Kind() == webrtc.RTPCodecTypeAudio {
			if err := tx.SetCodecPreferences(t.prefs); err != nil {
				return nil, fmt.Errorf("webrtc: codec preferences: %w", err)
			}
		}
	}
	d, err := t.pc.CreateAnswer(nil)
	if err != nil {
		return nil, fmt.Errorf("webrtc answer: %w", err)
	}
	return t.setLocal(d, o.direction)
}

func (t *webrtcTransport) accept(body []byte, _ remoteMedia) error {
	if err := t.pc.SetRemoteDescription(webrtc.SessionDescription{Type: webrtc.SDPTypeAnswer, SDP: string(body)}); err != nil {
		return fmt.Errorf("webrtc: apply answer: %w", err)
	}
	return nil
}

// abandon rolls our unanswered offer back, so that the next exchange starts
// from the last agreed state.
func (t *webrtcTransport) abandon() {
	_ = t.pc.SetLocalDescription(webrtc.SessionDescription{Type: webrtc.SDPTypeRollback})
}

// setLocal applies d, waits for ICE gathering and returns the complete
// description with its direction lines set to dir.
func (t *webrtcTransport) setLocal(d webrtc.SessionDescription, dir string) ([]byte, error) {
	gathered := webrtc.GatheringCompletePromise(t.pc)
	if err := t.pc.SetLocalDescription(d); err != nil {
		return nil, fmt.Errorf("webrtc: local description: %w", err)
	}
	select {
	case <-gathered:
	case <-t.done:
		return nil, ErrCallEnded
	}
	ld := t.pc.LocalDescription()
	if ld == nil {
		return nil, errors.New("webrtc: no local description after gathering")
	}
	return withDirection([]byte(ld.SDP), dir), nil
}

func (t *webrtcTransport) ready() bool {
	dt := t.tx.Sender().Transport()
	return dt != nil && dt.State() == webrtc.DTLSTransportStateConnected
}

func (t *webrtcTransport) send(pkt *rtp.Packet) error {
	if _, err := t.track.writeRTP(&pkt.Header, pkt.Payload); err != nil && !errors.Is(err, io.ErrClosedPipe) {
		return fmt.Errorf("webrtc send: %w", err)
	}
	return nil
}

func (t *webrtcTransport) start(deliver func(*rtp.Packet, netip.AddrPort)) {
	t.deliver = deliver
	close(t.started)
}

// onTrack reads the peer's audio track (SRTP already removed) until it ends: at
// close, or when a renegotiation replaces it.
func (t *webrtcTransport) onTrack(tr *webrtc.TrackRemote, _ *webrtc.RTPReceiver) {
	t.mu.Lock()
	if t.closed {
		t.mu.Unlock()
		return
	}
	t.readers.Add(1)
	t.mu.Unlock()
	defer t.readers.Done()
	select {
	case <-t.started:
	case <-t.done:
		return
	}
	from := t.remoteAddr()
	buf := make([]byte, 1500)
	for {
		n, _, err := tr.Read(buf)
		if err != nil {
			if errors.Is(err, io.EOF) || t.isClosed() {
				return
			}
			continue // a payload type we did not negotiate
		}
		var pkt rtp.Packet
		if err := pkt.Unmarshal(buf[:n]); err != nil {
			continue
		}
		t.deliver(&pkt, from)
	}
}

func (t *webrtcTransport) isClosed() bool {
	select {
	case <-t.done:
		return true
	default:
		return false
	}
}

// close ends the peer connection (DTLS close alert, ICE stop) and waits for the
// track readers.
func (t *webrtcTransport) close() {
	t.once.Do(func() {
		t.mu.Lock()
		t.closed = true
		close(t.done)
		t.mu.Unlock()
		_ = t.pc.GracefulClose()
	})
	t.readers.Wait()
}

// selectedPair is the ICE candidate pair media flows on, nil before ICE connected.
func (t *webrtcTransport) selectedPair() *webrtc.ICECandidatePair {
	dt := t.tx.Sender().Transport()
	if dt == nil {
		return nil
	}
	p, err := dt.ICETransport().GetSelectedCandidatePair()
	if err != nil {
		return nil
	}
	return p
}

// localAddr is our side of the selected ICE pair (zero before ICE connected).
func (t *webrtcTransport) localAddr() netip.AddrPort {
	if p := t.selectedPair(); p != nil && p.Local != nil {
		return candidateAddr(p.Local)
	}
	return netip.AddrPort{}
}

// remoteAddr is the peer's side of the selected ICE pair (zero before ICE connected).
func (t *webrtcTransport) remoteAddr() netip.AddrPort {
	if p := t.selectedPair(); p != nil && p.Remote != nil {
		return candidateAddr(p.Remote)
	}
	return netip.AddrPort{}
}

func candidateAddr(c *webrtc.ICECandidate) netip.AddrPort {
	a, err := netip.ParseAddr(c.Address)
	if err != nil {
		return netip.AddrPort{}
	}
	return netip.AddrPortFrom(a, c.Port)
}

// rawTrack is our sending side of the audio transceiver. pion's static tracks
// rewrite every packet's payload type to the one codec they were bound to; this
// one keeps the payload type media chose, audio or telephone-event.
type rawTrack struct {
	w    atomic.Pointer[trackWriter]
	ssrc atomic.Uint32
}

type trackWriter struct{ webrtc.TrackLocalWriter }

// Bind implements webrtc.TrackLocal.
func (t *rawTrack) Bind(ctx webrtc.TrackLocalContext) (webrtc.RTPCodecParameters, error) {
	codecs := ctx.CodecParameters()
	if len(codecs) == 0 {
		return webrtc.RTPCodecParameters{}, webrtc.ErrUnsupportedCodec
	}
	t.ssrc.Store(uint32(ctx.SSRC()))
	t.w.Store(&trackWriter{ctx.WriteStream()})
	return codecs[0], nil
}

// Unbind implements webrtc.TrackLocal.
func (t *rawTrack) Unbind(webrtc.TrackLocalContext) error {
	t.w.Store(nil)
	return nil
}

// ID implements webrtc.TrackLocal.
func (t *rawTrack) ID() string { return "audio" }

// RID implements webrtc.TrackLocal.
func (t *rawTrack) RID() string { return "" }

// StreamID implements webrtc.TrackLocal.
func (t *rawTrack) StreamID() string { return "testphone" }

// Kind implements webrtc.TrackLocal.
func (t *rawTrack) Kind() webrtc.RTPCodecType { return webrtc.RTPCodecTypeAudio }

// writeRTP sends one packet through SRTP with the track's SSRC; before the
// transceiver is bound (signalling not done) the packet is lost.
func (t *rawTrack) writeRTP(h *rtp.Header, payload []byte) (int, error) {
	w := t.w.Load()
	if w == nil {
		return 0, nil
	}
	h.SSRC = t.ssrc.Load()
	return w.WriteRTP(h, payload)
}
