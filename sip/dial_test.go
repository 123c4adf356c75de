package sip

import (
	"context"
	"errors"
	"log/slog"
	"net"
	"strings"
	"testing"
	"time"

	"switchboard/internal/testcert"
)

// A phone's registration source over TCP or WebSocket is the phone's end of a
// connection, not a listener. Once that connection is gone, Dial must not connect
// there (another program may hold the port now): a TCP phone is reached at its
// Contact instead, a WebSocket phone not at all.
func TestDialDoesNotReconnect(t *testing.T) {
	t.Parallel()
	s := listeningServer(t, Config{Listen: []string{"udp://127.0.0.1:0", "tcp://127.0.0.1:0", "ws://127.0.0.1:0"}})

	// squatter holds the old source port; contact is where the TCP phone listens.
	squatter := listen(t)
	contact := listen(t)
	// Dial connects before it returns, so a connection is in the backlog by then;
	// wait is a guard for the one that must come, and for the one that must not
	// long enough to see it (a deadline already passed fails Accept unseen).
	accepted := func(l *net.TCPListener, wait time.Duration) bool {
		_ = l.SetDeadline(time.Now().Add(wait))
		c, err := l.Accept()
		if err != nil {
			return false
		}
		c.Close()
		return true
	}

	wctx, wcancel := context.WithTimeout(context.Background(), 5*time.Second) // a connect attempt would hang on the handshake
	defer wcancel()
	_, err := s.Dial(wctx, DialSpec{
		URI: "sip:1001@df7jal23ls0d.invalid;transport=ws", Destination: squatter.Addr().String(), Transport: "WS",
		SDP: []byte("v=0\r\n"),
	})
	if !errors.Is(err, ErrNoConnection) {
		t.Fatalf("WS dial without a connection: %v, want ErrNoConnection", err)
	}

	dctx, dcancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer dcancel()
	_, _ = s.Dial(dctx, DialSpec{
		URI: "sip:1001@" + contact.Addr().String() + ";transport=tcp", Destination: squatter.Addr().String(), Transport: "TCP",
		SDP: []byte("v=0\r\n"),
	})
	if !accepted(contact, 10*time.Second) {
		t.Error("TCP dial did not reach the phone's Contact")
	}
	if accepted(squatter, 300*time.Millisecond) {
		t.Error("a dial connected to the gone connection's source port")
	}
}

func listen(t *testing.T) *net.TCPListener {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { l.Close() })
	return l.(*net.TCPListener)
}

// ContactFor names the listener of the transport a message goes over, so that a
// phone on TLS or a WebSocket is not sent to the UDP port; without an open
// connection to go by it takes the first listener of that transport.
func TestContactFor(t *testing.T) {
	t.Parallel()
	s := listeningServer(t, Config{
		Listen: []string{"udp://127.0.0.1:0", "tcp://127.0.0.1:0", "tls://127.0.0.1:0", "ws://127.0.0.1:0", "wss://127.0.0.1:0"},
		TLS:    testcert.New(t).Server(),
	})
	port := map[string]int{}
	for _, l := range s.Listeners() {
		port[l.Network] = int(l.Addr.Port())
	}
	tests := []struct {
		transport, param, network string
	}{
		{"UDP", "", "udp"},
		{"", "", "udp"},
		{"TCP", "tcp", "tcp"},
		{"TLS", "tls", "tls"},
		{"WS", "ws", "ws"},
		{"WSS", "ws", "wss"}, // RFC 7118 section 5.2: "ws" for WSS too
	}
	for _, tc := range tests {
		c := s.ContactFor(tc.transport, "127.0.0.1:9")
		got, _ := c.Address.UriParams.Get("transport")
		if c.Address.Port != port[tc.network] || got != tc.param || c.Address.Host != s.Host() {
			t.Errorf("ContactFor(%q) = %s, want %s:%d transport %q", tc.transport, c.Address.String(), s.Host(), port[tc.network], tc.param)
		}
	}
	if s.Contact().Address.UriParams.Has("transport") {
		t.Errorf("ContactFor changed the server's own Contact: %s", s.Contact().Address.String())
	}
}

// listeningServer starts a server on cfg's listeners (log discarded) for the
// length of the test.
func listeningServer(t *testing.T, cfg Config) *Server {
	t.Helper()
	cfg.Logger = slog.New(slog.DiscardHandler)
	s, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	if err := s.Listen(ctx); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

// A phone that rang and then went silent does not hold a shutdown: abandoning
// the wait sends it one CANCEL and returns at once, instead of waiting 64*T1 for
// answers that never come.
func TestAbandonAfterRinging(t *testing.T) {
	t.Parallel()
	s := listeningServer(t, Config{Listen: []string{"udp://127.0.0.1:0"}})
	phone, err := net.ListenPacket("udp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer phone.Close()
	cancels := make(chan string, 4)
	go func() {
		buf := make([]byte, 65536)
		for {
			n, from, err := phone.ReadFrom(buf)
			if err != nil {
				return
			}
			msg := string(buf[:n])
			switch {
			case strings.HasPrefix(msg, "INVITE "):
				// 180 Ringing, then nothing: not even to the CANCEL.
				phone.WriteTo([]byte(ringingFor(msg)), from)
			case strings.HasPrefix(msg, "CANCEL "):
				cancels <- msg
			}
		}
	}()
	ctx, cancel := context.WithCancelCause(context.Background())
	leg, err := s.Dial(ctx, DialSpec{URI: "sip:1001@" + phone.LocalAddr().String(), SDP: []byte("v=0\r\n")})
	if err != nil {
		t.Fatal(err)
	}
	rang := make(chan struct{})
	done := make(chan error, 1)
	go func() {
		done <- leg.Wait(ctx, func(code int, _ []byte) {
			if code == 180 {
				close(rang)
			}
		})
	}()
	select {
	case <-rang:
	case <-time.After(10 * time.Second):
		t.Fatal("the phone's 180 never arrived")
	}
	cancel(ErrAbandoned)
	select {
	case err := <-done:
		if err == nil {
			t.Fatal("Wait answered nil for an abandoned INVITE")
		}
	case <-time.After(10 * time.Second): // a failure guard: without the fix this takes 64*T1
		t.Fatal("Wait still waits for the silent phone")
	}
	select {
	case m := <-cancels:
		if !strings.Contains(m, "CSeq: 1 CANCEL") && !strings.Contains(m, " CANCEL\r\n") {
			t.Errorf("CANCEL without a CANCEL CSeq:\n%s", m)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("the ringing phone got no CANCEL")
	}
}

// ringingFor builds a 180 for a raw INVITE: its Via, From, To (with a tag),
// Call-ID and CSeq.
func ringingFor(invite string) string {
	var b strings.Builder
	b.WriteString("SIP/2.0 180 Ringing\r\n")
	for _, line := range strings.Split(invite, "\r\n") {
		name, _, _ := strings.Cut(line, ":")
		switch strings.ToLower(strings.TrimSpace(name)) {
		case "via", "from", "call-id", "cseq":
			b.WriteString(line + "\r\n")
		case "to":
			b.WriteString(line + ";tag=silent1\r\n")
		}
	}
	b.WriteString("Content-Length: 0\r\n\r\n")
	return b.String()
}
