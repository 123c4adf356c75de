package sip

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	gosip "github.com/emiago/sipgo/sip"

	"switchboard/sip/auth"
)

// countingWriter counts the bytes written to the log.
type countingWriter struct {
	mu sync.Mutex
	n  int
	b  bytes.Buffer
}

func (w *countingWriter) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.n += len(p)
	if w.b.Len() < 1<<20 {
		w.b.Write(p)
	}
	return len(p), nil
}

func (w *countingWriter) size() int { w.mu.Lock(); defer w.mu.Unlock(); return w.n }

type testServer struct {
	s         *Server
	udp, tcp  string
	log       *countingWriter
	malformed atomic.Int64
}

// startTestServer runs a server on loopback UDP and TCP whose INVITE and REGISTER
// handlers challenge with sip/auth, as pbx does.
func startTestServer(t *testing.T) *testServer {
	t.Helper()
	ts := &testServer{log: &countingWriter{}}
	s, err := New(Config{
		Listen:    []string{"udp://127.0.0.1:0", "tcp://127.0.0.1:0"},
		Logger:    slog.New(slog.NewTextHandler(ts.log, nil)),
		Malformed: func(netip.Addr) { ts.malformed.Add(1) },
	})
	if err != nil {
		t.Fatal(err)
	}
	a := auth.New(auth.Config{}, func(realm, user string) (auth.Account, bool) { return auth.Account{}, false })
	challenge := func(req *Request, tx ServerTransaction) { a.Authenticate(req, tx, "test.local", false) }
	s.OnInvite(challenge)
	s.OnRequest("REGISTER", challenge)
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(func() { cancel(); s.Close() })
	if err := s.Listen(ctx); err != nil {
		t.Fatal(err)
	}
	for _, l := range s.Listeners() {
		switch l.Network {
		case "udp":
			ts.udp = l.Addr.String()
		case "tcp":
			ts.tcp = l.Addr.String()
		}
	}
	ts.s = s
	return ts
}

