package wav

import (
	"bufio"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"os"

	"github.com/zaf/g711"
)

// maxFmtChunk bounds the fmt chunk we are willing to buffer; real ones are 16..40
// bytes, so anything far larger is garbage and must not drive an allocation.
const maxFmtChunk = 4096

// sizeUnknown is written as the data size by streaming encoders that cannot seek
// back (sox and ffmpeg writing to a pipe): the data then runs to the end of input.
const sizeUnknown = 0xFFFFFFFF

// Decode reads a whole WAV file from r and returns its description and its audio as
// 16-bit linear samples. It accepts PCM 16-bit, A-law and µ-law at 8 kHz mono (also
// inside a WAVE_FORMAT_EXTENSIBLE fmt chunk), skips chunks it does not know (LIST,
// fact, cue, ...) including their odd-size pad byte, and stops at the data chunk.
//
// A data chunk cut short by the end of input (a recording interrupted before its
// header was patched) yields the samples that are present, as players do; a data
// size of 0xFFFFFFFF means "until end of input". Anything else that is wrong
// returns an error wrapping ErrNotWAV or ErrUnsupported, with Info filled as far as
// it was read; Decode never panics on malformed input.
func Decode(r io.Reader) (Info, []int16, error) {
	info, chans, err := decode(r, 1)
	if err != nil {
		return info, nil, err
	}
	return info, chans[0], nil
}

// DecodeChannels is Decode for mono or stereo files (call recordings): it
// returns one slice of samples per channel, left first. A stereo frame cut short
// by the end of input is dropped.
func DecodeChannels(r io.Reader) (Info, [][]int16, error) {
	return decode(r, 2)
}

func decode(r io.Reader, maxChannels int) (Info, [][]int16, error) {
	var info Info
	br := bufio.NewReader(r)
	var hdr [12]byte
	if _, err := io.ReadFull(br, hdr[:]); err != nil {
		return info, nil, fmt.Errorf("%w: reading RIFF header: %w", ErrNotWAV, err)
	}
	switch {
	case string(hdr[0:4]) == "RIFX":
		return info, nil, fmt.Errorf("%w: big-endian RIFX files are not supported", ErrNotWAV)
	case string(hdr[0:4]) != "RIFF" || string(hdr[8:12]) != "WAVE":
		return info, nil, fmt.Errorf("%w: missing RIFF/WAVE signature", ErrNotWAV)
	}
	haveFmt := false
	for {
		var ch [8]byte
		if _, err := io.ReadFull(br, ch[:]); err != nil {
			if haveFmt {
				return info, nil, fmt.Errorf("%w: no data chunk: %w", ErrNotWAV, err)
			}
			return info, nil, fmt.Errorf("%w: no fmt chunk: %w", ErrNotWAV, err)
		}
		id := string(ch[0:4])
		size := binary.LittleEndian.Uint32(ch[4:8])
		switch id {
		case "fmt ":
			if haveFmt {
				return info, nil, fmt.Errorf("%w: more than one fmt chunk", ErrNotWAV)
			}
			if size < 16 || size > maxFmtChunk {
				return info, nil, fmt.Errorf("%w: fmt chunk of %d bytes (want 16..%d)", ErrNotWAV, size, maxFmtChunk)
			}
			body := make([]byte, int(size)+int(size&1))
			if _, err := io.ReadFull(br, body); err != nil {
				// The pad byte of a final odd chunk may be missing; the body may not.
				if len(body) == int(size) || !errors.Is(err, io.ErrUnexpectedEOF) {
					return info, nil, fmt.Errorf("%w: reading fmt chunk: %w", ErrNotWAV, err)
				}
			}
			var err error
			info, err = parseFmt(body[:size], maxChannels)
			if err != nil {
				return info, nil, err
			}
			haveFmt = true
		case "data":
			if !haveFmt {
				return info, nil, fmt.Errorf("%w: data chunk before fmt chunk", ErrNotWAV)
			}
			var src io.Reader = br
			if size != sizeUnknown {
				src = io.LimitReader(br, int64(size))
			}
			// ReadAll grows with the bytes really present, so a lying size field
			// cannot make us allocate gigabytes up front.
			data, err := io.ReadAll(src)
			if err != nil {
				return info, nil, fmt.Errorf("wav: reading data chunk: %w", err)
			}
			samples := decodeSamples(info.Format, data)
			info.DataBytes = len(data)
			chans := deinterleave(samples, info.Channels)
			info.Duration = samplesDuration(int64(len(chans[0])))
			return info, chans, nil
		default:
			if _, err := io.CopyN(io.Discard, br, int64(size)+int64(size&1)); err != nil {
				return info, nil, fmt.Errorf("%w: chunk %q cut short: %w", ErrNotWAV, sanitizeID(ch[0:4]), err)
			}
		}
	}
}

