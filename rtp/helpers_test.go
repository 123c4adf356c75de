package rtp

import (
	"math/rand/v2"
	"net"
	"net/netip"
	"testing"
	"time"

	"github.com/pion/rtp"
)

// guard bounds every wait in these tests; it only turns a hang into a failure.
const guard = 10 * time.Second

var loopback = netip.MustParseAddr("127.0.0.1")

// newTestPool returns a pool on a random slice of 20000-32766 (below the Linux
// ephemeral range, so OS-picked peer ports rarely land in it). Ports that other
// tests or processes hold are skipped by the pool itself.
func newTestPool(t testing.TB, ports int) *Pool {
	t.Helper()
	base := 20000 + 2*rand.IntN((32766-20000-ports)/2)
	// A slice another process holds whole (a running PBX keeps released
	// sockets a while) would leave a small pool nothing: look for a free one.
	for range 50 {
		if allFree(base, ports) {
			break
		}
		base = 20000 + 2*rand.IntN((32766-20000-ports)/2)
	}
	p, err := NewPool(loopback, base, base+ports-1)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = p.Close() }) // after the sessions' cleanups (LIFO)
	return p
}

// allFree reports whether every port in [base, base+n) could be bound a moment ago.
func allFree(base, n int) bool {
	for port := base; port < base+n; port++ {
		c, err := net.ListenUDP("udp4", net.UDPAddrFromAddrPort(netip.AddrPortFrom(loopback, uint16(port))))
		if err != nil {
			return false
		}
		c.Close()
	}
	return true
}

func openSession(t testing.TB, p *Pool) *Session {
	t.Helper()
	s, err := p.Open()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = s.Close() })
	return s
}

// peer is a test phone's RTP socket on an OS-picked port.
type peer struct {
	t    testing.TB
	conn *net.UDPConn
	seq  uint16
	ts   uint32
	ssrc uint32
	buf  []byte
}

func newPeer(t testing.TB) *peer {
	t.Helper()
	c, err := net.ListenUDP("udp4", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = c.Close() })
	return &peer{t: t, conn: c, seq: 1000, ts: 5000, ssrc: rand.Uint32(), buf: make([]byte, 2048)}
}

func (p *peer) addr() netip.AddrPort { return p.conn.LocalAddr().(*net.UDPAddr).AddrPort() }

// send writes one RTP packet to dst; the peer's sequence always advances.
func (p *peer) send(dst netip.AddrPort, pt uint8, marker bool, ts uint32, payload []byte) {
	p.t.Helper()
	pkt := rtp.Packet{Header: rtp.Header{Version: 2, PayloadType: pt, Marker: marker, SequenceNumber: p.seq, Timestamp: ts, SSRC: p.ssrc}, Payload: payload}
	p.seq++
	b, err := pkt.Marshal()
	if err != nil {
		p.t.Fatal(err)
	}
	if _, err := p.conn.WriteToUDPAddrPort(b, dst); err != nil {
		p.t.Fatal(err)
	}
}

// sendAudio sends one 20 ms frame of samples encoded in c, advancing the clock.
func (p *peer) sendAudio(dst netip.AddrPort, c Codec, pcm []int16) {
	p.t.Helper()
	payload, err := Encode(make([]byte, len(pcm)), pcm, c)
	if err != nil {
		p.t.Fatal(err)
	}
	p.send(dst, c.PT, false, p.ts, payload)
	p.ts += uint32(len(pcm))
}

// sendEvent sends a whole RFC 4733 event: start, continuations and 3 ends.
func (p *peer) sendEvent(dst netip.AddrPort, pt uint8, digit rune) {
	p.t.Helper()
	code, ok := digitEvent(digit)
	if !ok {
		p.t.Fatalf("bad digit %q", digit)
	}
	durs := []uint16{160, 320, 480, 640, 640, 640}
	for i, d := range durs {
		flags := byte(10)
		if i >= 3 {
			flags |= eventEndBit
		}
		p.send(dst, pt, i == 0, p.ts, []byte{code, flags, byte(d >> 8), byte(d)})
	}
	p.ts += 640
}

// recv reads one RTP packet (payload copied) or fails after guard.
func (p *peer) recv() (rtp.Packet, netip.AddrPort) {
	p.t.Helper()
	if err := p.conn.SetReadDeadline(time.Now().Add(guard)); err != nil {
		p.t.Fatal(err)
	}
	n, from, err := p.conn.ReadFromUDPAddrPort(p.buf)
	if err != nil {
		p.t.Fatalf("peer %s: no packet: %v", p.addr(), err)
	}
	var pkt rtp.Packet
	if err := pkt.Unmarshal(p.buf[:n]); err != nil {
		p.t.Fatalf("peer: bad RTP: %v", err)
	}
	pkt.Payload = append([]byte(nil), pkt.Payload...)
	return pkt, from
}

func (p *peer) recvN(n int) []rtp.Packet {
	p.t.Helper()
	out := make([]rtp.Packet, 0, n)
	for range n {
		pkt, _ := p.recv()
		out = append(out, pkt)
	}
	return out
}

// waitFor polls cond until it holds; guard only catches a hang.
func waitFor(t testing.TB, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(guard)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(2 * time.Millisecond)
	}
}

// checkStream asserts one SSRC, consecutive sequence numbers and increasing
// timestamps across pkts.
func checkStream(t testing.TB, pkts []rtp.Packet) {
	t.Helper()
	for i := 1; i < len(pkts); i++ {
		prev, cur := pkts[i-1].Header, pkts[i].Header
		if cur.SSRC != prev.SSRC {
			t.Fatalf("packet %d: SSRC changed %08x -> %08x", i, prev.SSRC, cur.SSRC)
		}
		if cur.SequenceNumber != prev.SequenceNumber+1 {
			t.Fatalf("packet %d: sequence %d after %d", i, cur.SequenceNumber, prev.SequenceNumber)
		}
		if d := int32(cur.Timestamp - prev.Timestamp); d <= 0 {
			t.Fatalf("packet %d: timestamp %d after %d", i, cur.Timestamp, prev.Timestamp)
		}
	}
}

func netip0() netip.AddrPort { return netip.MustParseAddrPort("0.0.0.0:4000") }
