package rtp

import (
	"fmt"
	"io"
	"strconv"
	"strings"
	"time"

	"github.com/zaf/g711"
)

// Codec is an audio codec as negotiated in SDP: its encoding name and the RTP
// payload type used for it on one leg.
type Codec struct {
	Name string
	PT   uint8
}

// The codecs the PBX can bridge. Both are static payload types at 8000 Hz.
var (
	// PCMU is G.711 mu-law, static payload type 0.
	PCMU = Codec{Name: "PCMU", PT: 0}
	// PCMA is G.711 A-law, static payload type 8.
	PCMA = Codec{Name: "PCMA", PT: 8}
)

// Supported lists the codecs the PBX offers and accepts, in preference order.
// Treat it as read-only.
var Supported = []Codec{PCMU, PCMA}

// DefaultDTMFPT is the payload type the PBX uses for RFC 4733 telephone-event
// when it writes an offer.
const DefaultDTMFPT = 101

const (
	clockRate     = 8000
	frameSamples  = 160 // 20 ms at 8 kHz
	frameInterval = 20 * time.Millisecond
	ulawSilence   = 0xFF
	alawSilence   = 0xD5
)

// String returns "NAME/PT".
func (c Codec) String() string {
	return c.Name + "/" + strconv.Itoa(int(c.PT))
}

// law tells which G.711 companding a codec uses; unknown codecs yield lawNone.
type law uint8

const (
	lawNone law = iota
	lawU
	lawA
)

func codecLaw(c Codec) law {
	switch {
	case strings.EqualFold(c.Name, PCMU.Name):
		return lawU
	case strings.EqualFold(c.Name, PCMA.Name):
		return lawA
	}
	return lawNone
}

// ptLaw maps an incoming payload type to its companding. G.711 uses static
// payload types only, so a peer that switches between 0 and 8 mid-call (both were
// offered) is still understood.
func ptLaw(pt uint8) law {
	switch pt {
	case PCMU.PT:
		return lawU
	case PCMA.PT:
		return lawA
	}
	return lawNone
}

// decodeInto expands G.711 bytes into dst (len(dst) >= len(src)) and returns the
// samples written.
func decodeInto(dst []int16, src []byte, l law) []int16 {
	dst = dst[:len(src)]
	if l == lawA {
		for i, b := range src {
			dst[i] = g711.DecodeAlawFrame(b)
		}
		return dst
	}
	for i, b := range src {
		dst[i] = g711.DecodeUlawFrame(b)
	}
	return dst
}

// encodeInto compresses samples into dst (len(dst) >= len(src)).
func encodeInto(dst []byte, src []int16, l law) []byte {
	dst = dst[:len(src)]
	if l == lawA {
		for i, s := range src {
			dst[i] = g711.EncodeAlawFrame(s)
		}
		return dst
	}
	for i, s := range src {
		dst[i] = g711.EncodeUlawFrame(s)
	}
	return dst
}

// transcodeInto converts G.711 bytes from one law to the other (or copies them
// when both are the same) into dst.
func transcodeInto(dst, src []byte, from, to law) []byte {
	dst = dst[:len(src)]
	switch {
	case from == to:
		copy(dst, src)
	case from == lawU:
		for i, b := range src {
			dst[i] = g711.Ulaw2AlawFrame(b)
		}
	default:
		for i, b := range src {
			dst[i] = g711.Alaw2UlawFrame(b)
		}
	}
	return dst
}

func silence(l law) byte {
	if l == lawA {
		return alawSilence
	}
	return ulawSilence
}

// Encode compresses 8 kHz samples into dst in codec c (one byte per sample) and
// returns dst[:len(pcm)]; dst must be at least that long. It does not allocate.
func Encode(dst []byte, pcm []int16, c Codec) ([]byte, error) {
	l := codecLaw(c)
	if l == lawNone {
		return nil, fmt.Errorf("rtp: encode: unsupported codec %s", c)
	}
	if len(dst) < len(pcm) {
		return nil, fmt.Errorf("rtp: encode: %w (%d < %d)", io.ErrShortBuffer, len(dst), len(pcm))
	}
	return encodeInto(dst, pcm, l), nil
}

// Decode expands a G.711 payload in codec c into dst and returns
// dst[:len(payload)]; dst must be at least that long. It does not allocate.
func Decode(dst []int16, payload []byte, c Codec) ([]int16, error) {
	l := codecLaw(c)
	if l == lawNone {
		return nil, fmt.Errorf("rtp: decode: unsupported codec %s", c)
	}
	if len(dst) < len(payload) {
		return nil, fmt.Errorf("rtp: decode: %w (%d < %d)", io.ErrShortBuffer, len(dst), len(payload))
	}
	return decodeInto(dst, payload, l), nil
}

// Transcode converts a G.711 payload from one codec to the other (or copies it
// when they are the same) into dst and returns dst[:len(src)]. It does not
// allocate.
func Transcode(dst, src []byte, from, to Codec) ([]byte, error) {
	lf, lt := codecLaw(from), codecLaw(to)
	if lf == lawNone || lt == lawNone {
		return nil, fmt.Errorf("rtp: transcode %s to %s: unsupported codec", from, to)
	}
	if len(dst) < len(src) {
		return nil, fmt.Errorf("rtp: transcode: %w (%d < %d)", io.ErrShortBuffer, len(dst), len(src))
	}
	return transcodeInto(dst, src, lf, lt), nil
}
