package auth

import (
	"net/netip"
	"switchboard/internal/limit"
	"sync"
	"sync/atomic"
	"time"
)

// failWindow is the length of the window BanThreshold is counted in.
const failWindow = time.Minute

// banList counts failed credential checks per source address (in the shared
// limit.Window) and bans addresses that reach the threshold. Reads (banned) are
// lock-free because the transport calls them for every packet; writes happen only
// on failed credentials.
type banList struct {
	threshold int
	banTime   time.Duration
	fails     *limit.Window[netip.Addr]

	mu        sync.Mutex // one failure at a time decides a ban
	lastSweep time.Time  // of bans

	bans  sync.Map     // netip.Addr -> time.Time (ban end)
	nbans atomic.Int64 // entries in bans; lets banned skip the map when nobody is banned
}

func newBanList(threshold int, banTime time.Duration) *banList {
	return &banList{threshold: threshold, banTime: banTime, fails: limit.New[netip.Addr](failWindow)}
}

// fail records one failed credential check from ip and reports whether it caused a ban.
func (b *banList) fail(ip netip.Addr, now time.Time) bool {
	if !ip.IsValid() {
		return false
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	b.sweepLocked(now)
	if n, _, _ := b.fails.Add(ip, now, 0); n < b.threshold {
		return false
	}
	b.fails.Reset(ip)
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

// sweepLocked drops ended bans so that memory follows the number of recently
// banned addresses, not every address ever banned (the failure windows sweep
// themselves).
func (b *banList) sweepLocked(now time.Time) {
	if now.Sub(b.lastSweep) < failWindow {
		return
	}
	b.lastSweep = now
	b.bans.Range(func(k, v any) bool {
		if !now.Before(v.(time.Time)) && b.bans.CompareAndDelete(k, v) {
			b.nbans.Add(-1)
		}
		return true
	})
}
