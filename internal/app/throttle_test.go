package app

import (
	"bytes"
	"log/slog"
	"strings"
	"testing"
)

// A flood of net/http errors (one per failed TLS handshake) reaches the log as a
// few lines, not one per connection.
func TestThrottledLog(t *testing.T) {
	t.Parallel()
	var out bytes.Buffer
	w := &throttledLog{log: slog.New(slog.NewTextHandler(&out, nil))}
	for range 1000 {
		if _, err := w.Write([]byte("http: TLS handshake error from 127.0.0.1:4242: EOF\n")); err != nil {
			t.Fatal(err)
		}
	}
	if n := strings.Count(out.String(), "\n"); n != httpLogBurst {
		t.Fatalf("%d lines for 1000 errors, want %d:\n%s", n, httpLogBurst, out.String())
	}
}
