// Package bench holds the PBX's end-to-end benchmarks; it has no tests, so a
// plain `go test ./...` runs nothing here.
package bench

import (
	"net"
	"net/netip"
	"sync/atomic"
	"testing"
	"time"

	pionrtp "github.com/pion/rtp"

	"switchboard/internal/audio"
	"switchboard/rtp"
)

// window bounds the packets in flight so that no socket buffer overflows: a
// lost packet would stall the benchmark instead of measuring it.
const window = 32

// BenchmarkRelay pushes real UDP packets over 127.0.0.1 through a Bridge: a
// caller socket sends 172-byte G.711 packets to session A, the bridge rewrites
// them into session B's stream (transcoding in the PCMU-PCMA case), and a callee
// socket receives them. One op is one relayed packet.
func BenchmarkRelay(b *testing.B) {
	for _, tc := range []struct {
		name     string
		from, to rtp.Codec
	}{{"PCMU-PCMU", rtp.PCMU, rtp.PCMU}, {"PCMU-PCMA", rtp.PCMU, rtp.PCMA}} {
		b.Run(tc.name, func(b *testing.B) { benchRelay(b, tc.from, tc.to) })
	}
}

func benchRelay(b *testing.B, from, to rtp.Codec) {
	base := 24000 + 2*int(time.Now().UnixNano()%2000)
	pool, err := rtp.NewPool(netip.MustParseAddr("127.0.0.1"), base, base+63)
	if err != nil {
		b.Fatal(err)
	}
	defer pool.Close()
	sa, err := pool.Open()
	if err != nil {
		b.Fatal(err)
	}
	defer sa.Close()
	sb, err := pool.Open()
	if err != nil {
		b.Fatal(err)
	}
	defer sb.Close()
	caller, callee := listen(b), listen(b)
	sa.SetRemote(caller.LocalAddr().(*net.UDPAddr).AddrPort(), from, rtp.DefaultDTMFPT)
	sb.SetRemote(callee.LocalAddr().(*net.UDPAddr).AddrPort(), to, rtp.DefaultDTMFPT)
	defer rtp.Bridge(sa, sb)()

	payload, err := rtp.Encode(make([]byte, 160), audio.Sine(1000, 9000, 0, 160), from)
	if err != nil {
		b.Fatal(err)
	}
	pkt := pionrtp.Packet{Header: pionrtp.Header{Version: 2, PayloadType: from.PT, SSRC: 0x5eed}, Payload: payload}
	pump(b, caller, callee, sa.LocalAddr(), pkt)
}

// pump times b.N packets sent from caller to dst and received by callee, with
// at most window in flight, and reports the rate.
func pump(b *testing.B, caller, callee *net.UDPConn, dst netip.AddrPort, pkt pionrtp.Packet) {
	out := make([]byte, 1500)
	in := make([]byte, 1500)
	var received atomic.Int64
	senderDone := make(chan error, 1)
	b.ReportAllocs()
	b.ResetTimer()
	go func() {
		for sent := range b.N {
			for int64(sent)-received.Load() >= window {
				time.Sleep(10 * time.Microsecond) // wait for the relay to catch up
			}
			pkt.SequenceNumber++
			pkt.Timestamp += 160
			n, err := pkt.MarshalTo(out)
			if err == nil {
				_, err = caller.WriteToUDPAddrPort(out[:n], dst)
			}
			if err != nil {
				senderDone <- err
				return
			}
		}
		senderDone <- nil
	}()
	for received.Load() < int64(b.N) {
		// Only a failure guard: a lost packet ends the run with an error.
		if err := callee.SetReadDeadline(time.Now().Add(10 * time.Second)); err != nil {
			b.Fatal(err)
		}
		if _, _, err := callee.ReadFromUDPAddrPort(in); err != nil {
			b.Fatalf("after %d of %d packets: %v", received.Load(), b.N, err)
		}
		received.Add(1)
	}
	b.StopTimer()
	if err := <-senderDone; err != nil {
		b.Fatal(err)
	}
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "packets/s")
}

func listen(b *testing.B) *net.UDPConn {
	b.Helper()
	c, err := net.ListenUDP("udp4", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { c.Close() })
	return c
}

// BenchmarkTranscode measures PCMU->PCMA transcoding of one 20 ms frame into a
// reused buffer, the per-packet work the bridge adds when codecs differ.
func BenchmarkTranscode(b *testing.B) {
	src, err := rtp.Encode(make([]byte, 160), audio.Sine(1000, 9000, 0, 160), rtp.PCMU)
	if err != nil {
		b.Fatal(err)
	}
	dst := make([]byte, 160)
	b.ReportAllocs()
	b.SetBytes(160)
	for b.Loop() {
		if _, err := rtp.Transcode(dst, src, rtp.PCMU, rtp.PCMA); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkRelayBareUDP is the baseline BenchmarkRelay is held against, run the
// same way in the same process: the least a relay in Go can do per packet, one
// goroutine that reads each datagram from one socket and writes it unchanged
// from another. The PBX's relay should cost no more.
func BenchmarkRelayBareUDP(b *testing.B) {
	in, out := listen(b), listen(b)
	caller, callee := listen(b), listen(b)
	dst := callee.LocalAddr().(*net.UDPAddr).AddrPort()
	relayDone := make(chan struct{})
	go func() {
		defer close(relayDone)
		buf := make([]byte, 1500)
		for {
			n, _, err := in.ReadFromUDPAddrPort(buf)
			if err != nil {
				return // the socket closed at the end of the run
			}
			if _, err := out.WriteToUDPAddrPort(buf[:n], dst); err != nil {
				return
			}
		}
	}()
	defer func() { in.Close(); <-relayDone }()

	payload, err := rtp.Encode(make([]byte, 160), audio.Sine(1000, 9000, 0, 160), rtp.PCMU)
	if err != nil {
		b.Fatal(err)
	}
	pkt := pionrtp.Packet{Header: pionrtp.Header{Version: 2, PayloadType: rtp.PCMU.PT, SSRC: 0x5eed}, Payload: payload}
	pump(b, caller, callee, in.LocalAddr().(*net.UDPAddr).AddrPort(), pkt)
}
