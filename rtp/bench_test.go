package rtp

import (
	"testing"

	"github.com/pion/rtp"

	"switchboard/internal/audio"
)

// BenchmarkBridge measures the per-packet relay work (parse, latch, rewrite,
// transcode, send) on the receive path without the reading side's syscall.
func BenchmarkBridge(b *testing.B) {
	for _, tc := range []struct {
		name     string
		from, to Codec
	}{{"PCMU-PCMU", PCMU, PCMU}, {"PCMU-PCMA", PCMU, PCMA}} {
		b.Run(tc.name, func(b *testing.B) {
			pool := newTestPool(b, 16)
			x, y := openSession(b, pool), openSession(b, pool)
			px, py := newPeer(b), newPeer(b)
			x.SetRemote(px.addr(), tc.from, DefaultDTMFPT)
			y.SetRemote(py.addr(), tc.to, DefaultDTMFPT)
			defer Bridge(x, y)()
			go func() {
				buf := make([]byte, 1500)
				for {
					if _, err := py.conn.Read(buf); err != nil {
						return
					}
				}
			}()
			payload, _ := Encode(make([]byte, frameSamples), audio.Sine(1000, 9000, 0, frameSamples), tc.from)
			pkt := rtp.Packet{Header: rtp.Header{Version: 2, PayloadType: tc.from.PT, SSRC: 7}, Payload: payload}
			buf := make([]byte, 1500)
			from := px.addr()
			b.ReportAllocs()
			b.ResetTimer()
			for b.Loop() {
				pkt.SequenceNumber++
				pkt.Timestamp += frameSamples
				n, _ := pkt.MarshalTo(buf)
				x.receive(buf[:n], from)
			}
		})
	}
}
