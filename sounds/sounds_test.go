package sounds

import (
	"bytes"
	"errors"
	"io/fs"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"switchboard/internal/audio"
	"switchboard/wav"
)

// wantNames is the set of prompts the rest of the PBX relies on.
var wantNames = []string{
	"beep", "callback", "goodbye", "greeting", "hold", "invalid", "main-menu", "ringback",
	"status-away", "status-online", "unavailable", "vm-bad-pin", "vm-deleted", "vm-goodbye",
	"vm-mailbox", "vm-menu", "vm-message", "vm-none", "vm-pin", "vm-saved",
}

func TestNames(t *testing.T) {
	t.Parallel()
	if got := Names(); !slices.Equal(got, wantNames) {
		t.Errorf("Names() = %v\nwant %v", got, wantNames)
	}
}

func TestBuiltinPrompts(t *testing.T) {
	t.Parallel()
	lib := New("")
	total := 0
	for _, name := range Names() {
		t.Run(name, func(t *testing.T) {
			data, err := builtin.ReadFile("prompts/" + name + ".wav")
			if err != nil {
				t.Fatal(err)
			}
			total += len(data)
			info, pcm, err := wav.Decode(bytes.NewReader(data))
			if err != nil {
				t.Fatal(err)
			}
			if info.Format != wav.FormatULaw || info.SampleRate != 8000 || info.Channels != 1 {
				t.Errorf("info = %+v, want µ-law 8 kHz mono", info)
			}
			if info.Duration < 300*time.Millisecond || info.Duration > 10*time.Second {
				t.Errorf("duration %v is outside 0.3..10 s", info.Duration)
			}
			// Speech normalised to -3 dBFS peak sits well above this; silence or a
			// broken encode would not.
			if rms := audio.RMS(pcm); rms < 1000 {
				t.Errorf("RMS %.0f: prompt is (nearly) silent", rms)
			}
			got, err := lib.Get(name)
			if err != nil {
				t.Fatal(err)
			}
			if !slices.Equal(got, pcm) {
				t.Error("Library.Get returns different samples than the embedded file")
			}
		})
	}
	if total > 1500*1024 {
		t.Errorf("built-in prompts take %d bytes, budget is 1.5 MB", total)
	}
}

// TestSpeechTrimmed checks that spoken prompts start and end close to the voice,
// as generate.sh trims them: dead air at the start of a prompt sounds like a fault.
func TestSpeechTrimmed(t *testing.T) {
	t.Parallel()
	lib := New("")
	for _, name := range Names() {
		if name == "ringback" || name == "hold" || name == "beep" {
			continue
		}
		pcm, err := lib.Get(name)
		if err != nil {
			t.Fatal(err)
		}
		edge := 800 // 100 ms
		if audio.RMS(pcm[:edge]) < 30 && audio.RMS(pcm[edge:2*edge]) < 30 {
			t.Errorf("%s starts with more than 200 ms of silence", name)
		}
		if n := len(pcm); audio.RMS(pcm[n-edge:]) < 30 && audio.RMS(pcm[n-2*edge:n-edge]) < 30 {
			t.Errorf("%s ends with more than 200 ms of silence", name)
		}
	}
}

func TestTones(t *testing.T) {
	t.Parallel()
	lib := New("")
	beep, err := lib.Get("beep")
	if err != nil {
		t.Fatal(err)
	}
	if f := audio.DominantFrequency(beep); math.Abs(f-1000) > 10 {
		t.Errorf("beep dominant frequency %v Hz, want 1000", f)
	}
	if d := len(beep) * 1000 / 8000; d < 350 || d > 450 {
		t.Errorf("beep lasts %d ms, want about 400", d)
	}

	ring, err := lib.Get("ringback.wav")
	if err != nil {
		t.Fatal(err)
	}
	if len(ring) != 6*8000 {
		t.Fatalf("ringback has %d samples, want one 6 s cycle", len(ring))
	}
	on, off := ring[:2*8000], ring[2*8000+80:]
	if f := audio.DominantFrequency(on); math.Abs(f-440) > 10 && math.Abs(f-480) > 10 {
		t.Errorf("ringback tone at %v Hz, want 440 or 480", f)
	}
	if audio.Power(on, 440) < 100*audio.Power(on, 1000) || audio.Power(on, 480) < 100*audio.Power(on, 1000) {
		t.Error("ringback lacks one of its 440/480 Hz components")
	}
	if rms := audio.RMS(off); rms > 30 {
		t.Errorf("ringback off-period RMS %.0f, want silence", rms)
	}

	hold, err := lib.Get("hold")
	if err != nil {
		t.Fatal(err)
	}
	// Hold music must not drop out: every second carries sound.
	for s := 0; s+8000 <= len(hold); s += 8000 {
		if rms := audio.RMS(hold[s : s+8000]); rms < 300 {
			t.Errorf("hold music second %d has RMS %.0f: too quiet", s/8000, rms)
		}
	}
}

