// Package wav owns the on-disk audio format of the PBX: it reads and writes RIFF/WAVE
// files holding 8 kHz mono narrowband audio as G.711 µ-law, G.711 A-law or 16-bit
// linear PCM. Voicemail recordings are written with it and prompts (built-in or
// supplied by the admin) are read with it. Call recordings are 8 kHz stereo
// 16-bit PCM (NewStereoWriter, DecodeChannels), and Repair fixes the header of a
// file whose writer died before patching it.
//
// Only 8 kHz mono is accepted on input: the PBX never resamples, so a prompt at any
// other rate is reported as an error instead of being played at the wrong speed.
package wav

import (
	"errors"
	"fmt"
	"time"
)

// Format tags from the WAVE fmt chunk that this package reads and writes.
const (
	FormatPCM  = 1 // 16-bit signed little-endian linear PCM
	FormatALaw = 6 // G.711 A-law, 8 bits per sample
	FormatULaw = 7 // G.711 µ-law, 8 bits per sample
)

// SampleRate is the only sample rate the package reads and writes.
const SampleRate = 8000

// formatExtensible is WAVE_FORMAT_EXTENSIBLE: the real format tag then sits in the
// first two bytes of the sub-format GUID.
const formatExtensible = 0xFFFE

// maxDataBytes keeps the RIFF size field (data + header) inside 32 bits.
const maxDataBytes = 0xFFFFFFFF - 64

// ErrNotWAV reports input that is not a little-endian RIFF/WAVE file.
var ErrNotWAV = errors.New("wav: not a RIFF/WAVE file")

// ErrUnsupported reports a well-formed WAV file whose audio this package cannot use
// (another codec, sample rate, channel count or sample size).
var ErrUnsupported = errors.New("wav: unsupported audio")

// ErrTooLarge reports a write that would push the file past the 4 GiB RIFF limit.
var ErrTooLarge = errors.New("wav: file would exceed the 4 GiB RIFF limit")

// Info describes the audio of a decoded file.
type Info struct {
	Format        int           // FormatPCM, FormatALaw or FormatULaw
	Channels      int           // 1; 2 only from DecodeChannels (stereo call recordings)
	SampleRate    int           // always 8000 for a successfully decoded file
	BitsPerSample int           // 16 for PCM, 8 for G.711
	DataBytes     int           // bytes of audio actually read from the data chunk
	Duration      time.Duration // length of the audio
}

// checkFormat rejects format tags other than the three supported ones.
func checkFormat(format int) error {
	switch format {
	case FormatPCM, FormatALaw, FormatULaw:
		return nil
	default:
		return fmt.Errorf("%w: format tag %d (want %d PCM, %d A-law or %d µ-law)",
			ErrUnsupported, format, FormatPCM, FormatALaw, FormatULaw)
	}
}

// bytesPerSample returns the size of one mono sample in format.
func bytesPerSample(format int) int {
	if format == FormatPCM {
		return 2
	}
	return 1
}

// FormatName returns a human-readable name for a format tag, for logs and errors.
func FormatName(format int) string {
	switch format {
	case FormatPCM:
		return "PCM 16-bit"
	case FormatALaw:
		return "G.711 A-law"
	case FormatULaw:
		return "G.711 µ-law"
	default:
		return fmt.Sprintf("format %d", format)
	}
}

// samplesDuration converts a sample count at SampleRate to a duration.
func samplesDuration(samples int64) time.Duration {
	return time.Duration(samples) * time.Second / SampleRate
}
