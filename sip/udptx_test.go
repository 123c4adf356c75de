package sip

import (
	"context"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	gosip "github.com/emiago/sipgo/sip"
)

// registerServer runs a server on loopback UDP whose REGISTER handler is
// handler(server), and returns it with its address.
func registerServer(t *testing.T, handler func(*Server) RequestHandler) (*Server, *net.UDPAddr) {
	t.Helper()
	s, err := New(Config{Listen: []string{"udp://127.0.0.1:0"}, Logger: slog.New(slog.NewTextHandler(&countingWriter{}, nil))})
	if err != nil {
		t.Fatal(err)
	}
	s.OnRequest("REGISTER", handler(s))
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(func() { cancel(); s.Close() })
	if err := s.Listen(ctx); err != nil {
		t.Fatal(err)
	}
	return s, net.UDPAddrFromAddrPort(s.Listeners()[0].Addr)
}

// A REGISTER over UDP runs in a transaction of our own: its handler runs once
// however often the phone retransmits, every copy gets the same final response,
// and the transaction ends after Timer J.
func TestRegisterUDPTransaction(t *testing.T) {
	t.Parallel()
	var calls atomic.Int64
	release := make(chan struct{})
	s, server := registerServer(t, func(s *Server) RequestHandler {
		return func(req *Request, tx ServerTransaction) {
			if calls.Add(1) == 1 {
				<-release // the phone retransmits while we work
			}
			s.Respond(tx, req, 200, "OK")
		}
	})
	c := udpClient(t)
	creds := "Authorization: Digest username=\"1001\", realm=\"test.local\", nonce=\"x\", uri=\"sip:test.local\", response=\"0\"\r\n"
	reg := request("REGISTER", "SIP/2.0", c.LocalAddr().String(), "UDP", creds, "")
	read := func() string {
		buf := make([]byte, 65535)
		c.SetReadDeadline(time.Now().Add(10 * time.Second))
		n, _, err := c.ReadFrom(buf)
		if err != nil {
			t.Fatalf("no answer: %v", err)
		}
		return string(buf[:n])
	}

	c.WriteTo([]byte(reg), server)
	c.WriteTo([]byte(reg), server) // a retransmission while the handler works: no answer yet
	// The server reads its socket in order, and takes a REGISTER copy on the
	// read path: once an OPTIONS sent after the copy is answered, the copy was
	// handled while the handler still waits.
	c.WriteTo([]byte(request("OPTIONS", "SIP/2.0", c.LocalAddr().String(), "UDP", "", "")), server)
	if res := read(); !strings.HasPrefix(res, "SIP/2.0 200 OK") || !strings.Contains(res, "OPTIONS") {
		t.Fatalf("want the 200 to OPTIONS first (the REGISTER's handler still waits), got %q", res)
	}
	deadline := time.Now().Add(10 * time.Second)
	for calls.Load() == 0 && time.Now().Before(deadline) {
		time.Sleep(5 * time.Millisecond) // the handler's goroutine may not have started yet
	}
	close(release)
	first := read()
	if !strings.HasPrefix(first, "SIP/2.0 200 OK") {
		t.Fatalf("answer %q", first)
	}
	c.WriteTo([]byte(reg), server) // a retransmission after the answer
	if again := read(); again != first {
		t.Errorf("retransmission answered with\n%s\nwant the same final response\n%s", again, first)
	}
	if n := calls.Load(); n != 1 {
		t.Errorf("handler ran %d times for one REGISTER", n)
	}
	// A copy that came in while the handler worked got no second answer.
	c.SetReadDeadline(time.Now().Add(300 * time.Millisecond))
	if n, _, err := c.ReadFrom(make([]byte, 65535)); err == nil {
		t.Errorf("an extra answer: %d bytes", n)
	}

	// Timer J: the transaction ends once its time is up.
	if n := s.udpTxs.pending(); n != 1 {
		t.Fatalf("%d transactions, want 1", n)
	}
	var tx *udpTx
	s.udpTxs.mu.Lock()
	for _, x := range s.udpTxs.m {
		tx = x
	}
	s.udpTxs.mu.Unlock()
	tx.mu.Lock()
	tx.expires = time.Now().Add(-time.Second)
	tx.mu.Unlock()
	select {
	case <-tx.Done():
	case <-time.After(10 * time.Second):
		t.Fatal("transaction kept past Timer J")
	}
	if n := s.udpTxs.pending(); n != 0 {
		t.Errorf("%d transactions left", n)
	}
	// The same branch again is a new request now.
	c.WriteTo([]byte(reg), server)
	read()
	if n := calls.Load(); n != 2 {
		t.Errorf("handler ran %d times, want 2 once the first transaction ended", n)
	}
}

