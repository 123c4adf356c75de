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
// authentication rate times the nonce TTL.
type replayCache struct {
	sweepEvery time.Duration

	mu        sync.Mutex
	entries   map[string]replayEntry
	lastSweep time.Time
}

type replayEntry struct {
	maxNC   uint32
	expires time.Time
}

func newReplayCache(ttl time.Duration) *replayCache {
	return &replayCache{sweepEvery: ttl / 2, entries: make(map[string]replayEntry)}
}

// accept records nc for nonce and reports whether it is higher than any nc seen before
// for that nonce.
func (r *replayCache) accept(nonce string, nc uint32, expires, now time.Time) bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	if now.Sub(r.lastSweep) >= r.sweepEvery {
		r.lastSweep = now
		for k, e := range r.entries {
			if !now.Before(e.expires) {
				delete(r.entries, k)
			}
		}
	}
	e, ok := r.entries[nonce]
	if ok && nc <= e.maxNC {
		return false
	}
	r.entries[nonce] = replayEntry{maxNC: nc, expires: expires}
	return true
}

func (r *replayCache) len() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return len(r.entries)
}
