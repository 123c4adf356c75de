// Package procs sizes the Go scheduler to the load. A PBX spends most of its
// life well below one core: a contact center's calls arrive at tens per
// second. There, every message that readies a goroutine while another
// processor is idle wakes a second thread that spins looking for work and
// goes back to sleep, which cost 15–20 % of the CPU per call and per REGISTER
// in the side-by-side measurements of bench/README.md. So the process runs on
// one processor while one is enough, and on all it may use once work waits
// for the one: goroutines ready to run queue for it (the scheduler's own
// latency histogram) while the process keeps most of a core busy.
package procs

import (
	"context"
	"log/slog"
	"math"
	"runtime"
	"runtime/metrics"
	"time"
)

// The policy's thresholds. Going up is quick, since work already queues: half
// a second in which the process used at least 0.8 of a core and more than one
// goroutine wakeup in a hundred waited longer than waitLimit for the
// processor, or a single sample whose waits passed severeWait: the queue then
// grows by the sample, and at the top rate of bench/README.md one such sample
// (waits of 268 ms) and the next were enough for SIP retransmissions. Coming
// down waits ten quiet seconds, so that a load near the thresholds does not
// flap. waitLimit is far below what SIP (T1, 500 ms) and a phone's jitter
// buffer (tens of ms) notice.
const (
	upAt       = 0.8 // cores of process CPU time per second
	waitLimit  = 5 * time.Millisecond
	severeWait = 50 * time.Millisecond
	upAfter    = 500 * time.Millisecond
	downAt     = 0.4 // cores
	downAfter  = 10 * time.Second
)

// Sampling: every quarter second while there is load, every second while the
// process is idle on one processor. Each wake-up of an idle Go process costs
// more than the sample (the runtime's monitor thread wakes with it): four a
// second were a tenth of a percent of a core with nothing to do. A step from
// idle to a full core is still seen within a second and a half.
const (
	busyInterval = 250 * time.Millisecond
	idleInterval = time.Second
	idleBelow    = 0.05 // cores
)

// policy decides how many processors to use from the CPU use it is shown.
type policy struct {
	procs, max  int
	over, under time.Duration // how long each threshold has been passed without a break
}

// next takes the cores the process used per second over the last d and the
// 99th percentile of the time ready goroutines waited for a processor, and
// returns the processors to use from now on.
func (p *policy) next(cores float64, wait99, d time.Duration) int {
	switch {
	case p.procs < p.max && cores >= upAt && wait99 > waitLimit:
		p.over += d
		p.under = 0
		if p.over >= upAfter || wait99 > severeWait {
			p.procs, p.over = p.max, 0
		}
	case p.procs > 1 && cores < downAt:
		p.under += d
		p.over = 0
		if p.under >= downAfter {
			p.procs, p.under = 1, 0
		}
	default:
		p.over, p.under = 0, 0
	}
	return p.procs
}

// Start makes the process use one processor and adds the others while the
// load needs them, until stop is called; stop waits for the goroutine and
// gives the runtime its default back. It does nothing (stop is a no-op) where
// there is only one processor to use or process CPU time cannot be read. The
// caller leaves GOMAXPROCS alone when an administrator set it.
func Start(log *slog.Logger) (stop func()) {
	max := runtime.GOMAXPROCS(0)
	if _, ok := cpuTime(); !ok || max <= 1 {
		return func() {}
	}
	runtime.GOMAXPROCS(1)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	m := &monitor{p: policy{procs: 1, max: max}, set: setProcs}
	go func() {
		defer close(done)
		m.run(ctx, log)
	}()
	return func() {
		cancel()
		<-done
		runtime.GOMAXPROCS(max) // as Start found it
	}
}

// setProcs applies a decision: one processor, or (any other n) all the
// runtime would use by default, following CPU limits from then on. It
// returns the processors in effect.
func setProcs(n int) int {
	if n == 1 {
		runtime.GOMAXPROCS(1)
		return 1
	}
	runtime.SetDefaultGOMAXPROCS()
	return runtime.GOMAXPROCS(0)
}

// monitor feeds the policy one sample per interval.
type monitor struct {
	p       policy
	set     func(n int) int
	lastCPU time.Duration
	lastAt  time.Time
}

func (m *monitor) run(ctx context.Context, log *slog.Logger) {
	var waits schedWaits
	waits.read()
	cpu, _ := cpuTime()
	m.observe(cpu, time.Now(), 0)
	t := time.NewTimer(busyInterval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		// The clock is read with the CPU time, not taken from the timer: on a
		// saturated processor this goroutine waits too, as long as the waits
		// being measured.
		cpu, _ := cpuTime()
		wait99 := waits.read()
		cores, changed := m.observe(cpu, time.Now(), wait99)
		if changed {
			log.Info("processors for Go code", "procs", m.p.procs, "cpu_cores_used", cores, "wait_p99", wait99)
		}
		if m.p.procs == 1 && cores < idleBelow {
			t.Reset(idleInterval)
		} else {
			t.Reset(busyInterval)
		}
	}
}

// observe takes the process CPU time at a moment and the p99 wait since the
// previous sample, and applies the policy's decision. The first call only
// sets the baseline.
func (m *monitor) observe(cpu time.Duration, at time.Time, wait99 time.Duration) (cores float64, changed bool) {
	if m.lastAt.IsZero() || !at.After(m.lastAt) {
		m.lastCPU, m.lastAt = cpu, at
		return 0, false
	}
	cores = float64(cpu-m.lastCPU) / float64(at.Sub(m.lastAt))
	d := at.Sub(m.lastAt)
	m.lastCPU, m.lastAt = cpu, at
	before := m.p.procs
	n := m.p.next(cores, wait99, d)
	if n == before {
		return cores, false
	}
	m.p.procs = m.set(n)
	if n > 1 {
		m.p.max = m.p.procs
	}
	return cores, true
}

// schedWaits reads the runtime's histogram of how long ready goroutines
// waited for a processor (cumulative since start) and gives the 99th
// percentile of the waits since the previous read.
type schedWaits struct {
	sample []metrics.Sample
	prev   []uint64
}

const schedLatencies = "/sched/latencies:seconds"

func (w *schedWaits) read() time.Duration {
	if w.sample == nil {
		w.sample = []metrics.Sample{{Name: schedLatencies}}
	}
	metrics.Read(w.sample)
	if w.sample[0].Value.Kind() != metrics.KindFloat64Histogram {
		return 0 // not in this runtime: never reports saturation
	}
	h := w.sample[0].Value.Float64Histogram()
	if len(w.prev) != len(h.Counts) {
		w.prev = make([]uint64, len(h.Counts))
	}
	var total uint64
	for i, c := range h.Counts {
		total += c - w.prev[i]
	}
	defer copy(w.prev, h.Counts)
	return percentile99(h.Buckets, h.Counts, w.prev, total)
}

// percentile99 is the lower bound of the bucket that holds the 99th
// percentile of counts minus prev (total of them); Buckets[i] is bucket i's
// lower bound.
func percentile99(buckets []float64, counts, prev []uint64, total uint64) time.Duration {
	if total == 0 {
		return 0
	}
	rank := total - total/100 // the count below which 99 % fall
	var seen uint64
	for i, c := range counts {
		seen += c - prev[i]
		if seen >= rank {
			b := buckets[i]
			if math.IsInf(b, -1) || b < 0 {
				return 0
			}
			return time.Duration(b * float64(time.Second))
		}
	}
	return 0
}
