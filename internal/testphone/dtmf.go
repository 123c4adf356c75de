package testphone

import (
	"encoding/binary"
	"errors"
	"fmt"
)

// dtmfEvent is one RFC 4733 telephone-event payload (4 bytes).
type dtmfEvent struct {
	event    uint8
	end      bool
	volume   uint8 // 0..63, in -dBm0
	duration uint16
}

const dtmfEventSize = 4

var errShortEvent = errors.New("telephone-event payload shorter than 4 bytes")

func (e dtmfEvent) marshal() []byte {
	b := make([]byte, dtmfEventSize)
	b[0] = e.event
	b[1] = e.volume & 0x3f
	if e.end {
		b[1] |= 0x80
	}
	binary.BigEndian.PutUint16(b[2:], e.duration)
	return b
}

// parseDTMFEvent decodes an RFC 4733 payload. Extra bytes (redundant events)
// are ignored: the first event is the current one.
func parseDTMFEvent(b []byte) (dtmfEvent, error) {
	if len(b) < dtmfEventSize {
		return dtmfEvent{}, errShortEvent
	}
	return dtmfEvent{
		event:    b[0],
		end:      b[1]&0x80 != 0,
		volume:   b[1] & 0x3f,
		duration: binary.BigEndian.Uint16(b[2:]),
	}, nil
}

// dtmfCode maps a DTMF digit to its RFC 4733 event code.
func dtmfCode(d rune) (uint8, error) {
	switch {
	case d >= '0' && d <= '9':
		return uint8(d - '0'), nil
	case d == '*':
		return 10, nil
	case d == '#':
		return 11, nil
	case d >= 'A' && d <= 'D':
		return uint8(d-'A') + 12, nil
	case d >= 'a' && d <= 'd':
		return uint8(d-'a') + 12, nil
	}
	return 0, fmt.Errorf("not a DTMF digit: %q", d)
}

// dtmfDigit maps an RFC 4733 event code back to its digit; ok is false for
// events that are not DTMF (flash, tones).
func dtmfDigit(code uint8) (rune, bool) {
	switch {
	case code <= 9:
		return rune('0' + code), true
	case code == 10:
		return '*', true
	case code == 11:
		return '#', true
	case code >= 12 && code <= 15:
		return rune('A' + code - 12), true
	}
	return 0, false
}
