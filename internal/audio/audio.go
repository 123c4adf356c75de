// Package audio owns the small signal-processing helpers shared by the media code
// and the tests: sine generation and dominant-frequency detection (Goertzel).
package audio

import "math"

// SampleRate is the only rate the PBX speaks: narrowband G.711.
const SampleRate = 8000

// Sine returns n samples of a sine wave at freq Hz with the given peak amplitude
// (0..32767), starting at phase sample offset start so that consecutive frames join
// without clicks.
func Sine(freq float64, amplitude int16, start, n int) []int16 {
	out := make([]int16, n)
	for i := range out {
		t := float64(start+i) / SampleRate
		out[i] = int16(float64(amplitude) * math.Sin(2*math.Pi*freq*t))
	}
	return out
}

// Power returns the Goertzel power of freq in samples, normalised by the number of
// samples so that results of different lengths compare.
func Power(samples []int16, freq float64) float64 {
	if len(samples) == 0 {
		return 0
	}
	k := 2 * math.Cos(2*math.Pi*freq/SampleRate)
	var s1, s2 float64
	for _, x := range samples {
		s0 := float64(x) + k*s1 - s2
		s2, s1 = s1, s0
	}
	p := s1*s1 + s2*s2 - k*s1*s2
	n := float64(len(samples))
	return p / (n * n)
}

// DominantFrequency scans 50 Hz..3500 Hz in 10 Hz steps and returns the frequency
// with the most energy, refined to 1 Hz around the peak. It returns 0 for silence.
func DominantFrequency(samples []int16) float64 {
	if RMS(samples) < 1 {
		return 0
	}
	best, bestP := 0.0, 0.0
	for f := 50.0; f <= 3500; f += 10 {
		if p := Power(samples, f); p > bestP {
			best, bestP = f, p
		}
	}
	for f := best - 10; f <= best+10; f++ {
		if p := Power(samples, f); p > bestP {
			best, bestP = f, p
		}
	}
	return best
}

// RMS returns the root-mean-square level of samples (0..32767).
func RMS(samples []int16) float64 {
	if len(samples) == 0 {
		return 0
	}
	var sum float64
	for _, x := range samples {
		sum += float64(x) * float64(x)
	}
	return math.Sqrt(sum / float64(len(samples)))
}