func udpClient(t *testing.T) *net.UDPConn {
	t.Helper()
	c, err := net.ListenUDP("udp", net.UDPAddrFromAddrPort(netip.MustParseAddrPort("127.0.0.1:0")))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

// request builds a request whose Via names the client's address.
func request(method, version, local, transport string, extra string, body string) string {
	return fmt.Sprintf("%s sip:1002@test.local %s\r\nVia: SIP/2.0/%s %s;branch=z9hG4bK-%d\r\n"+
		"Max-Forwards: 70\r\nFrom: <sip:1001@test.local>;tag=a1\r\nTo: <sip:1002@test.local>\r\n"+
		"Call-ID: c-%d\r\nCSeq: 1 %s\r\nContact: <sip:1001@%s>\r\n%sContent-Length: %d\r\n\r\n%s",
		method, version, transport, local, time.Now().UnixNano(), time.Now().UnixNano(), method, local, extra, len(body), body)
}

// readStatus reads one response from a UDP socket, with a guard against a hang.
func readUDPStatus(t *testing.T, c *net.UDPConn, wait time.Duration) (int, string, bool) {
	t.Helper()
	buf := make([]byte, 65535)
	c.SetReadDeadline(time.Now().Add(wait))
	n, _, err := c.ReadFrom(buf)
	if err != nil {
		return 0, "", false
	}
	res, err := gosip.NewParser().ParseSIP(buf[:n])
	if err != nil {
		t.Fatalf("bad response: %v\n%s", err, buf[:n])
	}
	r := res.(*gosip.Response)
	nonce := ""
	if h := r.GetHeader("WWW-Authenticate"); h != nil {
		nonce = h.Value()
	}
	return r.StatusCode, nonce, true
}

// Issue 14, problem 4: an unauthenticated INVITE gets one 401, never
// retransmitted, and a retransmitted INVITE gets a fresh stateless answer
// instead of the transaction's copy.
func TestChallengeIsStateless(t *testing.T) {
	t.Parallel()
	ts := startTestServer(t)
	c := udpClient(t)
	server := net.UDPAddrFromAddrPort(netip.MustParseAddrPort(ts.udp))
	inv := request("INVITE", "SIP/2.0", c.LocalAddr().String(), "UDP", "", "")
	c.WriteTo([]byte(inv), server)
	code, nonce1, ok := readUDPStatus(t, c, 10*time.Second)
	if !ok || code != 401 {
		t.Fatalf("first answer %d (%v), want 401", code, ok)
	}
	// The transaction would resend its 401 after T1 (500 ms); nothing comes.
	if code, _, ok := readUDPStatus(t, c, 3*gosip.T1); ok {
		t.Fatalf("a second answer (%d) to one INVITE: the 401 is retransmitted", code)
	}
	c.WriteTo([]byte(inv), server) // the client's own retransmission
	code, nonce2, ok := readUDPStatus(t, c, 10*time.Second)
	if !ok || code != 401 || nonce1 == nonce2 {
		t.Fatalf("retransmitted INVITE: %d, same nonce %v; want a fresh 401", code, nonce1 == nonce2)
	}
}

// Issue 14, problem 8: 505 for another SIP version, 400 for a bad or
// conflicting Content-Length, 513 for a body too large, over UDP and TCP.
func TestProtocolAnswers(t *testing.T) {
	t.Parallel()
	ts := startTestServer(t)
	big := strings.Repeat("v=0\r\n", (MaxBody/5)+100)
	tests := []struct {
		name string
		msg  func(local, transport string) string
		want int
	}{
		{"SIP/3.0", func(l, tr string) string { return request("OPTIONS", "SIP/3.0", l, tr, "", "") }, 505},
		{"negative Content-Length", func(l, tr string) string {
			return strings.Replace(request("OPTIONS", "SIP/2.0", l, tr, "", ""), "Content-Length: 0", "Content-Length: -1", 1)
		}, 400},
		{"conflicting Content-Length", func(l, tr string) string {
			return request("OPTIONS", "SIP/2.0", l, tr, "Content-Length: 7\r\n", "")
		}, 400},
		{"body too large", func(l, tr string) string {
			return request("OPTIONS", "SIP/2.0", l, tr, "Content-Type: application/sdp\r\n", big)
		}, 513},
		{"datagram too large", func(l, tr string) string {
			return request("OPTIONS", "SIP/2.0", l, tr, "Content-Type: application/sdp\r\n", strings.Repeat(big, 3))
		}, 513},
		{"fine", func(l, tr string) string { return request("OPTIONS", "SIP/2.0", l, tr, "", "") }, 200},
	}
	for _, tc := range tests {
		t.Run("udp/"+tc.name, func(t *testing.T) {
			t.Parallel()
			c := udpClient(t)
			c.WriteTo([]byte(tc.msg(c.LocalAddr().String(), "UDP")), net.UDPAddrFromAddrPort(netip.MustParseAddrPort(ts.udp)))
			if code, _, ok := readUDPStatus(t, c, 10*time.Second); !ok || code != tc.want {
				t.Fatalf("answer %d (%v), want %d", code, ok, tc.want)
			}
		})
		t.Run("tcp/"+tc.name, func(t *testing.T) {
			t.Parallel()
			c, err := net.Dial("tcp", ts.tcp)
			if err != nil {
				t.Fatal(err)
			}
			defer c.Close()
			c.SetDeadline(time.Now().Add(10 * time.Second))
			if _, err := c.Write([]byte(tc.msg(c.LocalAddr().String(), "TCP"))); err != nil {
				t.Fatal(err)
			}
			line, err := bufio.NewReader(c).ReadString('\n')
			if err != nil {
				t.Fatalf("no answer: %v", err)
			}
			if want := fmt.Sprintf("SIP/2.0 %d ", tc.want); !strings.HasPrefix(line, want) {
				t.Fatalf("answer %q, want %q", line, want)
			}
		})
	}
}

// Issue 14, problem 3: megabytes of garbage grow the log by a few kilobytes,
// and every malformed datagram counts toward its sender's ban.
func TestGarbageDoesNotFloodTheLog(t *testing.T) {
	t.Parallel()
	ts := startTestServer(t)
	c := udpClient(t)
	server := net.UDPAddrFromAddrPort(netip.MustParseAddrPort(ts.udp))
	garbage := bytes.Repeat([]byte("INVITE \x00\x01\x1b[2J junk\r\n"), 60000/24)
	const datagrams = 200
	sent := 0
	for i := range datagrams {
		// Slow enough for the socket buffer: the sync below needs all of them read.
		if i%20 == 0 {
			c.WriteTo([]byte(request("OPTIONS", "SIP/2.0", c.LocalAddr().String(), "UDP", "", "")), server)
			readUDPStatus(t, c, 10*time.Second)
		}
		n, err := c.WriteTo(garbage, server)
		if err != nil {
			t.Fatal(err)
		}
		sent += n
	}
	// Over TCP too: each bad stream costs a connection.
	for range 20 {
		tc, err := net.Dial("tcp", ts.tcp)
		if err != nil {
			t.Fatal(err)
		}
		tc.Write(garbage[:4000])
		tc.SetReadDeadline(time.Now().Add(10 * time.Second))
		tc.Read(make([]byte, 1)) // until the server closes it
		tc.Close()
		sent += 4000
	}
	// The socket is read in order: once this is answered, all garbage was read.
	c.WriteTo([]byte(request("OPTIONS", "SIP/2.0", c.LocalAddr().String(), "UDP", "", "")), server)
	if code, _, ok := readUDPStatus(t, c, 10*time.Second); !ok || code != 200 {
		t.Fatalf("OPTIONS after the garbage: %d", code)
	}
	grew := ts.log.size()
	t.Logf("%d bytes of garbage grew the log by %d bytes; %d malformed counted", sent, grew, ts.malformed.Load())
	if grew > 8<<10 {
		t.Fatalf("log grew by %d bytes for %d bytes of garbage:\n%.4000s", grew, sent, ts.log.b.String())
	}
	if got := ts.malformed.Load(); got != datagrams {
		t.Fatalf("%d malformed datagrams counted toward the ban, want %d", got, datagrams)
	}
}

// A phone's first REGISTER or INVITE over UDP is answered on the read path by
// OnChallenge, before any transaction or handler; everything else (credentials,
// a request in a dialog, a protocol error, a nil answer) reaches the handlers.
func TestEarlyChallenge(t *testing.T) {
	t.Parallel()
	s, err := New(Config{Listen: []string{"udp://127.0.0.1:0"}, Logger: slog.New(slog.NewTextHandler(&countingWriter{}, nil))})
	if err != nil {
		t.Fatal(err)
	}
	a := auth.New(auth.Config{}, func(realm, user string) (auth.Account, bool) { return auth.Account{}, false })
	var handled atomic.Int64
	handler := func(req *Request, tx ServerTransaction) {
		handled.Add(1)
		s.Respond(tx, req, 403, "Handled")
	}
	s.OnInvite(handler)
	s.OnRequest("REGISTER", handler)
	s.OnChallenge(func(req *Request) *Response {
		if req.GetHeader("X-Carrier") != nil {
			return nil // as the PBX does for a trunk's INVITE
		}
		return a.Challenge(req, "test.local")
	})
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(func() { cancel(); s.Close() })
	if err := s.Listen(ctx); err != nil {
		t.Fatal(err)
	}
	server := net.UDPAddrFromAddrPort(s.Listeners()[0].Addr)
	for _, tc := range []struct {
		name, method, version, extra string
		to                           string // replaces the To header when set
		want                         int
		handler                      bool // the request reached the method's handler
	}{
		{"register", "REGISTER", "SIP/2.0", "", "", 401, false},
		{"invite", "INVITE", "SIP/2.0", "", "", 401, false},
		{"register with credentials", "REGISTER", "SIP/2.0",
			"Authorization: Digest username=\"1001\", realm=\"test.local\", nonce=\"x\", uri=\"sip:test.local\", response=\"0\"\r\n", "", 403, true},
		{"invite with proxy credentials", "INVITE", "SIP/2.0",
			"Proxy-Authorization: Digest username=\"1001\", realm=\"test.local\", nonce=\"x\", uri=\"sip:test.local\", response=\"0\"\r\n", "", 403, true},
		{"no early answer", "INVITE", "SIP/2.0", "X-Carrier: 1\r\n", "", 403, true},
		// Answered by the normal path's checks, not by a 401 from the read path.
		{"another version", "REGISTER", "SIP/3.0", "", "", 505, false},
		{"in a dialog", "INVITE", "SIP/2.0", "", "To: <sip:1002@test.local>;tag=b1\r\n", 481, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := udpClient(t)
			req := request(tc.method, tc.version, c.LocalAddr().String(), "UDP", tc.extra, "")
			if tc.to != "" {
				req = strings.Replace(req, "To: <sip:1002@test.local>\r\n", tc.to, 1)
			}
			before := handled.Load()
			c.WriteTo([]byte(req), server)
			code, challenge, ok := readUDPStatus(t, c, 10*time.Second)
			if !ok || code != tc.want {
				t.Fatalf("answer %d (%v), want %d", code, ok, tc.want)
			}
			if tc.want == 401 && !strings.Contains(challenge, `realm="test.local"`) {
				t.Errorf("401 without the realm's challenge: %q", challenge)
			}
			if reached := handled.Load() != before; reached != tc.handler {
				t.Errorf("handler reached: %v, want %v", reached, tc.handler)
			}
		})
	}
	if n := s.RequestCounts()["REGISTER"]; n != 3 {
		t.Errorf("REGISTER counted %d times, want 3", n)
	}
}
