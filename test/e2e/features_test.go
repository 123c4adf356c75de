package e2e

import (
	"context"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"switchboard/internal/testphone"
)

func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting: %s", what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// *97 with the PIN plays the agent's messages; 7 deletes one.
func TestVoicemailRetrieval(t *testing.T) {
	t.Parallel()
	s := startServer(t, fmt.Sprintf(`
sounds_dir: %s
agents:
  - {id: alice, extension: "1001", password: alice-pw}
  - {id: bob, extension: "1002", password: bob-pw, status: away, voicemail_pin: "4321"}
`, shortPrompts(t)))
	alice := s.phone("1001", "alice-pw", "PCMU")
	c, err := alice.Dial(ctxT(t, 20*time.Second), "1002")
	if err != nil {
		t.Fatal(err)
	}
	leaveMessage(t, c, 1500*time.Millisecond)
	waitFor(t, "message stored", func() bool {
		msgs, _ := s.Store.ListVoicemail("test.local", "bob")
		return len(msgs) == 1
	})

	bob := s.phone("1002", "bob-pw", "PCMU")
	v, err := bob.Dial(ctxT(t, 20*time.Second), "*97")
	if err != nil {
		t.Fatal(err)
	}
	v.StartTone(0)
	for _, d := range "4321#" {
		if err := v.SendDTMF(d); err != nil {
			t.Fatal(err)
		}
	}
	// The message plays (its 1 kHz tone reaches bob), then 7 deletes it.
	waitFor(t, "the message's tone", func() bool {
		f, _, err := v.ReceivedFrequency(ctxT(t, 5*time.Second), 200*time.Millisecond)
		return err == nil && f > 970 && f < 1030
	})
	if err := v.SendDTMF('7'); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "message deleted", func() bool {
		msgs, _ := s.Store.ListVoicemail("test.local", "bob")
		return len(msgs) == 0
	})
	v.Hangup(ctxT(t, 5*time.Second))
}

// An IVR with no digit pressed goes to its default after the timeout.
func TestIVRDefaultOnTimeout(t *testing.T) {
	t.Parallel()
	s := startServer(t, fmt.Sprintf(`
sounds_dir: %s
agents:
  - {id: alice, extension: "1001", password: alice-pw}
ivrs:
  - {id: main, extension: "3000", prompt: main-menu.wav, timeout: 1s, options: {"1": "agent:alice"}, default: "voicemail:general"}
mailboxes: [{id: general}]
`, shortPrompts(t)))
	alice := s.phone("1001", "alice-pw", "PCMU")
	c, err := alice.Dial(ctxT(t, 20*time.Second), "3000")
	if err != nil {
		t.Fatal(err)
	}
	leaveMessage(t, c, 1500*time.Millisecond)
	waitFor(t, "message in the general mailbox", func() bool {
		msgs, _ := s.Store.ListVoicemail("test.local", "general")
		return len(msgs) == 1
	})
}

