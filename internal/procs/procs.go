// Package procs sizes the Go scheduler to the load. A PBX spends most of its
// life well below one core: a contact center's calls arrive at tens per
// second. There, every message that readies a goroutine while another
// processor is idle wakes a second thread that spins looking for work and
// goes back to sleep, which cost 15–20 % of the CPU per call and per REGISTER
// in the side-by-side measurements of bench/README.md. So the process runs on
// one processor while one is enough, and on all it may use once the load
// keeps one core busy.
package procs

import (
	"context"
	"log/slog"
	"runtime"
	"time"
)

// The policy's thresholds, in cores of process CPU time per second. Going up
// is quick (a core nearly full for two seconds); coming down waits ten quiet
// seconds, so that a load near the threshold does not flap.
const (
	interval  = time.Second
	upAt      = 0.8
	upAfter   = 2
	downAt    = 0.4
	downAfter = 10
)

// policy decides how many processors to use from each second's CPU use.
type policy struct {
	procs, max  int
	over, under int // consecutive samples beyond each threshold
}

// next takes the cores the process used over the last interval and returns
// the processors to use from now on.
func (p *policy) next(cores float64) int {
	switch {
	case p.procs < p.max && cores >= upAt:
		p.over++
		p.under = 0
		if p.over >= upAfter {
			p.procs, p.over = p.max, 0
		}
	case p.procs > 1 && cores < downAt:
		p.under++
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
	go func() {
		defer close(done)
		run(ctx, log, &policy{procs: 1, max: max})
	}()
	return func() {
		cancel()
		<-done
		runtime.SetDefaultGOMAXPROCS()
	}
}

func run(ctx context.Context, log *slog.Logger, p *policy) {
	t := time.NewTicker(interval)
	defer t.Stop()
	last, _ := cpuTime()
	lastAt := time.Now()
	for {
		select {
		case <-ctx.Done():
			return
		case now := <-t.C:
			cpu, _ := cpuTime()
			cores := float64(cpu-last) / float64(now.Sub(lastAt))
			last, lastAt = cpu, now
			before := p.procs
			if n := p.next(cores); n != before {
				if n == p.max {
					runtime.SetDefaultGOMAXPROCS() // follows CPU limits from here on
					p.max = runtime.GOMAXPROCS(0)
					p.procs = p.max
				} else {
					runtime.GOMAXPROCS(n)
				}
				log.Debug("processors for Go code", "procs", p.procs, "cpu_cores_used", cores)
			}
		}
	}
}
