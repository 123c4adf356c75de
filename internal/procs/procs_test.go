package procs

import (
	"crypto/sha256"
	"log/slog"
	"math"
	"runtime"
	"testing"
	"time"
)

func TestPolicy(t *testing.T) {
	t.Parallel()
	const ms = time.Millisecond
	type sample struct {
		cores   float64
		wait, d time.Duration
	}
	busy, quiet := sample{0.9, 8 * ms, busyInterval}, sample{0.1, 0, busyInterval}
	// repeat returns n copies of x, then the rest.
	repeat := func(n int, x sample, rest ...sample) []sample {
		out := make([]sample, 0, n+len(rest))
		for range n {
			out = append(out, x)
		}
		return append(out, rest...)
	}
	procsRepeat := func(n, x int, rest ...int) []int {
		out := make([]int, 0, n+len(rest))
		for range n {
			out = append(out, x)
		}
		return append(out, rest...)
	}
	const q = busyInterval
	quietSamples := int(downAfter / q)
	tests := []struct {
		name    string
		procs   int
		samples []sample
		want    []int
	}{
		{"idle stays on one", 1, []sample{{0, 0, q}, {0.1, 0, q}, {0.3, 0, time.Second}}, []int{1, 1, 1}},
		{"one saturated quarter second is not enough", 1, []sample{busy, {0.2, 0, q}, busy, quiet}, []int{1, 1, 1, 1}},
		{"two saturated quarter seconds add the others", 1, []sample{busy, busy}, []int{1, 4}},
		{"a saturated second (sampled while idle before) adds them at once", 1, []sample{{0.9, 8 * ms, time.Second}}, []int{4}},
		{"a saturated quarter second with severe waits adds them at once", 1, []sample{{0.9, 60 * ms, q}}, []int{4}},
		{"severe waits at low load (a pause) stay on one", 1, []sample{{0.3, 200 * ms, q}, {0.5, 200 * ms, q}, {0.79, 200 * ms, q}}, []int{1, 1, 1}},
		{"waits of exactly the severe limit need the half second", 1, []sample{{0.9, severeWait, q}, {0.9, severeWait, q}}, []int{1, 4}},
		{"a busy core whose work does not wait stays on one", 1, []sample{{0.95, ms, q}, {0.95, 2 * ms, q}, {0.95, ms, q}}, []int{1, 1, 1}},
		{"waits at low load (a pause) stay on one", 1, []sample{{0.3, 50 * ms, q}, {0.3, 50 * ms, q}, {0.3, 50 * ms, q}}, []int{1, 1, 1}},
		{"busy on all stays", 4, []sample{{2.5, 0, q}, {0.9, 0, q}, {0.5, 0, q}}, []int{4, 4, 4}},
		{"ten quiet seconds go back to one", 4, repeat(quietSamples, quiet), procsRepeat(quietSamples-1, 4, 1)},
		{"a busy sample restarts the quiet count", 4,
			repeat(quietSamples-1, quiet, sample{0.6, 0, q}, quiet), procsRepeat(quietSamples+1, 4)},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			p := &policy{procs: tc.procs, max: 4}
			for i, s := range tc.samples {
				if got := p.next(s.cores, s.wait, s.d); got != tc.want[i] {
					t.Fatalf("sample %d (%.2f cores, wait %v over %v): %d processors, want %d", i, s.cores, s.wait, s.d, got, tc.want[i])
				}
			}
		})
	}
}

func TestPercentile99(t *testing.T) {
	t.Parallel()
	buckets := []float64{math.Inf(-1), 0, 0.001, 0.005, 0.01, math.Inf(1)}
	tests := []struct {
		name         string
		counts, prev []uint64
		want         time.Duration
	}{
		{"nothing new", []uint64{0, 5, 5, 5, 5}, []uint64{0, 5, 5, 5, 5}, 0},
		{"all short", []uint64{0, 1000, 0, 0, 0}, []uint64{0, 0, 0, 0, 0}, 0},
		{"one in a hundred long", []uint64{0, 990, 0, 10, 0}, []uint64{0, 0, 0, 0, 0}, 0},
		{"two in a hundred long", []uint64{0, 980, 0, 0, 20}, []uint64{0, 0, 0, 0, 0}, 10 * time.Millisecond},
		{"only the new counts", []uint64{0, 1980, 0, 0, 20}, []uint64{0, 1000, 0, 0, 20}, 0},
		{"below the first bound", []uint64{7, 0, 0, 0, 0}, []uint64{0, 0, 0, 0, 0}, 0},
		{"few samples: the largest", []uint64{0, 3, 0, 1, 0}, []uint64{0, 0, 0, 0, 0}, 5 * time.Millisecond},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			var total uint64
			for i := range tc.counts {
				total += tc.counts[i] - tc.prev[i]
			}
			if got := percentile99(buckets, tc.counts, tc.prev, total); got != tc.want {
				t.Fatalf("p99 %v, want %v", got, tc.want)
			}
		})
	}
}

func TestSchedWaitsReads(t *testing.T) {
	t.Parallel()
	var w schedWaits
	w.read()
	if len(w.prev) == 0 {
		t.Fatalf("no %s histogram in this runtime", schedLatencies)
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

func TestMonitor(t *testing.T) {
	t.Parallel()
	var applied []int
	m := &monitor{p: policy{procs: 1, max: 2}, set: func(n int) int {
		applied = append(applied, n)
		if n > 1 {
			return 3 // the runtime's default may differ from what Start found
		}
		return 1
	}}
	at := time.Unix(1000, 0)
	cpu := time.Duration(0)
	step := func(cores float64, wait time.Duration) bool {
		at = at.Add(busyInterval)
		cpu += time.Duration(cores * float64(busyInterval))
		got, changed := m.observe(cpu, at, wait)
		if d := got - cores; d > 0.001 || d < -0.001 {
			t.Fatalf("measured %.3f cores, used %.3f", got, cores)
		}
		return changed
	}
	m.observe(cpu, at, 0) // the baseline
	if step(0.9, 10*time.Millisecond) || !step(0.9, 10*time.Millisecond) {
		t.Fatal("two saturated samples did not add processors")
	}
	if m.p.procs != 3 || m.p.max != 3 {
		t.Fatalf("after going up: procs %d max %d, want the runtime's 3", m.p.procs, m.p.max)
	}
	quietSamples := int(downAfter / busyInterval)
	for i := range quietSamples {
		if changed := step(0.1, 0); changed != (i == quietSamples-1) {
			t.Fatalf("quiet sample %d: changed %v", i, changed)
		}
	}
	if m.p.procs != 1 || len(applied) != 2 || applied[0] <= 1 || applied[1] != 1 {
		t.Fatalf("procs %d, applied %v: want up then back to one", m.p.procs, applied)
	}
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
		t.Errorf("after stop: GOMAXPROCS %d, want %d as before Start", n, max)
	}
}