// Answers sent outside sipgo's transactions go where sipgo's would: the
// source with rport, else the source address with the Via's port.
func TestResponseAddr(t *testing.T) {
	t.Parallel()
	src := netip.MustParseAddrPort("192.0.2.7:40000")
	for _, tc := range []struct {
		via  string
		want string
	}{
		{"SIP/2.0/UDP 192.0.2.7:5070;branch=z9hG4bK1;rport", "192.0.2.7:40000"},
		{"SIP/2.0/UDP 192.0.2.7:5070;branch=z9hG4bK1", "192.0.2.7:5070"},
		{"SIP/2.0/UDP phone.example.com;branch=z9hG4bK1", "192.0.2.7:5060"},
		{"SIP/2.0/UDP 10.0.0.9:5062;branch=z9hG4bK1;rport=1234", "192.0.2.7:1234"},
	} {
		msg := "REGISTER sip:test.local SIP/2.0\r\nVia: " + tc.via + "\r\nFrom: <sip:1@test.local>;tag=a\r\nTo: <sip:1@test.local>\r\nCall-ID: x\r\nCSeq: 1 REGISTER\r\nContent-Length: 0\r\n\r\n"
		parsed, err := gosip.NewParser().ParseSIP([]byte(msg))
		if err != nil {
			t.Fatal(err)
		}
		if got := responseAddr(parsed.(*gosip.Request), src); got.String() != tc.want {
			t.Errorf("Via %q: answer to %v, want %s", tc.via, got, tc.want)
		}
	}
}

