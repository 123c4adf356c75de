//go:build linux && (amd64 || arm64)

package udpsys

import (
	"bufio"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"os"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// quietOn takes uc over with NewQuiet; the Conn is closed when the test ends.
func quietOn(t *testing.T, uc *net.UDPConn, window time.Duration) *Conn {
	t.Helper()
	c, err := NewQuiet(uc, window)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

type read struct {
	data string
	from netip.AddrPort
	err  error
}

// readAsync starts one ReadFrom; the test fails if it has not returned when
// the channel is read 10 s later.
func readAsync(r *Reader) <-chan read {
	out := make(chan read, 1)
	go func() {
		b := make([]byte, 2048)
		n, from, err := r.ReadFrom(b)
		out <- read{string(b[:n]), from, err}
	}()
	return out
}

func await(t *testing.T, ch <-chan read) read {
	t.Helper()
	select {
	case r := <-ch:
		return r
	case <-time.After(10 * time.Second):
		t.Fatal("no datagram read in 10 s")
		return read{}
	}
}

// armed reports whether the socket's event in the Conn's epoll instance is
// armed, from the kernel's own account of it (/proc/self/fdinfo).
func armed(t *testing.T, c *Conn) bool {
	t.Helper()
	f, err := os.Open(fmt.Sprintf("/proc/self/fdinfo/%d", c.quiet.epfd))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		fields := strings.Fields(sc.Text())
		if len(fields) < 4 || fields[0] != "tfd:" || fields[1] != strconv.Itoa(c.quiet.fd) || fields[2] != "events:" {
			continue
		}
		ev, err := strconv.ParseUint(fields[3], 16, 32)
		if err != nil {
			t.Fatalf("fdinfo line %q: %v", sc.Text(), err)
		}
		return ev&syscall.EPOLLIN != 0
	}
	t.Fatal("the socket is not in the epoll instance")
	return false
}

func TestQuietReadsWhatCameDuringTheWindow(t *testing.T) {
	t.Parallel()
	const window = time.Second // far longer than the steps below take
	c := quietOn(t, listen4(t), window)
	to := net.UDPAddrFromAddrPort(netip.MustParseAddrPort(c.LocalAddr().String()))
	peer := listen4(t)
	send := func(m string) {
		t.Helper()
		if _, err := peer.WriteTo([]byte(m), to); err != nil {
			t.Fatal(err)
		}
	}
	r := c.NewReader()

	// Two close together: the second makes the traffic dense (the first one
	// ever counts as sparse).
	send("first")
	send("second")
	got := await(t, readAsync(r))
	if got.err != nil || got.data != "first" || got.from != addr4(peer) {
		t.Fatalf("read %q from %v (%v), want \"first\" from %v", got.data, got.from, got.err, addr4(peer))
	}
	if got := await(t, readAsync(r)); got.err != nil || got.data != "second" {
		t.Fatalf("read %q (%v), want \"second\"", got.data, got.err)
	}
	// The next read finds the socket empty and sleeps out a window. Until it
	// ends, datagrams stay in the socket without an armed event: they wake
	// nobody.
	pending := readAsync(r)
	time.Sleep(10 * time.Millisecond)
	if armed(t, c) {
		t.Error("the socket's event is armed during a window")
	}
	for _, m := range []string{"b", "c", "d"} {
		send(m)
	}
	if got := await(t, pending); got.err != nil || got.data != "b" {
		t.Fatalf("read %q (%v), want \"b\"", got.data, got.err)
	}
	for _, want := range []string{"c", "d"} {
		if got := await(t, readAsync(r)); got.err != nil || got.data != want {
			t.Fatalf("read %q (%v), want %q", got.data, got.err, want)
		}
	}

	// Empty through a window: the reader arms the event and waits on it.
	next := readAsync(r)
	for deadline := time.Now().Add(10 * time.Second); !armed(t, c); time.Sleep(time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatal("the reader of an empty socket never armed its event")
		}
	}
	send("after a pause")
	if got := await(t, next); got.err != nil || got.data != "after a pause" {
		t.Fatalf("read %q (%v), want \"after a pause\"", got.data, got.err)
	}
	if armed(t, c) {
		t.Error("the event stays armed after it fired")
	}
}

