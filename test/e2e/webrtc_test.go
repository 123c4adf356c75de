package e2e

import (
	"fmt"
	"math"
	"testing"
	"time"

	"switchboard/internal/audio"
	"switchboard/internal/testphone"
	"switchboard/wav"
)

// startBrowserServer runs a server with UDP and WebSocket listeners, short
// prompts, and body (agents, teams, IVRs...). A phone registered over ws is a
// browser: its media is WebRTC.
func startBrowserServer(t *testing.T, body string) wsServer {
	t.Helper()
	yaml := fmt.Sprintf(`
domain: test.local
listen:
  sip: [udp://127.0.0.1:0, ws://127.0.0.1:0]
  http: 127.0.0.1:0
  rtp_ports: %s
voicemail: {silence_timeout: 1s, max_length: 20s}
sounds_dir: %s
`, rtpRange(), shortPrompts(t)) + body
	s := startRaw(t, yaml, t.TempDir())
	return wsServer{server: s, ws: s.listener("ws")}
}

// browser registers a WebRTC phone for ext over the server's ws listener.
func (s wsServer) browser(ext, password string) *testphone.Phone {
	s.t.Helper()
	return s.registerPhone(testphone.Config{User: ext, Password: password, Server: s.ws, Transport: "ws"})
}

// A browser calls the IVR, picks the team with an RFC 4733 digit sent over its
// DTLS-SRTP stream, and the team member on a UDP phone answers: tones cross the
// PBX both ways between the WebRTC and the plain leg.
func TestBrowserIVRToTeam(t *testing.T) {
	t.Parallel()
	s := startBrowserServer(t, `
agents:
  - {id: alice, extension: "1001", password: alice-pw}
  - {id: bob, extension: "1002", password: bob-pw}
teams:
  - {id: support, extension: "2000", members: [bob], strategy: ring-all, ring_timeout: 5s}
ivrs:
  - {id: main, extension: "3000", prompt: main-menu.wav, timeout: 5s, options: {"1": "agent:alice", "2": "team:support"}, default: "voicemail:general"}
mailboxes: [{id: general}]
`)
	alice := s.browser("1001", "alice-pw")
	bob := s.phone("1002", "bob-pw", "PCMA")
	c, err := alice.Dial(ctxT(t, 20*time.Second), "3000")
	if err != nil {
		t.Fatalf("browser dials the IVR: %v", err)
	}
	// The menu's prompts reach the browser before it picks.
	if _, rms, err := c.ReceivedFrequency(ctxT(t, 10*time.Second), 100*time.Millisecond); err != nil || rms < 500 {
		t.Fatalf("menu heard by the browser at RMS %.0f (%v), want a prompt", rms, err)
	}
	if err := c.SendDTMF('2'); err != nil {
		t.Fatal(err)
	}
	b := answerNext(t, bob)
	c.StartTone(1000)
	b.StartTone(400)
	expectFreq(t, "team member on UDP", b, 1000)
	expectFreq(t, "browser", c, 400)
	if err := c.Hangup(ctxT(t, 10*time.Second)); err != nil {
		t.Fatalf("browser hangs up: %v", err)
	}
	waitDone(t, "team member", b)
	if rec := nthCall(t, s.server, 1); rec.Outcome != "answered" || rec.Agent != "bob" {
		t.Fatalf("call log %+v, want answered by bob", rec)
	}
}

// A browser calls an agent who does not answer and leaves a voicemail: the
// recording holds the browser's tone.
func TestBrowserLeavesVoicemail(t *testing.T) {
	t.Parallel()
	s := startBrowserServer(t, `
agents:
  - {id: alice, extension: "1001", password: alice-pw}
  - {id: bob, extension: "1002", password: bob-pw, ring_timeout: 1s, no_answer: voicemail}
`)
	alice := s.browser("1001", "alice-pw")
	s.phone("1002", "bob-pw", "PCMU") // rings, never answers
	c, err := alice.Dial(ctxT(t, 20*time.Second), "1002")
	if err != nil {
		t.Fatalf("dial: %v", err)
	}
	leaveMessage(t, c, 2*time.Second)
	if rec := lastCall(t, s.server); rec.Outcome != "voicemail" || rec.Agent != "bob" {
		t.Fatalf("call log: outcome %q agent %q", rec.Outcome, rec.Agent)
	}
	msgs, err := s.Store.ListVoicemail("test.local", "bob")
	if err != nil || len(msgs) != 1 {
		t.Fatalf("voicemail list: %v %v", msgs, err)
	}
	if msgs[0].Caller != "1001" {
		t.Errorf("caller %q", msgs[0].Caller)
	}
	info, pcm, err := wav.DecodeFile(msgs[0].File)
	if err != nil {
		t.Fatalf("WAV: %v", err)
	}
	if info.SampleRate != 8000 || info.Channels != 1 {
		t.Errorf("WAV format %+v", info)
	}
	if info.Duration < 1500*time.Millisecond || info.Duration > 2600*time.Millisecond {
		t.Errorf("WAV lasts %v, want about 2 s", info.Duration)
	}
	if f, rms := audio.DominantFrequency(pcm), audio.RMS(pcm); math.Abs(f-1000) > 15 || rms < 500 {
		t.Errorf("WAV dominant frequency %.0f Hz at RMS %.0f, want the browser's 1000 Hz", f, rms)
	}
}

// Click-to-call for an agent whose phone is the browser: the browser rings
// first with a WebRTC offer, then the customer's UDP phone, and they talk.
func TestBrowserClickToCall(t *testing.T) {
	t.Parallel()
	s := startBrowserServer(t, `
agents:
  - {id: alice, extension: "1001", password: pw1}
  - {id: cust, extension: "1009", password: pw9}
`)
	alice := s.browser("1001", "pw1")
	cust := s.phone("1009", "pw9", "PCMU")
	id, err := s.PBX.ClickToCall("test.local", "alice", "1009")
	if err != nil {
		t.Fatal(err)
	}
	a := answerNext(t, alice)
	k := answerNext(t, cust)
	a.StartTone(400)
	k.StartTone(1000)
	expectFreq(t, "agent's browser", a, 1000)
	expectFreq(t, "customer", k, 400)
	if err := k.Hangup(ctxT(t, 10*time.Second)); err != nil {
		t.Fatalf("customer hangs up: %v", err)
	}
	waitDone(t, "agent's browser", a)
	if rec := nthCall(t, s.server, 1); rec.Outcome != "answered" || rec.Agent != "alice" || rec.ID != id {
		t.Fatalf("click-to-call %s: call log %+v", id, rec)
	}
}
