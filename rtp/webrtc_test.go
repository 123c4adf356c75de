package rtp

import (
	"context"
	"errors"
	"io"
	"math"
	"net"
	"net/netip"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/pion/ice/v4"
	"github.com/pion/logging"
	"github.com/pion/rtp"
	"github.com/pion/sdp/v3"
	"github.com/pion/webrtc/v4"

	"switchboard/internal/audio"
)

// browser is a full-ICE pion peer on loopback playing the part of a browser: it
// offers or answers with PCMU and telephone-event over DTLS-SRTP, sends what
// it is told and keeps the audio it receives.
type browser struct {
	t     *testing.T
	pc    *webrtc.PeerConnection
	track *localTrack // like ours: it keeps the payload type it is given

	mu       sync.Mutex
	received []int16
	readers  sync.WaitGroup
	// seq numbers audio and events alike, as a browser does: one stream, one
	// sequence (a jump of tens of thousands looks like a wrapped, replayed
	// packet to SRTP).
	seq atomic.Uint32
}

func newBrowser(t *testing.T) *browser {
	t.Helper()
	me := &webrtc.MediaEngine{}
	for _, c := range []webrtc.RTPCodecParameters{
		{RTPCodecCapability: webrtc.RTPCodecCapability{MimeType: webrtc.MimeTypePCMU, ClockRate: 8000, Channels: 1}, PayloadType: 0},
		{RTPCodecCapability: webrtc.RTPCodecCapability{MimeType: "audio/telephone-event", ClockRate: 8000, SDPFmtpLine: "0-15"}, PayloadType: 126},
	} {
		if err := me.RegisterCodec(c, webrtc.RTPCodecTypeAudio); err != nil {
			t.Fatal(err)
		}
	}
	logs := logging.NewDefaultLoggerFactory()
	logs.Writer = io.Discard
	var se webrtc.SettingEngine
	se.LoggerFactory = logs
	se.SetNetworkTypes([]webrtc.NetworkType{webrtc.NetworkTypeUDP4})
	se.SetIncludeLoopbackCandidate(true)
	se.SetIPFilter(func(ip net.IP) bool { return ip.IsLoopback() }) // tests stay on loopback
	se.SetICEMulticastDNSMode(ice.MulticastDNSModeDisabled)
	api := webrtc.NewAPI(webrtc.WithMediaEngine(me), webrtc.WithSettingEngine(se))
	pc, err := api.NewPeerConnection(webrtc.Configuration{})
	if err != nil {
		t.Fatal(err)
	}
	track := &localTrack{}
	if _, err := pc.AddTrack(track); err != nil {
		t.Fatal(err)
	}
	b := &browser{t: t, pc: pc, track: track}
	pc.OnTrack(func(tr *webrtc.TrackRemote, _ *webrtc.RTPReceiver) {
		b.readers.Add(1)
		defer b.readers.Done()
		pcm := make([]int16, 1500)
		for {
			pkt, _, err := tr.ReadRTP()
			if err != nil {
				return
			}
			if pkt.PayloadType != PCMU.PT {
				continue
			}
			out, _ := Decode(pcm, pkt.Payload, PCMU)
			b.mu.Lock()
			b.received = append(b.received, out...)
			b.mu.Unlock()
		}
	})
	t.Cleanup(func() {
		pc.GracefulClose()
		b.readers.Wait()
	})
	return b
}

func (b *browser) local(d webrtc.SessionDescription) string {
	b.t.Helper()
	done := webrtc.GatheringCompletePromise(b.pc)
	if err := b.pc.SetLocalDescription(d); err != nil {
		b.t.Fatal(err)
	}
	<-done
	return b.pc.LocalDescription().SDP
}

func (b *browser) offer() string {
	b.t.Helper()
	o, err := b.pc.CreateOffer(nil)
	if err != nil {
		b.t.Fatal(err)
	}
	return b.local(o)
}

