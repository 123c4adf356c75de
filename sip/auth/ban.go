package auth

import (
	"log/slog"
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
	log       *slog.Logger

	mu        sync.Mutex // one failure at a time decides a ban
	lastSweep time.Time  // of bans

	bans  sync.Map     // netip.Addr -> time.Time (ban end)
	nbans atomic.Int64 // entries in bans; lets banned skip the map when nobody is banned
}

func newBanList(threshold int, banTime time.Duration, log *slog.Logger) *banList {
	return &banList{threshold: threshold, banTime: banTime, fails: limit.New[netip.Addr](failWindow), log: log}
}

// Ban reasons, as logged in reason=.
const (
	ReasonAuth      = "auth"      // failed credential checks
	ReasonMalformed = "malformed" // messages that do not parse or break the protocol
)

// fail records one failure (a failed credential check, a malformed message) from
// ip and reports whether it caused a ban. The ban is logged as one line in a
// stable format that fail2ban filters can match:
//
//	level=WARN msg=banned ip=192.0.2.7 reason=auth until=2026-01-02T15:04:05Z
func (b *banList) fail(ip netip.Addr, now time.Time, reason string) bool {
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
	until := now.Add(b.banTime)
	if _, loaded := b.bans.Swap(ip, until); !loaded {
		b.nbans.Add(1)
	}
	b.log.Warn("banned", "ip", ip.String(), "reason", reason, "until", until.UTC().Format(time.RFC3339))
	return true
}

// unbanned logs the end of a ban, once: by whoever removed it from the map.
func (b *banList) unbanned(ip netip.Addr, until time.Time) {
	b.log.Info("unbanned", "ip", ip.String(), "until", until.UTC().Format(time.RFC3339))
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
		b.unbanned(ip, v.(time.Time))
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
			b.unbanned(k.(netip.Addr), v.(time.Time))
		}
		return true
	})
}
