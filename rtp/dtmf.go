package rtp

import (
	"context"
	"encoding/binary"
	"fmt"
	"time"
)

// RFC 4733 telephone-event layout: event, E|R|volume, duration (16 bits).
const (
	eventLen     = 4
	eventEndBit  = 0x80
	eventVolume  = 10  // -10 dBm0, a typical keypad level
	dtmfDuration = 800 // samples, 100 ms of tone
	dtmfEnds     = 3   // the end packet is sent three times (RFC 4733 2.5.1.4)
	eventsKnown  = 16  // 0-9 * # A-D; flash (16) and others are not digits
	digitChars   = "0123456789*#ABCD"
)

// eventDigit maps an RFC 4733 event code to its key, ok false for non-digits.
func eventDigit(code uint8) (rune, bool) {
	if code >= eventsKnown {
		return 0, false
	}
	return rune(digitChars[code]), true
}

// digitEvent maps a key to its RFC 4733 event code.
func digitEvent(d rune) (uint8, bool) {
	if d >= 'a' && d <= 'd' {
		d -= 'a' - 'A'
	}
	for i, c := range digitChars {
		if c == d {
			return uint8(i), true
		}
	}
	return 0, false
}

// dtmfDecoder turns a stream of telephone-event packets into one digit per key
// press. Packets of one event share its RTP timestamp; the event is reported on
// its first end packet and the retransmitted ends are ignored. If every end
// packet is lost, the digit is still reported when the next event starts.
type dtmfDecoder struct {
	active   bool
	activeTS uint32
	activeEv uint8

	ended   bool
	endedTS uint32
}

// decode consumes one telephone-event payload and returns the digits it
// completes: normally none or one, two when the previous event lost all its end
// packets and this packet both starts and ends a new one.
func (d *dtmfDecoder) decode(payload []byte, ts uint32) (digits [2]rune, n int) {
	if len(payload) < eventLen {
		return digits, 0
	}
	code, end := payload[0], payload[1]&eventEndBit != 0
	if d.ended && ts == d.endedTS {
		return digits, 0 // retransmitted end, or a late packet of a finished event
	}
	if d.active && ts != d.activeTS {
		if r, ok := eventDigit(d.activeEv); ok {
			digits[n] = r
			n++
		}
		d.active = false
	}
	if !end {
		d.active, d.activeTS, d.activeEv = true, ts, code
		return digits, n
	}
	d.active, d.ended, d.endedTS = false, true, ts
	if r, ok := eventDigit(code); ok {
		digits[n] = r
		n++
	}
	return digits, n
}

// SendDTMF sends digit ('0'-'9', '*', '#', 'A'-'D') as an RFC 4733 event of
// 100 ms, with the end packet sent three times, on the session's stream and the
// peer's telephone-event payload type. Once started, the event is always
// finished, so the far end never keeps a tone on; ctx is checked before.
func (s *Session) SendDTMF(ctx context.Context, digit rune) error {
	code, ok := digitEvent(digit)
	if !ok {
		return fmt.Errorf("rtp: SendDTMF: %q is not a DTMF digit", digit)
	}
	if pt := s.remote.Load().dtmfPT; pt < 0 {
		return fmt.Errorf("rtp: SendDTMF: peer did not negotiate telephone-event")
	}
	if err := s.acquireLocal(ctx); err != nil {
		return err
	}
	defer s.releaseLocal()

	ticker := time.NewTicker(frameInterval)
	defer ticker.Stop()
	ts := s.out.rebase(nanotime())
	steps := dtmfDuration / frameSamples
	for i := 1; i <= steps+dtmfEnds-1; i++ {
		dur := uint16(min(i, steps) * frameSamples)
		flags := byte(eventVolume)
		if i >= steps {
			flags |= eventEndBit
		}
		p := s.out.buf[headerLen : headerLen+eventLen]
		p[0], p[1] = code, flags
		binary.BigEndian.PutUint16(p[2:], dur)
		cfg := s.remote.Load()
		if cfg.dtmfPT >= 0 {
			s.write(s.sendAddr(cfg), uint8(cfg.dtmfPT), i == 1, ts, eventLen, uint32(dur), nanotime())
		}
		select {
		case <-s.done:
			return ErrClosed
		case <-ticker.C:
		}
	}
	return nil
}
