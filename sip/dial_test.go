package sip

import (
	"context"
	"errors"
	"log/slog"
	"net"
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
