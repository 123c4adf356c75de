package rtp

import (
	"context"
	"math"
	"runtime"
	"sync"
	"testing"

	"github.com/pion/rtp"

	"switchboard/internal/audio"
)

// bridgedPair opens two sessions, each with its own peer phone, and bridges
// them: A's peer speaks codecA, B's peer speaks codecB.
func bridgedPair(t *testing.T, codecA, codecB Codec) (a, b *Session, pa, pb *peer) {
	t.Helper()
	pool := newTestPool(t, 16)
	a, b = openSession(t, pool), openSession(t, pool)
	pa, pb = newPeer(t), newPeer(t)
	a.SetRemote(pa.addr(), codecA, DefaultDTMFPT)
	b.SetRemote(pb.addr(), codecB, 96)
	t.Cleanup(Bridge(a, b))
	return a, b, pa, pb
}

func decodeAll(t *testing.T, pkts []rtp.Packet, c Codec) []int16 {
	t.Helper()
	var pcm []int16
	for i, p := range pkts {
		if p.PayloadType != c.PT {
			t.Fatalf("packet %d: payload type %d, want %d (%s)", i, p.PayloadType, c.PT, c.Name)
		}
		out, err := Decode(make([]int16, len(p.Payload)), p.Payload, c)
		if err != nil {
			t.Fatal(err)
		}
		pcm = append(pcm, out...)
	}
	return pcm
}

func TestBridgeTranscodesTone(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name           string
		codecA, codecB Codec
	}{
		{"PCMU to PCMA", PCMU, PCMA},
		{"same codec", PCMA, PCMA},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			a, b, pa, pb := bridgedPair(t, tt.codecA, tt.codecB)
			const frames = 25
			for i := range frames {
				pa.sendAudio(a.LocalAddr(), tt.codecA, audio.Sine(1000, 12000, i*frameSamples, frameSamples))
			}
			got := pb.recvN(frames)
			checkStream(t, got)
			if f := audio.DominantFrequency(decodeAll(t, got, tt.codecB)); math.Abs(f-1000) > 10 {
				t.Errorf("A->B: dominant frequency %.0f Hz, want 1000", f)
			}

			for i := range frames {
				pb.sendAudio(b.LocalAddr(), tt.codecB, audio.Sine(400, 12000, i*frameSamples, frameSamples))
			}
			back := pa.recvN(frames)
			checkStream(t, back)
			if f := audio.DominantFrequency(decodeAll(t, back, tt.codecA)); math.Abs(f-400) > 10 {
				t.Errorf("B->A: dominant frequency %.0f Hz, want 400", f)
			}
			if st := a.Stats(); st.PacketsIn != frames || st.PacketsOut != frames || st.Lost != 0 {
				t.Errorf("A stats %+v", st)
			}
		})
	}
}

// isConstant tells bridged filler frames (one repeated byte) from prompt frames.
func isConstant(p []byte) bool {
	for _, x := range p {
		if x != p[0] {
			return false
		}
	}
	return true
}

func TestBridgeStreamContinuousAcrossPlay(t *testing.T) {
	t.Parallel()
	a, b, pa, pb := bridgedPair(t, PCMU, PCMA)
	filler := make([]int16, frameSamples)
	for i := range filler {
		filler[i] = 3000
	}

	for range 10 {
		pa.sendAudio(a.LocalAddr(), PCMU, filler)
	}
	stream := pb.recvN(10)

	// A prompt to B while A keeps talking: A's audio must not reach B.
	ctx, cancel := context.WithCancel(context.Background())
	playDone := make(chan error, 1)
	go func() { playDone <- b.PlayLoop(ctx, audio.Sine(300, 8000, 0, 8000)) }()
	first, _ := pb.recv()
	if isConstant(first.Payload) {
		t.Fatal("first packet after PlayLoop started is bridged audio")
	}
	stream = append(stream, first)
	before := a.Stats().PacketsIn
	for range 5 {
		pa.sendAudio(a.LocalAddr(), PCMU, filler)
	}
	waitFor(t, "A to receive 5 packets during playback", func() bool { return a.Stats().PacketsIn >= before+5 })
	cancel()
	if err := <-playDone; err != context.Canceled {
		t.Fatalf("PlayLoop returned %v, want context.Canceled", err)
	}

	// Back to the bridge: the far end sees the same stream carry on.
	for range 10 {
		pa.sendAudio(a.LocalAddr(), PCMU, filler)
	}
	bridged := 0
	sawMarker := false
	for bridged < 10 {
		p, _ := pb.recv()
		stream = append(stream, p)
		if isConstant(p.Payload) {
			if bridged == 0 {
				sawMarker = p.Marker
			}
			bridged++
		}
	}
	// Everything between the first 10 and the last 10 is the prompt.
	for i, p := range stream[10 : len(stream)-10] {
		if isConstant(p.Payload) {
			t.Fatalf("packet %d during playback is bridged audio", 10+i)
		}
	}
	checkStream(t, stream)
	if !sawMarker {
		t.Error("first bridged packet after the prompt has no marker bit")
	}
}

