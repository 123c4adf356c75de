package recording

import (
	"errors"
	"math"
	"os"
	"path/filepath"
	"testing"
	"time"

	"switchboard/internal/audio"
	"switchboard/wav"
)

// feed hands both sides n frames of their tones, as two RTP streams would.
func feed(r *Recorder, frames int) {
	for i := range frames {
		r.Feed(Left, audio.Sine(440, 8000, i*frame, frame))
		r.Feed(Right, audio.Sine(1000, 8000, i*frame, frame))
	}
}

func meta() Meta {
	return Meta{ID: "18eb21a57092ca8800000001", Firm: "pbx.test", Call: "18eb21a57092ca8800000001", Agent: "alice", Team: "support", Start: time.Unix(1700000000, 0).UTC()}
}

func TestRecorderStereo(t *testing.T) {
	t.Parallel()
	root := t.TempDir()
	path := Path(root, "pbx.test", meta().ID)
	r, err := Start(path, meta(), nil)
	if err != nil {
		t.Fatal(err)
	}
	// All at once, as much as a side may have waiting (more would be dropped
	// as a backlog): Close writes what the clock had not taken yet.
	feed(r, maxBacklog/frame)
	res, err := r.Close()
	if err != nil {
		t.Fatal(err)
	}
	if res.File != path || res.Duration < 200*time.Millisecond {
		t.Fatalf("result %+v, want at least the 200 ms fed", res)
	}
	info, chans, err := wav.DecodeChannelsFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if info.Channels != 2 || info.SampleRate != 8000 || info.BitsPerSample != 16 {
		t.Fatalf("info %+v", info)
	}
	for i, want := range []float64{440, 1000} {
		if f := audio.DominantFrequency(chans[i]); math.Abs(f-want) > 5 {
			t.Errorf("channel %d: %v Hz, want %v", i, f, want)
		}
	}
	if _, err := os.Stat(sidecar(path)); err != nil {
		t.Errorf("sidecar gone before Commit: %v", err)
	}
	if err := Commit(path); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(sidecar(path)); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("sidecar after Commit: %v", err)
	}
	if n, err := Recover(root, nil, func(Meta, Result) error { t.Error("committed recording recovered"); return nil }); n != 0 || err != nil {
		t.Errorf("Recover: %d, %v", n, err)
	}
	if err := Remove(path); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(path); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("file after Remove: %v", err)
	}
}

// Paused audio is not kept; a paused recorder leaves nothing of what was fed.
func TestRecorderPause(t *testing.T) {
	t.Parallel()
	path := Path(t.TempDir(), "pbx.test", "x")
	r, err := Start(path, meta(), nil)
	if err != nil {
		t.Fatal(err)
	}
	r.SetOn(false)
	if r.On() {
		t.Error("On after SetOn(false)")
	}
	feed(r, 25)
	res, err := r.Close()
	if err != nil {
		t.Fatal(err)
	}
	_, chans, err := wav.DecodeChannelsFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if len(chans[0]) != 0 || res.Duration != 0 {
		t.Errorf("paused recorder kept %d samples (%v)", len(chans[0]), res.Duration)
	}
}

// A crash mid-recording: the file as the killed process left it (the header
// unpatched, the last frame torn) is repaired and indexed by Recover with the
// sidecar's details, and holds the audio that had reached the disk.
func TestRecoverAfterCrash(t *testing.T) {
	t.Parallel()
	live := t.TempDir()
	path := Path(live, "pbx.test", meta().ID)
	r, err := Start(path, meta(), nil)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	// Feed the sides in real time until the clock has put half a second of
	// audio in the file (waits on the file, never on a fixed time).
	const want = 500 * time.Millisecond
	deadline := time.Now().Add(10 * time.Second)
	var snap []byte
	for i := 0; ; i++ {
		r.Feed(Left, audio.Sine(440, 8000, i*frame, frame))
		r.Feed(Right, audio.Sine(1000, 8000, i*frame, frame))
		snap, err = os.ReadFile(path)
		if err != nil {
			t.Fatal(err)
		}
		if int64(len(snap)-44) >= int64(want/tick)*frame*bytesPer {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the clock wrote only %d bytes", len(snap))
		}
		time.Sleep(tick)
	}
	// What kill -9 leaves: the bytes written so far, a torn frame at the end,
	// the sidecar, no patched header.
	crashed := t.TempDir()
	dst := Path(crashed, "pbx.test", meta().ID)
	os.MkdirAll(filepath.Dir(dst), 0o750)
	if err := os.WriteFile(dst, append(snap, 7, 7), 0o600); err != nil {
		t.Fatal(err)
	}
	sc, err := os.ReadFile(sidecar(path))
	if err != nil {
		t.Fatal(err)
	}
	os.WriteFile(sidecar(dst), sc, 0o600)
	// A sidecar whose audio file never came to be is dropped.
	os.WriteFile(filepath.Join(crashed, "pbx.test", "orphan.json"), sc, 0o600)

	var got []Meta
	var res Result
	n, err := Recover(crashed, nil, func(m Meta, r Result) error {
		got, res = append(got, m), r
		return nil
	})
	if err != nil || n != 1 || len(got) != 1 {
		t.Fatalf("Recover: %d, %v, %+v", n, err, got)
	}
	if got[0] != meta() {
		t.Errorf("meta %+v, want %+v", got[0], meta())
	}
	if res.File != dst || res.Duration < want || res.Size != int64(len(snap)) {
		t.Errorf("result %+v (file of %d bytes before the torn frame)", res, len(snap))
	}
	info, chans, err := wav.DecodeChannelsFile(dst)
	if err != nil {
		t.Fatal(err)
	}
	if info.Duration != res.Duration {
		t.Errorf("decoded %v, index says %v", info.Duration, res.Duration)
	}
	// The last half second holds both tones (the first frames may be silence
	// while the clock primed).
	tail := func(s []int16) []int16 { return s[len(s)-int(want.Seconds()*8000)/2:] }
	for i, f := range []float64{440, 1000} {
		if got := audio.DominantFrequency(tail(chans[i])); math.Abs(got-f) > 5 {
			t.Errorf("channel %d: %v Hz, want %v", i, got, f)
		}
	}
	for _, p := range []string{sidecar(dst), filepath.Join(crashed, "pbx.test", "orphan.json")} {
		if _, err := os.Stat(p); !errors.Is(err, os.ErrNotExist) {
			t.Errorf("%s after Recover: %v", p, err)
		}
	}
	// An index that fails keeps the sidecar for the next start.
	os.WriteFile(sidecar(dst), sc, 0o600)
	if _, err := Recover(crashed, nil, func(Meta, Result) error { return errors.New("store down") }); err == nil {
		t.Error("Recover hid the index error")
	}
	if _, err := os.Stat(sidecar(dst)); err != nil {
		t.Errorf("sidecar after a failed index: %v", err)
	}
}
