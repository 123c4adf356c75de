package wav

import (
	"bytes"
	"encoding/binary"
	"errors"
	"io"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/zaf/g711"

	"switchboard/internal/audio"
)

var formats = []struct {
	name   string
	format int
}{
	{"pcm", FormatPCM},
	{"alaw", FormatALaw},
	{"ulaw", FormatULaw},
}

// encodeRaw encodes pcm the way a caller of Write would hand it over.
func encodeRaw(format int, pcm []int16) []byte {
	switch format {
	case FormatPCM:
		b := make([]byte, 2*len(pcm))
		for i, s := range pcm {
			binary.LittleEndian.PutUint16(b[2*i:], uint16(s))
		}
		return b
	case FormatALaw:
		b := make([]byte, len(pcm))
		for i, s := range pcm {
			b[i] = g711.EncodeAlawFrame(s)
		}
		return b
	default:
		b := make([]byte, len(pcm))
		for i, s := range pcm {
			b[i] = g711.EncodeUlawFrame(s)
		}
		return b
	}
}

// expectDecoded is what a lossless reader must return for pcm stored in format.
func expectDecoded(format int, pcm []int16) []int16 {
	out := make([]int16, len(pcm))
	for i, s := range pcm {
		switch format {
		case FormatPCM:
			out[i] = s
		case FormatALaw:
			out[i] = g711.DecodeAlawFrame(g711.EncodeAlawFrame(s))
		default:
			out[i] = g711.DecodeUlawFrame(g711.EncodeUlawFrame(s))
		}
	}
	return out
}

func TestRoundTripWritePCM(t *testing.T) {
	t.Parallel()
	for _, tc := range formats {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			path := filepath.Join(t.TempDir(), "rt.wav")
			w, err := Create(path, tc.format)
			if err != nil {
				t.Fatal(err)
			}
			// 1001 samples: an odd byte count for G.711 exercises the pad byte.
			tone := audio.Sine(1000, 12000, 0, 1001)
			for off := 0; off < len(tone); off += 160 {
				if err := w.WritePCM(tone[off:min(off+160, len(tone))]); err != nil {
					t.Fatal(err)
				}
			}
			if got, want := w.Duration(), 1001*time.Second/8000; got != want {
				t.Errorf("Duration = %v, want %v", got, want)
			}
			if err := w.Close(); err != nil {
				t.Fatal(err)
			}
			if err := w.Close(); err != nil {
				t.Errorf("second Close: %v", err)
			}
			info, got, err := DecodeFile(path)
			if err != nil {
				t.Fatal(err)
			}
			want := Info{Format: tc.format, Channels: 1, SampleRate: 8000, BitsPerSample: 8 * bytesPerSample(tc.format),
				DataBytes: 1001 * bytesPerSample(tc.format), Duration: 1001 * time.Second / 8000}
			if info != want {
				t.Errorf("Info = %+v, want %+v", info, want)
			}
			if exp := expectDecoded(tc.format, tone); !slices.Equal(got, exp) {
				t.Errorf("decoded samples differ from the encoded tone")
			}
			if f := audio.DominantFrequency(got); math.Abs(f-1000) > 5 {
				t.Errorf("dominant frequency %v Hz, want 1000", f)
			}
			st, err := os.Stat(path)
			if err != nil {
				t.Fatal(err)
			}
			if st.Size()%2 != 0 {
				t.Errorf("file size %d is odd: the data chunk was not padded", st.Size())
			}
		})
	}
}

func TestRoundTripRawWrite(t *testing.T) {
	t.Parallel()
	for _, tc := range formats {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			pcm := audio.Sine(440, 20000, 0, 800)
			raw := encodeRaw(tc.format, pcm)
			var buf seekBuffer
			w, err := NewWriter(&buf, tc.format)
			if err != nil {
				t.Fatal(err)
			}
			if n, err := w.Write(raw); err != nil || n != len(raw) {
				t.Fatalf("Write = %d, %v", n, err)
			}
			if err := w.Close(); err != nil {
				t.Fatal(err)
			}
			_, got, err := Decode(bytes.NewReader(buf.b))
			if err != nil {
				t.Fatal(err)
			}
			if !slices.Equal(got, expectDecoded(tc.format, pcm)) {
				t.Error("decoded samples differ")
			}
		})
	}
}

