package main

import (
	"encoding/binary"
	"errors"
	"fmt"
	"math/rand/v2"
	"net"
	"net/netip"
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/net/ipv4"

	"switchboard/internal/audio"
	"switchboard/rtp"
)

// engine moves the media of every call on a few shared UDP sockets, so that
// the load generator costs little next to the server it measures: a test
// phone per call spends a timer, a goroutine, a socket, a tone synthesis and
// a decoder per leg, and 1,000 calls of those need more than the core the
// server is given. Each socket sends its legs' packets every 20 ms in
// sendmmsg batches, spread over the frame, and reads in recvmmsg batches. The server still sees what
// phones send: one 20 ms G.711 stream per leg, from the address in the leg's
// SDP, to each of its own sessions.
type engine struct {
	socks []*net.UDPConn
	next  atomic.Uint32 // round robin of addr over socks

	mu   sync.Mutex
	legs [][]*leg // per socket

	sent, received atomic.Uint64
	done           chan struct{}
	wg             sync.WaitGroup
}

// leg is one call leg's outgoing stream: a whole packet kept ready, its
// sequence number and timestamp rewritten in place every frame.
type leg struct {
	dst *net.UDPAddr
	pkt []byte
}

// batch is how many packets one sendmmsg or recvmmsg moves at most.
const batch = 64

func newEngine(n int) (*engine, error) {
	e := &engine{done: make(chan struct{}), legs: make([][]*leg, n)}
	for range n {
		c, err := net.ListenUDP("udp4", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
		if err != nil {
			e.close()
			return nil, fmt.Errorf("media socket: %w", err)
		}
		// A socket takes a frame of hundreds of legs at once; the kernel caps
		// the size at net.core.rmem_max.
		_ = c.SetReadBuffer(8 << 20)
		_ = c.SetWriteBuffer(8 << 20)
		e.socks = append(e.socks, c)
	}
	for _, c := range e.socks {
		e.wg.Go(func() { e.receive(c) })
	}
	return e, nil
}

// addr is the media address for the SDP of the next call leg.
func (e *engine) addr() netip.AddrPort {
	i := int(e.next.Add(1)) % len(e.socks)
	return e.socks[i].LocalAddr().(*net.UDPAddr).AddrPort()
}

// add starts a leg's stream from local (an address addr gave) to dst.
func (e *engine) add(local, dst netip.AddrPort) error {
	for i, c := range e.socks {
		if c.LocalAddr().(*net.UDPAddr).AddrPort() != local {
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
		e.mu.Lock()
		e.legs[i] = append(e.legs[i], &leg{dst: net.UDPAddrFromAddrPort(dst), pkt: pkt})
		e.mu.Unlock()
		return nil
	}
	return fmt.Errorf("no media socket %s", local)
}

// start runs the senders, one per socket, each on a 20 ms ticker.
func (e *engine) start() {
	for i, c := range e.socks {
		e.mu.Lock()
		legs := e.legs[i]
		e.mu.Unlock()
		if len(legs) == 0 {
			continue
		}
		e.wg.Go(func() { e.send(c, legs) })
	}
}

// slots spreads a socket's legs over the 20 ms frame, as phones with their
// own clocks are: each 2 ms one tenth of them sends, instead of every leg of
// the socket in one burst.
const slots = 10

func (e *engine) send(c *net.UDPConn, legs []*leg) {
	pc := ipv4.NewPacketConn(c)
	groups := make([][]ipv4.Message, slots)
	for i, l := range legs {
		groups[i%slots] = append(groups[i%slots], ipv4.Message{Buffers: [][]byte{l.pkt}, Addr: l.dst})
	}
	t := time.NewTicker(frame / slots)
	defer t.Stop()
	for slot := 0; ; slot = (slot + 1) % slots {
		select {
		case <-e.done:
			return
		case <-t.C:
		}
		msgs := groups[slot]
		for _, m := range msgs {
			pkt := m.Buffers[0]
			binary.BigEndian.PutUint16(pkt[2:], binary.BigEndian.Uint16(pkt[2:])+1)
			binary.BigEndian.PutUint32(pkt[4:], binary.BigEndian.Uint32(pkt[4:])+160)
		}
		for off := 0; off < len(msgs); {
			n, err := pc.WriteBatch(msgs[off:min(off+batch, len(msgs))], 0)
			if err != nil {
				if errors.Is(err, net.ErrClosed) {
					return
				}
				off++ // skip the packet that failed (an ICMP error for a closed port)
				continue
			}
			e.sent.Add(uint64(n))
			off += n
		}
	}
}

func (e *engine) receive(c *net.UDPConn) {
	pc := ipv4.NewPacketConn(c)
	msgs := make([]ipv4.Message, batch)
	for i := range msgs {
		msgs[i].Buffers = [][]byte{make([]byte, 1500)}
	}
	for {
		n, err := pc.ReadBatch(msgs, 0)
		if err != nil {
			if errors.Is(err, net.ErrClosed) {
				return
			}
			continue
		}
		var audio uint64
		for _, m := range msgs[:n] {
			if m.N >= 12 && m.Buffers[0][1]&0x7f == rtp.PCMU.PT {
				audio++
			}
		}
		e.received.Add(audio)
	}
}

// close stops the senders and the readers and closes the sockets.
func (e *engine) close() {
	select {
	case <-e.done:
	default:
		close(e.done)
	}
	for _, c := range e.socks {
		c.Close()
	}
	e.wg.Wait()
}