// A challenge or refusal sent statelessly keeps nothing: requests that earn
// one cannot fill the table.
func TestRegisterUDPStatelessAnswerKeepsNothing(t *testing.T) {
	t.Parallel()
	s, server := registerServer(t, func(*Server) RequestHandler {
		return func(req *Request, tx ServerTransaction) {
			tx.(interface{ RespondStateless(*Response) error }).RespondStateless(gosip.NewResponseFromRequest(req, 401, "Unauthorized", nil))
		}
	})
	c := udpClient(t)
	creds := "Authorization: Digest username=\"1001\", realm=\"elsewhere\", nonce=\"x\", uri=\"sip:test.local\", response=\"0\"\r\n"
	for range 20 {
		c.WriteTo([]byte(request("REGISTER", "SIP/2.0", c.LocalAddr().String(), "UDP", creds, "")), server)
		buf := make([]byte, 65535)
		c.SetReadDeadline(time.Now().Add(10 * time.Second))
		if n, _, err := c.ReadFrom(buf); err != nil || !strings.HasPrefix(string(buf[:n]), "SIP/2.0 401") {
			t.Fatalf("answer %q, %v", buf[:n], err)
		}
	}
	// The entry goes right after the answer is written.
	deadline := time.Now().Add(10 * time.Second)
	for s.udpTxs.pending() != 0 {
		if time.Now().After(deadline) {
			t.Fatalf("%d transactions kept after stateless answers", s.udpTxs.pending())
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// A BYE over UDP runs in a transaction of our own too: one answer from the
// handler, the same answer to a retransmission, and an entry in our table.
func TestByeUDPTransaction(t *testing.T) {
	t.Parallel()
	s, server := registerServer(t, func(s *Server) RequestHandler {
		return func(req *Request, tx ServerTransaction) { s.Respond(tx, req, 200, "OK") }
	})
	c := udpClient(t)
	bye := request("BYE", "SIP/2.0", c.LocalAddr().String(), "UDP", "", "")
	bye = strings.Replace(bye, "To: <sip:1002@test.local>", "To: <sip:1002@test.local>;tag=gone", 1)
	c.WriteTo([]byte(bye), server)
	code, _, ok := readUDPStatus(t, c, 10*time.Second)
	if !ok || code != 481 {
		t.Fatalf("BYE for no call: %d (answered %v), want 481", code, ok)
	}
	if n := s.udpTxs.pending(); n != 1 {
		t.Fatalf("%d transactions in our table, want the BYE's", n)
	}
	c.WriteTo([]byte(bye), server)
	if code, _, ok := readUDPStatus(t, c, 10*time.Second); !ok || code != 481 {
		t.Fatalf("retransmitted BYE: %d (answered %v), want 481 again", code, ok)
	}
	if n := s.RequestCounts()["BYE"]; n != 1 {
		t.Errorf("BYE handled %d times, want once", n)
	}
}

// The ACK of an INVITE challenged without a transaction is known by its To
// tag, counted and dropped on the read path.
func TestAckOfEarlyChallenge(t *testing.T) {
	t.Parallel()
	s, server := registerServer(t, func(s *Server) RequestHandler {
		return func(req *Request, tx ServerTransaction) { s.Respond(tx, req, 200, "OK") }
	})
	s.OnChallenge(func(req *Request) *Response { return gosip.NewResponseFromRequest(req, 401, "Unauthorized", nil) })
	c := udpClient(t)
	invite := request("INVITE", "SIP/2.0", c.LocalAddr().String(), "UDP", "", "")
	c.WriteTo([]byte(invite), server)
	buf := make([]byte, 65535)
	c.SetReadDeadline(time.Now().Add(10 * time.Second))
	n, _, err := c.ReadFrom(buf)
	if err != nil {
		t.Fatal(err)
	}
	msg, err := gosip.NewParser().ParseSIP(buf[:n])
	if err != nil {
		t.Fatal(err)
	}
	res := msg.(*gosip.Response)
	tag, _ := res.To().Params.Get("tag")
	if res.StatusCode != 401 || !strings.HasPrefix(tag, challengeTagPrefix) {
		t.Fatalf("challenge %d with To tag %q, want 401 and a tag that starts %q", res.StatusCode, tag, challengeTagPrefix)
	}
	ack := strings.Replace(invite, "INVITE sip:", "ACK sip:", 1)
	ack = strings.Replace(ack, " INVITE\r\n", " ACK\r\n", 1)
	ack = strings.Replace(ack, "To: <sip:1002@test.local>", "To: <sip:1002@test.local>;tag="+tag, 1)
	c.WriteTo([]byte(ack), server)
	deadline := time.Now().Add(10 * time.Second)
	for s.RequestCounts()["ACK"] != 1 {
		if time.Now().After(deadline) {
			t.Fatalf("ACK counted %d times, want once", s.RequestCounts()["ACK"])
		}
		time.Sleep(5 * time.Millisecond)
	}
	if _, _, ok := readUDPStatus(t, c, 300*time.Millisecond); ok {
		t.Error("an ACK was answered")
	}
	if n := s.acksOnReadPath.Load(); n != 1 {
		t.Errorf("%d ACKs ended on the read path, want this one (sipgo would have made a transaction for it)", n)
	}
}

// The ACK of a call's 200 confirms the dialog from the read path.
func TestAckOf2xxOnReadPath(t *testing.T) {
	t.Parallel()
	s, legs := referServer(t, nil)
	p := newSIPPeer(t)
	ctx := ctxFor(t)
	d := p.call(ctx, s)
	l := <-legs
	deadline := time.Now().Add(10 * time.Second)
	for s.acksOnReadPath.Load() != 1 {
		if time.Now().After(deadline) {
			t.Fatalf("%d ACKs ended on the read path, want the call's", s.acksOnReadPath.Load())
		}
		time.Sleep(5 * time.Millisecond)
	}
	if st := l.d.LoadState(); st != gosip.DialogStateConfirmed {
		t.Errorf("dialog state %v after the ACK, want confirmed", st)
	}
	if err := d.Bye(ctx); err != nil {
		t.Fatalf("BYE: %v", err)
	}
	select {
	case <-l.Done():
	case <-ctx.Done():
		t.Fatal("leg not ended by the BYE")
	}
}

func TestAckOf2xx(t *testing.T) {
	t.Parallel()
	msg := func(method string, cseq int, branch string) *gosip.Request {
		raw := fmt.Sprintf("%s sip:1002@test.local SIP/2.0\r\nVia: SIP/2.0/UDP 127.0.0.1:5070;branch=%s\r\n"+
			"From: <sip:1001@test.local>;tag=a\r\nTo: <sip:1002@test.local>;tag=b\r\nCall-ID: c1\r\nCSeq: %d %s\r\nContent-Length: 0\r\n\r\n",
			method, branch, cseq, method)
		m, err := gosip.NewParser().ParseSIP([]byte(raw))
		if err != nil {
			t.Fatal(err)
		}
		return m.(*gosip.Request)
	}
	invite := msg("INVITE", 1, "z9hG4bK-invite")
	tests := []struct {
		name string
		ack  *gosip.Request
		want bool
	}{
		{"new branch, the INVITE's CSeq: the 2xx's ACK", msg("ACK", 1, "z9hG4bK-ack"), true},
		{"the INVITE's branch: a non-2xx's ACK", msg("ACK", 1, "z9hG4bK-invite"), false},
		{"another CSeq: a re-INVITE's", msg("ACK", 2, "z9hG4bK-ack"), false},
	}
	for _, tc := range tests {
		if got := ackOf2xx(tc.ack, invite); got != tc.want {
			t.Errorf("%s: ackOf2xx = %v, want %v", tc.name, got, tc.want)
		}
	}
}
