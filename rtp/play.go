package rtp

import (
	"context"
	"errors"
	"fmt"
	"time"
)

// Play sends pcm (8 kHz signed 16-bit samples) to the peer in the session's codec,
// one 20 ms frame per tick, and returns when all of it was sent (nil), when ctx is
// done (ctx.Err()) or when the session closes (ErrClosed). The last frame is
// padded with silence. While Play runs, bridged audio toward this session is
// dropped; the stream's SSRC, sequence and timestamps carry on across it.
func (s *Session) Play(ctx context.Context, pcm []int16) error {
	return s.play(ctx, pcm, false)
}

// PlayLoop plays pcm over and over (hold music) until ctx is done or the session
// closes, and returns ctx.Err() or ErrClosed.
func (s *Session) PlayLoop(ctx context.Context, pcm []int16) error {
	if len(pcm) == 0 {
		return errors.New("rtp: PlayLoop: no audio to loop")
	}
	return s.play(ctx, pcm, true)
}

func (s *Session) play(ctx context.Context, pcm []int16, loop bool) error {
	if len(pcm) == 0 {
		return nil
	}
	if err := s.acquireLocal(ctx); err != nil {
		return err
	}
	defer s.releaseLocal()

	ticker := time.NewTicker(frameInterval)
	defer ticker.Stop()
	ts := s.out.rebase(nanotime())
	first := true
	for pos := 0; ; {
		if pos >= len(pcm) {
			if !loop {
				return nil
			}
			pos = 0
		}
		end := min(pos+frameSamples, len(pcm))
		if err := s.sendFrame(pcm[pos:end], ts, first); err != nil {
			return err
		}
		pos, ts, first = end, ts+frameSamples, false

		// Waiting after the last frame too keeps back-to-back prompts paced.
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-s.done:
			return ErrClosed
		case <-ticker.C:
		}
	}
}

// sendFrame encodes up to one frame of samples (padded with silence) into the
// outgoing stream. The caller owns the stream.
func (s *Session) sendFrame(samples []int16, ts uint32, marker bool) error {
	cfg := s.remote.Load()
	if cfg.law == lawNone {
		return fmt.Errorf("rtp: play: cannot encode codec %s", cfg.codec)
	}
	payload := s.out.buf[headerLen : headerLen+frameSamples]
	encodeInto(payload, samples, cfg.law)
	for i := len(samples); i < frameSamples; i++ {
		payload[i] = silence(cfg.law)
	}
	s.write(s.sendAddr(cfg), cfg.codec.PT, marker, ts, frameSamples, frameSamples, nanotime())
	return nil
}

// Feed is the session's outgoing stream taken over by a producer that makes its
// own frames at its own pace (a supervisor's three-party mix). Bridged audio
// toward the session is dropped meanwhile, as during Play; the stream's SSRC,
// sequence and timestamps carry on across it.
type Feed struct {
	s     *Session
	ts    uint32
	first bool
}

// OpenFeed takes the outgoing stream, waiting while a Play runs, until ctx ends or
// the session closes. Close gives it back.
func (s *Session) OpenFeed(ctx context.Context) (*Feed, error) {
	if err := s.acquireLocal(ctx); err != nil {
		return nil, err
	}
	return &Feed{s: s, ts: s.out.rebase(nanotime()), first: true}, nil
}

// Write sends one frame of up to 160 samples (padded with silence) in the
// session's codec. The caller paces the frames, one per 20 ms.
func (f *Feed) Write(samples []int16) error {
	if f.s.closed() {
		return ErrClosed
	}
	err := f.s.sendFrame(samples, f.ts, f.first)
	f.ts += frameSamples
	f.first = false
	return err
}

// Close gives the outgoing stream back to the bridge.
func (f *Feed) Close() { f.s.releaseLocal() }