// TestHeaderLayout pins the exact bytes players look at.
func TestHeaderLayout(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name     string
		format   int
		data     []byte
		wantHdr  int
		wantFmt  uint32
		wantFact bool
	}{
		{"ulaw odd", FormatULaw, make([]byte, 3), 58, 18, true},
		{"alaw even", FormatALaw, make([]byte, 4), 58, 18, true},
		{"pcm", FormatPCM, make([]byte, 6), 44, 16, false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			var buf seekBuffer
			w, err := NewWriter(&buf, tc.format)
			if err != nil {
				t.Fatal(err)
			}
			if _, err := w.Write(tc.data); err != nil {
				t.Fatal(err)
			}
			if err := w.Close(); err != nil {
				t.Fatal(err)
			}
			b := buf.b
			le := binary.LittleEndian
			pad := len(tc.data) & 1
			if len(b) != tc.wantHdr+len(tc.data)+pad {
				t.Fatalf("file is %d bytes, want %d", len(b), tc.wantHdr+len(tc.data)+pad)
			}
			if string(b[0:4]) != "RIFF" || string(b[8:16]) != "WAVEfmt " {
				t.Fatalf("bad signature % x", b[:16])
			}
			if got := le.Uint32(b[4:]); int(got) != len(b)-8 {
				t.Errorf("RIFF size %d, want %d", got, len(b)-8)
			}
			if got := le.Uint32(b[16:]); got != tc.wantFmt {
				t.Errorf("fmt size %d, want %d", got, tc.wantFmt)
			}
			bps := bytesPerSample(tc.format)
			if le.Uint16(b[20:]) != uint16(tc.format) || le.Uint16(b[22:]) != 1 || le.Uint32(b[24:]) != 8000 ||
				le.Uint32(b[28:]) != uint32(8000*bps) || le.Uint16(b[32:]) != uint16(bps) || le.Uint16(b[34:]) != uint16(8*bps) {
				t.Errorf("bad fmt fields % x", b[20:36])
			}
			off := 36
			if tc.wantFact {
				if le.Uint16(b[36:]) != 0 {
					t.Errorf("cbSize %d, want 0", le.Uint16(b[36:]))
				}
				if string(b[38:42]) != "fact" || le.Uint32(b[42:]) != 4 || int(le.Uint32(b[46:])) != len(tc.data) {
					t.Errorf("bad fact chunk % x", b[38:50])
				}
				off = 50
			}
			if string(b[off:off+4]) != "data" || int(le.Uint32(b[off+4:])) != len(tc.data) {
				t.Errorf("bad data chunk header % x", b[off:off+8])
			}
		})
	}
}

