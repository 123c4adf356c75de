package rtp

import (
	"context"
	"errors"
	"math"
	"testing"

	"switchboard/internal/audio"
)

func TestPlay(t *testing.T) {
	t.Parallel()
	tests := []struct {
		codec   Codec
		samples int
		frames  int
	}{
		{PCMA, 1000, 7}, // 6 full frames and a padded one
		{PCMU, 1600, 10},
	}
	for _, tt := range tests {
		t.Run(tt.codec.Name, func(t *testing.T) {
			t.Parallel()
			pool := newTestPool(t, 8)
			s := openSession(t, pool)
			p := newPeer(t)
			s.SetRemote(p.addr(), tt.codec, DefaultDTMFPT)
			if s.Codec() != tt.codec {
				t.Fatalf("Codec() = %v", s.Codec())
			}
			if err := s.Play(context.Background(), audio.Sine(1000, 10000, 0, tt.samples)); err != nil {
				t.Fatal(err)
			}
			got := p.recvN(tt.frames)
			checkStream(t, got)
			for i, pk := range got {
				if len(pk.Payload) != frameSamples || pk.Timestamp-got[0].Timestamp != uint32(i*frameSamples) || pk.Marker != (i == 0) {
					t.Fatalf("frame %d: %d bytes, header %+v", i, len(pk.Payload), pk.Header)
				}
			}
			pcm := decodeAll(t, got, tt.codec)
			if f := audio.DominantFrequency(pcm[:tt.samples]); math.Abs(f-1000) > 10 {
				t.Errorf("played %.0f Hz, want 1000", f)
			}
			if st := s.Stats(); st.PacketsOut != uint64(tt.frames) || st.BytesOut != uint64(tt.frames*(headerLen+frameSamples)) {
				t.Errorf("stats %+v", st)
			}
		})
	}
}

func TestPlayLoopStops(t *testing.T) {
	t.Parallel()
	pool := newTestPool(t, 8)
	s := openSession(t, pool)
	p := newPeer(t)
	s.SetRemote(p.addr(), PCMU, DefaultDTMFPT)

	if err := s.PlayLoop(context.Background(), nil); err == nil {
		t.Error("PlayLoop of nothing succeeded")
	}
	if err := s.Play(context.Background(), nil); err != nil {
		t.Errorf("Play of nothing: %v", err)
	}

	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- s.PlayLoop(ctx, audio.Sine(440, 8000, 0, 200)) }()
	got := p.recvN(5) // 200 samples loop over more than one frame each round
	checkStream(t, got)
	cancel()
	if err := <-done; !errors.Is(err, context.Canceled) {
		t.Fatalf("PlayLoop: %v, want context.Canceled", err)
	}

	// A cancelled context never takes the stream.
	if err := s.Play(ctx, make([]int16, 160)); !errors.Is(err, context.Canceled) {
		t.Fatalf("Play with a done ctx: %v", err)
	}

	go func() { done <- s.PlayLoop(context.Background(), make([]int16, 160)) }()
	p.recv()
	s.Close()
	if err := <-done; !errors.Is(err, ErrClosed) {
		t.Fatalf("PlayLoop after Close: %v, want ErrClosed", err)
	}
	if err := s.Play(context.Background(), make([]int16, 160)); !errors.Is(err, ErrClosed) {
		t.Fatalf("Play after Close: %v, want ErrClosed", err)
	}
}

func TestPlayWithoutRemoteSendsNothing(t *testing.T) {
	t.Parallel()
	pool := newTestPool(t, 8)
	s := openSession(t, pool)
	if err := s.Play(context.Background(), make([]int16, 320)); err != nil {
		t.Fatal(err)
	}
	s.SetRemote(netip0(), PCMU, -1) // c=0.0.0.0 hold
	if err := s.Play(context.Background(), make([]int16, 160)); err != nil {
		t.Fatal(err)
	}
	if st := s.Stats(); st.PacketsOut != 0 {
		t.Fatalf("sent %d packets with no usable remote", st.PacketsOut)
	}
	s.SetRemote(newPeer(t).addr(), Codec{Name: "G729", PT: 18}, -1)
	if err := s.Play(context.Background(), make([]int16, 160)); err == nil {
		t.Fatal("Play encoded G.729")
	}
}

// A feed sends the frames its producer writes, one stream with a marker on the
// first frame and 160 samples between timestamps; a Play waits for it to close.
func TestFeed(t *testing.T) {
	t.Parallel()
	pool := newTestPool(t, 4)
	s := openSession(t, pool)
	p := newPeer(t)
	s.SetRemote(p.addr(), PCMU, DefaultDTMFPT)
	f, err := s.OpenFeed(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	tone := audio.Sine(700, 10000, 0, 5*frameSamples)
	for i := range 5 {
		if err := f.Write(tone[i*frameSamples : (i+1)*frameSamples]); err != nil {
			t.Fatal(err)
		}
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if err := s.Play(ctx, tone); !errors.Is(err, context.Canceled) {
		t.Fatalf("Play while a feed runs: %v, want it to wait for the feed", err)
	}
	f.Close()
	got := p.recvN(5)
	checkStream(t, got)
	for i, pk := range got {
		if pk.Timestamp-got[0].Timestamp != uint32(i*frameSamples) || pk.Marker != (i == 0) {
			t.Fatalf("frame %d: header %+v", i, pk.Header)
		}
	}
	if fr := audio.DominantFrequency(decodeAll(t, got, PCMU)); math.Abs(fr-700) > 10 {
		t.Errorf("fed %.0f Hz, want 700", fr)
	}
	s.Close()
	if err := f.Write(tone[:frameSamples]); !errors.Is(err, ErrClosed) {
		t.Errorf("Write after Close: %v", err)
	}
}
