package e2e

import (
	"context"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"switchboard/internal/audio"
	"switchboard/internal/testphone"
	"switchboard/store"
	"switchboard/wav"
)

// shortPrompts writes a 0.2 s greeting and beep into a sounds dir so that voicemail
// tests do not wait through the spoken prompts.
func shortPrompts(t *testing.T) string {
	t.Helper()
	dir := t.TempDir()
	for name, freq := range map[string]float64{"greeting": 300, "beep": 1000, "callback": 300, "status-online": 300, "status-away": 300, "main-menu": 500, "hold": 200,
		"vm-mailbox": 300, "vm-pin": 300, "vm-message": 300, "vm-menu": 300, "vm-saved": 300,
		"vm-deleted": 300, "vm-goodbye": 300, "vm-none": 300, "invalid": 300, "goodbye": 300} {
		w, err := wav.Create(filepath.Join(dir, name+".wav"), wav.FormatULaw)
		if err != nil {
			t.Fatal(err)
		}
		if err := w.WritePCM(audio.Sine(freq, 8000, 0, 1600)); err != nil {
			t.Fatal(err)
		}
		if err := w.Close(); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

func routingConfig(t *testing.T, bob string) string {
	return fmt.Sprintf(`
sounds_dir: %s
agents:
  - {id: alice, extension: "1001", password: alice-pw, no_answer: callback}
  - {id: bob, extension: "1002", password: bob-pw, ring_timeout: 1s, %s}
`, shortPrompts(t), bob)
}

// lastCall returns the newest call log entry once one exists.
func lastCall(t *testing.T, s *server) store.CallRecord { return nthCall(t, s, 1) }

// nthCall returns the newest call log entry once n entries exist.
func nthCall(t *testing.T, s *server, n int) store.CallRecord {
	t.Helper()
	deadline := time.Now().Add(15 * time.Second)
	for {
		recs, err := s.Store.ListCalls("test.local", store.CallQuery{Limit: 100})
		if err != nil {
			t.Fatal(err)
		}
		if len(recs) >= n {
			return recs[0]
		}
		if time.Now().After(deadline) {
			t.Fatal("no call log entry")
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// leaveMessage waits for the beep, sends a 1000 Hz tone for d, then silence until
// the PBX ends the call (silence_timeout).
func leaveMessage(t *testing.T, c *testphone.Call, d time.Duration) {
	t.Helper()
	ctx := ctxT(t, 20*time.Second)
	c.StartTone(0) // phones send RTP all the time, silence included
	for {
		pcm, err := c.Received(ctx, 60*time.Millisecond)
		if err != nil {
			t.Fatalf("waiting for the beep: %v", err)
		}
		if isBeep(pcm) {
			break // the beep: recording starts as it ends
		}
	}
	c.StartTone(1000)
	time.Sleep(d) // the message itself: d of audio
	c.StartTone(0)
	select {
	case <-c.Done():
	case <-time.After(15 * time.Second):
		t.Fatal("PBX did not end the voicemail call after silence")
	}
}

func TestOnlineNoAnswerGoesToVoicemail(t *testing.T) {
	t.Parallel()
	s := startServer(t, routingConfig(t, "no_answer: voicemail"))
	alice := s.phone("1001", "alice-pw", "PCMU")
	bob := s.phone("1002", "bob-pw", "PCMU")
	mwi, err := bob.SubscribeMWI(ctxT(t, 10*time.Second), time.Hour)
	if err != nil {
		t.Fatalf("subscribe: %v", err)
	}
	c, err := alice.Dial(ctxT(t, 20*time.Second), "1002")
	if err != nil {
		t.Fatalf("dial: %v", err)
	}
	if bob.Stats().InvitesReceived == 0 {
		t.Error("bob's phone never rang before voicemail")
	}
	leaveMessage(t, c, 3*time.Second)
	rec := lastCall(t, s)
	if rec.Outcome != "voicemail" || rec.Agent != "bob" {
		t.Fatalf("call log: outcome %q agent %q", rec.Outcome, rec.Agent)
	}
	msgs, err := s.Store.ListVoicemail("test.local", "bob")
	if err != nil || len(msgs) != 1 {
		t.Fatalf("voicemail list: %v %v", msgs, err)
	}
	m := msgs[0]
	if m.Caller != "1001" {
		t.Errorf("caller %q", m.Caller)
	}
	info, pcm, err := wav.DecodeFile(m.File)
	if err != nil {
		t.Fatalf("WAV: %v", err)
	}
	if info.SampleRate != 8000 || info.Channels != 1 || info.Format != wav.FormatULaw {
		t.Errorf("WAV format %+v", info)
	}
	// The phone's 3 s of tone are wall time: on a loaded machine its sender
	// ticks late and the message holds fewer 20 ms frames.
	if info.Duration < 2*time.Second || info.Duration > 3600*time.Millisecond {
		t.Errorf("WAV lasts %v, want about 3 s", info.Duration)
	}
	if f := audio.DominantFrequency(pcm); math.Abs(f-1000) > 15 {
		t.Errorf("WAV dominant frequency %.0f Hz", f)
	}
	// MWI: the subscribed phone hears about the new message.
	deadline := time.After(10 * time.Second)
	for {
		select {
		case body := <-mwi:
			if strings.Contains(body, "Messages-Waiting: yes") && strings.Contains(body, "Voice-Message: 1/0") {
				return
			}
		case <-deadline:
			t.Fatal("no MWI NOTIFY with 1 new message")
		}
	}
}

func TestOnlineNoAnswerGoesToCallback(t *testing.T) {
	t.Parallel()
	s := startServer(t, routingConfig(t, "no_answer: callback"))
	alice := s.phone("1001", "alice-pw", "PCMU")
	bob := s.phone("1002", "bob-pw", "PCMU")
	c, err := alice.Dial(ctxT(t, 20*time.Second), "1002")
	if err != nil {
		t.Fatalf("dial: %v", err)
	}
	if bob.Stats().InvitesReceived == 0 {
		t.Error("bob's phone never rang")
	}
	expectCallback(t, s, c, "agent", "bob")
}

func expectCallback(t *testing.T, s *server, c *testphone.Call, kind, id string) {
	t.Helper()
	select {
	case <-c.Done():
	case <-time.After(15 * time.Second):
		t.Fatal("PBX did not hang up after the callback prompt")
	}
	cbs, err := s.Store.ListCallbacks("test.local", store.StatePending, store.Page{})
	if err != nil || len(cbs) != 1 {
		t.Fatalf("callbacks: %v %v", cbs, err)
	}
	if cb := cbs[0]; cb.Caller != "1001" || cb.TargetKind != kind || cb.TargetID != id {
		t.Fatalf("callback entry %+v", cb)
	}
	if rec := lastCall(t, s); rec.Outcome != "callback" {
		t.Fatalf("call log outcome %q", rec.Outcome)
	}
}

func TestAwayAppliesActionWithoutRinging(t *testing.T) {
	t.Parallel()
	for _, action := range []string{"voicemail", "callback"} {
		t.Run(action, func(t *testing.T) {
			t.Parallel()
			s := startServer(t, routingConfig(t, "away: "+action))
			alice := s.phone("1001", "alice-pw", "PCMU")
			bob := s.phone("1002", "bob-pw", "PCMU")
			if err := s.PBX.SetAgentStatus("test.local", "bob", "away"); err != nil {
				t.Fatal(err)
			}
			c, err := alice.Dial(ctxT(t, 20*time.Second), "1002")
			if err != nil {
				t.Fatalf("dial: %v", err)
			}
			if action == "voicemail" {
				leaveMessage(t, c, 1500*time.Millisecond)
				if rec := lastCall(t, s); rec.Outcome != "voicemail" {
					t.Fatalf("outcome %q", rec.Outcome)
				}
			} else {
				expectCallback(t, s, c, "agent", "bob")
			}
			if n := bob.Stats().InvitesReceived; n != 0 {
				t.Fatalf("away agent's phone got %d INVITEs", n)
			}
		})
	}
}

// With no registered phone an online agent's no_answer applies; offline applies away.
func TestUnregisteredAndOffline(t *testing.T) {
	t.Parallel()
	s := startServer(t, routingConfig(t, "no_answer: callback, away: voicemail"))
	alice := s.phone("1001", "alice-pw", "PCMU")
	c, err := alice.Dial(ctxT(t, 20*time.Second), "1002")
	if err != nil {
		t.Fatalf("dial: %v", err)
	}
	expectCallback(t, s, c, "agent", "bob")

	if err := s.PBX.SetAgentStatus("test.local", "bob", "offline"); err != nil {
		t.Fatal(err)
	}
	c, err = alice.Dial(ctxT(t, 20*time.Second), "1002")
	if err != nil {
		t.Fatalf("dial: %v", err)
	}
	leaveMessage(t, c, 1500*time.Millisecond)
	if rec := nthCall(t, s, 2); rec.Outcome != "voicemail" {
		t.Fatalf("offline: outcome %q", rec.Outcome)
	}
}

// *51 and *50 change the caller's status, which survives a restart, and so do
// registrations.
func TestFeatureCodesAndRestart(t *testing.T) {
	t.Parallel()
	data := t.TempDir()
	cfg := routingConfig(t, "no_answer: voicemail")
	s := startServerDir(t, cfg, data)
	alice := s.phone("1001", "alice-pw", "PCMU")
	for _, step := range []struct{ code, want string }{{"*51", "away"}, {"*50", "online"}, {"*51", "away"}} {
		c, err := alice.Dial(ctxT(t, 20*time.Second), step.code)
		if err != nil {
			t.Fatalf("dial %s: %v", step.code, err)
		}
		select {
		case <-c.Done():
		case <-time.After(15 * time.Second):
			t.Fatalf("%s: no hang-up after the confirmation", step.code)
		}
		if got := s.PBX.AgentStatus("test.local", "alice"); string(got) != step.want {
			t.Fatalf("after %s status %q, want %q", step.code, got, step.want)
		}
	}
	s.stop()

	s2 := startServerDir(t, cfg, data)
	if got := s2.PBX.AgentStatus("test.local", "alice"); got != "away" {
		t.Fatalf("status after restart %q, want away", got)
	}
	regs := s2.PBX.Registrations("test.local", s2.Config.Firms[0].Agent("alice"))
	if len(regs) != 1 || !strings.Contains(regs[0].Contact, alice.ContactAddr()) {
		t.Fatalf("registrations after restart: %+v (phone at %s)", regs, alice.ContactAddr())
	}
	// The restored registration is usable: a call from bob rings alice's phone... but
	// alice is away, so set her online and call.
	if err := s2.PBX.SetAgentStatus("test.local", "alice", "online"); err != nil {
		t.Fatal(err)
	}
	bob := s2.phone("1002", "bob-pw", "PCMU")
	pending := bob.DialAsync(ctxT(t, 20*time.Second), "1001")
	a := answerNext(t, alice)
	b, err := pending.Result()
	if err != nil {
		t.Fatal(err)
	}
	b.StartTone(1000)
	expectFreq(t, "alice after restart", a, 1000)
	b.Hangup(context.Background())
	_ = os.Getpid
}

// isBeep reports whether pcm is the 1 kHz beep.
func isBeep(pcm []int16) bool { return math.Abs(audio.DominantFrequency(pcm)-1000) < 30 }
