package e2e

import (
	"context"
	"errors"
	"math"
	"runtime"
	"testing"
	"time"

	"switchboard/internal/testphone"
)

const twoAgents = `
agents:
  - {id: alice, extension: "1001", password: alice-pw}
  - {id: bob, extension: "1002", password: bob-pw, ring_timeout: 2s}
`

// answerNext answers the next incoming call on p.
func answerNext(t *testing.T, p *testphone.Phone) *testphone.Call {
	t.Helper()
	select {
	case in := <-p.Incoming():
		c, err := in.Answer(ctxT(t, 10*time.Second))
		if err != nil {
			t.Fatalf("answer: %v", err)
		}
		return c
	case <-time.After(10 * time.Second):
		t.Fatal("phone never rang")
		return nil
	}
}

func expectFreq(t *testing.T, who string, c *testphone.Call, want float64) {
	t.Helper()
	f, rms, err := c.ReceivedFrequency(ctxT(t, 10*time.Second), 500*time.Millisecond)
	if err != nil {
		t.Fatalf("%s: receive: %v", who, err)
	}
	if math.Abs(f-want) > 15 || rms < 500 {
		t.Fatalf("%s heard %.0f Hz at RMS %.0f, want %.0f Hz", who, f, rms, want)
	}
}

// A calls B: B rings, answers, a 1000 Hz tone from A arrives at B as 1000 Hz and
// 400 Hz from B at A, through the PBX's ports, with one leg PCMU and the other PCMA.
func TestCallBridgesAudioAcrossCodecs(t *testing.T) {
	t.Parallel()
	s := startServer(t, twoAgents)
	alice := s.phone("1001", "alice-pw", "PCMU")
	bob := s.phone("1002", "bob-pw", "PCMA")

	a, b := connect(t, alice, bob, "1002")
	if a.Codec() != "PCMU" || b.Codec() != "PCMA" {
		t.Fatalf("codecs: caller %s callee %s", a.Codec(), b.Codec())
	}
	// Media is anchored: each phone sends to and hears from the PBX, never the other phone.
	for _, c := range []*testphone.Call{a, b} {
		if c.RemoteMedia().Addr().String() != "127.0.0.1" || c.RemoteMedia() == a.LocalMedia() || c.RemoteMedia() == b.LocalMedia() {
			t.Fatalf("media not anchored: remote %v (a %v, b %v)", c.RemoteMedia(), a.LocalMedia(), b.LocalMedia())
		}
	}
	a.StartTone(1000)
	b.StartTone(400)
	expectFreq(t, "callee", b, 1000)
	expectFreq(t, "caller", a, 400)
	if src := b.RTPSource(); src != b.RemoteMedia() {
		t.Errorf("callee got RTP from %v, SDP said %v", src, b.RemoteMedia())
	}
	if err := a.Hangup(ctxT(t, 10*time.Second)); err != nil {
		t.Fatalf("hangup: %v", err)
	}
	select {
	case <-b.Done():
	case <-time.After(10 * time.Second):
		t.Fatal("callee leg not hung up after caller BYE")
	}
	waitCall(t, s, "answered")
}

