package rtp

import (
	"testing"

	"github.com/pion/rtp"
)

// FuzzReceive feeds arbitrary datagrams to a bridged session's receive path
// (RTP parsing, latching, DTMF decoding, transcoding, forwarding).
func FuzzReceive(f *testing.F) {
	seed := func(h rtp.Header, payload []byte) {
		b, err := (&rtp.Packet{Header: h, Payload: payload}).Marshal()
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	seed(rtp.Header{Version: 2, PayloadType: 0, SequenceNumber: 1, Timestamp: 160, SSRC: 1}, make([]byte, 160))
	seed(rtp.Header{Version: 2, PayloadType: 8, SequenceNumber: 2, Timestamp: 320, SSRC: 1}, make([]byte, 80))
	seed(rtp.Header{Version: 2, PayloadType: DefaultDTMFPT, Marker: true, SequenceNumber: 3, Timestamp: 480, SSRC: 1}, []byte{11, 0x8a, 1, 0})
	seed(rtp.Header{Version: 2, PayloadType: 0, CSRC: []uint32{9, 10}, SequenceNumber: 4, SSRC: 2}, []byte{1, 2, 3})
	seed(rtp.Header{Version: 2, PayloadType: 13, SequenceNumber: 5, SSRC: 2}, []byte{40})
	f.Add([]byte{0xa0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 1, 0xff, 3}) // padding
	f.Add([]byte{0x90, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 1, 0xbe, 0xde, 0, 1, 0x10, 0xaa, 0, 0})
	f.Add([]byte{0x80})

	pool := newTestPool(f, 16)
	a, b := openSession(f, pool), openSession(f, pool)
	pa, pb := newPeer(f), newPeer(f)
	a.SetRemote(pa.addr(), PCMU, DefaultDTMFPT)
	b.SetRemote(pb.addr(), PCMA, 96)
	f.Cleanup(Bridge(a, b))
	a.OnAudio(func(pcm []int16) {
		if len(pcm) > maxPacket {
			f.Errorf("hook got %d samples", len(pcm))
		}
	})
	from := pa.addr()
	f.Fuzz(func(t *testing.T, datagram []byte) {
		if len(datagram) > maxPacket {
			datagram = datagram[:maxPacket]
		}
		before := a.Stats()
		a.receive(datagram, from)
		after := a.Stats()
		if after.PacketsIn+after.Dropped == before.PacketsIn+before.Dropped {
			t.Fatal("datagram neither counted nor dropped")
		}
		for len(a.DTMF()) > 0 {
			<-a.DTMF()
		}
	})
}
