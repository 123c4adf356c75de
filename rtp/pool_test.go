package rtp

import (
	"errors"
	"net"
	"net/netip"
	"runtime"
	"testing"
)

func TestNewPoolRanges(t *testing.T) {
	t.Parallel()
	tests := []struct {
		min, max, size int
		ok             bool
	}{
		{10000, 20000, 5000, true},
		{10001, 10004, 1, true}, // 10002/10003 only
		{10000, 10001, 1, true},
		{10000, 10000, 0, false},
		{10001, 10002, 0, false},
		{0, 100, 0, false},
		{20000, 10000, 0, false},
		{60000, 70000, 0, false},
	}
	for _, tt := range tests {
		p, err := NewPool(loopback, tt.min, tt.max)
		if (err == nil) != tt.ok {
			t.Errorf("NewPool(%d, %d): err %v", tt.min, tt.max, err)
			continue
		}
		if err == nil && p.Size() != tt.size {
			t.Errorf("NewPool(%d, %d).Size() = %d, want %d", tt.min, tt.max, p.Size(), tt.size)
		}
	}
	if _, err := NewPool(netip.Addr{}, 10000, 10010); err == nil {
		t.Error("NewPool accepted an invalid IP")
	}
}

func TestPoolExhaustion(t *testing.T) {
	t.Parallel()
	pool := newTestPool(t, 8) // 4 pairs
	var open []*Session
	for {
		s, err := pool.Open()
		if err != nil {
			if !errors.Is(err, ErrPoolExhausted) {
				t.Fatalf("Open: %v, want ErrPoolExhausted", err)
			}
			break
		}
		open = append(open, s)
		if len(open) > pool.Size() {
			t.Fatalf("opened %d sessions from a pool of %d", len(open), pool.Size())
		}
	}
	if len(open) == 0 {
		t.Skip("every port of the test range is held by another process")
	}
	if pool.InUse() != len(open) {
		t.Fatalf("InUse %d, want %d", pool.InUse(), len(open))
	}
	seen := map[uint16]bool{}
	for _, s := range open {
		port := s.LocalAddr().Port()
		if port%2 != 0 || seen[port] {
			t.Fatalf("port %d odd or handed out twice", port)
		}
		seen[port] = true
		// The RTCP port is ours too.
		if c, err := net.ListenUDP("udp", net.UDPAddrFromAddrPort(netip.AddrPortFrom(loopback, port+1))); err == nil {
			c.Close()
			t.Fatalf("RTCP port %d was not reserved", port+1)
		}
	}
	for _, s := range open {
		if err := s.Close(); err != nil {
			t.Fatal(err)
		}
		if err := s.Close(); err != nil {
			t.Fatalf("second Close: %v", err)
		}
	}
	if pool.InUse() != 0 {
		t.Fatalf("InUse %d after closing everything", pool.InUse())
	}
	s, err := pool.Open()
	if err != nil {
		t.Fatalf("Open after Close: %v", err)
	}
	s.Close()
}

// TestPoolNoLeak is not parallel: it counts goroutines of the whole process.
func TestPoolNoLeak(t *testing.T) {
	pool := newTestPool(t, 64)
	start := runtime.NumGoroutine()
	p := newPeer(t)
	for i := range 200 {
		a, err := pool.Open()
		if err != nil {
			t.Fatalf("cycle %d: %v", i, err)
		}
		b, err := pool.Open()
		if err != nil {
			t.Fatalf("cycle %d: %v", i, err)
		}
		a.SetRemote(p.addr(), PCMU, DefaultDTMFPT)
		Bridge(a, b)
		if i%2 == 0 {
			a.Close()
			b.Close()
		} else {
			b.Close()
			a.Close()
		}
	}
	if n := pool.InUse(); n != 0 {
		t.Fatalf("InUse %d after 200 cycles", n)
	}
	waitFor(t, "goroutines to return to the start count", func() bool { return runtime.NumGoroutine() <= start })
}