// waitCall waits for the call log to hold an entry and checks its outcome.
func waitCall(t *testing.T, s *server, outcome string) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		recs, err := s.Store.ListCalls("test.local", storeQuery(1))
		if err != nil {
			t.Fatal(err)
		}
		if len(recs) > 0 {
			if string(recs[0].Outcome) != outcome {
				t.Fatalf("call log outcome %q (cause %q), want %q", recs[0].Outcome, recs[0].Cause, outcome)
			}
			return
		}
		if time.Now().After(deadline) {
			t.Fatal("no call log entry")
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func TestCallerBusyAndUnknown(t *testing.T) {
	t.Parallel()
	s := startServer(t, twoAgents)
	alice := s.phone("1001", "alice-pw", "PCMU")
	_, err := alice.Dial(ctxT(t, 10*time.Second), "1999")
	var se *testphone.StatusError
	if !errors.As(err, &se) || se.Code != 404 {
		t.Fatalf("unknown extension: %v, want 404", err)
	}
}

// Callee with two registered contacts: both ring, one answers, the other gets CANCEL.
func TestForkCancelsOtherBranch(t *testing.T) {
	t.Parallel()
	s := startServer(t, twoAgents)
	alice := s.phone("1001", "alice-pw", "PCMU")
	desk := s.phone("1002", "bob-pw", "PCMU")
	soft := s.phone("1002", "bob-pw", "PCMA")

	pending := alice.DialAsync(ctxT(t, 20*time.Second), "1002")
	var inDesk, inSoft *testphone.Incoming
	for inDesk == nil || inSoft == nil {
		select {
		case in := <-desk.Incoming():
			inDesk = in
		case in := <-soft.Incoming():
			inSoft = in
		case <-time.After(10 * time.Second):
			t.Fatal("both contacts should ring")
		}
	}
	b, err := inSoft.Answer(ctxT(t, 10*time.Second))
	if err != nil {
		t.Fatal(err)
	}
	select {
	case <-inDesk.Cancelled():
	case <-time.After(10 * time.Second):
		t.Fatal("desk phone not cancelled")
	}
	a, err := pending.Result()
	if err != nil {
		t.Fatal(err)
	}
	a.StartTone(1000)
	expectFreq(t, "softphone", b, 1000)
	a.Hangup(ctxT(t, 5*time.Second))
}

// CANCEL from the caller cancels all branches and logs the call as abandoned.
func TestCallerCancelAbandons(t *testing.T) {
	t.Parallel()
	s := startServer(t, twoAgents)
	alice := s.phone("1001", "alice-pw", "PCMU")
	bob := s.phone("1002", "bob-pw", "PCMU")
	ctx, cancel := context.WithCancel(context.Background())
	pending := alice.DialAsync(ctx, "1002")
	var in *testphone.Incoming
	select {
	case in = <-bob.Incoming():
	case <-time.After(10 * time.Second):
		t.Fatal("no ring")
	}
	cancel()
	if _, err := pending.Result(); err == nil {
		t.Fatal("cancelled call connected")
	}
	select {
	case <-in.Cancelled():
	case <-time.After(10 * time.Second):
		t.Fatal("callee not cancelled")
	}
	waitCall(t, s, "abandoned")
}

// After many calls the RTP port pool and goroutine count are back where they started.
func TestNoLeaksAfterManyCalls(t *testing.T) {
	s := startServer(t, twoAgents)
	alice := s.phone("1001", "alice-pw", "PCMU")
	bob := s.phone("1002", "bob-pw", "PCMU")
	go func() {
		for in := range bob.Incoming() {
			c, err := in.Answer(context.Background())
			if err == nil {
				go func() { <-c.Done() }()
			}
		}
	}()
	n := 200
	if testing.Short() {
		n = 30
	}
	// Warm up once so lazily started goroutines are in the baseline.
	call := func() {
		c, err := alice.Dial(ctxT(t, 10*time.Second), "1002")
		if err != nil {
			t.Fatalf("dial: %v", err)
		}
		if err := c.Hangup(ctxT(t, 10*time.Second)); err != nil {
			t.Fatalf("hangup: %v", err)
		}
	}
	call()
	settle(t, s, 0)
	base := runtime.NumGoroutine()
	for range n {
		call()
	}
	settle(t, s, 0)
	deadline := time.Now().Add(20 * time.Second)
	for runtime.NumGoroutine() > base+5 && time.Now().Before(deadline) {
		time.Sleep(50 * time.Millisecond)
	}
	if g := runtime.NumGoroutine(); g > base+5 {
		t.Fatalf("goroutines: %d before, %d after %d calls", base, g, n)
	}
	waitFor(t, "no dialog left in the SIP layer", func() bool { return s.SIP.LegCount() == 0 })
}

// settle waits until no call is live and the RTP pool is back to inUse ports.
func settle(t *testing.T, s *server, inUse int) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for {
		if s.Pool.InUse() == inUse && len(s.PBX.LiveCalls("")) == 0 {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("rtp ports in use %d (want %d), live calls %d", s.Pool.InUse(), inUse, len(s.PBX.LiveCalls("")))
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// Phones on TCP register, call and are called over their own connection.
func TestCallOverTCP(t *testing.T) {
	t.Parallel()
	s := startServer(t, twoAgents)
	addr := s.listener("tcp")
	alice := s.registerPhone(testphone.Config{User: "1001", Password: "alice-pw", Server: addr, Transport: "tcp"})
	bob := s.registerPhone(testphone.Config{User: "1002", Password: "bob-pw", Server: addr, Transport: "tcp"})
	a, b := connect(t, alice, bob, "1002")
	a.StartTone(1000)
	expectFreq(t, "callee over TCP", b, 1000)
	if err := b.Hangup(ctxT(t, 10*time.Second)); err != nil {
		t.Fatalf("callee BYE over TCP: %v", err)
	}
	select {
	case <-a.Done():
	case <-time.After(10 * time.Second):
		t.Fatal("caller not hung up")
	}
}
