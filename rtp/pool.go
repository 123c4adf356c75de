package rtp

import (
	"errors"
	"fmt"
	"net"
	"net/netip"
	"sync"
	"time"

	"switchboard/internal/udpsys"
)

// ErrPoolExhausted is returned by Pool.Open when no even port in the range could
// be bound.
var ErrPoolExhausted = errors.New("rtp: port pool exhausted")

// Pool hands out RTP ports from a fixed range on one local IP. Every session gets
// an even port for RTP; port+1 is bound as well so that no one else takes the RTCP
// port the peer will use. Ports held by other processes are skipped.
type Pool struct {
	ip       netip.Addr
	min, max int // first and last even RTP port

	// rxBufs holds the read loops' buffers (*rxBuf) between sessions: a new
	// one was a zeroed allocation of recvBatch datagrams per leg.
	rxBufs sync.Pool

	mu   sync.Mutex
	used map[int]bool
	next int // where the next search starts, so freed ports rest a little
	// idle holds the sockets of closed sessions, oldest first. Reusing a bound
	// socket saves two binds, two closes and the poller bookkeeping per leg (about
	// a tenth of a call's CPU); a socket rests for idleRest first, so that late
	// packets of the old call are gone (and drained) before a new call uses it.
	idle      []idleSocket
	idlePorts map[int]bool // the ports in idle, for take's search
	closed    bool
	// maxAge is idleMaxAge (tests shorten it); trimTimer fires when the oldest
	// idle socket reaches it, so that a quiet PBX gives its ports back without
	// waiting for another call to end.
	maxAge    time.Duration
	trimTimer *time.Timer
	// Releases in the current and the previous idleRest window: the idle list
	// keeps what two windows at that rate need (idleCap), so that at any call
	// rate a new leg finds a rested socket instead of binding two.
	windowStart          time.Time
	releasedNow, lastWin int
}

// sockets is a port's bound RTP and RTCP sockets, with the RTP socket's
// wrapper for raw sends (nil: the net package sends). The wrapper is made once
// per bind and kept with the sockets: made per session, it asked the kernel
// for the socket's family and allocated twice for every leg.
type sockets struct {
	port      int
	rtp, rtcp *net.UDPConn
	sys       *udpsys.Conn
}

type idleSocket struct {
	sockets
	releasedAt time.Time
}

// idleRest is how long a released socket rests before it is reused, unless the pool
// has nothing else to give. The idle list holds what the recent release rate needs
// over two rests, at least minIdle and at most maxIdle sockets, none longer than
// idleMaxAge: ports a quiet PBX no longer needs go back to the system.
//
// maxIdle covers 1000 calls per second, whatever they last: two legs end per
// call, and 4000 sockets rest at any moment. With 4096 the pool ran at its
// ceiling there, and closed the sockets that were about to be rested enough,
// only to bind new ones: a twentieth of the CPU per call (bench/README.md).
// 8192 idle sessions hold 16384 descriptors: under the packaged service's
// LimitNOFILE of 65536, half of what limit.DefaultMaxConns leaves to all but
// stream connections, and for 30 s at most. A range narrower than the pool's
// needs (the default rtp_ports hold 5000 pairs) reaches its end first, and
// then an unrested socket is reused rather than none.
const (
	idleRest   = 2 * time.Second
	minIdle    = 64
	maxIdle    = 8192
	idleMaxAge = 30 * time.Second
)

// NewPool returns a pool of the even ports in [min, max] on ip; the RTCP port
// (port+1) must also lie in the range, so rtp_ports 10000-20000 gives
// 10000, 10002, ... 19998.
func NewPool(ip netip.Addr, min, max int) (*Pool, error) {
	if !ip.IsValid() {
		return nil, errors.New("rtp: pool: invalid IP address")
	}
	if min < 1 || max > 65535 || min > max {
		return nil, fmt.Errorf("rtp: pool: invalid port range %d-%d", min, max)
	}
	first := min + min%2
	last := max - 1
	last -= last % 2
	if first > last {
		return nil, fmt.Errorf("rtp: pool: port range %d-%d holds no even/odd port pair", min, max)
	}
	return &Pool{ip: ip.Unmap(), min: first, max: last, used: make(map[int]bool), idlePorts: make(map[int]bool), next: first, maxAge: idleMaxAge}, nil
}

// Size returns how many sessions the pool can hold at most.
func (p *Pool) Size() int { return (p.max-p.min)/2 + 1 }

// InUse returns the number of open sessions.
func (p *Pool) InUse() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return len(p.used)
}

// Open binds a free even port (and the RTCP port above it) and starts a session
// on it. It returns an error wrapping ErrPoolExhausted when every port in the
// range is taken, by us or by another process.
func (p *Pool) Open() (*Session, error) {
	sk, err := p.take()
	if err != nil {
		return nil, err
	}
	s := newSessionOn(p, sk)
	go s.readLoop()
	return s, nil
}

// take reserves a port with its bound RTP and RTCP sockets: a rested idle one, a
// fresh one, or, when the range is full, an idle one that has not rested yet.
func (p *Pool) take() (sockets, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.closed {
		return sockets{}, ErrClosed
	}
	if len(p.idle) > 0 && time.Since(p.idle[0].releasedAt) >= idleRest {
		return p.reuse()
	}
	var lastErr error
	port := p.next
	for range p.Size() {
		candidate := port
		port += 2
		if port > p.max {
			port = p.min
		}
		if p.used[candidate] || p.idlePorts[candidate] {
			continue
		}
		sk, err := p.bind(candidate)
		if err != nil {
			lastErr = err // typically EADDRINUSE: someone else holds it
			continue
		}
		p.used[candidate] = true
		p.next = port
		return sk, nil
	}
	if len(p.idle) > 0 {
		return p.reuse() // resting sockets are better than no call
	}
	if lastErr != nil {
		return sockets{}, fmt.Errorf("%w (%s ports %d-%d, last bind error: %w)", ErrPoolExhausted, p.ip, p.min, p.max+1, lastErr)
	}
	return sockets{}, fmt.Errorf("%w (%s ports %d-%d, all %d in use)", ErrPoolExhausted, p.ip, p.min, p.max+1, p.Size())
}