func TestWriterAtOffset(t *testing.T) {
	t.Parallel()
	f, err := os.Create(filepath.Join(t.TempDir(), "off.bin"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	prefix := []byte("0123456789")
	if _, err := f.Write(prefix); err != nil {
		t.Fatal(err)
	}
	w, err := NewWriter(f, FormatULaw)
	if err != nil {
		t.Fatal(err)
	}
	if err := w.WritePCM(audio.Sine(1000, 8000, 0, 160)); err != nil {
		t.Fatal(err)
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	// Close must leave the stream at the end so the caller can keep writing.
	if pos, _ := f.Seek(0, io.SeekCurrent); pos != int64(len(prefix))+58+160 {
		t.Errorf("position after Close = %d, want %d", pos, len(prefix)+58+160)
	}
	if _, err := f.Seek(int64(len(prefix)), io.SeekStart); err != nil {
		t.Fatal(err)
	}
	_, got, err := Decode(f)
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 160 {
		t.Errorf("decoded %d samples, want 160", len(got))
	}
}

func TestWriterErrors(t *testing.T) {
	t.Parallel()
	var buf seekBuffer
	if _, err := NewWriter(&buf, 3); !errors.Is(err, ErrUnsupported) {
		t.Errorf("NewWriter(float) err = %v, want ErrUnsupported", err)
	}
	w, err := NewWriter(&buf, FormatPCM)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := w.Write([]byte{1, 2, 3}); err == nil {
		t.Error("odd-length PCM write succeeded")
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	if _, err := w.Write([]byte{1, 2}); err == nil {
		t.Error("write after Close succeeded")
	}
	if _, err := Create(filepath.Join(t.TempDir(), "missing-dir", "x.wav"), FormatULaw); err == nil {
		t.Error("Create in a missing directory succeeded")
	}
}

// TestUnpatchedHeader simulates a crash mid-recording: the header still holds the
// "unknown size" markers and the audio written so far must be readable.
func TestUnpatchedHeader(t *testing.T) {
	t.Parallel()
	var buf seekBuffer
	w, err := NewWriter(&buf, FormatULaw)
	if err != nil {
		t.Fatal(err)
	}
	if err := w.WritePCM(audio.Sine(1000, 8000, 0, 480)); err != nil {
		t.Fatal(err)
	}
	info, got, err := Decode(bytes.NewReader(buf.b)) // no Close
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 480 || info.Duration != 60*time.Millisecond {
		t.Errorf("got %d samples, %v; want 480, 60ms", len(got), info.Duration)
	}
}

func TestWriteFileAtomic(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	path := filepath.Join(dir, "vm.wav")
	if err := os.WriteFile(path, []byte("old content"), 0o600); err != nil {
		t.Fatal(err)
	}
	pcm := audio.Sine(1000, 10000, 0, 8000)
	for _, tc := range formats {
		raw := encodeRaw(tc.format, pcm)
		if err := WriteFileAtomic(path, tc.format, raw); err != nil {
			t.Fatalf("%s: %v", tc.name, err)
		}
		info, got, err := DecodeFile(path)
		if err != nil {
			t.Fatalf("%s: %v", tc.name, err)
		}
		if info.Format != tc.format || info.Duration != time.Second || !slices.Equal(got, expectDecoded(tc.format, pcm)) {
			t.Errorf("%s: got %+v", tc.name, info)
		}
	}
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	if len(entries) != 1 {
		t.Errorf("directory holds %d entries, want only vm.wav (temp files left behind?)", len(entries))
	}
	if err := WriteFileAtomic(path, FormatPCM, []byte{1}); err == nil {
		t.Error("odd PCM data accepted")
	}
	if err := WriteFileAtomic(filepath.Join(dir, "nodir", "x.wav"), FormatULaw, []byte{1}); err == nil {
		t.Error("write into a missing directory succeeded")
	}
}

// chunk builds one RIFF chunk with its pad byte.
func chunk(id string, body []byte) []byte {
	b := append([]byte(id), binary.LittleEndian.AppendUint32(nil, uint32(len(body)))...)
	b = append(b, body...)
	if len(body)%2 == 1 {
		b = append(b, 0)
	}
	return b
}

// fmtBody builds a plain 16-byte fmt chunk body.
func fmtBody(format, channels, rate, bits int) []byte {
	le := binary.LittleEndian
	b := le.AppendUint16(nil, uint16(format))
	b = le.AppendUint16(b, uint16(channels))
	b = le.AppendUint32(b, uint32(rate))
	b = le.AppendUint32(b, uint32(rate*channels*bits/8))
	b = le.AppendUint16(b, uint16(channels*bits/8))
	return le.AppendUint16(b, uint16(bits))
}

// extensibleBody wraps format in a 40-byte WAVE_FORMAT_EXTENSIBLE fmt body.
func extensibleBody(format, bits int) []byte {
	le := binary.LittleEndian
	b := fmtBody(formatExtensible, 1, 8000, bits)
	b = le.AppendUint16(b, 22)
	b = le.AppendUint16(b, uint16(bits))
	b = le.AppendUint32(b, 4) // front centre
	b = le.AppendUint16(b, uint16(format))
	return append(b, 0x00, 0x00, 0x00, 0x00, 0x10, 0x00, 0x80, 0x00, 0x00, 0xAA, 0x00, 0x38, 0x9B, 0x71)
}

// riff assembles chunks into a file with a correct RIFF size.
func riff(chunks ...[]byte) []byte {
	var body []byte
	for _, c := range chunks {
		body = append(body, c...)
	}
	b := append([]byte("RIFF"), binary.LittleEndian.AppendUint32(nil, uint32(4+len(body)))...)
	b = append(b, "WAVE"...)
	return append(b, body...)
}

func TestDecode(t *testing.T) {
	t.Parallel()
	ulaw := []byte{0xFF, 0x80, 0x00}
	ulawPCM := []int16{g711.DecodeUlawFrame(0xFF), g711.DecodeUlawFrame(0x80), g711.DecodeUlawFrame(0x00)}
	tests := []struct {
		name    string
		in      []byte
		want    []int16
		wantErr error
		errText string
	}{
		{
			name: "odd LIST chunk before and after data",
			in: riff(chunk("LIST", []byte("INFOISFT\x03\x00\x00\x00ab\x00")), chunk("fmt ", fmtBody(7, 1, 8000, 8)),
				chunk("fact", []byte{3, 0, 0, 0}), chunk("data", ulaw), chunk("LIST", []byte("x"))),
			want: ulawPCM,
		},
		{
			name: "extensible",
			in:   riff(chunk("fmt ", extensibleBody(7, 8)), chunk("data", ulaw)),
			want: ulawPCM,
		},
		{
			name: "fmt with cbSize and trailing extra bytes",
			in:   riff(chunk("fmt ", append(fmtBody(6, 1, 8000, 8), 1, 0, 9)), chunk("data", []byte{0xD5})),
			want: []int16{g711.DecodeAlawFrame(0xD5)},
		},
		{
			name: "truncated data chunk keeps what is there",
			in:   riff(chunk("fmt ", fmtBody(1, 1, 8000, 16)), []byte("data\x00\x10\x00\x00\x01\x00\x02\x00\x03")),
			want: []int16{1, 2},
		},
		{
			name: "empty data",
			in:   riff(chunk("fmt ", fmtBody(7, 1, 8000, 8)), chunk("data", nil), chunk("LIST", []byte("abcd"))),
			want: []int16{},
		},
		{name: "empty input", in: nil, wantErr: ErrNotWAV},
		{name: "not riff", in: []byte("OggS\x00\x00\x00\x00WAVEfmt "), wantErr: ErrNotWAV},
		{name: "rifx", in: []byte("RIFX\x00\x00\x00\x00WAVE"), wantErr: ErrNotWAV, errText: "big-endian"},
		{name: "avi", in: []byte("RIFF\x00\x00\x00\x00AVI "), wantErr: ErrNotWAV},
		{name: "no fmt", in: riff(chunk("LIST", []byte("ab"))), wantErr: ErrNotWAV, errText: "no fmt"},
		{name: "no data", in: riff(chunk("fmt ", fmtBody(7, 1, 8000, 8))), wantErr: ErrNotWAV, errText: "no data"},
		{name: "data before fmt", in: riff(chunk("data", ulaw), chunk("fmt ", fmtBody(7, 1, 8000, 8))), wantErr: ErrNotWAV},
		{name: "short fmt", in: riff(chunk("fmt ", []byte{7, 0, 1, 0})), wantErr: ErrNotWAV},
		{name: "huge fmt", in: riff([]byte("fmt \xff\xff\xff\x7f")), wantErr: ErrNotWAV},
		{name: "two fmt", in: riff(chunk("fmt ", fmtBody(7, 1, 8000, 8)), chunk("fmt ", fmtBody(7, 1, 8000, 8))), wantErr: ErrNotWAV},
		{name: "truncated unknown chunk", in: riff([]byte("junk\x00\x01\x00\x00abc")), wantErr: ErrNotWAV},
		{name: "short extensible", in: riff(chunk("fmt ", fmtBody(formatExtensible, 1, 8000, 8))), wantErr: ErrNotWAV},
		{name: "stereo", in: riff(chunk("fmt ", fmtBody(1, 2, 8000, 16)), chunk("data", ulaw)), wantErr: ErrUnsupported, errText: "2 channels"},
		{name: "16 kHz", in: riff(chunk("fmt ", fmtBody(1, 1, 16000, 16)), chunk("data", ulaw)), wantErr: ErrUnsupported, errText: "sample rate 16000 Hz"},
		{name: "float", in: riff(chunk("fmt ", fmtBody(3, 1, 8000, 32)), chunk("data", ulaw)), wantErr: ErrUnsupported, errText: "format tag 3"},
		{name: "8-bit pcm", in: riff(chunk("fmt ", fmtBody(1, 1, 8000, 8)), chunk("data", ulaw)), wantErr: ErrUnsupported, errText: "bits per sample"},
		{name: "extensible float", in: riff(chunk("fmt ", extensibleBody(3, 32)), chunk("data", ulaw)), wantErr: ErrUnsupported},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			info, got, err := Decode(bytes.NewReader(tc.in))
			if tc.wantErr != nil {
				if !errors.Is(err, tc.wantErr) {
					t.Fatalf("err = %v, want %v", err, tc.wantErr)
				}
				if !strings.Contains(err.Error(), tc.errText) {
					t.Errorf("err = %q, want it to mention %q", err, tc.errText)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if !slices.Equal(got, tc.want) {
				t.Errorf("samples = %v, want %v", got, tc.want)
			}
			if info.Channels != 1 || info.SampleRate != 8000 {
				t.Errorf("info = %+v", info)
			}
		})
	}
}

func TestDecodeFileMissing(t *testing.T) {
	t.Parallel()
	_, _, err := DecodeFile(filepath.Join(t.TempDir(), "nope.wav"))
	if !errors.Is(err, os.ErrNotExist) {
		t.Errorf("err = %v, want ErrNotExist", err)
	}
}

func FuzzDecode(f *testing.F) {
	for _, tc := range formats {
		var buf seekBuffer
		w, err := NewWriter(&buf, tc.format)
		if err != nil {
			f.Fatal(err)
		}
		if err := w.WritePCM(audio.Sine(1000, 9000, 0, 33)); err != nil {
			f.Fatal(err)
		}
		if err := w.Close(); err != nil {
			f.Fatal(err)
		}
		f.Add(buf.b)
	}
	f.Add(riff(chunk("LIST", []byte("odd")), chunk("fmt ", extensibleBody(7, 8)), chunk("data", []byte{1, 2, 3})))
	f.Add(riff(chunk("fmt ", fmtBody(1, 2, 44100, 16)), chunk("data", []byte{1, 2, 3, 4})))
	f.Add([]byte("RIFF\xff\xff\xff\xffWAVEdata\xff\xff\xff\xff"))
	f.Add([]byte{})
	f.Fuzz(func(t *testing.T, in []byte) {
		info, samples, err := Decode(bytes.NewReader(in))
		if err != nil {
			if samples != nil {
				t.Errorf("samples returned with error %v", err)
			}
			return
		}
		if info.Channels != 1 || info.SampleRate != 8000 {
			t.Errorf("accepted %+v", info)
		}
		if want := info.DataBytes / bytesPerSample(info.Format); len(samples) != want {
			t.Errorf("%d samples for %d data bytes of %s", len(samples), info.DataBytes, FormatName(info.Format))
		}
		if info.DataBytes > len(in) {
			t.Errorf("DataBytes %d exceeds input length %d", info.DataBytes, len(in))
		}
	})
}

// seekBuffer is an in-memory io.WriteSeeker for tests.
type seekBuffer struct {
	b   []byte
	pos int
}

func (s *seekBuffer) Write(p []byte) (int, error) {
	if need := s.pos + len(p); need > len(s.b) {
		s.b = append(s.b, make([]byte, need-len(s.b))...)
	}
	copy(s.b[s.pos:], p)
	s.pos += len(p)
	return len(p), nil
}

func (s *seekBuffer) Seek(off int64, whence int) (int64, error) {
	switch whence {
	case io.SeekStart:
	case io.SeekCurrent:
		off += int64(s.pos)
	case io.SeekEnd:
		off += int64(len(s.b))
	}
	if off < 0 {
		return 0, errors.New("negative position")
	}
	s.pos = int(off)
	return off, nil
}