func TestLatching(t *testing.T) {
	t.Parallel()
	pool := newTestPool(t, 8)
	s := openSession(t, pool)
	sdpAddr, real, stray := newPeer(t), newPeer(t), newPeer(t)
	s.SetRemote(sdpAddr.addr(), PCMU, DefaultDTMFPT)
	frame := audio.Sine(500, 8000, 0, frameSamples)
	ctx := context.Background()

	// Nothing heard yet: send to the SDP address.
	if err := s.Play(ctx, frame); err != nil {
		t.Fatal(err)
	}
	if _, from := sdpAddr.recv(); from != s.LocalAddr() {
		t.Fatalf("packet from %v, want %v", from, s.LocalAddr())
	}

	// The phone's packets come from elsewhere (NAT): answer there.
	real.sendAudio(s.LocalAddr(), PCMU, frame)
	waitFor(t, "latching", func() bool { return s.Stats().Latched == real.addr() })
	if err := s.Play(ctx, frame); err != nil {
		t.Fatal(err)
	}
	real.recv()

	// A stray source cannot take over a live stream.
	stray.sendAudio(s.LocalAddr(), PCMU, frame)
	waitFor(t, "stray packet dropped", func() bool { return s.Stats().Dropped == 1 })
	if err := s.Play(ctx, frame); err != nil {
		t.Fatal(err)
	}
	real.recv()
	if st := s.Stats(); st.Latched != real.addr() || st.PacketsIn != 1 {
		t.Fatalf("stats after stray packet: %+v", st)
	}

	// A re-INVITE with a new address forgets the latch until packets come.
	s.SetRemote(stray.addr(), PCMU, DefaultDTMFPT)
	if s.Stats().Latched.IsValid() {
		t.Fatal("latch kept after the SDP address changed")
	}
	if err := s.Play(ctx, frame); err != nil {
		t.Fatal(err)
	}
	stray.recv()
}

func TestBridgeStopAndClose(t *testing.T) {
	t.Parallel()
	pool := newTestPool(t, 16)
	a, b, c := openSession(t, pool), openSession(t, pool), openSession(t, pool)
	stop := Bridge(a, b)
	if a.peer.Load() != b || b.peer.Load() != a {
		t.Fatal("not linked")
	}
	// Re-bridging a moves it: b no longer receives from a.
	stop2 := Bridge(a, c)
	if b.peer.Load() != nil || a.peer.Load() != c || c.peer.Load() != a {
		t.Fatal("re-bridge did not move a")
	}
	stop() // the old stop must not break the new bridge
	if a.peer.Load() != c {
		t.Fatal("stale stop undid the new bridge")
	}
	stop2()
	stop2()
	if a.peer.Load() != nil || c.peer.Load() != nil {
		t.Fatal("stop did not unlink")
	}
	Bridge(a, c)
	if err := c.Close(); err != nil {
		t.Fatal(err)
	}
	if a.peer.Load() != nil {
		t.Fatal("Close left the partner bridged")
	}
	if stop := Bridge(a, c); a.peer.Load() != nil {
		stop()
		t.Fatal("bridged to a closed session")
	}
	Bridge(a, a)()
	Bridge(nil, a)()
}

