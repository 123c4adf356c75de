package limit

import (
	"errors"
	"io"
	"log/slog"
	"net"
	"net/netip"
	"os"
	"sync"
	"sync/atomic"
	"syscall"
	"time"
)

// Conns is a budget of open connections, in total and per source address, shared
// by every listener that is given it (SIP TCP, TLS, WS, WSS and HTTP): one address
// cannot take the whole budget, and all of them together cannot take the file
// descriptors the media sockets need. It is safe for concurrent use.
type Conns struct {
	max, perIP int

	mu    sync.Mutex
	total int
	byIP  map[netip.Addr]int

	refused atomic.Uint64
}

// NewConns returns a budget of max connections in total (<= 0: no total cap) and
// perIP from one source address (<= 0: no per-address cap).
func NewConns(max, perIP int) *Conns {
	return &Conns{max: max, perIP: perIP, byIP: make(map[netip.Addr]int)}
}

// acquire takes one connection from ip's share; false when a cap is reached.
func (c *Conns) acquire(ip netip.Addr) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	if (c.max > 0 && c.total >= c.max) || (c.perIP > 0 && c.byIP[ip] >= c.perIP) {
		c.refused.Add(1)
		return false
	}
	c.total++
	c.byIP[ip]++
	return true
}

func (c *Conns) release(ip netip.Addr) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.total--
	if n := c.byIP[ip] - 1; n > 0 {
		c.byIP[ip] = n
	} else {
		delete(c.byIP, ip)
	}
}

// Open returns the number of connections held, in total and from ip.
func (c *Conns) Open(ip netip.Addr) (total, fromIP int) {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.total, c.byIP[ip.Unmap()]
}

// Refused counts connections closed at once because a cap was reached.
func (c *Conns) Refused() uint64 { return c.refused.Load() }

// ListenerConfig tunes a Listener.
type ListenerConfig struct {
	// Name says which listener a log line is about ("sip tcp", "http").
	Name string
	// Conns is the shared connection budget; nil: no caps.
	Conns *Conns
	// Idle, when positive, closes a connection that has not been kept (see Keep)
	// Idle after it was accepted or last kept. It bounds idle, unfinished and
	// drip-fed connections alike: the clock is not reset by reads.
	Idle time.Duration
	// Keep is asked when a connection's Idle has passed; true keeps it for
	// another Idle (a SIP connection that carries a registration or a dialog).
	Keep   func(remote netip.AddrPort) bool
	Logger *slog.Logger
}

// Listener wraps a net.Listener so that its accept loop, ours or a library's,
// never ends on a passing error: when the process is out of file descriptors
// (EMFILE, ENFILE) or the kernel out of buffers, Accept backs off and retries
// instead of returning an error that would stop the serving loop for good. It
// also enforces the connection budget and the idle time of ListenerConfig.
type Listener struct {
	net.Listener
	cfg    ListenerConfig
	log    *slog.Logger
	closed chan struct{}
	once   sync.Once

	failing atomic.Bool // accept is in a back-off episode (for health and logs)
}

// maxAcceptBackoff bounds the wait between accept retries: once descriptors are
// free again, a new connection waits at most this long.
const maxAcceptBackoff = 500 * time.Millisecond

// NewListener wraps l.
func NewListener(l net.Listener, cfg ListenerConfig) *Listener {
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	return &Listener{Listener: l, cfg: cfg, log: cfg.Logger, closed: make(chan struct{})}
}

// Close closes the listener; a pending Accept returns net.ErrClosed.
func (l *Listener) Close() error {
	l.once.Do(func() { close(l.closed) })
	return l.Listener.Close()
}

// Failing reports whether Accept is retrying after errors right now.
func (l *Listener) Failing() bool { return l.failing.Load() }

