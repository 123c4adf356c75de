//go:build linux && (amd64 || arm64)

package udpsys

import (
	"errors"
	"fmt"
	"net"
	"net/netip"
	"os"
	"strconv"
	"sync"
	"syscall"
	"time"
	"unsafe"
)

// NewQuiet takes over uc's socket for a reader that coalesces wake-ups while
// datagrams come close together: once a read has found one, the next read
// that finds the socket empty sleeps out the rest of window before it waits,
// and datagrams that arrive meanwhile do not wake the process; they are read
// together when it ends. A socket that stays empty through a window is waited
// for as usual, so the first datagram after a pause is read at once; and when
// it came more than a window after the one before, traffic is sparse, and the
// reader waits again at once after it: a window would only add a wake-up of
// its own there.
//
// Go's poller cannot leave a socket alone for a while: it waits on every
// descriptor it knows, and each datagram wakes the thread asleep in it even
// when no goroutine reads. So uc is closed here, after its socket was
// duplicated: the copy is not in the Go poller. It sits alone in an epoll
// instance of its own, armed for one event at a time (EPOLLONESHOT), and that
// instance is what the Go poller waits on. Sends are raw calls on the copy as
// with New; a full send buffer is waited out by sleeping, since no poller
// watches the copy for room.
//
// Close the returned Conn to close the socket. Only one goroutine may read
// from it (one Reader), since the windows are the reader's.
func NewQuiet(uc *net.UDPConn, window time.Duration) (*Conn, error) {
	c, err := New(uc) // the family, while uc is open
	if err != nil {
		return nil, err
	}
	laddr := uc.LocalAddr()
	fd := -1
	var derr error
	if err := c.rc.Control(func(s uintptr) {
		r, _, e := syscall.RawSyscall(syscall.SYS_FCNTL, s, syscall.F_DUPFD_CLOEXEC, 0)
		if e != 0 {
			derr = e
			return
		}
		fd = int(r)
	}); err != nil {
		return nil, fmt.Errorf("udpsys: %w", err)
	}
	if derr != nil {
		return nil, fmt.Errorf("udpsys: dup: %w", derr)
	}
	q, err := newQuietRC(fd, window)
	if err != nil {
		syscall.Close(fd)
		return nil, err
	}
	uc.Close() // out of the Go poller; the socket lives on in fd
	c.uc, c.rc, c.quiet, c.laddr = nil, q, q, laddr
	return c, nil
}

// LocalAddr is the socket's address.
func (c *Conn) LocalAddr() net.Addr {
	if c.uc != nil {
		return c.uc.LocalAddr()
	}
	return c.laddr
}

// Close closes a Conn made by NewQuiet, or the *net.UDPConn given to New.
func (c *Conn) Close() error {
	if c.quiet != nil {
		return c.quiet.close()
	}
	return c.uc.Close()
}

// quietRC is the syscall.RawConn of a NewQuiet socket.
type quietRC struct {
	// mu is read-held for every call on fd, so that Close cannot free the
	// number (for the next socket or file to take) under a call in progress.
	mu     sync.RWMutex
	fd     int
	closed bool

	epfd int      // the epoll instance that holds fd
	ep   *os.File // epfd, in the Go poller
	epc  syscall.RawConn

	window time.Duration
	budget int           // datagrams the receive buffer surely holds (windowFor)
	done   chan struct{} // closed by Close: ends a window early

	// The reader's own: Read belongs to one goroutine.
	busy    bool      // the last read found a datagram, and no window followed it yet
	sparse  bool      // the last datagram came more than a window after the one before
	lastHit time.Time // when a read last found a datagram
	since   time.Time // when the last window began
	burst   int       // datagrams read since then
	timer   *time.Timer
	arm     syscall.EpollEvent
	ev      [1]syscall.EpollEvent
	waitErr syscall.Errno
	wait    func(epfd uintptr) bool
}