func (b *browser) answer(offer string) string {
	b.t.Helper()
	if err := b.pc.SetRemoteDescription(webrtc.SessionDescription{Type: webrtc.SDPTypeOffer, SDP: offer}); err != nil {
		b.t.Fatal(err)
	}
	a, err := b.pc.CreateAnswer(nil)
	if err != nil {
		b.t.Fatal(err)
	}
	return b.local(a)
}

func (b *browser) accept(answer []byte) {
	b.t.Helper()
	if err := b.pc.SetRemoteDescription(webrtc.SessionDescription{Type: webrtc.SDPTypeAnswer, SDP: string(answer)}); err != nil {
		b.t.Fatal(err)
	}
}

// sendTone sends freq Hz as PCMU, one 20 ms frame per tick, until ctx ends.
func (b *browser) sendTone(ctx context.Context, freq float64) {
	tick := time.NewTicker(20 * time.Millisecond)
	defer tick.Stop()
	payload := make([]byte, 160)
	for i := 0; ; i++ {
		Encode(payload, audio.Sine(freq, 8000, i*160, 160), PCMU)
		b.track.writeRTP(&rtp.Header{Version: 2, PayloadType: PCMU.PT, SequenceNumber: uint16(b.seq.Add(1)), Timestamp: uint32(i * 160)}, payload)
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
	}
}

// sendDigit sends one RFC 4733 event for 5 with the browser's telephone-event type.
func (b *browser) sendDigit(ts uint32) error {
	for i, d := range []uint16{160, 320, 480, 480, 480} {
		flags := byte(10)
		if i >= 2 {
			flags |= eventEndBit
		}
		h := &rtp.Header{Version: 2, PayloadType: 126, Marker: i == 0, SequenceNumber: uint16(b.seq.Add(1)), Timestamp: ts}
		if _, err := b.track.writeRTP(h, []byte{5, flags, byte(d >> 8), byte(d)}); err != nil {
			return err
		}
	}
	return nil
}

func (b *browser) heard() []int16 {
	b.mu.Lock()
	defer b.mu.Unlock()
	return append([]int16(nil), b.received...)
}

// dominant returns the strongest frequency of the last second of pcm.
func dominant(pcm []int16) float64 {
	if len(pcm) > 8000 {
		pcm = pcm[len(pcm)-8000:]
	}
	return audio.DominantFrequency(pcm)
}

func near(got, want float64) bool { return math.Abs(got-want) < 25 }

// browserCall opens a WebRTC session on pool and lets a new browser call it:
// the browser offers, the session answers. It returns the offer and answer too.
func browserCall(t *testing.T, pool *Pool) (s *Session, b *browser, offer, answer []byte) {
	t.Helper()
	s, err := pool.OpenWebRTC(loopback)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	b = newBrowser(t)
	offer = []byte(b.offer())
	if answer, err = s.AnswerWebRTC(offer); err != nil {
		t.Fatal(err)
	}
	b.accept(answer)
	return s, b, offer, answer
}

