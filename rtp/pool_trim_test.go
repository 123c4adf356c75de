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

// At a call rate above what minIdle sockets cover for one rest, the idle list
// grows with the rate, so that new legs reuse rested sockets instead of binding
// fresh ones; a quiet spell shrinks it back to minIdle.
func TestPoolIdleCapFollowsReleaseRate(t *testing.T) {
	t.Parallel()
	p := &Pool{}
	start := time.Unix(1000, 0)
	for _, tc := range []struct {
		at       time.Duration
		releases int
		want     int
	}{
		{0, 10, minIdle},                            // few releases: the floor
		{100 * time.Millisecond, 290, 2 * 300},      // 300 in this window
		{idleRest + time.Millisecond, 100, 2 * 300}, // the last window was busier
		{3*idleRest + time.Millisecond, 1, minIdle}, // a quiet window in between
		{4 * idleRest, 5000, maxIdle},               // the ceiling
	} {
		for range tc.releases {
			p.countRelease(start.Add(tc.at))
		}
		if got := p.idleCap(); got != tc.want {
			t.Errorf("after %d releases at %v: idle cap %d, want %d", tc.releases, tc.at, got, tc.want)
		}
	}
}
