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
