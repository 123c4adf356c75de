package pbx

import "testing"

// A party's input joins packets of any size into 20 ms frames, keeps the newest
// 100 ms when the mixer lags, and gives silence when the party sent nothing; a mix sums what the mode lets a leg hear, clipped.
func TestMixInputAndMix(t *testing.T) {
	t.Parallel()
	var in mixInput
	var got [rtpFrame]int16
	in.pop(&got)
	if got != ([rtpFrame]int16{}) {
		t.Fatal("empty input gave sound")
	}
	fill := func(v int16, n int) []int16 {
		out := make([]int16, n)
		for i := range out {
			out[i] = v
		}
		return out
	}
	// Packets of any size join up; what is missing is silence.
	in.push(fill(1, 80))
	in.push(fill(2, 40))
	in.pop(&got)
	if got[0] != 1 || got[79] != 1 || got[80] != 2 || got[119] != 2 || got[120] != 0 {
		t.Fatalf("10 ms + 5 ms: %v", got)
	}
	// 30 ms packets come out as 20 ms frames.
	in.push(fill(3, 240))
	in.pop(&got)
	if got[0] != 3 || got[159] != 3 {
		t.Fatalf("first 20 ms of 30: %v", got)
	}
	in.pop(&got)
	if got[0] != 3 || got[79] != 3 || got[80] != 0 {
		t.Fatalf("last 10 ms of 30: %v", got)
	}
	// A mixer that lags keeps the newest 100 ms.
	ramp := make([]int16, 900)
	for i := range ramp {
		ramp[i] = int16(i)
	}
	in.push(ramp[:500])
	in.push(ramp[500:])
	in.pop(&got)
	if got[0] != 100 || got[159] != 259 {
		t.Fatalf("after overflow: %v..%v, want 100..259", got[0], got[159])
	}

	var frames [3][rtpFrame]int16
	frames[0][0], frames[1][0], frames[2][0] = 30000, 10000, -5
	frames[0][1], frames[1][1] = -30000, -10000
	for _, tc := range []struct {
		use  [3]bool
		want [2]int16
	}{
		{[3]bool{true, false, false}, [2]int16{30000, -30000}},
		{[3]bool{false, true, true}, [2]int16{9995, -10000}},
		{[3]bool{true, true, false}, [2]int16{32767, -32768}},
		{[3]bool{}, [2]int16{0, 0}},
	} {
		var out [rtpFrame]int16
		mixInto(&out, &frames, tc.use)
		if out[0] != tc.want[0] || out[1] != tc.want[1] {
			t.Errorf("use %v: %v, want %v", tc.use, out[:2], tc.want)
		}
	}
}
