package e2e

import (
	"crypto/tls"
	"fmt"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/emiago/sipgo/sip"

	"switchboard/internal/testphone"
	"switchboard/sip/registrar"
)

// wsServer is a server listening on UDP, WS and WSS (RFC 7118).
type wsServer struct {
	*server
	ws, wss string      // listener addresses
	tls     *tls.Config // trusts the server's self-signed certificate
}

func startWSServer(t *testing.T) wsServer {
	t.Helper()
	return startWSServerOn(t, "udp://127.0.0.1:0, ws://127.0.0.1:0, wss://127.0.0.1:0")
}

// startWSServerOn is startWSServer with other SIP listeners (a ws and a wss among them).
func startWSServerOn(t *testing.T, listeners string) wsServer {
	t.Helper()
	cert, key, conf := selfSigned(t)
	yaml := fmt.Sprintf(`
domain: test.local
listen:
  sip: [`+listeners+`]
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

// A browser that reloads registers a new random contact over a new WebSocket each
// time, and its old connection closes: the PBX drops (and deletes from the store)
// the bindings of closed connections, so that the agent never gets 403 Too Many
// Contacts, and a call to the agent rings only the page that is open.
func TestReloadedWebSocketPhone(t *testing.T) {
	t.Parallel()
	s := startWSServer(t)
	bob := s.registerPhone(testphone.Config{User: "1002", Password: "bob-pw", Transport: "udp"})
	var page *testphone.Phone
	for range 2 * registrar.MaxContactsPerUser {
		if page != nil {
			_ = page.Close() // the reload: the old page's connection goes away
		}
		// registerPhone fails the test on any refusal, 403 Too Many Contacts too.
		page = s.registerPhone(testphone.Config{User: "1001", Password: "alice-pw", Server: s.ws, Transport: "ws"})
	}
	// The close of the page before the last one may reach the PBX after the last REGISTER.
	waitFor(t, "only the open page is registered", func() bool {
		return len(s.PBX.Registrations("test.local", s.Config.Firms[0].Agent("alice"))) == 1
	})
	checkWSBinding(t, s.server, "alice", "WS", page)
	s.PBX.Registrar().Expire() // the periodic sweep, without waiting for it
	regs, err := s.Store.ListRegistrations()
	if err != nil {
		t.Fatal(err)
	}
	var stored []string
	for _, r := range regs {
		if r.User == "1001" {
			stored = append(stored, r.Contact)
		}
	}
	if len(stored) != 1 || !strings.Contains(stored[0], page.ContactAddr()) {
		t.Fatalf("stored bindings of 1001: %v, want only the open page's (%s)", stored, page.ContactAddr())
	}

	// The fork goes to the open page alone, which answers.
	b, a := connect(t, bob, page, "1001")
	b.StartTone(1000)
	expectFreq(t, "open page", a, 1000)
	if err := b.Hangup(ctxT(t, 10*time.Second)); err != nil {
		t.Fatalf("hang up: %v", err)
	}
	waitDone(t, "open page", a)
	waitCall(t, s.server, "answered")
}

// The PBX's Contact on a WebSocket leg names the WebSocket listener it was reached
// on and transport=ws (RFC 7118 section 5.2 writes "ws" for WSS too), never the UDP
// port: in its 200 to the phone's INVITE, in its INVITE to the phone, and in the
// requests it sends inside the dialog that carry one, and in its MWI NOTIFY.
func TestContactOverWebSocket(t *testing.T) {
	t.Parallel()
	for _, transport := range []string{"ws", "wss"} {
		t.Run(transport, func(t *testing.T) {
			t.Parallel()
			// TCP takes the UDP port, so that WS gets a port of its own.
			s := startWSServerOn(t, "udp://127.0.0.1:0, tcp://127.0.0.1:0, ws://127.0.0.1:0, wss://127.0.0.1:0")
			addr, conf := s.ws, (*tls.Config)(nil)
			if transport == "wss" {
				addr, conf = s.wss, s.tls
			}
			wsPort := portOf(t, addr)
			if udpPort := portOf(t, s.listener("udp")); udpPort == wsPort {
				t.Fatalf("the %s listener shares the UDP port %d: the test would prove nothing", transport, udpPort)
			}
			// Every Contact the PBX writes into a request to the WebSocket phone.
			contacts := make(chan string, 16)
			observe := func(req *sip.Request) {
				if c := req.Contact(); c != nil {
					select {
					case contacts <- string(req.Method) + " " + c.Address.String():
					default:
					}
				}
			}
			alice := s.registerPhone(testphone.Config{User: "1001", Password: "alice-pw", Server: addr, Transport: transport, TLS: conf, Observe: observe})
			bob := s.registerPhone(testphone.Config{User: "1002", Password: "bob-pw", Transport: "udp"})
			check := func(what string, u sip.Uri) {
				t.Helper()
				tp, _ := u.UriParams.Get("transport")
				if u.Port != wsPort || tp != "ws" {
					t.Errorf("%s: Contact %s, want port %d and transport=ws", what, u.String(), wsPort)
				}
			}
			// checkEntry checks one "METHOD contact" the phone received.
			checkEntry := func(got string) (method string) {
				t.Helper()
				m, uri, _ := strings.Cut(got, " ")
				var u sip.Uri
				if err := sip.ParseUri(uri, &u); err != nil {
					t.Fatalf("%s with Contact %q: %v", m, uri, err)
				}
				check(m+" from the PBX", u)
				return m
			}
			// nextContact checks every Contact the phone received up to the next
			// request of method (ACKs and BYEs in between too).
			nextContact := func(method string) {
				t.Helper()
				for {
					select {
					case got := <-contacts:
						if checkEntry(got) == method {
							return
						}
					case <-time.After(10 * time.Second):
						t.Fatalf("no %s reached the %s phone", method, transport)
					}
				}
			}

			// The PBX's MWI NOTIFY names the listener too.
			if _, err := alice.SubscribeMWI(ctxT(t, 10*time.Second), time.Hour); err != nil {
				t.Fatalf("subscribe over %s: %v", transport, err)
			}
			nextContact("NOTIFY")

			// The phone calls: the PBX's 200 names the listener. (A hold by the
			// other side is not relayed to a browser, which keeps its WebRTC
			// stream and hears nothing, so the PBX sends it no re-INVITE.)
			a, b := connect(t, alice, bob, "1002")
			check("200 to the phone's INVITE", a.RemoteTarget())
			if err := b.Hold(ctxT(t, 10*time.Second)); err != nil {
				t.Fatalf("hold: %v", err)
			}
			if err := b.Hangup(ctxT(t, 10*time.Second)); err != nil {
				t.Fatalf("hang up: %v", err)
			}
			waitDone(t, "caller", a)

			// The phone is called: the PBX's INVITE names the listener.
			b, a = connect(t, bob, alice, "1001")
			nextContact("INVITE")
			if err := a.Hangup(ctxT(t, 10*time.Second)); err != nil {
				t.Fatalf("hang up: %v", err)
			}
			waitDone(t, "caller", b)
			for len(contacts) > 0 { // the ACKs and BYE that came after
				checkEntry(<-contacts)
			}
		})
	}
}

// portOf is the port of a host:port listener address.
func portOf(t *testing.T, addr string) int {
	t.Helper()
	ap, err := netip.ParseAddrPort(addr)
	if err != nil {
		t.Fatalf("listener address %q: %v", addr, err)
	}
	return int(ap.Port())
}
