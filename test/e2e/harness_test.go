// Package e2e runs a whole Switchboard in-process on loopback ports the OS picks and
// drives it with real SIP peers: the scripted test phone and SIPp.
package e2e

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"os"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"switchboard/dialplan"
	"switchboard/internal/app"
	"switchboard/internal/testphone"
	"switchboard/store"
)

// rtpBase hands each server in this process its own RTP range; ranges of parallel
// test processes differ by pid, and ports in use are skipped by the pool anyway.
var rtpBase atomic.Int64

func rtpRange() string {
	n := rtpBase.Add(1)
	start := 20000 + (os.Getpid()%200)*100 + int(n%50)*400
	start %= 40000
	start += 20000
	start &^= 1
	return fmt.Sprintf("%d-%d", start, start+399)
}

// server is a running Switchboard for one test.
type server struct {
	*app.App
	t    *testing.T
	data string
}

const baseConfig = `
domain: test.local
listen:
  sip: [udp://127.0.0.1:0, tcp://127.0.0.1:0]
  http: 127.0.0.1:0
  rtp_ports: %s
voicemail: {silence_timeout: 1s, max_length: 20s}
`

// startServer runs a server with baseConfig followed by body (agents, teams...).
func startServer(t *testing.T, body string) *server {
	t.Helper()
	return startServerDir(t, body, t.TempDir())
}

func startServerDir(t *testing.T, body, data string) *server {
	t.Helper()
	return startRaw(t, fmt.Sprintf(baseConfig, rtpRange())+body, data)
}

// startRaw runs a server on a whole config text.
func startRaw(t *testing.T, yaml, data string) *server {
	t.Helper()
	cfg, err := dialplan.Parse(data+"/switchboard.yaml", []byte(yaml))
	if err != nil {
		t.Fatalf("config: %v", err)
	}
	a, err := app.Start(context.Background(), cfg, app.Options{DataDir: data, Logger: testLogger(t), Token: "test-token"})
	if err != nil {
		t.Fatalf("start: %v", err)
	}
	s := &server{App: a, t: t, data: data}
	t.Cleanup(func() { s.stop() })
	return s
}

func (s *server) stop() {
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	if err := s.Stop(ctx); err != nil {
		s.t.Errorf("stop: %v", err)
	}
}

func testLogger(t *testing.T) *slog.Logger {
	if os.Getenv("E2E_QUIET") != "" {
		return slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	return slog.New(slog.NewTextHandler(testWriter{t}, &slog.HandlerOptions{Level: slog.LevelInfo}))
}

// testWriter sends server logs to the test log, shown only for failing tests.
type testWriter struct{ t *testing.T }

func (w testWriter) Write(b []byte) (int, error) {
	w.t.Log(strings.TrimRight(string(b), "\n"))
	return len(b), nil
}

// phone registers a test phone for an extension over UDP.
func (s *server) phone(ext, password, codec string) *testphone.Phone {
	s.t.Helper()
	return s.registerPhone(testphone.Config{User: ext, Password: password, Codec: codec})
}

// registerPhone starts a phone with cfg (domain and server filled in when empty)
// and registers it.
func (s *server) registerPhone(cfg testphone.Config) *testphone.Phone {
	s.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if cfg.Domain == "" {
		cfg.Domain = "test.local"
	}
	if cfg.Server == "" {
		cfg.Server = s.SIPAddr()
	}
	p, err := testphone.New(ctx, cfg)
	if err != nil {
		s.t.Fatalf("phone %s: %v", cfg.User, err)
	}
	s.t.Cleanup(func() { p.Close() })
	if err := p.Register(ctx, time.Hour); err != nil {
		s.t.Fatalf("register %s over %s: %v", cfg.User, cfg.Transport, err)
	}
	return p
}

// listener returns the address of the server's listener for network ("tcp", "tls").
func (s *server) listener(network string) string {
	s.t.Helper()
	for _, l := range s.SIP.Listeners() {
		if l.Network == network {
			return l.Addr.String()
		}
	}
	s.t.Fatalf("no %s listener: %+v", network, s.SIP.Listeners())
	return ""
}

// connect has caller dial number and callee answer; it returns both ends.
func connect(t *testing.T, caller, callee *testphone.Phone, number string) (a, b *testphone.Call) {
	t.Helper()
	pending := caller.DialAsync(ctxT(t, 20*time.Second), number)
	b = answerNext(t, callee)
	a, err := pending.Result()
	if err != nil {
		t.Fatalf("dial %s: %v", number, err)
	}
	return a, b
}

func ctxT(t *testing.T, d time.Duration) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), d)
	t.Cleanup(cancel)
	return ctx
}

func storeQuery(limit int) store.CallQuery { return store.CallQuery{Limit: limit} }
