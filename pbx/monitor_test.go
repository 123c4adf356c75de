package pbx

import "testing"

// A party's input keeps the newest frames when the mixer lags, and gives silence
// when the party sent nothing; a mix sums what the mode lets a leg hear, clipped.
func TestMixInputAndMix(t *testing.T) {
	t.Parallel()
	var in mixInput
	var got [rtpFrame]int16
	in.pop(&got)
	if got != ([rtpFrame]int16{}) {
		t.Fatal("empty input gave sound")
	}
	for i := range mixDepth + 2 {
		in.push([]int16{int16(i), int16(i)})
	}
	for want := 2; want < mixDepth+2; want++ {
		in.pop(&got)
		if got[0] != int16(want) || got[1] != int16(want) || got[2] != 0 {
			t.Fatalf("frame %v..., want %d (oldest dropped, short frame padded)", got[:3], want)
		}
	}
	in.pop(&got)
	if got[0] != 0 {
		t.Fatal("drained input gave sound")
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