// TestWebRTCAnswerAudioBothWays: a browser offers; our answer carries ICE-lite,
// a fingerprint and G.711; audio flows both ways through DTLS-SRTP, and the
// session's own playback and receive hook work as on a plain leg.
func TestWebRTCAnswerAudioBothWays(t *testing.T) {
	t.Parallel()
	s, b, _, answer := browserCall(t, newTestPool(t, 20))
	for _, want := range []string{"UDP/TLS/RTP/SAVPF", "a=fingerprint:", "a=ice-lite", "a=rtcp-mux", "PCMU/8000", "telephone-event/8000", "127.0.0.1 " + strconv.Itoa(int(s.LocalAddr().Port()))} {
		if !strings.Contains(string(answer), want) {
			t.Errorf("answer lacks %q:\n%s", want, answer)
		}
	}
	wctx, wcancel := context.WithTimeout(context.Background(), guard)
	defer wcancel()
	if err := s.WaitMedia(wctx); err != nil {
		t.Fatalf("WaitMedia after the browser took our answer: %v", err)
	}

	var mu sync.Mutex
	var got []int16
	s.OnAudio(func(pcm []int16) {
		mu.Lock()
		got = append(got, pcm...)
		mu.Unlock()
	})
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var wg sync.WaitGroup
	wg.Add(2)
	go func() { defer wg.Done(); b.sendTone(ctx, 440) }()
	go func() { defer wg.Done(); s.PlayLoop(ctx, audio.Sine(1000, 8000, 0, 8000)) }()
	defer wg.Wait()
	defer cancel()

	waitFor(t, "a second of the browser's audio", func() bool {
		mu.Lock()
		defer mu.Unlock()
		return len(got) >= 8000
	})
	waitFor(t, "a second of our audio at the browser", func() bool { return len(b.heard()) >= 8000 })
	mu.Lock()
	if f := dominant(got); !near(f, 440) {
		t.Errorf("PBX heard %.0f Hz from the browser, want 440", f)
	}
	mu.Unlock()
	if f := dominant(b.heard()); !near(f, 1000) {
		t.Errorf("browser heard %.0f Hz, want 1000", f)
	}

	if err := b.sendDigit(99999); err != nil {
		t.Fatal(err)
	}
	select {
	case d := <-s.DTMF():
		if d != '5' {
			t.Errorf("digit %q, want 5", d)
		}
	case <-time.After(guard):
		t.Fatal("no DTMF digit from the browser")
	}
}

// TestWebRTCOfferBridgedToPlain: we offer to a browser (it is the callee), and
// a plain PCMA leg bridged to it is heard as PCMU, both ways.
func TestWebRTCOfferBridgedToPlain(t *testing.T) {
	t.Parallel()
	pool := newTestPool(t, 20)
	s, err := pool.OpenWebRTC(loopback)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	offer, err := s.OfferWebRTC()
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(offer), "a=setup:actpass") {
		t.Errorf("offer lacks setup:actpass:\n%s", offer)
	}
	b := newBrowser(t)
	if err := s.AcceptWebRTCAnswer([]byte(b.answer(string(offer)))); err != nil {
		t.Fatal(err)
	}

	plain := openSession(t, pool)
	phone := newPeer(t)
	plain.SetRemote(phone.addr(), PCMA, -1)
	stop := Bridge(s, plain)
	defer stop()

	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	wg.Add(1)
	go func() { defer wg.Done(); b.sendTone(ctx, 440) }()
	defer wg.Wait()
	defer cancel()

	// The phone sends 1000 Hz in PCMA; it receives the browser's 440 Hz.
	var heard []int16
	pcm := make([]int16, 1500)
	deadline := time.Now().Add(guard)
	for i := 0; len(heard) < 8000; i++ {
		if time.Now().After(deadline) {
			t.Fatal("the plain phone did not hear a second of audio")
		}
		phone.sendAudio(plain.LocalAddr(), PCMA, audio.Sine(1000, 8000, i*160, 160))
		phone.conn.SetReadDeadline(time.Now().Add(20 * time.Millisecond))
		n, _, err := phone.conn.ReadFromUDPAddrPort(phone.buf)
		if err != nil {
			continue
		}
		var pkt rtp.Packet
		if pkt.Unmarshal(phone.buf[:n]) == nil && pkt.PayloadType == PCMA.PT {
			out, _ := Decode(pcm, pkt.Payload, PCMA)
			heard = append(heard, out...)
		}
	}
	if f := dominant(heard); !near(f, 440) {
		t.Errorf("plain phone heard %.0f Hz, want the browser's 440", f)
	}
	waitFor(t, "the phone's audio at the browser", func() bool { return len(b.heard()) >= 4000 })
	if f := dominant(b.heard()); !near(f, 1000) {
		t.Errorf("browser heard %.0f Hz, want the phone's 1000", f)
	}
}

