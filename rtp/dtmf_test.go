package rtp

import (
	"context"
	"slices"
	"testing"

	"github.com/pion/rtp"
)

func ev(code byte, end bool, dur uint16) []byte {
	flags := byte(10)
	if end {
		flags |= eventEndBit
	}
	return []byte{code, flags, byte(dur >> 8), byte(dur)}
}

func TestDTMFDecoder(t *testing.T) {
	t.Parallel()
	type pkt struct {
		ts      uint32
		payload []byte
	}
	full := func(ts uint32, code byte) []pkt {
		return []pkt{{ts, ev(code, false, 160)}, {ts, ev(code, false, 320)}, {ts, ev(code, true, 480)}, {ts, ev(code, true, 480)}, {ts, ev(code, true, 480)}}
	}
	tests := []struct {
		name string
		pkts []pkt
		want string
	}{
		{"1#", append(full(100, 1), full(900, 11)...), "1#"},
		{"same digit twice", append(full(100, 5), full(900, 5)...), "55"},
		{"all ends lost", append([]pkt{{100, ev(3, false, 160)}, {100, ev(3, false, 320)}}, full(900, 4)...), "34"},
		{"ends lost, next event is end-only", []pkt{{100, ev(3, false, 160)}, {900, ev(4, true, 400)}}, "34"},
		{"late continuation after end", []pkt{{100, ev(7, true, 400)}, {100, ev(7, false, 320)}, {100, ev(7, true, 400)}}, "7"},
		{"A-D and *", slices.Concat(full(1, 12), full(2, 13), full(3, 14), full(4, 15), full(5, 10)), "ABCD*"},
		{"flash is no digit", full(1, 16), ""},
		{"short payload", []pkt{{1, []byte{1, 0x80}}}, ""},
	}
	for _, tt := range tests {
		var d dtmfDecoder
		var got []rune
		for _, p := range tt.pkts {
			digits, n := d.decode(p.payload, p.ts)
			got = append(got, digits[:n]...)
		}
		if string(got) != tt.want {
			t.Errorf("%s: got %q, want %q", tt.name, string(got), tt.want)
		}
	}
}

func TestDigitEventMapping(t *testing.T) {
	t.Parallel()
	for i, c := range digitChars {
		code, ok := digitEvent(c)
		if !ok || int(code) != i {
			t.Errorf("digitEvent(%q) = %d, %v", c, code, ok)
		}
		if r, ok := eventDigit(code); !ok || r != c {
			t.Errorf("eventDigit(%d) = %q", code, r)
		}
	}
	if code, ok := digitEvent('b'); !ok || code != 13 {
		t.Errorf("lower-case b: %d %v", code, ok)
	}
	if _, ok := digitEvent('x'); ok {
		t.Error("x accepted")
	}
}

func TestDTMFReceive(t *testing.T) {
	t.Parallel()
	pool := newTestPool(t, 8)
	s := openSession(t, pool)
	p := newPeer(t)
	s.SetRemote(p.addr(), PCMU, DefaultDTMFPT)
	for _, d := range "1#9" { // 9 is the sentinel: once it arrives, 1 and # were handled
		p.sendEvent(s.LocalAddr(), DefaultDTMFPT, d)
	}
	var got []rune
	for d := range s.DTMF() {
		got = append(got, d)
		if d == '9' {
			break
		}
	}
	if string(got) != "1#9" {
		t.Fatalf("digits %q, want \"1#9\"", string(got))
	}
	if len(s.DTMF()) != 0 {
		t.Fatalf("%d extra digits queued", len(s.DTMF()))
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	if _, open := <-s.DTMF(); open {
		t.Fatal("DTMF channel still open after Close")
	}
}

func TestDTMFPassthrough(t *testing.T) {
	t.Parallel()
	a, b, pa, pb := bridgedPair(t, PCMU, PCMA) // A uses PT 101, B uses 96
	pa.sendEvent(a.LocalAddr(), DefaultDTMFPT, '5')
	got := pb.recvN(6)
	var d dtmfDecoder
	var digits []rune
	for i, p := range got {
		if p.PayloadType != 96 {
			t.Fatalf("packet %d: PT %d, want 96", i, p.PayloadType)
		}
		if p.Timestamp != got[0].Timestamp {
			t.Fatalf("packet %d: event timestamp changed", i)
		}
		ds, n := d.decode(p.Payload, p.Timestamp)
		digits = append(digits, ds[:n]...)
	}
	checkSeq(t, got)
	if string(digits) != "5" || !got[0].Marker {
		t.Fatalf("far end decoded %q (marker %v), want \"5\"", string(digits), got[0].Marker)
	}
	// The hook still fires while bridged.
	if r := <-a.DTMF(); r != '5' {
		t.Fatalf("A decoded %q", r)
	}
	_ = b
}

func checkSeq(t *testing.T, pkts []rtp.Packet) {
	t.Helper()
	for i := 1; i < len(pkts); i++ {
		if pkts[i].SSRC != pkts[0].SSRC || pkts[i].SequenceNumber != pkts[i-1].SequenceNumber+1 {
			t.Fatalf("packet %d: SSRC %08x seq %d after %d", i, pkts[i].SSRC, pkts[i].SequenceNumber, pkts[i-1].SequenceNumber)
		}
	}
}

func TestSendDTMF(t *testing.T) {
	t.Parallel()
	pool := newTestPool(t, 8)
	s := openSession(t, pool)
	p := newPeer(t)
	s.SetRemote(p.addr(), PCMA, 98)
	ctx := context.Background()
	if err := s.SendDTMF(ctx, '7'); err != nil {
		t.Fatal(err)
	}
	got := p.recvN(7)
	checkSeq(t, got)
	var d dtmfDecoder
	var digits []rune
	ends := 0
	for i, pk := range got {
		if pk.PayloadType != 98 || pk.Timestamp != got[0].Timestamp || pk.Marker != (i == 0) {
			t.Fatalf("packet %d: %+v", i, pk.Header)
		}
		if pk.Payload[1]&eventEndBit != 0 {
			ends++
		}
		ds, n := d.decode(pk.Payload, pk.Timestamp)
		digits = append(digits, ds[:n]...)
	}
	if string(digits) != "7" || ends != 3 {
		t.Fatalf("decoded %q with %d end packets", string(digits), ends)
	}
	// Audio after the event continues the same stream, after the event.
	if err := s.Play(ctx, make([]int16, frameSamples)); err != nil {
		t.Fatal(err)
	}
	after, _ := p.recv()
	if after.SequenceNumber != got[6].SequenceNumber+1 || after.Timestamp-got[0].Timestamp < dtmfDuration || after.PayloadType != PCMA.PT {
		t.Fatalf("audio after DTMF: %+v", after.Header)
	}

	if err := s.SendDTMF(ctx, 'x'); err == nil {
		t.Error("SendDTMF accepted 'x'")
	}
	s.SetRemote(p.addr(), PCMA, -1)
	if err := s.SendDTMF(ctx, '1'); err == nil {
		t.Error("SendDTMF without telephone-event succeeded")
	}
}
