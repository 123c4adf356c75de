package wav

import (
	"bytes"
	"errors"
	"io"
	"math"
	"os"
	"path/filepath"
	"testing"
	"time"

	"switchboard/internal/audio"
)

func TestStereoRoundTrip(t *testing.T) {
	t.Parallel()
	path := filepath.Join(t.TempDir(), "call.wav")
	w, err := CreateStereo(path)
	if err != nil {
		t.Fatal(err)
	}
	left, right := audio.Sine(440, 8000, 0, 8000), audio.Sine(1000, 8000, 0, 8000)
	for i := 0; i < len(left); i += 160 {
		if err := w.WriteStereo(left[i:i+160], right[i:i+160]); err != nil {
			t.Fatal(err)
		}
	}
	if w.Duration() != time.Second || w.DataBytes() != 32000 {
		t.Errorf("duration %v, %d bytes; want 1s, 32000", w.Duration(), w.DataBytes())
	}
	if err := w.WriteStereo(left[:2], right[:1]); err == nil {
		t.Error("unequal channels accepted")
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	info, chans, err := DecodeChannelsFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if info.Channels != 2 || info.Format != FormatPCM || info.Duration != time.Second || len(chans) != 2 {
		t.Fatalf("info %+v, %d channels", info, len(chans))
	}
	for i, want := range []float64{440, 1000} {
		if f := audio.DominantFrequency(chans[i]); math.Abs(f-want) > 5 {
			t.Errorf("channel %d: %v Hz, want %v", i, f, want)
		}
	}
	// The mono reader (prompts) still refuses stereo.
	if _, _, err := DecodeFile(path); !errors.Is(err, ErrUnsupported) {
		t.Errorf("Decode of a stereo file: %v, want ErrUnsupported", err)
	}
	if changed, n, err := Repair(path); err != nil || changed || n != 32000 {
		t.Errorf("Repair of a complete file: changed %v, %d bytes, %v", changed, n, err)
	}
}

// A recording cut off by a crash: the header still says "unknown size" and the
// last frame is half written. Repair patches the header to the whole frames on
// disk; any reader then sees consistent sizes.
func TestRepairAfterCrash(t *testing.T) {
	t.Parallel()
	path := filepath.Join(t.TempDir(), "crash.wav")
	w, err := CreateStereo(path)
	if err != nil {
		t.Fatal(err)
	}
	left, right := audio.Sine(440, 8000, 0, 4000), audio.Sine(1000, 8000, 0, 4000)
	if err := w.WriteStereo(left, right); err != nil {
		t.Fatal(err)
	}
	// Simulate the crash: no Close, and a torn frame at the end.
	w.f.Write([]byte{1, 2, 3})
	w.f.Close()
	st, _ := os.Stat(path)
	if st.Size() != pcmHdrLen+16000+3 {
		t.Fatalf("size %d before repair", st.Size())
	}
	changed, n, err := Repair(path)
	if err != nil || !changed || n != 16000 {
		t.Fatalf("Repair: changed %v, %d bytes, %v", changed, n, err)
	}
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if len(b) != pcmHdrLen+16000 || le32(b[4:]) != uint32(len(b)-8) || le32(b[40:]) != 16000 {
		t.Errorf("after repair: %d bytes, RIFF size %d, data size %d", len(b), le32(b[4:]), le32(b[40:]))
	}
	info, chans, err := DecodeChannels(bytes.NewReader(b))
	if err != nil || info.Duration != 500*time.Millisecond {
		t.Fatalf("decode: %+v %v", info, err)
	}
	if f := audio.DominantFrequency(chans[0]); math.Abs(f-440) > 5 {
		t.Errorf("left %v Hz", f)
	}
	if changed, _, err := Repair(path); err != nil || changed {
		t.Errorf("second Repair: changed %v, %v", changed, err)
	}
}

// G.711 mono with an odd length: the pad byte and the fact chunk follow.
func TestRepairG711(t *testing.T) {
	t.Parallel()
	path := filepath.Join(t.TempDir(), "vm.wav")
	w, err := Create(path, FormatULaw)
	if err != nil {
		t.Fatal(err)
	}
	if err := w.WritePCM(audio.Sine(1000, 8000, 0, 801)); err != nil {
		t.Fatal(err)
	}
	w.f.Close()
	if changed, n, err := Repair(path); err != nil || !changed || n != 801 {
		t.Fatalf("Repair: %v %d %v", changed, n, err)
	}
	b, _ := os.ReadFile(path)
	if len(b) != g711HdrLen+802 || le32(b[4:]) != uint32(len(b)-8) || le32(b[46:]) != 801 || le32(b[54:]) != 801 {
		t.Errorf("after repair: %d bytes, RIFF %d, fact %d, data %d", len(b), le32(b[4:]), le32(b[46:]), le32(b[54:]))
	}
}

func TestRepairRefusesNonWAV(t *testing.T) {
	t.Parallel()
	path := filepath.Join(t.TempDir(), "x.wav")
	os.WriteFile(path, []byte("not a wav file at all"), 0o600)
	if _, _, err := Repair(path); !errors.Is(err, ErrNotWAV) {
		t.Errorf("Repair: %v, want ErrNotWAV", err)
	}
	if _, _, err := Repair(filepath.Join(t.TempDir(), "missing.wav")); err == nil {
		t.Error("Repair of a missing file succeeded")
	}
}

func le32(b []byte) uint32 {
	return uint32(b[0]) | uint32(b[1])<<8 | uint32(b[2])<<16 | uint32(b[3])<<24
}

// memFile is an in-memory repairFile for the fuzz target.
type memFile struct{ b []byte }

func (m *memFile) ReadAt(p []byte, off int64) (int, error) {
	if off >= int64(len(m.b)) {
		return 0, io.EOF
	}
	n := copy(p, m.b[off:])
	if n < len(p) {
		return n, io.EOF
	}
	return n, nil
}

func (m *memFile) WriteAt(p []byte, off int64) (int, error) {
	if need := off + int64(len(p)); need > int64(len(m.b)) {
		m.b = append(m.b, make([]byte, need-int64(len(m.b)))...)
	}
	return copy(m.b[off:], p), nil
}

func (m *memFile) Truncate(n int64) error {
	if n < int64(len(m.b)) {
		m.b = m.b[:n]
	}
	return nil
}

func (m *memFile) Stat() (os.FileInfo, error) { return memInfo(len(m.b)), nil }

type memInfo int64

func (i memInfo) Name() string       { return "mem" }
func (i memInfo) Size() int64        { return int64(i) }
func (i memInfo) Mode() os.FileMode  { return 0o600 }
func (i memInfo) ModTime() time.Time { return time.Time{} }
func (i memInfo) IsDir() bool        { return false }
func (i memInfo) Sys() any           { return nil }

// FuzzRepair: whatever the bytes, repair never panics, and what it repaired
// decodes with exactly the audio it reported.
func FuzzRepair(f *testing.F) {
	var buf seekBuffer
	w, _ := NewStereoWriter(&buf)
	w.WriteStereo(audio.Sine(440, 8000, 0, 80), audio.Sine(1000, 8000, 0, 80))
	f.Add(append(buf.b, 9, 9))
	f.Add([]byte("RIFF\xff\xff\xff\xffWAVEfmt \x10\x00\x00\x00"))
	f.Add([]byte("RIFF\x00\x00\x00\x00WAVEdata\x00\x00\x00\x00"))
	f.Fuzz(func(t *testing.T, data []byte) {
		m := &memFile{b: bytes.Clone(data)}
		changed, n, err := repair(m)
		if err != nil || !changed {
			return
		}
		info, _, err := DecodeChannels(bytes.NewReader(m.b))
		if err == nil && int64(info.DataBytes) != n {
			t.Fatalf("repaired to %d bytes, decoder reads %d", n, info.DataBytes)
		}
	})
}