// TestForwardZeroAlloc drives the receive path directly: parse, latch check,
// decode for the hook, DTMF decode, rewrite, transcode and send over UDP.
func TestForwardZeroAlloc(t *testing.T) {
	if raceEnabled {
		t.Skip("the race detector allocates")
	}
	pool := newTestPool(t, 16)
	a, b := openSession(t, pool), openSession(t, pool)
	pa, pb := newPeer(t), newPeer(t)
	a.SetRemote(pa.addr(), PCMU, DefaultDTMFPT)
	b.SetRemote(pb.addr(), PCMA, 96)
	defer Bridge(a, b)()
	var heard int
	a.OnAudio(func(pcm []int16) { heard += len(pcm) })

	payload, _ := Encode(make([]byte, frameSamples), audio.Sine(1000, 9000, 0, frameSamples), PCMU)
	pkt := rtp.Packet{Header: rtp.Header{Version: 2, PayloadType: 0, SequenceNumber: 1, Timestamp: 160, SSRC: 7}, Payload: payload}
	ev := rtp.Packet{Header: rtp.Header{Version: 2, PayloadType: DefaultDTMFPT, SequenceNumber: 1, Timestamp: 160, SSRC: 7}, Payload: []byte{5, 10, 0, 160}}
	buf := make([]byte, 1500)
	from := pa.addr()
	// Drain B's peer so its socket buffer never fills.
	go func() {
		rb := make([]byte, 1500)
		for {
			if _, err := pb.conn.Read(rb); err != nil {
				return
			}
		}
	}()
	allocs := testing.AllocsPerRun(2000, func() {
		pkt.SequenceNumber++
		pkt.Timestamp += frameSamples
		n, _ := pkt.MarshalTo(buf)
		a.receive(buf[:n], from)
		ev.SequenceNumber = pkt.SequenceNumber
		pkt.SequenceNumber++
		n, _ = ev.MarshalTo(buf)
		a.receive(buf[:n], from)
	})
	if allocs != 0 {
		t.Errorf("receive+forward: %.1f allocs per packet pair, want 0", allocs)
	}
	if heard == 0 || b.Stats().PacketsOut == 0 {
		t.Errorf("nothing relayed: heard %d, %+v", heard, b.Stats())
	}
}

// TestConcurrentUse exercises every entry point at once for the race detector:
// bridged traffic both ways, prompts, DTMF, re-INVITEs, hooks, stats and Close.
func TestConcurrentUse(t *testing.T) {
	t.Parallel()
	a, b, pa, pb := bridgedPair(t, PCMU, PCMA)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	done := make(chan struct{})
	var workers sync.WaitGroup
	run := func(fn func()) {
		workers.Add(1)
		go func() {
			defer workers.Done()
			for {
				select {
				case <-done:
					return
				default:
					fn()
				}
			}
		}()
	}
	frame := audio.Sine(700, 8000, 0, frameSamples)
	run(func() { _ = b.Play(ctx, frame) })
	run(func() { _ = a.SendDTMF(ctx, '3') })
	run(func() {
		b.SetRemote(pb.addr(), PCMU, 96)
		b.SetRemote(pb.addr(), PCMA, 97)
		a.OnAudio(func([]int16) {})
		a.OnAudio(nil)
		_ = a.Stats()
		_ = b.Codec()
		runtime.Gosched()
	})
	drain := func(p *peer) {
		workers.Add(1)
		go func() {
			defer workers.Done()
			buf := make([]byte, 1500)
			for {
				if _, err := p.conn.Read(buf); err != nil {
					return
				}
			}
		}()
	}
	drain(pa)
	drain(pb)
	for i := range 200 {
		pa.sendAudio(a.LocalAddr(), PCMU, frame)
		pb.sendAudio(b.LocalAddr(), PCMA, frame)
		if i%50 == 0 {
			pa.sendEvent(a.LocalAddr(), DefaultDTMFPT, '8')
		}
	}
	waitFor(t, "traffic to arrive", func() bool { return a.Stats().PacketsIn > 0 && b.Stats().PacketsIn > 0 })
	close(done)
	cancel()
	_ = a.Close()
	_ = b.Close()
	_ = pa.conn.Close()
	_ = pb.conn.Close()
	workers.Wait()
}