// TestWebRTCCloseReturnsPort: closing a WebRTC session (before or after
// negotiation) gives its port back, and the signalling methods refuse plain
// sessions.
func TestWebRTCCloseReturnsPort(t *testing.T) {
	t.Parallel()
	pool := newTestPool(t, 4)
	for range 3 {
		s, err := pool.OpenWebRTC(loopback)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := s.OfferWebRTC(); err != nil {
			t.Fatal(err)
		}
		if err := s.Close(); err != nil {
			t.Logf("close: %v", err)
		}
	}
	if n := pool.InUse(); n != 0 {
		t.Fatalf("%d ports in use after close", n)
	}
	plain := openSession(t, pool)
	if _, err := plain.AnswerWebRTC(nil); !errors.Is(err, ErrNotWebRTC) {
		t.Fatalf("plain AnswerWebRTC: %v, want ErrNotWebRTC", err)
	}
}

// TestWebRTCPublicAddress: behind NAT the host candidate carries listen.public_ip
// with the pool port, and never the local address.
func TestWebRTCPublicAddress(t *testing.T) {
	t.Parallel()
	pool := newTestPool(t, 4)
	s, err := pool.OpenWebRTC(netip.MustParseAddr("203.0.113.7"))
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	offer, err := s.OfferWebRTC()
	if err != nil {
		t.Fatal(err)
	}
	want := "203.0.113.7 " + strconv.Itoa(int(s.LocalAddr().Port())) + " typ host"
	if !strings.Contains(string(offer), want) || strings.Contains(string(offer), "127.0.0.1 ") {
		t.Fatalf("offer should carry only %q as candidate:\n%s", want, offer)
	}
}

// TestWebRTCInactiveHoldThenResume: a browser that holds with a=inactive (both
// sides on hold) and then resumes still hears us: pion would have stopped our
// sender for good on inactive.
func TestWebRTCInactiveHoldThenResume(t *testing.T) {
	t.Parallel()
	s, b, offer, _ := browserCall(t, newTestPool(t, 4))
	hold, err := withDirection(offer, Inactive)
	if err != nil {
		t.Fatal(err)
	}
	held, err := s.AnswerWebRTC(nextVersion(t, hold, 1))
	if err != nil {
		t.Fatal(err)
	}
	if md, _ := ParseSDP(held); md.Direction != Inactive {
		t.Errorf("answer to an inactive offer says %q, want inactive", md.Direction)
	}
	if _, err := s.AnswerWebRTC(nextVersion(t, offer, 2)); err != nil {
		t.Fatal(err)
	}

	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); s.PlayLoop(ctx, audio.Sine(1000, 8000, 0, 8000)) }()
	defer func() { cancel(); <-done }()
	waitFor(t, "our audio at the browser after resume", func() bool { return len(b.heard()) >= 8000 })
	if f := dominant(b.heard()); !near(f, 1000) {
		t.Errorf("browser heard %.0f Hz after resume, want 1000", f)
	}
}

// nextVersion bumps the o= version by n, as a browser's renegotiation does.
func nextVersion(t *testing.T, body []byte, n uint64) []byte {
	t.Helper()
	var sd sdp.SessionDescription
	if err := sd.Unmarshal(body); err != nil {
		t.Fatal(err)
	}
	sd.Origin.SessionVersion += n
	out, err := sd.Marshal()
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// TestWebRTCCloseWhileReceiving: hanging up while the browser still sends must
// return and free the port; pion's socket reader may be between packets when
// its mux closes, and then never reads again.
func TestWebRTCCloseWhileReceiving(t *testing.T) {
	t.Parallel()
	pool := newTestPool(t, 8)
	for range 5 {
		s, b, _, _ := browserCall(t, pool)
		var got sync.WaitGroup
		got.Add(1)
		var once sync.Once
		s.OnAudio(func([]int16) { once.Do(got.Done) })
		ctx, cancel := context.WithCancel(context.Background())
		done := make(chan struct{})
		go func() { defer close(done); b.sendTone(ctx, 440) }()
		got.Wait()
		closed := make(chan error, 1)
		go func() { closed <- s.Close() }()
		select {
		case <-closed:
		case <-time.After(guard):
			t.Fatal("Close hung while the browser was sending")
		}
		cancel()
		<-done
	}
	if n := pool.InUse(); n != 0 {
		t.Fatalf("%d ports still in use", n)
	}
}
