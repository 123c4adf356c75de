package testphone

import (
	"context"
	"log/slog"
	"net/netip"
	"regexp"
	"runtime"
	"strings"
	"testing"

	"switchboard/internal/audio"
)

// newWebRTCMedia is the media of a WebRTC peer preferring codec, closed at the
// end of the test.
func newWebRTCMedia(t *testing.T, codec string) *media {
	t.Helper()
	codecs := []string{"PCMU", "PCMA"}
	if codec == "PCMA" {
		codecs = []string{"PCMA", "PCMU"}
	}
	api, err := newWebRTCAPI(codecs)
	if err != nil {
		t.Fatal(err)
	}
	tr, err := newWebRTCTransport(api, codecs)
	if err != nil {
		t.Fatal(err)
	}
	m, err := newMedia(slog.New(slog.DiscardHandler), tr, codecs)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(m.stop)
	return m
}

// exchange runs one offer/answer from a to b with a announcing dir and
// returns both SDP bodies.
func exchange(t *testing.T, a, b *media, dir string, version uint64) (offer, answer []byte) {
	t.Helper()
	offer, err := a.offer(dir, version)
	if err != nil {
		t.Fatalf("offer: %v", err)
	}
	rm, err := parseSDP(offer)
	if err != nil {
		t.Fatalf("parse offer: %v", err)
	}
	answer, err = b.answer(offer, rm, answerDirection(rm.direction), version)
	if err != nil {
		t.Fatalf("answer: %v\n%s", err, offer)
	}
	am, err := parseSDP(answer)
	if err != nil {
		t.Fatalf("parse answer: %v", err)
	}
	if err := a.accept(offer, answer, am, dir); err != nil {
		t.Fatalf("accept: %v\n%s", err, answer)
	}
	return offer, answer
}

func receivedFreq(t *testing.T, m *media, what string) float64 {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), guard)
	defer cancel()
	s, err := m.received(ctx, 800)
	if err != nil {
		t.Fatalf("%s: %v", what, err)
	}
	return audio.DominantFrequency(s)
}

// Two WebRTC peers, as two browsers would, negotiate G.711 with the answerer's
// preference, connect over loopback ICE and DTLS-SRTP, carry tones and RFC 4733
// digits both ways, and renegotiate a hold and its end.
func TestWebRTCMedia(t *testing.T) {
	t.Parallel()
	a := newWebRTCMedia(t, "PCMU")
	b := newWebRTCMedia(t, "PCMA")
	offer, answer := exchange(t, a, b, dirSendRecv, 1)
	for _, body := range [][]byte{offer, answer} {
		s := string(body)
		for _, want := range []string{"UDP/TLS/RTP/SAVPF", "a=rtcp-mux", "a=fingerprint:", "a=ice-ufrag:", "a=fmtp:101 0-15", "a=sendrecv"} {
			if !strings.Contains(s, want) {
				t.Errorf("SDP lacks %q:\n%s", want, s)
			}
		}
		if strings.Contains(s, "ice-lite") {
			t.Errorf("SDP is ICE-lite, want full ICE like a browser:\n%s", s)
		}
		cands := regexp.MustCompile(`a=candidate:\S+ \d+ (\S+) \d+ (\S+) \d+ typ (\S+)`).FindAllStringSubmatch(s, -1)
		if len(cands) == 0 {
			t.Errorf("no ICE candidate (gathering not awaited?):\n%s", s)
		}
		for _, c := range cands {
			if strings.ToLower(c[1]) != "udp" || !strings.HasPrefix(c[2], "127.") || c[3] != "host" {
				t.Errorf("candidate %q, want UDP host candidates on loopback only", c[0])
			}
		}
	}
	if rm, _ := parseSDP(offer); strings.Join(rm.order, ",") != "PCMU,PCMA" {
		t.Errorf("offer lists %v, want PCMU then PCMA", rm.order)
	}
	// The answerer prefers PCMA and both sides read the codec from its answer.
	if a.codecName() != "PCMA" || b.codecName() != "PCMA" {
		t.Fatalf("codecs %s/%s, want PCMA", a.codecName(), b.codecName())
	}
	a.start()
	b.start()
	a.setTone(true, 1000)
	b.setTone(true, 400)
	if f := receivedFreq(t, b, "answerer"); !near(f, 1000) {
		t.Errorf("answerer received %.0f Hz, want 1000", f)
	}
	if f := receivedFreq(t, a, "offerer"); !near(f, 400) {
		t.Errorf("offerer received %.0f Hz, want 400", f)
	}
	if got := a.tr.remoteAddr(); !got.Addr().IsLoopback() || got != b.tr.localAddr() {
		t.Errorf("ICE pair: a sends to %v, b is at %v", got, b.tr.localAddr())
	}

	ctx, cancel := context.WithTimeout(context.Background(), guard)
	defer cancel()
	for _, pair := range []struct {
		from, to *media
		digit    rune
	}{{a, b, '5'}, {b, a, '#'}} {
		if err := pair.from.sendDTMF(ctx, pair.digit); err != nil {
			t.Fatal(err)
		}
		select {
		case d := <-pair.to.dtmfCh:
			if d != pair.digit {
				t.Errorf("DTMF %q arrived as %q", pair.digit, d)
			}
		case <-ctx.Done():
			t.Fatalf("DTMF %q not received", pair.digit)
		}
	}
	if a.unexpected.Load() != 0 || b.unexpected.Load() != 0 {
		t.Errorf("unexpected packets %d/%d", a.unexpected.Load(), b.unexpected.Load())
	}

	// b holds a (music on hold keeps flowing), then resumes; each is a pion
	// renegotiation on the same ICE and DTLS.
	offer, answer = exchange(t, b, a, dirSendOnly, 2)
	if !strings.Contains(string(offer), "a=sendonly") || !strings.Contains(string(answer), "a=recvonly") {
		t.Errorf("hold: offer/answer directions:\n%s\n%s", offer, answer)
	}
	if b.direction() != dirSendOnly || a.direction() != dirRecvOnly {
		t.Errorf("directions on hold %s/%s", b.direction(), a.direction())
	}
	if f := receivedFreq(t, a, "held"); !near(f, 400) {
		t.Errorf("held side received %.0f Hz, want the holder's 400", f)
	}
	exchange(t, b, a, dirSendRecv, 3)
	if b.direction() != dirSendRecv || a.direction() != dirSendRecv {
		t.Errorf("directions after hold %s/%s", b.direction(), a.direction())
	}
	if f := receivedFreq(t, b, "holder after resume"); !near(f, 1000) {
		t.Errorf("holder after resume received %.0f Hz, want 1000", f)
	}
	if f := receivedFreq(t, a, "held after resume"); !near(f, 400) {
		t.Errorf("held after resume received %.0f Hz, want 400", f)
	}
}