// SIGHUP reloads the file; an invalid file is rejected with file:line and the
// running dialplan stays.
func TestReloadOnSIGHUP(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	data := filepath.Join(dir, "data")
	config := filepath.Join(dir, "switchboard.yaml")
	base := fmt.Sprintf(baseConfig, rtpRange())
	write := func(body string) {
		// A fresh mtime is not needed: SIGHUP reloads whatever is there.
		if err := os.WriteFile(config, []byte(base+body), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	write("agents:\n  - {id: alice, extension: \"1001\", password: pw}\n")
	p := startProc(t, config, data)
	agents := func() []string {
		var list []map[string]any
		apiGet(t, p.http, data, "/api/agents", &list)
		var ids []string
		for _, a := range list {
			ids = append(ids, fmt.Sprint(a["id"]))
		}
		return ids
	}
	write("agents:\n  - {id: alice, extension: \"1001\", password: pw}\n  - {id: bob, extension: \"1002\", password: pw}\n")
	p.cmd.Process.Signal(syscall.SIGHUP)
	waitFor(t, "bob after reload", func() bool { return strings.Contains(strings.Join(agents(), ","), "bob") })

	write("agents:\n  - {id: alice, extension: \"1001\", password: pw, ring_timeout: soon}\n")
	p.cmd.Process.Signal(syscall.SIGHUP)
	p.waitLog(t, "switchboard.yaml:9: agents[0].ring_timeout")
	if got := strings.Join(agents(), ","); got != "alice,bob" {
		t.Fatalf("agents after a rejected reload: %s", got)
	}
}

// A request without From gets 400 and the server keeps answering.
func TestMalformedRequestGets400(t *testing.T) {
	t.Parallel()
	s := startServer(t, twoAgents)
	conn, err := net.Dial("udp", s.SIPAddr())
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	send := func(msg string) string {
		conn.SetDeadline(time.Now().Add(5 * time.Second))
		if _, err := conn.Write([]byte(strings.ReplaceAll(msg, "\n", "\r\n"))); err != nil {
			t.Fatal(err)
		}
		buf := make([]byte, 4096)
		n, err := conn.Read(buf)
		if err != nil {
			t.Fatalf("no answer: %v", err)
		}
		return strings.SplitN(string(buf[:n]), "\r\n", 2)[0]
	}
	local := conn.LocalAddr().String()
	got := send("REGISTER sip:test.local SIP/2.0\nVia: SIP/2.0/UDP " + local + ";branch=z9hG4bK-nofrom\nTo: <sip:1001@test.local>\nCall-ID: nofrom\nCSeq: 1 REGISTER\nContent-Length: 0\n\n")
	if got != "SIP/2.0 400 Bad Request" {
		t.Fatalf("REGISTER without From: %q", got)
	}
	got = send("OPTIONS sip:test.local SIP/2.0\nVia: SIP/2.0/UDP " + local + ";branch=z9hG4bK-alive\nFrom: <sip:probe@test.local>;tag=1\nTo: <sip:test.local>\nCall-ID: alive\nCSeq: 1 OPTIONS\nContent-Length: 0\n\n")
	if got != "SIP/2.0 200 OK" {
		t.Fatalf("OPTIONS after the bad request: %q", got)
	}
}

// A member who rejects every offer at once is offered again only after a pause, and
// the caller's failed offers give their RTP ports back.
func TestQueueRejectingMemberNoStorm(t *testing.T) {
	t.Parallel()
	s := startServer(t, fmt.Sprintf(`
sounds_dir: %s
agents:
  - {id: alice, extension: "1001", password: alice-pw}
  - {id: cust, extension: "1009", password: pw9}
teams:
  - {id: support, extension: "2000", members: [alice], ring_timeout: 5s, max_wait: 3s, on_timeout: callback}
`, shortPrompts(t)))
	alice := s.phone("1001", "alice-pw", "PCMU")
	go func() {
		for in := range alice.Incoming() {
			in.Reject(486, "Busy Here")
		}
	}()
	cust := s.phone("1009", "pw9", "PCMU")
	c, err := cust.Dial(ctxT(t, 20*time.Second), "2000")
	if err != nil {
		t.Fatal(err)
	}
	peak := 0
	for {
		peak = max(peak, s.Pool.InUse())
		select {
		case <-c.Done():
			if n := alice.Stats().InvitesReceived; n < 1 || n > 4 {
				t.Fatalf("member got %d INVITEs in a 3 s wait, want a few (pause between rounds)", n)
			}
			if peak > 2 {
				t.Fatalf("%d RTP ports in use at once for one queued caller", peak)
			}
			return
		case <-time.After(5 * time.Millisecond):
		}
	}
}

// A flood of wrong passwords from one address gets it banned: its packets are
// dropped, even with the right password afterwards.
func TestFailedAuthFloodIsBanned(t *testing.T) {
	t.Parallel()
	s := startServer(t, twoAgents)
	bad, err := testphone.New(ctxT(t, 10*time.Second), testphone.Config{
		User: "1001", Password: "wrong", Domain: "test.local", Server: s.SIPAddr(),
	})
	if err != nil {
		t.Fatal(err)
	}
	defer bad.Close()
	// baresip retries a refused password ~16 times: that alone must not ban.
	for range 16 {
		if err := bad.Register(ctxT(t, 5*time.Second), time.Hour); err == nil {
			t.Fatal("wrong password registered")
		}
	}
	s.phone("1002", "bob-pw", "PCMU") // still served
	for i := 0; s.PBX.AuthFailures() < 60; i++ {
		if i > 100 {
			t.Fatalf("only %d failures counted", s.PBX.AuthFailures())
		}
		bad.Register(ctxT(t, 5*time.Second), time.Hour)
	}
	good, err := testphone.New(ctxT(t, 10*time.Second), testphone.Config{
		User: "1002", Password: "bob-pw", Domain: "test.local", Server: s.SIPAddr(),
	})
	if err != nil {
		t.Fatal(err)
	}
	defer good.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	if err := good.Register(ctx, time.Hour); err == nil {
		t.Fatal("registered from a banned address")
	}
	// The ban drops packets one by one; the UDP listener itself keeps reading.
	before := s.SIP.DroppedPackets()
	conn, err := net.Dial("udp", s.SIPAddr())
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	for range 5 {
		conn.Write([]byte("OPTIONS sip:test.local SIP/2.0\r\nContent-Length: 0\r\n\r\n"))
	}
	waitFor(t, "5 more packets dropped by a listener that still reads", func() bool {
		return s.SIP.DroppedPackets() >= before+5
	})
}

// *98 asks for a mailbox (an extension or a numeric mailbox id), then its PIN.
func TestAnyMailboxRetrieval(t *testing.T) {
	t.Parallel()
	s := startServer(t, fmt.Sprintf(`
sounds_dir: %s
agents:
  - {id: alice, extension: "1001", password: alice-pw, status: away, voicemail_pin: "2468"}
  - {id: bob, extension: "1002", password: bob-pw}
`, shortPrompts(t)))
	bob := s.phone("1002", "bob-pw", "PCMU")
	c, err := bob.Dial(ctxT(t, 20*time.Second), "1001")
	if err != nil {
		t.Fatal(err)
	}
	leaveMessage(t, c, 1500*time.Millisecond)
	waitFor(t, "message stored", func() bool {
		msgs, _ := s.Store.ListVoicemail("test.local", "alice")
		return len(msgs) == 1
	})
	v, err := bob.Dial(ctxT(t, 20*time.Second), "*98")
	if err != nil {
		t.Fatal(err)
	}
	v.StartTone(0)
	for _, d := range "1001#2468#" {
		if err := v.SendDTMF(d); err != nil {
			t.Fatal(err)
		}
	}
	waitFor(t, "alice's message playing to bob", func() bool {
		f, _, err := v.ReceivedFrequency(ctxT(t, 5*time.Second), 200*time.Millisecond)
		return err == nil && f > 970 && f < 1030
	})
	if err := v.SendDTMF('9'); err != nil { // save: marked read
		t.Fatal(err)
	}
	waitFor(t, "message marked read", func() bool {
		n, old, _ := s.Store.VoicemailCounts("test.local", "alice")
		return n == 0 && old == 1
	})
	v.Hangup(ctxT(t, 5*time.Second))
}