// Datagrams more than a window apart get no window: after one, the reader
// waits again at once.
func TestQuietSparseTrafficGetsNoWindow(t *testing.T) {
	t.Parallel()
	const window = 20 * time.Millisecond
	c := quietOn(t, listen4(t), window)
	to := net.UDPAddrFromAddrPort(netip.MustParseAddrPort(c.LocalAddr().String()))
	peer := listen4(t)
	r := c.NewReader()
	for i, gap := range []time.Duration{0, 3 * window, 3 * window} {
		time.Sleep(gap)
		ch := readAsync(r)
		if _, err := peer.WriteTo([]byte("x"), to); err != nil {
			t.Fatal(err)
		}
		if got := await(t, ch); got.err != nil {
			t.Fatal(got.err)
		}
		// The reader is done (the channel said so): its state is ours to read.
		if i > 0 && !c.quiet.sparse {
			t.Errorf("datagram %d, %v after the one before: traffic not taken as sparse", i, gap)
		}
	}
	// Close together again: windows come back.
	done := make(chan struct{})
	go func() {
		defer close(done)
		for range 3 {
			if _, err := peer.WriteTo([]byte("y"), to); err != nil {
				t.Error(err)
			}
		}
	}()
	<-done
	for range 3 {
		if got := await(t, readAsync(r)); got.err != nil {
			t.Fatal(got.err)
		}
	}
	if c.quiet.sparse {
		t.Error("datagrams sent together: traffic still taken as sparse")
	}
}

// socketFDs counts this process's descriptors of the socket behind fd.
func socketFDs(t *testing.T, fd int) int {
	t.Helper()
	target, err := os.Readlink(fmt.Sprintf("/proc/self/fd/%d", fd))
	if err != nil {
		t.Fatal(err)
	}
	entries, err := os.ReadDir("/proc/self/fd")
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	for _, e := range entries {
		if l, err := os.Readlink("/proc/self/fd/" + e.Name()); err == nil && l == target {
			n++
		}
	}
	return n
}

// The socket's only descriptor is the Conn's: the one the Go poller knew is
// closed, and with it the poller's interest in the socket.
func TestQuietLeavesTheGoPoller(t *testing.T) {
	t.Parallel()
	c := quietOn(t, listen4(t), 5*time.Millisecond)
	if n := socketFDs(t, c.quiet.fd); n != 1 {
		t.Errorf("%d descriptors of the socket, want 1", n)
	}
}

func TestQuietClose(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name   string
		window time.Duration
		first  bool // datagrams read first, so that the next read sleeps out a window
	}{
		{"reader waiting on an empty socket", 10 * time.Millisecond, false},
		{"reader in a window", time.Hour, true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			c := quietOn(t, listen4(t), tc.window)
			r := c.NewReader()
			if tc.first {
				// Two close together (dense traffic), so that the next read
				// sleeps in a window.
				peer := listen4(t)
				for range 2 {
					if _, err := peer.WriteTo([]byte("x"), net.UDPAddrFromAddrPort(netip.MustParseAddrPort(c.LocalAddr().String()))); err != nil {
						t.Fatal(err)
					}
				}
				for range 2 {
					if got := await(t, readAsync(r)); got.err != nil {
						t.Fatal(got.err)
					}
				}
				if c.quiet.sparse {
					t.Fatal("two datagrams sent together taken as sparse traffic")
				}
			}
			pending := readAsync(r)
			time.Sleep(20 * time.Millisecond) // most likely waiting by now; either way Close must end it
			if err := c.Close(); err != nil {
				t.Fatalf("Close: %v", err)
			}
			if got := await(t, pending); !errors.Is(got.err, net.ErrClosed) {
				t.Errorf("read after Close: %v, want net.ErrClosed", got.err)
			}
			if err := c.Close(); !errors.Is(err, net.ErrClosed) {
				t.Errorf("second Close: %v, want net.ErrClosed", err)
			}
			// The socket is gone: its port can be bound again.
			again, err := net.ListenUDP("udp4", net.UDPAddrFromAddrPort(netip.MustParseAddrPort(c.LocalAddr().String())))
			if err != nil {
				t.Fatalf("the port after Close: %v", err)
			}
			again.Close()
			if _, err := c.NewWriter().WriteTo([]byte("x"), netip.MustParseAddrPort("127.0.0.1:9")); !errors.Is(err, net.ErrClosed) {
				t.Errorf("write after Close: %v, want net.ErrClosed", err)
			}
		})
	}
}

func TestQuietWrites(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name   string
		listen func(*testing.T) *net.UDPConn
	}{
		{"IPv4 socket", listen4},
		{"dual-stack socket", listenDual},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			c := quietOn(t, tc.listen(t), 5*time.Millisecond)
			peer := listen4(t)
			if _, err := c.NewWriter().WriteTo([]byte("hello"), addr4(peer)); err != nil {
				t.Fatal(err)
			}
			b := make([]byte, 64)
			n, _, err := peer.ReadFrom(b)
			if err != nil || string(b[:n]) != "hello" {
				t.Fatalf("peer read %q (%v), want \"hello\"", b[:n], err)
			}
		})
	}
}

