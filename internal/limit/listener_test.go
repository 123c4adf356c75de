package limit

import (
	"errors"
	"io"
	"net"
	"net/netip"
	"os"
	"sync/atomic"
	"syscall"
	"testing"
	"time"
)

// flakyListener fails with err for the first n Accepts.
type flakyListener struct {
	net.Listener
	n   atomic.Int32
	err error
}

func (f *flakyListener) Accept() (net.Conn, error) {
	if f.n.Add(-1) >= 0 {
		return nil, f.err
	}
	return f.Listener.Accept()
}

func listen(t *testing.T) net.Listener {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { l.Close() })
	return l
}

func TestListenerRetriesResourceErrors(t *testing.T) {
	t.Parallel()
	for _, errno := range []syscall.Errno{syscall.EMFILE, syscall.ENFILE, syscall.ECONNABORTED} {
		t.Run(errno.Error(), func(t *testing.T) {
			t.Parallel()
			inner := listen(t)
			f := &flakyListener{Listener: inner, err: &net.OpError{Op: "accept", Net: "tcp", Err: os.NewSyscallError("accept4", errno)}}
			f.n.Store(5)
			l := NewListener(f, ListenerConfig{Name: "test"})
			go func() {
				if c, err := net.Dial("tcp", inner.Addr().String()); err == nil {
					defer c.Close()
					io.Copy(io.Discard, c)
				}
			}()
			c, err := l.Accept()
			if err != nil {
				t.Fatalf("Accept gave up: %v", err)
			}
			c.Close()
			if l.Failing() {
				t.Error("still failing after a connection was accepted")
			}
		})
	}
}

func TestListenerClosedEndsAccept(t *testing.T) {
	t.Parallel()
	inner := listen(t)
	f := &flakyListener{Listener: inner, err: syscall.EMFILE}
	f.n.Store(1 << 30)
	l := NewListener(f, ListenerConfig{})
	done := make(chan error, 1)
	go func() { _, err := l.Accept(); done <- err }()
	l.Close()
	select {
	case err := <-done:
		if !errors.Is(err, net.ErrClosed) {
			t.Fatalf("err = %v, want net.ErrClosed", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("Accept did not end on Close")
	}
}

// A listening socket that was shut down under the server never accepts again:
// Accept ends with the error instead of retrying forever.
func TestListenerShutDownSocketEndsAccept(t *testing.T) {
	t.Parallel()
	inner := listen(t)
	l := NewListener(inner, ListenerConfig{Name: "test"})
	done := make(chan error, 1)
	go func() { _, err := l.Accept(); done <- err }()
	raw, err := inner.(*net.TCPListener).SyscallConn()
	if err != nil {
		t.Fatal(err)
	}
	if err := raw.Control(func(fd uintptr) { syscall.Shutdown(int(fd), syscall.SHUT_RDWR) }); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-done:
		if !errors.Is(err, syscall.EINVAL) {
			t.Fatalf("err = %v, want EINVAL", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("Accept kept retrying a socket that no longer listens")
	}
}

// acceptN dials n connections to l and returns the accepted server sides that
// Accept handed out before the dialed peers were all closed or refused.
func dialN(t *testing.T, addr string, n int) []net.Conn {
	t.Helper()
	var cs []net.Conn
	for range n {
		c, err := net.Dial("tcp", addr)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { c.Close() })
		cs = append(cs, c)
	}
	return cs
}

// closedByServer reports whether the server closed c (read gives EOF).
func closedByServer(t *testing.T, c net.Conn) bool {
	t.Helper()
	c.SetReadDeadline(time.Now().Add(10 * time.Second))
	_, err := c.Read(make([]byte, 1))
	return errors.Is(err, io.EOF) || errors.Is(err, syscall.ECONNRESET)
}

func TestListenerPerIPCap(t *testing.T) {
	t.Parallel()
	inner := listen(t)
	budget := NewConns(100, 3)
	l := NewListener(inner, ListenerConfig{Conns: budget})
	accepted := make(chan net.Conn, 10)
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				close(accepted)
				return
			}
			accepted <- c
		}
	}()
	t.Cleanup(func() { l.Close() })
	clients := dialN(t, inner.Addr().String(), 5)
	var server []net.Conn
	for range 3 {
		server = append(server, <-accepted)
	}
	// The fourth and fifth are refused: the server closes them unread.
	if !closedByServer(t, clients[3]) || !closedByServer(t, clients[4]) {
		t.Fatal("connections over the per-address cap were not closed")
	}
	ip := netip.MustParseAddr("127.0.0.1")
	if total, from := budget.Open(ip); total != 3 || from != 3 {
		t.Fatalf("open = %d total, %d from ip; want 3, 3", total, from)
	}
	if budget.Refused() != 2 {
		t.Fatalf("refused = %d, want 2", budget.Refused())
	}
	// A closed connection frees its share.
	server[0].Close()
	if _, from := budget.Open(ip); from != 2 {
		t.Fatalf("after close: %d from ip, want 2", from)
	}
	c := dialN(t, inner.Addr().String(), 1)[0]
	if got := <-accepted; got == nil {
		t.Fatal("no connection accepted after one was freed")
	}
	_ = c
}