func newQuietRC(fd int, window time.Duration) (*quietRC, error) {
	if err := syscall.SetNonblock(fd, true); err != nil {
		return nil, fmt.Errorf("udpsys: %w", err)
	}
	epfd, err := syscall.EpollCreate1(syscall.EPOLL_CLOEXEC)
	if err != nil {
		return nil, fmt.Errorf("udpsys: epoll_create1: %w", err)
	}
	q := &quietRC{fd: fd, epfd: epfd, window: window, done: make(chan struct{})}
	// SO_RCVBUF reports the kernel's doubled size: what the buffer may hold,
	// datagrams' bookkeeping included.
	if rcvbuf, err := syscall.GetsockoptInt(fd, syscall.SOL_SOCKET, syscall.SO_RCVBUF); err == nil {
		q.budget = max(1, rcvbuf/2/datagramCost) // a buffer of a few datagrams gets no window
	}
	q.arm = syscall.EpollEvent{Events: syscall.EPOLLIN | syscall.EPOLLONESHOT, Fd: int32(fd)}
	// Added disarmed: the event is armed only while the reader waits on it.
	disarmed := syscall.EpollEvent{Events: syscall.EPOLLONESHOT, Fd: int32(fd)}
	if err := syscall.EpollCtl(epfd, syscall.EPOLL_CTL_ADD, fd, &disarmed); err != nil {
		syscall.Close(epfd)
		return nil, fmt.Errorf("udpsys: epoll_ctl: %w", err)
	}
	// A non-blocking descriptor is one os.NewFile gives to the Go poller.
	if err := syscall.SetNonblock(epfd, true); err != nil {
		syscall.Close(epfd)
		return nil, fmt.Errorf("udpsys: %w", err)
	}
	q.ep = os.NewFile(uintptr(epfd), "udpsys-epoll")
	if q.epc, err = q.ep.SyscallConn(); err != nil {
		q.ep.Close()
		return nil, fmt.Errorf("udpsys: %w", err)
	}
	q.wait = q.takeEvent
	return q, nil
}

// call runs f on the socket unless it is closed.
func (q *quietRC) call(f func(fd uintptr) bool) (bool, error) {
	q.mu.RLock()
	defer q.mu.RUnlock()
	if q.closed {
		return false, net.ErrClosed
	}
	return f(uintptr(q.fd)), nil
}

func (q *quietRC) Control(f func(fd uintptr)) error {
	_, err := q.call(func(fd uintptr) bool { f(fd); return true })
	return err
}

// Read runs f until it reports done; f returns false when the socket is
// empty. Only one goroutine reads.
func (q *quietRC) Read(f func(fd uintptr) bool) error {
	for {
		done, err := q.call(f)
		if err != nil {
			return err
		}
		if done {
			if q.window > 0 {
				// Sparse: this datagram came more than a window after the one
				// before. Windows would only add wake-ups of their own there.
				now := time.Now()
				q.busy, q.sparse, q.lastHit = true, now.Sub(q.lastHit) > q.window, now
				q.burst++
			}
			return nil
		}
		if q.busy && !q.sparse {
			q.busy = false
			now := time.Now()
			rest := windowFor(q.window-now.Sub(q.lastHit), q.burst, now.Sub(q.since), q.budget)
			if rest > 0 {
				q.since, q.burst = now, 0
				q.sleep(rest)
				continue
			}
		}
		if err := q.waitReadable(); err != nil {
			return err
		}
	}
}

// datagramCost is what one datagram may take of a receive buffer: a SIP
// message of a kilobyte or two, and the kernel's buffer around it.
const datagramCost = 4096

// minWindow is the shortest window worth a timer: a shorter one would be a
// wake-up of its own.
const minWindow = time.Millisecond

// windowFor shortens a window of rest when the datagrams read since the last
// window began (burst, over span) say that at that rate more would arrive
// than half of budget: the socket's buffer must not overflow while nobody
// reads, whatever net.core.rmem_max left it. A budget of 0 (unknown) keeps
// rest; a window shorter than minWindow is none (0). The first window of a
// burst is judged by the rate since the one before it, which after a quiet
// spell is low: the guard acts from the second.
func windowFor(rest time.Duration, burst int, span time.Duration, budget int) time.Duration {
	if budget <= 0 || burst <= 0 || span <= 0 {
		return rest
	}
	// At burst/span datagrams a second, half the budget fills in this long
	// (in floating point: before the first window span is the longest
	// Duration, and its product with the budget overflows nanoseconds).
	fill := span.Seconds() * float64(budget/2) / float64(burst)
	if fill >= rest.Seconds() {
		return rest
	}
	if d := time.Duration(fill * float64(time.Second)); d >= minWindow {
		return d
	}
	return 0
}

// sleep waits for d, or until Close.
func (q *quietRC) sleep(d time.Duration) {
	if q.timer == nil {
		q.timer = time.NewTimer(d)
	} else {
		q.timer.Reset(d)
	}
	select {
	case <-q.timer.C:
	case <-q.done:
		q.timer.Stop()
	}
}