// A browser-like phone refuses plain RTP and a SIP phone refuses WebRTC, with
// 488 before ringing.
func TestCanAnswer(t *testing.T) {
	t.Parallel()
	ws := &Phone{network: "ws", codec: "PCMU"}
	ws.rtc, _ = newWebRTCAPI(ws.codecs())
	udp := &Phone{network: "udp", codec: "PCMU"}
	plain, err := buildSDP(mediaOffer{addr: netip.MustParseAddrPort("127.0.0.1:4000"), codecPT: 8, codecName: "PCMA", eventPT: 101, direction: dirSendRecv, version: 1})
	if err != nil {
		t.Fatal(err)
	}
	m := newWebRTCMedia(t, "PCMA")
	rtc, err := m.offer(dirSendRecv, 1)
	if err != nil {
		t.Fatal(err)
	}
	pm, _ := parseSDP(plain)
	wm, _ := parseSDP(rtc)
	tests := []struct {
		name string
		p    *Phone
		rm   remoteMedia
		want bool
	}{
		{"browser takes webrtc in its second codec", ws, wm, true},
		{"browser refuses plain rtp", ws, pm, false},
		{"sip phone refuses webrtc", udp, wm, false},
		{"pcmu sip phone refuses a pcma offer", udp, pm, false},
	}
	for _, tt := range tests {
		if got := tt.p.canAnswer(tt.rm); got != tt.want {
			t.Errorf("%s: canAnswer = %v", tt.name, got)
		}
	}
}

// TestWebRTCCloseLeaksNoGoroutines is not parallel: it counts the process's
// goroutines. Closing a connected WebRTC media stops pion and its track readers.
func TestWebRTCCloseLeaksNoGoroutines(t *testing.T) {
	before := runtime.NumGoroutine()
	func() {
		codecs := []string{"PCMU", "PCMA"}
		api, err := newWebRTCAPI(codecs)
		if err != nil {
			t.Fatal(err)
		}
		var ms [2]*media
		for i := range ms {
			tr, err := newWebRTCTransport(api, codecs)
			if err != nil {
				t.Fatal(err)
			}
			if ms[i], err = newMedia(slog.New(slog.DiscardHandler), tr, codecs); err != nil {
				t.Fatal(err)
			}
		}
		exchange(t, ms[0], ms[1], dirSendRecv, 1)
		for _, m := range ms {
			m.start()
			m.setTone(true, 1000)
		}
		receivedFreq(t, ms[0], "before close")
		receivedFreq(t, ms[1], "before close")
		for _, m := range ms {
			m.stop()
		}
	}()
	waitGoroutines(t, before)
}