// parseFmt interprets a fmt chunk body and checks it describes audio we can play.
func parseFmt(b []byte, maxChannels int) (Info, error) {
	format := int(binary.LittleEndian.Uint16(b[0:2]))
	info := Info{
		Format:        format,
		Channels:      int(binary.LittleEndian.Uint16(b[2:4])),
		SampleRate:    int(binary.LittleEndian.Uint32(b[4:8])),
		BitsPerSample: int(binary.LittleEndian.Uint16(b[14:16])),
	}
	if format == formatExtensible {
		// cbSize (2) + valid bits (2) + channel mask (4) + sub-format GUID (16).
		if len(b) < 40 {
			return info, fmt.Errorf("%w: WAVE_FORMAT_EXTENSIBLE fmt chunk of %d bytes (want 40)", ErrNotWAV, len(b))
		}
		info.Format = int(binary.LittleEndian.Uint16(b[24:26]))
	}
	if err := checkFormat(info.Format); err != nil {
		return info, err
	}
	if info.Channels < 1 || info.Channels > maxChannels {
		return info, fmt.Errorf("%w: %d channels (only mono is supported; convert with: sox in.wav -c 1 -r 8000 out.wav)",
			ErrUnsupported, info.Channels)
	}
	if info.SampleRate != SampleRate {
		return info, fmt.Errorf("%w: sample rate %d Hz (only %d Hz is supported; convert with: sox in.wav -c 1 -r 8000 out.wav)",
			ErrUnsupported, info.SampleRate, SampleRate)
	}
	if want := 8 * bytesPerSample(info.Format); info.BitsPerSample != want {
		return info, fmt.Errorf("%w: %s with %d bits per sample (want %d)",
			ErrUnsupported, FormatName(info.Format), info.BitsPerSample, want)
	}
	return info, nil
}

// decodeSamples converts raw data in format to linear PCM. A trailing odd byte of
// PCM data (a truncated sample) is dropped.
func decodeSamples(format int, data []byte) []int16 {
	switch format {
	case FormatPCM:
		out := make([]int16, len(data)/2)
		for i := range out {
			out[i] = int16(binary.LittleEndian.Uint16(data[2*i:]))
		}
		return out
	case FormatALaw:
		out := make([]int16, len(data))
		for i, b := range data {
			out[i] = g711.DecodeAlawFrame(b)
		}
		return out
	default:
		out := make([]int16, len(data))
		for i, b := range data {
			out[i] = g711.DecodeUlawFrame(b)
		}
		return out
	}
}

// deinterleave splits interleaved samples into n channels, dropping a last
// incomplete frame.
func deinterleave(samples []int16, n int) [][]int16 {
	if n == 1 {
		return [][]int16{samples}
	}
	frames := len(samples) / n
	out := make([][]int16, n)
	for c := range out {
		out[c] = make([]int16, frames)
		for i := range frames {
			out[c][i] = samples[i*n+c]
		}
	}
	return out
}

// sanitizeID makes a chunk ID from untrusted input safe to put in an error message.
func sanitizeID(id []byte) string {
	out := make([]byte, len(id))
	for i, c := range id {
		if c < 0x20 || c > 0x7e {
			c = '?'
		}
		out[i] = c
	}
	return string(out)
}

// DecodeChannelsFile decodes the mono or stereo WAV file at path; see
// DecodeChannels.
func DecodeChannelsFile(path string) (Info, [][]int16, error) {
	f, err := os.Open(path)
	if err != nil {
		return Info{}, nil, fmt.Errorf("wav: %w", err)
	}
	defer f.Close()
	info, chans, err := DecodeChannels(f)
	if err != nil {
		return info, nil, fmt.Errorf("%s: %w", path, err)
	}
	return info, chans, nil
}

// DecodeFile decodes the WAV file at path; see Decode.
func DecodeFile(path string) (Info, []int16, error) {
	f, err := os.Open(path)
	if err != nil {
		return Info{}, nil, fmt.Errorf("wav: %w", err)
	}
	defer f.Close()
	info, samples, err := Decode(f)
	if err != nil {
		return info, nil, fmt.Errorf("%s: %w", path, err)
	}
	return info, samples, nil
}
