package rtp

import (
	"net/netip"
	"testing"
	"time"
)

// Issue 14, problem 7: idle sockets go back to the system after the idle age
// even when no other call ends (before, only a later release trimmed them).
func TestPoolTrimsIdleSocketsByTime(t *testing.T) {
	t.Parallel()
	p, err := NewPool(netip.MustParseAddr("127.0.0.1"), 43000, 43999)
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	p.mu.Lock()
	p.maxAge = 20 * time.Millisecond
	p.mu.Unlock()
	s, err := p.Open()
	if err != nil {
		t.Skipf("no free port: %v", err)
	}
	s.Close()
	deadline := time.Now().Add(10 * time.Second)
	for p.InUse() != 0 { // the session's reader releases the port
		if time.Now().After(deadline) {
			t.Fatal("session never released its port")
		}
		time.Sleep(5 * time.Millisecond)
	}
	for p.IdleSockets() != 0 {
		if time.Now().After(deadline) {
			t.Fatalf("%d idle sockets still bound long after the idle age", p.IdleSockets())
		}
		time.Sleep(5 * time.Millisecond)
	}
}
