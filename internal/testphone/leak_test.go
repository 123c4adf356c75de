package testphone

import (
	"context"
	"errors"
	"runtime"
	"testing"
	"time"
)

// TestCloseLeaksNoGoroutines is not parallel: it counts the process's goroutines
// while the parallel tests are paused.
func TestCloseLeaksNoGoroutines(t *testing.T) {
	before := runtime.NumGoroutine()
	func() {
		ctx, cancel := context.WithTimeout(context.Background(), guard)
		defer cancel()
		a, err := New(ctx, Config{User: "alice"})
		if err != nil {
			t.Fatal(err)
		}
		b, err := New(ctx, Config{User: "bob", Transport: "udp"})
		if err != nil {
			t.Fatal(err)
		}
		ca, cb := connect(t, ctx, a, b)
		ca.StartTone(1000)
		cb.StartTone(1000)
		if _, err := ca.Received(ctx, 40*time.Millisecond); err != nil {
			t.Fatal(err)
		}
		pd := a.DialAsync(ctx, b.URI()) // left ringing: Close must abandon it
		<-b.Incoming()
		_ = b.Close()
		var se *StatusError
		if _, err := pd.Result(); !errors.As(err, &se) || se.Code != 480 {
			t.Errorf("pending dial after callee Close = %v, want 480", err)
		}
		// The caller closing while its dial rings abandons the dial at once.
		c, err := New(ctx, Config{User: "carol"})
		if err != nil {
			t.Fatal(err)
		}
		pd = a.DialAsync(ctx, c.URI())
		<-c.Incoming()
		_ = a.Close()
		if _, err := pd.Result(); !errors.Is(err, ErrClosed) {
			t.Errorf("pending dial after caller Close = %v, want ErrClosed", err)
		}
		_ = c.Close()
	}()
	waitGoroutines(t, before)
}

// TestWebSocketCloseLeaksNoGoroutines is not parallel for the same reason:
// Close must stop a WebSocket phone's goroutines and close its connection, so
// that the server's reader of that connection ends too.
func TestWebSocketCloseLeaksNoGoroutines(t *testing.T) {
	serve, trust := testTLS(t)
	for _, network := range []string{"ws", "wss"} {
		t.Run(network, func(t *testing.T) {
			ctx, cancel := context.WithTimeout(context.Background(), guard)
			defer cancel()
			reg := newFakeRegistrarOn(t, map[string]string{"1001": "s3cret"}, network, serve)
			before := runtime.NumGoroutine() // the registrar's accept loop included
			p, err := New(ctx, Config{User: "1001", Password: "s3cret", Domain: testRealm, Server: reg.addr, Transport: network, TLS: trust})
			if err != nil {
				t.Fatal(err)
			}
			if err := p.Register(ctx, time.Minute); err != nil {
				t.Fatal(err)
			}
			// A NOTIFY from the server, so that a server transaction of the
			// phone used the connection too. (No INVITE: an ACK handled by the
			// server after the connection closed would make sipgo look up the
			// phone's ".invalid" Via host in DNS.)
			if _, err := p.SubscribeMWI(ctx, time.Minute); err != nil {
				t.Fatal(err)
			}
			if err := <-reg.notified; err != nil {
				t.Fatalf("NOTIFY: %v", err)
			}
			if err := p.Close(); err != nil {
				t.Errorf("Close: %v", err)
			}
			waitGoroutines(t, before)
		})
	}
}

// waitGoroutines fails unless the goroutine count drops to before; the
// deadline is only a failure guard.
func waitGoroutines(t *testing.T, before int) {
	t.Helper()
	deadline := time.Now().Add(guard)
	for {
		n := runtime.NumGoroutine()
		if n <= before {
			return
		}
		if time.Now().After(deadline) {
			buf := make([]byte, 1<<20)
			t.Fatalf("%d goroutines before, %d after Close:\n%s", before, n, buf[:runtime.Stack(buf, true)])
		}
		time.Sleep(20 * time.Millisecond)
	}
}
