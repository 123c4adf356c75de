//go:build linux && (amd64 || arm64)

package main

import (
	"encoding/binary"
	"errors"
	"fmt"
	"math/rand/v2"
	"net/netip"
	"sync"
	"sync/atomic"
	"syscall"
	"time"
	"unsafe"

	"golang.org/x/sys/unix"

	"switchboard/internal/audio"
	"switchboard/internal/udpsys"
	"switchboard/rtp"
)

// engine moves the media of every call on a few shared UDP sockets, so that
// the load generator costs little next to the server it measures: a test
// phone per call spends a timer, a goroutine, a socket, a tone synthesis and
// a decoder per leg, and 1,000 calls of those need more than the core the
// server is given. Each socket sends its legs' packets every 20 ms in
// sendmmsg batches, spread over the frame. The server still sees what phones
// send: one 20 ms G.711 stream per leg, from the address in the leg's SDP, to
// each of its own sessions.
//
// The sockets are not the net package's: nobody waits on them, and a reader
// polls them with recvmmsg every millisecond. A socket someone waits on (Go's
// poller does, for every net socket) makes each datagram sent to it wake that
// waiter, and on loopback the sender pays for the wake-up: the server's CPU
// per packet would include waking the load generator, which a phone across a
// network never costs it.
type engine struct {
	socks []*sock

	mu     sync.Mutex
	next   int  // round robin of addr over socks
	closed bool // no more legs: a late answer gets no media address

	sent, received atomic.Uint64
	done           chan struct{}
	wg             sync.WaitGroup
}

// sock is one of the engine's sockets and the legs that send from it.
type sock struct {
	fd   int
	addr netip.AddrPort
	legs []*leg
}

// leg is one call leg's outgoing stream: a whole packet kept ready, its
// sequence number and timestamp rewritten in place every frame.
type leg struct {
	dst syscall.RawSockaddrInet4
	pkt []byte
}

// batch is how many packets one sendmmsg or recvmmsg moves at most.
const batch = 64

// pollEvery is how often the reader empties the sockets.
const pollEvery = time.Millisecond

func newEngine(n int) (*engine, error) {
	e := &engine{done: make(chan struct{})}
	for range n {
		s, err := openSock()
		if err != nil {
			e.close()
			return nil, err
		}
		e.socks = append(e.socks, s)
	}
	e.wg.Go(e.receive)
	return e, nil
}

func openSock() (*sock, error) {
	fd, err := syscall.Socket(syscall.AF_INET, syscall.SOCK_DGRAM|syscall.SOCK_NONBLOCK|syscall.SOCK_CLOEXEC, 0)
	if err != nil {
		return nil, fmt.Errorf("media socket: %w", err)
	}
	// A socket takes a frame of hundreds of legs at once; the kernel caps
	// the size at net.core.rmem_max.
	_ = syscall.SetsockoptInt(fd, syscall.SOL_SOCKET, syscall.SO_RCVBUF, 8<<20)
	_ = syscall.SetsockoptInt(fd, syscall.SOL_SOCKET, syscall.SO_SNDBUF, 8<<20)
	if err := syscall.Bind(fd, &syscall.SockaddrInet4{Addr: [4]byte{127, 0, 0, 1}}); err != nil {
		syscall.Close(fd)
		return nil, fmt.Errorf("media socket: bind: %w", err)
	}
	sa, err := syscall.Getsockname(fd)
	if err != nil {
		syscall.Close(fd)
		return nil, fmt.Errorf("media socket: %w", err)
	}
	in, ok := sa.(*syscall.SockaddrInet4)
	if !ok {
		syscall.Close(fd)
		return nil, errors.New("media socket: not IPv4")
	}
	return &sock{fd: fd, addr: netip.AddrPortFrom(netip.AddrFrom4(in.Addr), uint16(in.Port))}, nil
}

// addr is the media address for the SDP of the next call leg; none once the
// engine is closed (a call answered that late gets no media).
func (e *engine) addr() netip.AddrPort {
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.closed || len(e.socks) == 0 {
		return netip.AddrPort{}
	}
	e.next++
	return e.socks[e.next%len(e.socks)].addr
}

// add starts a leg's stream from local (an address addr gave) to dst.
func (e *engine) add(local, dst netip.AddrPort) error {
	if !dst.Addr().Unmap().Is4() {
		return fmt.Errorf("media to %s: only IPv4", dst)
	}
	for _, s := range e.socks {
		if s.addr != local {
			continue
		}
		payload, err := rtp.Encode(make([]byte, 160), audio.Sine(1000, 9000, 0, 160), rtp.PCMU)
		if err != nil {
			return err
		}
		pkt := make([]byte, 12+len(payload))
		pkt[0] = 0x80 // version 2
		pkt[1] = rtp.PCMU.PT
		binary.BigEndian.PutUint16(pkt[2:], uint16(rand.Uint32()))
		binary.BigEndian.PutUint32(pkt[4:], rand.Uint32())
		binary.BigEndian.PutUint32(pkt[8:], rand.Uint32())
		copy(pkt[12:], payload)
		l := &leg{pkt: pkt}
		l.dst.Family = syscall.AF_INET
		binary.BigEndian.PutUint16((*[2]byte)(unsafe.Pointer(&l.dst.Port))[:], dst.Port())
		l.dst.Addr = dst.Addr().Unmap().As4()
		e.mu.Lock()
		s.legs = append(s.legs, l)
		e.mu.Unlock()
		return nil
	}
	return fmt.Errorf("no media socket %s", local)
}

