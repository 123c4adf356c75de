package audio

import (
	"math"
	"testing"
)

func TestDominantFrequency(t *testing.T) {
	t.Parallel()
	for _, f := range []float64{400, 1000, 1633, 3000} {
		got := DominantFrequency(Sine(f, 8000, 0, 4000))
		if math.Abs(got-f) > 5 {
			t.Errorf("DominantFrequency(sine %v Hz) = %v", f, got)
		}
	}
	if got := DominantFrequency(make([]int16, 800)); got != 0 {
		t.Errorf("DominantFrequency(silence) = %v, want 0", got)
	}
}

func TestSineJoinsAcrossFrames(t *testing.T) {
	t.Parallel()
	whole := Sine(1000, 10000, 0, 320)
	a, b := Sine(1000, 10000, 0, 160), Sine(1000, 10000, 160, 160)
	for i := range 160 {
		if whole[i] != a[i] || whole[160+i] != b[i] {
			t.Fatalf("sample %d differs between one call and two", i)
		}
	}
	if r := RMS(whole); math.Abs(r-10000/math.Sqrt2) > 200 {
		t.Errorf("RMS = %v", r)
	}
}