func (p *Pool) bind(port int) (sockets, error) {
	rtpConn, err := net.ListenUDP("udp", net.UDPAddrFromAddrPort(netip.AddrPortFrom(p.ip, uint16(port))))
	if err != nil {
		return sockets{}, fmt.Errorf("bind RTP port %d: %w", port, err)
	}
	rtcpConn, err := net.ListenUDP("udp", net.UDPAddrFromAddrPort(netip.AddrPortFrom(p.ip, uint16(port+1))))
	if err != nil {
		_ = rtpConn.Close()
		return sockets{}, fmt.Errorf("bind RTCP port %d: %w", port+1, err)
	}
	sys, err := udpsys.New(rtpConn)
	if err != nil {
		// Not seen on a bound socket; should it happen, this socket sends
		// through the net package for as long as the pool keeps it.
		sys = nil
	}
	return sockets{port: port, rtp: rtpConn, rtcp: rtcpConn, sys: sys}, nil
}

// reuse hands out the oldest idle socket, drained of anything that arrived while
// it rested. Called with p.mu held.
func (p *Pool) reuse() (sockets, error) {
	sock := p.idle[0].sockets
	p.idle[0] = idleSocket{}
	p.idle = p.idle[1:]
	delete(p.idlePorts, sock.port)
	// The deadline that stopped the old session's reader goes first: Go fails
	// every read on a socket whose deadline has passed, drain's included.
	sock.rtp.SetReadDeadline(time.Time{})
	drain(sock.rtp)
	p.used[sock.port] = true
	return sock, nil
}

// release takes back a closed session's port and keeps its sockets for reuse. A
// nil sk.rtp means the RTP socket is gone (a WebRTC session's transport closed
// it): the port is free again, to be bound afresh.
func (p *Pool) release(sk sockets) {
	p.mu.Lock()
	defer p.mu.Unlock()
	delete(p.used, sk.port)
	if p.closed || sk.rtp == nil {
		if sk.rtp != nil {
			sk.rtp.Close()
		}
		sk.rtcp.Close()
		return
	}
	now := time.Now()
	p.countRelease(now)
	p.idle = append(p.idle, idleSocket{sockets: sk, releasedAt: now})
	p.idlePorts[sk.port] = true
	p.trimLocked(now)
}

// countRelease counts a release at now into its window. Called with p.mu held.
func (p *Pool) countRelease(now time.Time) {
	if now.Sub(p.windowStart) >= idleRest {
		p.lastWin = p.releasedNow
		if now.Sub(p.windowStart) >= 2*idleRest {
			p.lastWin = 0 // a quiet window in between
		}
		p.releasedNow, p.windowStart = 0, now
	}
	p.releasedNow++
}

// idleCap is how many idle sockets to keep: twice the releases of the busier of
// the last two windows, within [minIdle, maxIdle]. Called with p.mu held.
func (p *Pool) idleCap() int {
	return min(maxIdle, max(minIdle, 2*max(p.releasedNow, p.lastWin)))
}

// trimLocked closes the idle sockets over maxIdle or older than maxAge and
// arms the timer for the oldest one left. Called with p.mu held.
func (p *Pool) trimLocked(now time.Time) {
	for len(p.idle) > 0 && (len(p.idle) > p.idleCap() || now.Sub(p.idle[0].releasedAt) >= p.maxAge) {
		p.idle[0].rtp.Close()
		p.idle[0].rtcp.Close()
		delete(p.idlePorts, p.idle[0].port)
		p.idle[0] = idleSocket{}
		p.idle = p.idle[1:]
	}
	if len(p.idle) == 0 || p.closed {
		return
	}
	wait := p.idle[0].releasedAt.Add(p.maxAge).Sub(now)
	if p.trimTimer == nil {
		p.trimTimer = time.AfterFunc(wait, p.trim)
	} else {
		p.trimTimer.Reset(wait)
	}
}

// trim runs on the pool's timer; Close stops the timer, and a run that
// raced with Close finds the pool closed and the idle list empty.
func (p *Pool) trim() {
	p.mu.Lock()
	defer p.mu.Unlock()
	if !p.closed {
		p.trimLocked(time.Now())
	}
}

// IdleSockets returns how many released sockets wait for reuse.
func (p *Pool) IdleSockets() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return len(p.idle)
}

// Close closes the idle sockets; sessions still open close theirs when they end.
// Open fails afterwards.
func (p *Pool) Close() error {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.closed = true
	if p.trimTimer != nil {
		p.trimTimer.Stop()
	}
	var errs []error
	for _, s := range p.idle {
		errs = append(errs, s.rtp.Close(), s.rtcp.Close())
	}
	p.idle = nil
	clear(p.idlePorts)
	return errors.Join(errs...)
}

// rxBuf is a read loop's buffer: recvBatch datagrams of maxPacket.
type rxBuf [recvBatch * maxPacket]byte

// takeRxBuf gives a read loop its buffer; putRxBuf takes it back once the loop
// is over, which nothing else reads.
func (p *Pool) takeRxBuf() *rxBuf {
	if b, ok := p.rxBufs.Get().(*rxBuf); ok {
		return b
	}
	return new(rxBuf)
}

func (p *Pool) putRxBuf(b *rxBuf) { p.rxBufs.Put(b) }