// start runs the senders, one per socket, each on a 2 ms ticker.
func (e *engine) start() {
	for _, s := range e.socks {
		e.mu.Lock()
		legs := s.legs
		e.mu.Unlock()
		if len(legs) == 0 {
			continue
		}
		e.wg.Go(func() { e.send(s.fd, legs) })
	}
}

// slots spreads a socket's legs over the 20 ms frame, as phones with their
// own clocks are: each 2 ms one tenth of them sends, instead of every leg of
// the socket in one burst.
const slots = 10

// sendGroup is one slot's sendmmsg vector; the kernel reads through its
// pointers, so it lives as long as the sender.
type sendGroup struct {
	hdrs []udpsys.Mmsghdr
	iovs []syscall.Iovec
	legs []*leg
}

func (e *engine) send(fd int, legs []*leg) {
	groups := make([]sendGroup, slots)
	for i, l := range legs {
		g := &groups[i%slots]
		g.legs = append(g.legs, l)
	}
	for gi := range groups {
		g := &groups[gi]
		g.hdrs = make([]udpsys.Mmsghdr, len(g.legs))
		g.iovs = make([]syscall.Iovec, len(g.legs))
		for i, l := range g.legs {
			g.iovs[i].Base = &l.pkt[0]
			g.iovs[i].SetLen(len(l.pkt))
			g.hdrs[i].Hdr.Name = (*byte)(unsafe.Pointer(&l.dst))
			g.hdrs[i].Hdr.Namelen = syscall.SizeofSockaddrInet4
			g.hdrs[i].Hdr.Iov = &g.iovs[i]
			g.hdrs[i].Hdr.Iovlen = 1
		}
	}
	t := time.NewTicker(frame / slots)
	defer t.Stop()
	for slot := 0; ; slot = (slot + 1) % slots {
		select {
		case <-e.done:
			return
		case <-t.C:
		}
		g := &groups[slot]
		for _, l := range g.legs {
			binary.BigEndian.PutUint16(l.pkt[2:], binary.BigEndian.Uint16(l.pkt[2:])+1)
			binary.BigEndian.PutUint32(l.pkt[4:], binary.BigEndian.Uint32(l.pkt[4:])+160)
		}
		for off := 0; off < len(g.hdrs); {
			end := min(off+batch, len(g.hdrs))
			r, _, errno := syscall.Syscall6(unix.SYS_SENDMMSG, uintptr(fd), uintptr(unsafe.Pointer(&g.hdrs[off])), uintptr(end-off), 0, 0, 0)
			switch {
			case errno == syscall.EINTR:
				continue
			case errno == syscall.EAGAIN:
				off = len(g.hdrs) // the socket's buffer is full: the rest of the slot is lost
				continue
			case errno != 0:
				off++ // skip the packet that failed (an ICMP error for a closed port)
				continue
			}
			e.sent.Add(uint64(r))
			off += int(r)
		}
	}
}

// receive empties every socket each pollEvery, counting the audio packets.
func (e *engine) receive() {
	hdrs := make([]udpsys.Mmsghdr, batch)
	iovs := make([]syscall.Iovec, batch)
	bufs := make([]byte, batch*1500)
	for i := range hdrs {
		iovs[i].Base = &bufs[i*1500]
		iovs[i].SetLen(1500)
		hdrs[i].Hdr.Iov = &iovs[i]
		hdrs[i].Hdr.Iovlen = 1
	}
	t := time.NewTicker(pollEvery)
	defer t.Stop()
	for {
		select {
		case <-e.done:
			return
		case <-t.C:
		}
		for _, s := range e.socks {
			for {
				r, _, errno := syscall.Syscall6(unix.SYS_RECVMMSG, uintptr(s.fd), uintptr(unsafe.Pointer(&hdrs[0])), batch, syscall.MSG_DONTWAIT, 0, 0)
				if errno == syscall.EINTR {
					continue
				}
				if errno != 0 {
					break // EAGAIN: empty until the next poll
				}
				var n uint64
				for i := range int(r) {
					if hdrs[i].Len >= 12 && bufs[i*1500+1]&0x7f == rtp.PCMU.PT {
						n++
					}
				}
				e.received.Add(n)
				if int(r) < batch {
					break
				}
			}
		}
	}
}

// close stops the senders and the reader and closes the sockets.
func (e *engine) close() {
	e.mu.Lock()
	if e.closed {
		e.mu.Unlock()
		return
	}
	e.closed = true
	e.mu.Unlock()
	close(e.done)
	e.wg.Wait() // nobody uses a descriptor once it is closed
	for _, s := range e.socks {
		syscall.Close(s.fd)
	}
}