// Accept returns the next connection within the budget. It returns an error only
// once the listener is closed.
func (l *Listener) Accept() (net.Conn, error) {
	backoff := time.Duration(0)
	var firstErr time.Time
	retries := 0
	for {
		c, err := l.Listener.Accept()
		if err != nil {
			if errors.Is(err, net.ErrClosed) {
				return nil, err
			}
			select {
			case <-l.closed:
				return nil, net.ErrClosed
			default:
			}
			// A socket that is no longer listening (shut down, or its
			// descriptor gone) never accepts again: end, so that the server
			// stops counting it as serving and /healthz fails.
			if deadSocket(err) {
				l.log.Error("accept failed for good", "listener", l.cfg.Name, "err", err)
				return nil, err
			}
			// Every other error is retried: a listening socket that is still
			// open accepts again once the cause (no descriptors, no memory, an
			// aborted handshake) has passed, and giving up would leave the
			// port open but unserved.
			if backoff == 0 {
				backoff = 5 * time.Millisecond
				firstErr = time.Now()
				l.failing.Store(true)
				// One line per episode, not per retry: a flood must not
				// become a log flood.
				l.log.Warn("accept failing, retrying", "listener", l.cfg.Name, "err", err, "resource_shortage", resourceShortage(err))
			} else {
				backoff = min(2*backoff, maxAcceptBackoff)
			}
			retries++
			t := time.NewTimer(backoff)
			select {
			case <-t.C:
			case <-l.closed:
				t.Stop()
				return nil, net.ErrClosed
			}
			continue
		}
		if backoff != 0 {
			l.failing.Store(false)
			l.log.Warn("accept recovered", "listener", l.cfg.Name, "after", time.Since(firstErr).Round(time.Millisecond), "retries", retries)
			backoff, retries = 0, 0
		}
		remote, _ := netip.ParseAddrPort(c.RemoteAddr().String())
		ip := remote.Addr().Unmap()
		if l.cfg.Conns != nil && !l.cfg.Conns.acquire(ip) {
			// Closed before anything is read or logged: the refusal count is
			// in the metrics, and a line per refused connection would be a
			// flood of its own.
			c.Close()
			continue
		}
		lc := &conn{Conn: c, l: l, ip: ip, remote: remote}
		if l.cfg.Idle > 0 {
			lc.setIdle(time.Now().Add(l.cfg.Idle))
		}
		return lc, nil
	}
}

// deadSocket tells an accept error that no retry can cure: the socket is not
// listening any more (EINVAL after a shutdown), or is not a usable socket.
func deadSocket(err error) bool {
	return errors.Is(err, syscall.EINVAL) || errors.Is(err, syscall.EBADF) ||
		errors.Is(err, syscall.ENOTSOCK) || errors.Is(err, syscall.EOPNOTSUPP)
}

// resourceShortage reports whether err says the process or system ran out of
// descriptors or memory, as opposed to a peer that gave up early.
func resourceShortage(err error) bool {
	return errors.Is(err, syscall.EMFILE) || errors.Is(err, syscall.ENFILE) ||
		errors.Is(err, syscall.ENOBUFS) || errors.Is(err, syscall.ENOMEM)
}

// conn is an accepted connection: it gives its budget share back when closed and
// ends itself after the listener's idle time unless kept.
type conn struct {
	net.Conn
	l      *Listener
	ip     netip.Addr
	remote netip.AddrPort
	once   sync.Once

	mu     sync.Mutex
	idleAt time.Time // when Keep is asked next (zero: no idle limit)
	user   time.Time // the read deadline the connection's reader set itself
}

// setIdle starts the idle clock; called before the connection is shared.
func (c *conn) setIdle(at time.Time) {
	c.idleAt = at
	c.Conn.SetReadDeadline(at)
}

// applyLocked sets the earlier of the reader's own deadline and the idle one:
// TLS and WebSocket handshakes set and then clear deadlines of their own, which
// must not clear the idle limit.
func (c *conn) applyLocked() error {
	d := c.user
	if !c.idleAt.IsZero() && (d.IsZero() || c.idleAt.Before(d)) {
		d = c.idleAt
	}
	return c.Conn.SetReadDeadline(d)
}

func (c *conn) SetReadDeadline(t time.Time) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.user = t
	return c.applyLocked()
}

func (c *conn) SetDeadline(t time.Time) error {
	if err := c.Conn.SetWriteDeadline(t); err != nil {
		return err
	}
	return c.SetReadDeadline(t)
}

func (c *conn) Read(b []byte) (int, error) {
	for {
		n, err := c.Conn.Read(b)
		if err == nil || !errors.Is(err, os.ErrDeadlineExceeded) {
			return n, err
		}
		c.mu.Lock()
		idle := !c.idleAt.IsZero() && !time.Now().Before(c.idleAt)
		c.mu.Unlock()
		if !idle {
			return n, err // the reader's own deadline
		}
		if c.l.cfg.Keep != nil && c.l.cfg.Keep(c.remote) {
			c.mu.Lock()
			c.idleAt = time.Now().Add(c.l.cfg.Idle)
			c.applyLocked()
			c.mu.Unlock()
			if n > 0 {
				return n, nil
			}
			continue
		}
		// EOF, not the deadline error: the reader takes it as the peer's
		// close and ends the connection without an error line per idle close.
		c.Close()
		return n, io.EOF
	}
}

func (c *conn) Close() error {
	err := c.Conn.Close()
	c.once.Do(func() {
		if c.l.cfg.Conns != nil {
			c.l.cfg.Conns.release(c.ip)
		}
	})
	return err
}

// DefaultMaxConns is the total connection cap when the config sets none: half of
// the open-file limit, so that however many connections come in, the other half
// stays for RTP sockets, the database and recordings. Go raises the soft limit
// to the hard one at start-up, so this follows what the system allows.
func DefaultMaxConns() int {
	n := openFileLimit()
	if n <= 0 {
		return 4096
	}
	return min(max(n/2, 16), 1_000_000)
}
