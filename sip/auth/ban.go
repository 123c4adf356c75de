package auth

import (
	"net/netip"
	"sync"
	"sync/atomic"
	"time"
)

// failWindow is the length of the window BanThreshold is counted in.
const failWindow = time.Minute

// banList counts failed credential checks per source address and bans addresses that
// reach the threshold. Reads (banned) are lock-free because the transport calls them
// for every packet; writes happen only on failed credentials.
type banList struct {
	threshold int
	banTime   time.Duration

	mu        sync.Mutex
	windows   map[netip.Addr]*failCount
	lastSweep time.Time

	bans  sync.Map     // netip.Addr -> time.Time (ban end)
	nbans atomic.Int64 // entries in bans; lets banned skip the map when nobody is banned
}

// failCount is a fixed one-minute window: simple, and precise enough for a
// threshold far above what a mistyped password produces.
type failCount struct {
	start time.Time
	n     int
}

func newBanList(threshold int, banTime time.Duration) *banList {
	return &banList{threshold: threshold, banTime: banTime, windows: make(map[netip.Addr]*failCount)}
}

// fail records one failed credential check from ip and reports whether it caused a ban.
func (b *banList) fail(ip netip.Addr, now time.Time) bool {
	if !ip.IsValid() {
		return false
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	b.sweepLocked(now)
	w := b.windows[ip]
	if w == nil || now.Sub(w.start) >= failWindow {
		w = &failCount{start: now}
		b.windows[ip] = w
	}
	w.n++
	if w.n < b.threshold {
		return false
	}
	delete(b.windows, ip)
	if _, loaded := b.bans.Swap(ip, now.Add(b.banTime)); !loaded {
		b.nbans.Add(1)
	}
	return true
}

func (b *banList) banned(ip netip.Addr, now time.Time) bool {
	if b.nbans.Load() == 0 {
		return false
	}
	v, ok := b.bans.Load(ip)
	if !ok {
		return false
	}
	if now.Before(v.(time.Time)) {
		return true
	}
	if b.bans.CompareAndDelete(ip, v) {
		b.nbans.Add(-1)
	}
	return false
}

// sweepLocked drops stale windows and ended bans so that memory follows the number of
// recently failing addresses, not every address ever seen.
func (b *banList) sweepLocked(now time.Time) {
	if now.Sub(b.lastSweep) < failWindow {
		return
	}
	b.lastSweep = now
	for ip, w := range b.windows {
		if now.Sub(w.start) >= failWindow {
			delete(b.windows, ip)
		}
	}
	b.bans.Range(func(k, v any) bool {
		if !now.Before(v.(time.Time)) && b.bans.CompareAndDelete(k, v) {
			b.nbans.Add(-1)
		}
		return true
	})
}
