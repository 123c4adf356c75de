package voicemail

import (
	"context"
	"errors"
	"fmt"
	"time"

	"switchboard/rtp"
)

// errDigitTimeout reports that no digit came within the wait; menus treat it
// as "no answer", not as a failure.
var errDigitTimeout = errors.New("voicemail: no digit within timeout")

// keypad reads a call's RFC 4733 digits and remembers the ones pressed while a
// prompt plays, so that a caller who knows the menu can answer before it ends
// (barge-in). One keypad belongs to one application run on one goroutine.
type keypad struct {
	ch     <-chan rune // nil once the session closed it
	buf    []rune
	closed bool
}

func newKeypad(sess *rtp.Session) *keypad { return &keypad{ch: sess.DTMF()} }

// take records a receive from the session's digit channel.
func (k *keypad) take(d rune, ok bool) {
	if !ok {
		k.ch, k.closed = nil, true // a nil channel blocks, so selects ignore it
		return
	}
	k.buf = append(k.buf, d)
}

// flush forgets every digit pressed so far, including those already queued in
// the session, so that a key pressed during a beep is not taken as an answer.
func (k *keypad) flush() {
	k.buf = k.buf[:0]
	for k.ch != nil {
		select {
		case d, ok := <-k.ch:
			k.take(d, ok)
			k.buf = k.buf[:0]
		default:
			return
		}
	}
}

// play plays pcm and collects the digits pressed meanwhile. When stopOn is
// non-nil, a digit for which it reports true cuts the prompt short (and a digit
// already waiting skips it entirely); the digits stay buffered for next.
// It returns nil when the prompt finished or was cut short, ctx.Err() when ctx
// is done and rtp.ErrClosed when the session closed.
func (k *keypad) play(ctx context.Context, sess *rtp.Session, pcm []int16, stopOn func(rune) bool) error {
	if stopOn != nil {
		for _, d := range k.buf {
			if stopOn(d) {
				return nil
			}
		}
	}
	if err := ctx.Err(); err != nil {
		return err
	}
	pctx, cancel := context.WithCancel(ctx)
	defer cancel()
	done := make(chan error, 1)
	go func() { done <- sess.Play(pctx, pcm) }()
	for {
		select {
		case err := <-done:
			if err != nil && ctx.Err() == nil && pctx.Err() != nil {
				return nil // we cut the prompt short for a digit
			}
			if err != nil {
				return fmt.Errorf("voicemail: play prompt: %w", err)
			}
			return nil
		case d, ok := <-k.ch:
			k.take(d, ok)
			if ok && stopOn != nil && stopOn(d) {
				cancel()
			}
		}
	}
}

// next returns the oldest buffered digit, or waits up to timeout for one.
// It returns errDigitTimeout when none came, ctx.Err() when ctx is done and
// rtp.ErrClosed once the session is closed and no digit is left.
func (k *keypad) next(ctx context.Context, timeout time.Duration) (rune, error) {
	if len(k.buf) > 0 {
		d := k.buf[0]
		k.buf = k.buf[1:]
		return d, nil
	}
	if k.closed {
		return 0, rtp.ErrClosed
	}
	t := time.NewTimer(timeout)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return 0, ctx.Err()
	case <-t.C:
		return 0, errDigitTimeout
	case d, ok := <-k.ch:
		if !ok {
			k.take(d, ok)
			return 0, rtp.ErrClosed
		}
		return d, nil
	}
}

// collect reads digits until '#' (not included), maxLen digits (no limit when
// maxLen <= 0) or timeout without a digit; a timeout just ends the entry.
func (k *keypad) collect(ctx context.Context, maxLen int, timeout time.Duration) (string, error) {
	var got []rune
	for maxLen <= 0 || len(got) < maxLen {
		d, err := k.next(ctx, timeout)
		switch {
		case errors.Is(err, errDigitTimeout):
			return string(got), nil
		case err != nil:
			return string(got), err
		case d == '#':
			return string(got), nil
		}
		got = append(got, d)
	}
	return string(got), nil
}

// anyDigit is the stopOn of prompts that any key interrupts.
func anyDigit(rune) bool { return true }

// CollectDigits reads digits from sess.DTMF() until '#' (which is not part of
// the result), maxLen digits (maxLen <= 0: no limit) or timeout passing
// without a digit, which ends the entry with what was typed so far (possibly
// nothing); timeout <= 0 means DefaultDigitTimeout. Digits pressed before the
// call are taken too, so a caller may type ahead of the prompt. The PBX uses
// it for the *98 mailbox number and for IVR choices.
// It returns ctx.Err() when ctx is done and an error wrapping rtp.ErrClosed
// when the session closes, each with the digits typed before.
func CollectDigits(ctx context.Context, sess *rtp.Session, maxLen int, timeout time.Duration) (string, error) {
	if timeout <= 0 {
		timeout = DefaultDigitTimeout
	}
	s, err := newKeypad(sess).collect(ctx, maxLen, timeout)
	if err != nil {
		return s, fmt.Errorf("voicemail: collect digits: %w", err)
	}
	return s, nil
}