// waitReadable arms the socket's event and waits until it fires. A datagram
// that came between f's empty read and the arming is reported by the arming
// itself, so none is left waiting.
func (q *quietRC) waitReadable() error {
	var cerr error
	if _, err := q.call(func(uintptr) bool {
		cerr = syscall.EpollCtl(q.epfd, syscall.EPOLL_CTL_MOD, q.fd, &q.arm)
		return true
	}); err != nil {
		return err
	}
	if cerr != nil {
		return fmt.Errorf("udpsys: epoll_ctl: %w", cerr)
	}
	q.waitErr = 0
	err := q.epc.Read(q.wait)
	if err == nil && q.waitErr != 0 {
		err = os.NewSyscallError("epoll_pwait", q.waitErr)
	}
	if err != nil {
		if q.isClosed() {
			return net.ErrClosed
		}
		return fmt.Errorf("udpsys: wait: %w", err)
	}
	return nil
}

// takeEvent takes the armed event if it fired, without blocking: false tells
// the Go poller to wait for the epoll instance.
func (q *quietRC) takeEvent(epfd uintptr) bool {
	for {
		n, _, e := syscall.RawSyscall6(syscall.SYS_EPOLL_PWAIT, epfd, uintptr(unsafe.Pointer(&q.ev[0])), 1, 0, 0, 0)
		switch {
		case e == syscall.EINTR:
			continue
		case e != 0:
			q.waitErr = e
			return true
		default:
			return n > 0
		}
	}
}

func (q *quietRC) isClosed() bool {
	q.mu.RLock()
	defer q.mu.RUnlock()
	return q.closed
}

// Write runs f until it reports done. A full send buffer (f returns false) is
// waited out in short sleeps: nothing polls the socket for room, and a SIP
// socket with megabytes of buffer is full only under a flood.
func (q *quietRC) Write(f func(fd uintptr) bool) error {
	backoff := 100 * time.Microsecond
	for {
		done, err := q.call(f)
		if err != nil || done {
			return err
		}
		time.Sleep(backoff)
		backoff = min(2*backoff, 10*time.Millisecond)
	}
}

func (q *quietRC) close() error {
	q.mu.Lock()
	if q.closed {
		q.mu.Unlock()
		return net.ErrClosed
	}
	q.closed = true
	close(q.done)
	q.mu.Unlock()
	// The reader waiting on ep wakes with an error and sees closed.
	return errors.Join(q.ep.Close(), syscall.Close(q.fd))
}

// writeSlow sends what fill cannot put in the kernel's form, for a Conn
// without the net package's socket: a zone names the interface by its index.
func (w *Writer) writeSlow(b []byte, to netip.AddrPort) (int, error) {
	a := to.Addr()
	if !a.IsValid() || !w.c.v6 || !a.Is6() || a.Is4In6() {
		return 0, &net.OpError{Op: "write", Net: "udp", Source: w.c.LocalAddr(), Addr: net.UDPAddrFromAddrPort(to), Err: syscall.EAFNOSUPPORT}
	}
	// By name, as the net package does, then by number (zoneName's form for an
	// interface gone). Link-local peers are rare enough for a lookup per send.
	index := 0
	if ifi, err := net.InterfaceByName(a.Zone()); err == nil {
		index = ifi.Index
	} else if n, nerr := strconv.Atoi(a.Zone()); nerr == nil && n > 0 {
		index = n
	} else {
		return 0, &net.OpError{Op: "write", Net: "udp", Source: w.c.LocalAddr(), Addr: net.UDPAddrFromAddrPort(to), Err: err}
	}
	sa := &syscall.SockaddrInet6{Port: int(to.Port()), Addr: a.As16(), ZoneId: uint32(index)}
	var serr error
	if err := w.c.rc.Write(func(fd uintptr) bool {
		serr = syscall.Sendto(int(fd), b, syscall.MSG_DONTWAIT, sa)
		return serr != syscall.EAGAIN
	}); err != nil {
		return 0, err
	}
	if serr != nil {
		return 0, &net.OpError{Op: "write", Net: "udp", Source: w.c.LocalAddr(), Addr: net.UDPAddrFromAddrPort(to), Err: os.NewSyscallError("sendto", serr)}
	}
	return len(b), nil
}