// writePrompt writes a 1-second µ-law tone at freq Hz as dir/name.
func writePrompt(t testing.TB, dir, name string, freq float64) string {
	t.Helper()
	p := filepath.Join(dir, name)
	w, err := wav.Create(p, wav.FormatULaw)
	if err != nil {
		t.Fatal(err)
	}
	if err := w.WritePCM(audio.Sine(freq, 10000, 0, 8000)); err != nil {
		t.Fatal(err)
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	return p
}

func TestOverrides(t *testing.T) {
	t.Parallel()
	soundsDir, configDir, other := t.TempDir(), t.TempDir(), t.TempDir()
	writePrompt(t, soundsDir, "greeting.wav", 500)
	writePrompt(t, configDir, "greeting.wav", 700) // shadowed by soundsDir
	writePrompt(t, configDir, "welcome.wav", 900)  // only in an extra dir
	abs := writePrompt(t, other, "custom.wav", 1500)
	if err := os.Mkdir(filepath.Join(soundsDir, "beep.wav"), 0o755); err != nil {
		t.Fatal(err)
	}

	lib := New(soundsDir, configDir)
	builtinBeep, err := New("").Get("beep")
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name string
		freq float64 // 0: compare with the built-in beep
	}{
		{"greeting", 500},
		{"greeting.wav", 500},
		{"welcome", 900},
		{abs, 1500},
		{"beep", 0}, // a directory named beep.wav is not a prompt
	}
	for _, tc := range tests {
		pcm, err := lib.Get(tc.name)
		if err != nil {
			t.Errorf("Get(%q): %v", tc.name, err)
			continue
		}
		if tc.freq == 0 {
			if !slices.Equal(pcm, builtinBeep) {
				t.Errorf("Get(%q) is not the built-in prompt", tc.name)
			}
			continue
		}
		if f := audio.DominantFrequency(pcm); math.Abs(f-tc.freq) > 10 {
			t.Errorf("Get(%q) tone at %v Hz, want %v (wrong file chosen)", tc.name, f, tc.freq)
		}
	}

	// Without sounds_dir the extra directory is the first place looked.
	if pcm, err := New("", configDir).Get("greeting"); err != nil {
		t.Fatal(err)
	} else if f := audio.DominantFrequency(pcm); math.Abs(f-700) > 10 {
		t.Errorf("greeting from the extra dir at %v Hz, want 700", f)
	}
}

func TestCacheAndRetry(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	lib := New(dir)
	if _, err := lib.Get("late"); !errors.Is(err, ErrNotFound) {
		t.Fatalf("err = %v, want ErrNotFound", err)
	}
	// A failure is not cached: the file added afterwards is found.
	p := writePrompt(t, dir, "late.wav", 600)
	first, err := lib.Get("late")
	if err != nil {
		t.Fatal(err)
	}
	// A success is cached: the file is decoded once, even after it is gone.
	if err := os.Remove(p); err != nil {
		t.Fatal(err)
	}
	again, err := lib.Get("late.wav")
	if err != nil {
		t.Fatal(err)
	}
	if &again[0] != &first[0] {
		t.Error("second Get decoded the prompt again instead of using the cache")
	}
}

func TestConcurrentGet(t *testing.T) {
	t.Parallel()
	lib := New(t.TempDir())
	var wg sync.WaitGroup
	results := make([][]int16, 16)
	for i := range results {
		wg.Go(func() {
			pcm, err := lib.Get(Names()[i%3])
			if err != nil {
				t.Error(err)
			}
			results[i] = pcm
		})
	}
	wg.Wait()
	for i := 3; i < len(results); i++ {
		if len(results[i]) == 0 || &results[i][0] != &results[i%3][0] {
			t.Errorf("Get #%d did not share the single decoded copy", i)
		}
	}
}

func TestErrors(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "broken.wav"), []byte("not a wav file"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "greeting.wav"), []byte("RIFF\x00\x00\x00\x00WAVE"), 0o600); err != nil {
		t.Fatal(err)
	}
	lib := New(dir)
	tests := []struct {
		name     string
		notFound bool
		mention  string
	}{
		{"no-such-prompt", true, dir},
		{filepath.Join(dir, "missing.wav"), true, "missing.wav"},
		{"broken", false, "broken.wav"},
		{"greeting", false, "greeting.wav"}, // a bad override is reported, not skipped
		{"../etc/passwd", false, "invalid prompt name"},
		{"", false, "invalid prompt name"},
		{".wav", false, "invalid prompt name"},
		{"..", false, "invalid prompt name"},
	}
	for _, tc := range tests {
		_, err := lib.Get(tc.name)
		if err == nil {
			t.Errorf("Get(%q) succeeded", tc.name)
			continue
		}
		if errors.Is(err, ErrNotFound) != tc.notFound {
			t.Errorf("Get(%q) err = %v; ErrNotFound wanted: %v", tc.name, err, tc.notFound)
		}
		if errors.Is(err, fs.ErrNotExist) != (tc.notFound && filepath.IsAbs(tc.name)) {
			t.Errorf("Get(%q) err = %v: unexpected fs.ErrNotExist", tc.name, err)
		}
		if !strings.Contains(err.Error(), tc.mention) {
			t.Errorf("Get(%q) err = %q, want it to mention %q", tc.name, err, tc.mention)
		}
	}
}

// FuzzGet feeds arbitrary names to Get: it must never panic, and a relative name
// must never resolve outside the prompt directories.
func FuzzGet(f *testing.F) {
	for _, seed := range []string{"greeting", "beep.wav", "../x", "a/b", `a\b`, "..", ".wav", "", "/etc/hostname", "x\x00y"} {
		f.Add(seed)
	}
	root := f.TempDir()
	dir := filepath.Join(root, "sounds")
	if err := os.Mkdir(dir, 0o755); err != nil {
		f.Fatal(err)
	}
	// A prompt one level up: reaching it would mean escaping dir.
	writePrompt(f, root, "outside.wav", 500)
	lib := New(dir)
	f.Fuzz(func(t *testing.T, name string) {
		pcm, err := lib.Get(name)
		if err != nil {
			return
		}
		if len(pcm) == 0 {
			t.Errorf("Get(%q) returned no audio without an error", name)
		}
		if !filepath.IsAbs(name) && !slices.Contains(Names(), strings.TrimSuffix(name, ".wav")) {
			t.Errorf("relative name %q resolved to something that is not a built-in prompt", name)
		}
	})
}
