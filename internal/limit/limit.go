// Package limit counts failures per key in fixed windows: the one failure limiter
// behind SIP digest bans (sip/auth) and API login throttling (api).
package limit

import (
	"sync"
	"time"
)

// Window counts events per key in fixed windows that start at a key's first
// event after its previous window ended. It is simple, and precise enough for
// limits far above what a mistyped password produces. Memory follows the keys
// seen in the last window. It is safe for concurrent use.
type Window[K comparable] struct {
	length time.Duration

	mu        sync.Mutex
	m         map[K]*count
	lastSweep time.Time
}

type count struct {
	start time.Time
	n     int
}

// New returns a counter with windows of the given length.
func New[K comparable](length time.Duration) *Window[K] {
	return &Window[K]{length: length, m: make(map[K]*count)}
}

// Add counts one event of key at now if fewer than max (max <= 0: any number)
// are in its window. It returns the count after the event and the end of the
// window; ok is false, and nothing is counted, when max was reached.
func (w *Window[K]) Add(key K, now time.Time, max int) (n int, end time.Time, ok bool) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.sweepLocked(now)
	c := w.m[key]
	if c == nil || now.Sub(c.start) >= w.length {
		c = &count{start: now}
		w.m[key] = c
	}
	end = c.start.Add(w.length)
	if max > 0 && c.n >= max {
		return c.n, end, false
	}
	c.n++
	return c.n, end, true
}

// Undo takes back one event of key (an attempt that turned out right).
func (w *Window[K]) Undo(key K) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if c := w.m[key]; c != nil && c.n > 0 {
		c.n--
	}
}

// Reset forgets key's window.
func (w *Window[K]) Reset(key K) {
	w.mu.Lock()
	delete(w.m, key)
	w.mu.Unlock()
}

// sweepLocked drops ended windows, at most once a window length.
func (w *Window[K]) sweepLocked(now time.Time) {
	if now.Sub(w.lastSweep) < w.length {
		return
	}
	w.lastSweep = now
	for k, c := range w.m {
		if now.Sub(c.start) >= w.length {
			delete(w.m, k)
		}
	}
}
