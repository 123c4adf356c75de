package udpsys

import (
	"bytes"
	"errors"
	"net"
	"net/netip"
	"os"
	"runtime"
	"syscall"
	"testing"
	"time"
)

// listen4 is an IPv4 socket on 127.0.0.1.
func listen4(t *testing.T) *net.UDPConn {
	t.Helper()
	c, err := net.ListenUDP("udp4", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	// A datagram that went astray fails the test instead of hanging it.
	_ = c.SetReadDeadline(time.Now().Add(10 * time.Second))
	return c
}

// listenDual is an IPv6 socket that also speaks IPv4, as "udp" on 0.0.0.0
// makes, bound to the mapped form of 127.0.0.1 so that it listens on loopback
// only.
func listenDual(t *testing.T) *net.UDPConn {
	t.Helper()
	fd, err := syscall.Socket(syscall.AF_INET6, syscall.SOCK_DGRAM|syscall.SOCK_CLOEXEC, 0)
	if err != nil {
		t.Skipf("no IPv6 sockets here: %v", err)
	}
	if err := syscall.SetsockoptInt(fd, syscall.IPPROTO_IPV6, syscall.IPV6_V6ONLY, 0); err != nil {
		syscall.Close(fd)
		t.Skipf("no dual-stack sockets here: %v", err)
	}
	sa := &syscall.SockaddrInet6{Addr: netip.AddrFrom4([4]byte{127, 0, 0, 1}).As16()}
	if err := syscall.Bind(fd, sa); err != nil {
		syscall.Close(fd)
		t.Skipf("cannot bind the mapped loopback: %v", err)
	}
	f := os.NewFile(uintptr(fd), "dual")
	pc, err := net.FilePacketConn(f)
	f.Close()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { pc.Close() })
	_ = pc.SetReadDeadline(time.Now().Add(10 * time.Second))
	return pc.(*net.UDPConn)
}

func addr4(c *net.UDPConn) netip.AddrPort {
	ap := c.LocalAddr().(*net.UDPAddr).AddrPort()
	return netip.AddrPortFrom(netip.AddrFrom4([4]byte{127, 0, 0, 1}), ap.Port())
}

func TestRoundTrip(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name       string
		from, to   func(*testing.T) *net.UDPConn
		mappedDest bool // address the peer in its IPv4-mapped IPv6 form
	}{
		{"IPv4 to IPv4", listen4, listen4, false},
		{"IPv4 to IPv4, mapped destination", listen4, listen4, true},
		{"dual-stack to IPv4", listenDual, listen4, false},
		{"dual-stack to IPv4, mapped destination", listenDual, listen4, true},
		{"IPv4 to dual-stack", listen4, listenDual, false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			a, b := tc.from(t), tc.to(t)
			sa, err := New(a)
			if err != nil {
				t.Fatal(err)
			}
			sb, err := New(b)
			if err != nil {
				t.Fatal(err)
			}
			dst := addr4(b)
			if tc.mappedDest {
				dst = netip.AddrPortFrom(netip.AddrFrom16(dst.Addr().As16()), dst.Port())
			}
			msg := []byte("INVITE sip:1002@example.com SIP/2.0")
			n, err := sa.NewWriter().WriteTo(msg, dst)
			if err != nil || n != len(msg) {
				t.Fatalf("WriteTo = %d, %v", n, err)
			}
			buf := make([]byte, 1500)
			n, from, err := sb.NewReader().ReadFrom(buf)
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(buf[:n], msg) {
				t.Fatalf("got %q", buf[:n])
			}
			if want := addr4(a); from != want {
				t.Fatalf("source %v, want %v (IPv4, never mapped)", from, want)
			}
		})
	}
}

func TestIPv6PeerOnIPv4Socket(t *testing.T) {
	t.Parallel()
	s, err := New(listen4(t))
	if err != nil {
		t.Fatal(err)
	}
	// The net package's answer, not a raw errno and not a datagram to a wrong place.
	if _, err := s.NewWriter().WriteTo([]byte("x"), netip.MustParseAddrPort("[2001:db8::1]:5060")); err == nil {
		t.Fatal("an IPv6 destination on an IPv4 socket was accepted")
	}
}

func TestReadWaitsAndTruncates(t *testing.T) {
	t.Parallel()
	a, b := listen4(t), listen4(t)
	sa, _ := New(a)
	sb, _ := New(b)
	type result struct {
		n   int
		err error
	}
	got := make(chan result, 1)
	buf := make([]byte, 4)
	go func() {
		n, _, err := sb.NewReader().ReadFrom(buf) // the socket is empty: it waits
		got <- result{n, err}
	}()
	if _, err := sa.NewWriter().WriteTo([]byte("REGISTER"), addr4(b)); err != nil {
		t.Fatal(err)
	}
	r := <-got
	if r.err != nil || r.n != len(buf) || string(buf) != "REGI" {
		t.Fatalf("ReadFrom = %d %q, %v; want the datagram cut to the buffer", r.n, buf, r.err)
	}
}

func TestClosed(t *testing.T) {
	t.Parallel()
	c := listen4(t)
	s, err := New(c)
	if err != nil {
		t.Fatal(err)
	}
	waiting := make(chan error, 1)
	go func() {
		_, _, err := s.NewReader().ReadFrom(make([]byte, 10))
		waiting <- err
	}()
	c.Close()
	if err := <-waiting; !errors.Is(err, net.ErrClosed) {
		t.Fatalf("a read waiting at Close: %v, want net.ErrClosed", err)
	}
	if _, err := s.NewWriter().WriteTo([]byte("x"), netip.MustParseAddrPort("127.0.0.1:9")); !errors.Is(err, net.ErrClosed) {
		t.Fatalf("WriteTo after Close: %v, want net.ErrClosed", err)
	}
}

func TestWriteDoesNotAllocate(t *testing.T) {
	if runtime.GOOS != "linux" {
		t.Skip("the raw path is Linux's")
	}
	a, b := listen4(t), listen4(t)
	s, _ := New(a)
	w := s.NewWriter()
	pkt := make([]byte, 172)
	dst := addr4(b)
	if n := testing.AllocsPerRun(200, func() { _, _ = w.WriteTo(pkt, dst) }); n != 0 {
		t.Fatalf("%v allocations per datagram, want 0 (the media path sends one per 20 ms per leg)", n)
	}
}

func TestReadDeadline(t *testing.T) {
	t.Parallel()
	c := listen4(t)
	s, _ := New(c)
	// Nothing comes: the read must wait on the poller (not spin, not fail at
	// once) until the deadline.
	_ = c.SetReadDeadline(time.Now().Add(50 * time.Millisecond))
	if _, _, err := s.NewReader().ReadFrom(make([]byte, 10)); !errors.Is(err, os.ErrDeadlineExceeded) {
		t.Fatalf("ReadFrom on an empty socket: %v, want os.ErrDeadlineExceeded", err)
	}
}
