package e2e

import (
	"crypto/tls"
	"fmt"
	"strings"
	"testing"
	"time"

	"switchboard/internal/testphone"
)

// wsServer is a server listening on UDP, WS and WSS (RFC 7118).
type wsServer struct {
	*server
	ws, wss string      // listener addresses
	tls     *tls.Config // trusts the server's self-signed certificate
}

func startWSServer(t *testing.T) wsServer {
	t.Helper()
	cert, key, conf := selfSigned(t)
	yaml := fmt.Sprintf(`
domain: test.local
listen:
  sip: [udp://127.0.0.1:0, ws://127.0.0.1:0, wss://127.0.0.1:0]
  http: 127.0.0.1:0
  rtp_ports: %s
  tls_cert: %s
  tls_key: %s
`, rtpRange(), cert, key) + twoAgents
	s := startRaw(t, yaml, t.TempDir())
	return wsServer{server: s, ws: s.listener("ws"), wss: s.listener("wss"), tls: conf}
}

// checkWSBinding fails unless agent's only registration came in over transport
// (WS or WSS) with the phone's ".invalid" contact: the PBX can then reach the
// phone only over the connection the phone opened, never by dialling it.
func checkWSBinding(t *testing.T, s *server, agent, transport string, p *testphone.Phone) {
	t.Helper()
	regs := s.PBX.Registrations("test.local", s.Config.Firms[0].Agent(agent))
	if len(regs) != 1 {
		t.Fatalf("%s registrations: %+v", agent, regs)
	}
	r := regs[0]
	host := p.ContactAddr()
	if r.Transport != transport || !strings.HasSuffix(host, ".invalid") || !strings.Contains(r.Contact, host) {
		t.Fatalf("%s binding %+v, want transport %s and contact host %s", agent, r, transport, host)
	}
}

// waitDone fails unless c ends; the timeout is only a failure guard.
func waitDone(t *testing.T, who string, c *testphone.Call) {
	t.Helper()
	select {
	case <-c.Done():
	case <-time.After(10 * time.Second):
		t.Fatalf("%s: call not ended", who)
	}
}

// A phone on ws:// calls a phone on wss://: both register with digest over their
// WebSocket, the PBX reaches the callee (its MWI NOTIFY, then the INVITE) over its
// open WSS connection, audio flows both ways through the PBX and the caller's BYE
// ends the callee's call.
func TestCallOverWebSocket(t *testing.T) {
	t.Parallel()
	s := startWSServer(t)
	alice := s.registerPhone(testphone.Config{User: "1001", Password: "alice-pw", Server: s.ws, Transport: "ws"})
	bob := s.registerPhone(testphone.Config{User: "1002", Password: "bob-pw", Server: s.wss, Transport: "wss", TLS: s.tls})
	checkWSBinding(t, s.server, "alice", "WS", alice)
	checkWSBinding(t, s.server, "bob", "WSS", bob)

	// A request the PBX originates outside a call also finds the connection.
	mwi, err := bob.SubscribeMWI(ctxT(t, 10*time.Second), time.Hour)
	if err != nil {
		t.Fatalf("subscribe over WSS: %v", err)
	}
	select {
	case body := <-mwi:
		if !strings.Contains(body, "Messages-Waiting: no") {
			t.Fatalf("MWI NOTIFY over WSS: %q", body)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("no MWI NOTIFY over WSS")
	}

	a, b := connect(t, alice, bob, "1002")
	a.StartTone(1000)
	b.StartTone(400)
	expectFreq(t, "callee over WSS", b, 1000)
	expectFreq(t, "caller over WS", a, 400)
	if err := a.Hangup(ctxT(t, 10*time.Second)); err != nil {
		t.Fatalf("caller BYE over WS: %v", err)
	}
	waitDone(t, "callee over WSS", b)
	if got := bob.Stats().ByesReceived; got != 1 {
		t.Errorf("callee received %d BYEs, want 1", got)
	}
	waitCall(t, s.server, "answered")
}

// A phone on ws:// and a phone on UDP call each other through the PBX, each way
// round, and the callee hangs up: the PBX bridges WebSocket and UDP legs and
// sends the BYE over the WebSocket connection.
func TestCallBetweenWebSocketAndUDP(t *testing.T) {
	t.Parallel()
	s := startWSServer(t)
	alice := s.registerPhone(testphone.Config{User: "1001", Password: "alice-pw", Server: s.ws, Transport: "ws"})
	bob := s.registerPhone(testphone.Config{User: "1002", Password: "bob-pw", Transport: "udp"})
	checkWSBinding(t, s.server, "alice", "WS", alice)

	tests := []struct {
		name           string
		caller, callee *testphone.Phone
		number         string
	}{
		{name: "ws calls udp", caller: alice, callee: bob, number: "1002"},
		{name: "udp calls ws", caller: bob, callee: alice, number: "1001"},
	}
	for _, tt := range tests {
		// Sequential: both cases share the two phones.
		a, b := connect(t, tt.caller, tt.callee, tt.number)
		a.StartTone(1000)
		b.StartTone(400)
		expectFreq(t, tt.name+": callee", b, 1000)
		expectFreq(t, tt.name+": caller", a, 400)
		if err := b.Hangup(ctxT(t, 10*time.Second)); err != nil {
			t.Fatalf("%s: callee BYE: %v", tt.name, err)
		}
		waitDone(t, tt.name+": caller", a)
	}
	if got := alice.Stats().ByesReceived; got != 1 {
		t.Errorf("WS phone received %d BYEs, want 1", got)
	}
}

// A WebSocket phone that went away (its connection closed, its registration still
// there) cannot be rung: the caller gets the agent's no_answer treatment
// (voicemail) at once. That the PBX opens no new connection to the phone's old
// port is shown in package sip (TestDialDoesNotReconnect).
func TestGoneWebSocketPhoneGoesToVoicemail(t *testing.T) {
	t.Parallel()
	s := startWSServer(t)
	alice := s.registerPhone(testphone.Config{User: "1001", Password: "alice-pw", Server: s.ws, Transport: "ws"})
	bob := s.registerPhone(testphone.Config{User: "1002", Password: "bob-pw", Transport: "udp"})
	checkWSBinding(t, s.server, "alice", "WS", alice)
	_ = alice.Close()

	c, err := bob.Dial(ctxT(t, 10*time.Second), "1001")
	if err != nil {
		t.Fatalf("call to the agent whose phone is gone: %v (want voicemail to answer)", err)
	}
	if err := c.Hangup(ctxT(t, 10*time.Second)); err != nil {
		t.Fatalf("hang up: %v", err)
	}
	waitCall(t, s.server, "voicemail")
}
