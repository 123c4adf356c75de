package auth

import (
	"sync"
	"time"
)

// replayCache remembers, per nonce, the highest nc accepted. Keying on nonce+nc (not
// cnonce) matters: SIPp sends the same cnonce with every request.
//
// Only nonces that already passed a full credential check get an entry, and every entry
// is dropped when its nonce expires, so the size is bounded by the successful
// authentication rate times the nonce TTL. Expired entries are swept on a timer while
// there are any, so that a PBX gone quiet gives the memory back (a Go map keeps its
// buckets after deletes: a map left mostly empty is made anew).
type replayCache struct {
	sweepEvery time.Duration
	now        func() time.Time

	mu        sync.Mutex
	entries   map[string]replayEntry
	peak      int // most entries since the map was made
	lastSweep time.Time
	timer     *time.Timer // armed while there are entries
	closed    bool
}

type replayEntry struct {
	maxNC   uint32
	expires time.Time
}

func newReplayCache(ttl time.Duration, now func() time.Time) *replayCache {
	return &replayCache{sweepEvery: ttl / 10, now: now, entries: make(map[string]replayEntry)}
}

// accept records nc for nonce and reports whether it is higher than any nc seen before
// for that nonce.
func (r *replayCache) accept(nonce string, nc uint32, expires, now time.Time) bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	if now.Sub(r.lastSweep) >= r.sweepEvery {
		r.sweepLocked(now)
	}
	e, ok := r.entries[nonce]
	if ok && nc <= e.maxNC {
		return false
	}
	r.entries[nonce] = replayEntry{maxNC: nc, expires: expires}
	r.peak = max(r.peak, len(r.entries))
	if r.timer == nil && !r.closed {
		r.timer = time.AfterFunc(r.sweepEvery, r.tick)
	}
	return true
}

// tick is the sweep timer's: it runs until the cache is empty or closed.
func (r *replayCache) tick() {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.closed || r.timer == nil {
		return
	}
	r.sweepLocked(r.now())
	if len(r.entries) > 0 {
		r.timer.Reset(r.sweepEvery)
	} else {
		r.timer = nil
	}
}

// sweepLocked drops expired entries. Called with r.mu held.
func (r *replayCache) sweepLocked(now time.Time) {
	r.lastSweep = now
	for k, e := range r.entries {
		if !now.Before(e.expires) {
			delete(r.entries, k)
		}
	}
	if len(r.entries) <= r.peak/4 {
		fresh := make(map[string]replayEntry, len(r.entries))
		for k, e := range r.entries {
			fresh[k] = e
		}
		r.entries, r.peak = fresh, len(fresh)
	}
}

// close stops the sweep timer; a run racing with it finds the cache closed.
func (r *replayCache) close() {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.closed = true
	if r.timer != nil {
		r.timer.Stop()
		r.timer = nil
	}
}

func (r *replayCache) len() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return len(r.entries)
}
