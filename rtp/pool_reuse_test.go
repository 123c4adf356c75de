package rtp

import (
	"net"
	"net/netip"
	"testing"
)

// A closed session's socket goes back to the pool and serves a later session, with
// whatever arrived meanwhile thrown away.
func TestPoolReusesDrainedSockets(t *testing.T) {
	t.Parallel()
	var pool *Pool
	var a, b *Session
	// Find a free 2-session range (other tests and processes hold ports).
	for base := 42000; base < 43000 && a == nil; base += 4 {
		p, err := NewPool(netip.MustParseAddr("127.0.0.1"), base, base+3)
		if err != nil {
			t.Fatal(err)
		}
		s1, err1 := p.Open()
		s2, err2 := p.Open()
		if err1 == nil && err2 == nil && s1.LocalAddr().Port() != s2.LocalAddr().Port() {
			pool, a, b = p, s1, s2
			break
		}
		for _, s := range []*Session{s1, s2} {
			if s != nil {
				s.Close()
			}
		}
		p.Close()
	}
	if pool == nil {
		t.Skip("no free port pair found") // not expected on a quiet machine
	}
	defer pool.Close()
	defer b.Close()
	port := a.LocalAddr()
	a.Close()
	if pool.InUse() != 1 {
		t.Fatalf("in use after close: %d", pool.InUse())
	}
	// A late packet of the old call.
	c, err := net.Dial("udp", port.String())
	if err != nil {
		t.Fatal(err)
	}
	// Loopback delivers during the write: the datagrams wait in the socket now.
	for range 3 {
		c.Write(make([]byte, 172))
	}
	c.Close()
	s, err := pool.Open() // the pool is full: the resting socket is reused
	if err != nil {
		t.Fatalf("reuse: %v", err)
	}
	defer s.Close()
	if s.LocalAddr() != port {
		t.Fatalf("got %v, want the released %v", s.LocalAddr(), port)
	}
	if s.sys == nil || s.sys != a.sys || s.out.w == nil {
		t.Fatalf("the socket's send wrapper was not kept: %p, before %p (writer %p)", s.sys, a.sys, s.out.w)
	}
	// Had they not been drained, the new session's reader would take them at once;
	// a packet sent now shows when it has read what was queued before.
	probe := newPeer(t)
	probe.send(s.LocalAddr(), PCMU.PT, false, 160, make([]byte, 160))
	waitFor(t, "the probe packet", func() bool { return s.Stats().PacketsIn == 1 })
	if st := s.Stats(); st.Dropped != 0 {
		t.Fatalf("old packets reached the new session: %+v", st)
	}
	if pool.InUse() != 2 {
		t.Fatalf("in use: %d", pool.InUse())
	}
}