func TestConnsTotalCap(t *testing.T) {
	t.Parallel()
	b := NewConns(2, 0)
	a1, a2 := netip.MustParseAddr("192.0.2.1"), netip.MustParseAddr("192.0.2.2")
	if !b.acquire(a1) || !b.acquire(a2) {
		t.Fatal("within the cap refused")
	}
	if b.acquire(netip.MustParseAddr("192.0.2.3")) {
		t.Fatal("over the total cap accepted")
	}
	b.release(a1)
	if !b.acquire(a2) {
		t.Fatal("freed share not reusable")
	}
}

func TestListenerIdle(t *testing.T) {
	t.Parallel()
	inner := listen(t)
	var keep atomic.Bool
	asked := make(chan struct{}, 10)
	l := NewListener(inner, ListenerConfig{Idle: 20 * time.Millisecond, Conns: NewConns(0, 0), Keep: func(netip.AddrPort) bool {
		select {
		case asked <- struct{}{}:
		default:
		}
		return keep.Load()
	}})
	t.Cleanup(func() { l.Close() })
	for _, kept := range []bool{false, true} {
		keep.Store(kept)
		client := dialN(t, inner.Addr().String(), 1)[0]
		c, err := l.Accept()
		if err != nil {
			t.Fatal(err)
		}
		readErr := make(chan error, 1)
		go func() {
			_, err := c.Read(make([]byte, 10))
			readErr <- err
		}()
		if kept {
			// Asked twice: kept once, then let go.
			<-asked
			<-asked
			keep.Store(false)
		}
		select {
		case err := <-readErr:
			if !errors.Is(err, io.EOF) {
				t.Fatalf("kept=%v: read err = %v, want io.EOF", kept, err)
			}
		case <-time.After(10 * time.Second):
			t.Fatalf("kept=%v: idle connection not closed", kept)
		}
		if !closedByServer(t, client) {
			t.Fatalf("kept=%v: client still connected", kept)
		}
	}
}

func TestListenerReaderDeadlineDoesNotClearIdle(t *testing.T) {
	t.Parallel()
	inner := listen(t)
	l := NewListener(inner, ListenerConfig{Idle: 20 * time.Millisecond})
	t.Cleanup(func() { l.Close() })
	dialN(t, inner.Addr().String(), 1)
	c, err := l.Accept()
	if err != nil {
		t.Fatal(err)
	}
	// A handshake sets a deadline and clears it again.
	c.SetDeadline(time.Now().Add(time.Hour))
	c.SetDeadline(time.Time{})
	done := make(chan error, 1)
	go func() { _, err := c.Read(make([]byte, 1)); done <- err }()
	select {
	case err := <-done:
		if !errors.Is(err, io.EOF) {
			t.Fatalf("err = %v, want io.EOF", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("idle limit lost when the reader cleared its deadline")
	}
}
