package wav

import (
	"context"
	"encoding/binary"
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"switchboard/internal/audio"
)

// soxEncodings maps our formats to sox's -e names and its --i "Sample Encoding" text.
var soxEncodings = map[int]struct{ flag, info string }{
	FormatPCM:  {"signed-integer", "16-bit Signed Integer PCM"},
	FormatALaw: {"a-law", "8-bit A-law"},
	FormatULaw: {"u-law", "8-bit u-law"},
}

func needSox(t *testing.T) string {
	t.Helper()
	sox, err := exec.LookPath("sox")
	if err != nil {
		t.Skip("sox is not installed")
	}
	return sox
}

func runSox(t *testing.T, sox string, args ...string) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	out, err := exec.CommandContext(ctx, sox, args...).CombinedOutput()
	if err != nil {
		t.Fatalf("sox %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	return string(out)
}

// TestDecodeSoxFiles checks that files written by another encoder decode, including
// an odd-length G.711 data chunk with its pad byte.
func TestDecodeSoxFiles(t *testing.T) {
	t.Parallel()
	sox := needSox(t)
	for _, tc := range formats {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			path := filepath.Join(t.TempDir(), "sox.wav")
			bits := "8"
			if tc.format == FormatPCM {
				bits = "16"
			}
			runSox(t, sox, "-n", "-r", "8000", "-c", "1", "-e", soxEncodings[tc.format].flag, "-b", bits,
				path, "synth", "0.5001", "sine", "1000", "vol", "0.5")
			info, pcm, err := DecodeFile(path)
			if err != nil {
				t.Fatal(err)
			}
			if info.Format != tc.format || len(pcm) != 4001 || info.Duration != 4001*time.Second/8000 {
				t.Errorf("info %+v with %d samples, want format %d and 4001 samples", info, len(pcm), tc.format)
			}
			if f := audio.DominantFrequency(pcm); math.Abs(f-1000) > 5 {
				t.Errorf("dominant frequency %v Hz, want 1000", f)
			}
			if rms := audio.RMS(pcm); rms < 0.5*16384/math.Sqrt2 || rms > 1.5*16384/math.Sqrt2 {
				t.Errorf("RMS %v does not match a half-scale sine", rms)
			}
		})
	}
}

// TestSoxReadsOurFiles checks that sox accepts our files without complaint, reports
// the right format and length, and decodes the same samples we do.
func TestSoxReadsOurFiles(t *testing.T) {
	t.Parallel()
	sox := needSox(t)
	for _, tc := range formats {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			dir := t.TempDir()
			path := filepath.Join(dir, "ours.wav")
			w, err := Create(path, tc.format)
			if err != nil {
				t.Fatal(err)
			}
			tone := audio.Sine(1000, 12000, 0, 4001)
			if err := w.WritePCM(tone); err != nil {
				t.Fatal(err)
			}
			if err := w.Close(); err != nil {
				t.Fatal(err)
			}
			// -V3 would print warnings about header inconsistencies; --i prints the header.
			out := runSox(t, sox, "--i", "-V2", path)
			for _, want := range []*regexp.Regexp{
				regexp.MustCompile(`(?m)^Channels\s*:\s*1$`),
				regexp.MustCompile(`(?m)^Sample Rate\s*:\s*8000$`),
				regexp.MustCompile(`(?m)^Duration\s*:.*= 4001 samples`),
				regexp.MustCompile(`(?m)^Sample Encoding\s*:\s*` + regexp.QuoteMeta(soxEncodings[tc.format].info) + `$`),
			} {
				if !want.MatchString(out) {
					t.Errorf("sox --i output lacks %v:\n%s", want, out)
				}
			}
			if strings.Contains(out, "WARN") || strings.Contains(out, "FAIL") {
				t.Errorf("sox complained:\n%s", out)
			}
			raw := filepath.Join(dir, "out.raw")
			if out := runSox(t, sox, "-V2", path, "-t", "raw", "-e", "signed-integer", "-b", "16", "-L", raw); strings.Contains(out, "WARN") {
				t.Errorf("sox complained while converting:\n%s", out)
			}
			b, err := os.ReadFile(raw)
			if err != nil {
				t.Fatal(err)
			}
			soxPCM := make([]int16, len(b)/2)
			for i := range soxPCM {
				soxPCM[i] = int16(binary.LittleEndian.Uint16(b[2*i:]))
			}
			_, ours, err := DecodeFile(path)
			if err != nil {
				t.Fatal(err)
			}
			if !slices.Equal(soxPCM, ours) {
				t.Errorf("sox decoded %d samples that differ from our %d", len(soxPCM), len(ours))
			}
		})
	}
}