// What fill cannot write is sent or refused without the net package's socket.
func TestQuietWriteSlow(t *testing.T) {
	t.Parallel()
	c4 := quietOn(t, listen4(t), 5*time.Millisecond)
	if _, err := c4.NewWriter().WriteTo([]byte("x"), netip.MustParseAddrPort("[2001:db8::1]:5060")); !errors.Is(err, syscall.EAFNOSUPPORT) {
		t.Errorf("IPv6 peer on an IPv4 socket: %v, want EAFNOSUPPORT", err)
	}
	if _, err := c4.NewWriter().WriteTo([]byte("x"), netip.AddrPort{}); err == nil {
		t.Error("no address: sent, want an error")
	}
	dual := quietOn(t, listenDual(t), 5*time.Millisecond)
	_, err := dual.NewWriter().WriteTo([]byte("x"), netip.MustParseAddrPort("[fe80::1%no-such-interface]:5060"))
	if err == nil || errors.Is(err, syscall.EAFNOSUPPORT) || !strings.Contains(err.Error(), "no such network interface") {
		t.Errorf("zone of no interface: %v, want the interface lookup's error", err)
	}

	// A zone names the interface to leave by: sent.
	uc6, err := net.ListenUDP("udp6", &net.UDPAddr{IP: net.IPv6loopback})
	if err != nil {
		t.Skipf("no IPv6 loopback: %v", err)
	}
	c6 := quietOn(t, uc6, 5*time.Millisecond)
	peer, err := net.ListenUDP("udp6", &net.UDPAddr{IP: net.IPv6loopback})
	if err != nil {
		t.Fatal(err)
	}
	defer peer.Close()
	_ = peer.SetReadDeadline(time.Now().Add(10 * time.Second))
	lo, err := net.InterfaceByIndex(1)
	if err != nil || lo.Flags&net.FlagLoopback == 0 {
		t.Skipf("interface 1 is not the loopback: %v", err)
	}
	to := netip.AddrPortFrom(netip.IPv6Loopback().WithZone(lo.Name), peer.LocalAddr().(*net.UDPAddr).AddrPort().Port())
	if _, err := c6.NewWriter().WriteTo([]byte("zoned"), to); err != nil {
		t.Fatalf("send to %v: %v", to, err)
	}
	b := make([]byte, 64)
	if n, _, err := peer.ReadFrom(b); err != nil || string(b[:n]) != "zoned" {
		t.Fatalf("peer read %q (%v), want \"zoned\"", b[:n], err)
	}
}

func TestWindowFor(t *testing.T) {
	t.Parallel()
	const ms = time.Millisecond
	tests := []struct {
		name   string
		rest   time.Duration
		burst  int
		span   time.Duration
		budget int
		want   time.Duration
	}{
		{"unknown buffer keeps the window", 30 * ms, 1000, 30 * ms, 0, 30 * ms},
		{"nothing read yet", 30 * ms, 0, 30 * ms, 100, 30 * ms},
		{"no span yet", 30 * ms, 10, 0, 100, 30 * ms},
		{"a light rate keeps the window", 30 * ms, 20, 40 * ms, 104, 30 * ms},
		// 1000 datagrams in 40 ms: half of 104 fills in 2.08 ms.
		{"a heavy rate shortens it", 30 * ms, 1000, 40 * ms, 104, 2080 * time.Microsecond},
		{"just at half the buffer", 30 * ms, 52, 30 * ms, 104, 30 * ms},
		{"a big buffer keeps it", 30 * ms, 1000, 40 * ms, 2048, 30 * ms},
		// 10000 datagrams in 40 ms: half of 104 fills in 0.208 ms, less than a timer is worth.
		{"too short a window is none", 30 * ms, 10000, 40 * ms, 104, 0},
		{"a buffer of one datagram gets none", 30 * ms, 1, 40 * ms, 1, 0},
		// The first window: the last one began at the zero time.
		{"no window before", 30 * ms, 20, time.Since(time.Time{}), 1024, 30 * ms},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			// Within a microsecond: the rate is worked out in floating point.
			if got := windowFor(tc.rest, tc.burst, tc.span, tc.budget); got < tc.want-time.Microsecond || got > tc.want+time.Microsecond {
				t.Errorf("windowFor(%v, %d, %v, %d) = %v, want %v", tc.rest, tc.burst, tc.span, tc.budget, got, tc.want)
			}
		})
	}
}

// The budget follows the socket's receive buffer, as the kernel sized it.
func TestQuietBudgetFollowsTheBuffer(t *testing.T) {
	t.Parallel()
	uc := listen4(t)
	if err := uc.SetReadBuffer(64 << 10); err != nil {
		t.Fatal(err)
	}
	rc, err := uc.SyscallConn()
	if err != nil {
		t.Fatal(err)
	}
	var size int
	var serr error
	if err := rc.Control(func(fd uintptr) { size, serr = syscall.GetsockoptInt(int(fd), syscall.SOL_SOCKET, syscall.SO_RCVBUF) }); err != nil || serr != nil {
		t.Fatal(err, serr)
	}
	c := quietOn(t, uc, 30*time.Millisecond)
	if want := max(1, size/2/datagramCost); c.quiet.budget != want {
		t.Fatalf("budget %d datagrams, want %d (SO_RCVBUF %d)", c.quiet.budget, want, size)
	}
}
