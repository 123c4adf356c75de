package procs

import (
	"crypto/sha256"
	"log/slog"
	"runtime"
	"testing"
)

func TestPolicy(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name    string
		procs   int
		samples []float64
		want    []int
	}{
		{"idle stays on one", 1, []float64{0, 0.1, 0.3}, []int{1, 1, 1}},
		{"one busy second is not enough", 1, []float64{0.9, 0.2, 0.9, 0.1}, []int{1, 1, 1, 1}},
		{"two busy seconds add the others", 1, []float64{0.85, 0.95}, []int{1, 4}},
		{"busy on all stays", 4, []float64{2.5, 0.9, 0.5}, []int{4, 4, 4}},
		{"ten quiet seconds go back to one", 4, []float64{0.1, 0.1, 0.1, 0.1, 0.1, 0.1, 0.1, 0.1, 0.1, 0.1}, []int{4, 4, 4, 4, 4, 4, 4, 4, 4, 1}},
		{"a busy second restarts the quiet count", 4,
			[]float64{0.1, 0.1, 0.1, 0.1, 0.1, 0.1, 0.1, 0.1, 0.1, 0.6, 0.1}, []int{4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4}},
		{"between the thresholds nothing changes", 1, []float64{0.5, 0.7, 0.79, 0.6}, []int{1, 1, 1, 1}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			p := &policy{procs: tc.procs, max: 4}
			for i, c := range tc.samples {
				if got := p.next(c); got != tc.want[i] {
					t.Fatalf("sample %d (%.2f cores): %d processors, want %d", i, c, got, tc.want[i])
				}
			}
		})
	}
}

func TestCPUTime(t *testing.T) {
	t.Parallel()
	a, ok := cpuTime()
	if !ok {
		t.Skip("no process CPU time on this system")
	}
	sum := sha256.Sum256(nil)
	for range 1000 {
		for range 1000 {
			sum = sha256.Sum256(sum[:])
		}
		if b, _ := cpuTime(); b > a {
			return
		}
	}
	t.Fatalf("process CPU time did not advance over a million hashes: %v", a)
}

// TestStartStop is not parallel: it changes the process's GOMAXPROCS.
func TestStartStop(t *testing.T) {
	max := runtime.GOMAXPROCS(0)
	if _, ok := cpuTime(); !ok || max <= 1 {
		t.Skip("one processor: Start does nothing")
	}
	stop := Start(slog.New(slog.DiscardHandler))
	if n := runtime.GOMAXPROCS(0); n != 1 {
		t.Errorf("after Start: GOMAXPROCS %d, want 1", n)
	}
	stop()
	if n := runtime.GOMAXPROCS(0); n != max {
		t.Errorf("after stop: GOMAXPROCS %d, want the default %d", n, max)
	}
}
