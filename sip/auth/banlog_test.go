package auth

import (
	"bytes"
	"log/slog"
	"net/netip"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"
)

type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}
func (s *syncBuffer) String() string { s.mu.Lock(); defer s.mu.Unlock(); return s.b.String() }

// Issue 14, problem 5 (one stable line per ban and unban) and part of 3
// (malformed messages count toward the ban). The fail2ban filter in the README
// matches the banned line.
func TestBanAndUnbanAreLoggedOnce(t *testing.T) {
	t.Parallel()
	for _, reason := range []string{ReasonAuth, ReasonMalformed} {
		t.Run(reason, func(t *testing.T) {
			t.Parallel()
			var buf syncBuffer
			clock := newClock()
			a := New(Config{BanThreshold: 3, BanTime: 10 * time.Minute, Now: clock.Now,
				Logger: slog.New(slog.NewTextHandler(&buf, nil))}, testLookup)
			ip := netip.MustParseAddr("192.0.2.9")
			for range 5 {
				if reason == ReasonAuth {
					a.fail(ip, clock.Now())
				} else {
					a.Malformed(ip)
				}
			}
			if !a.Banned(ip) {
				t.Fatal("not banned")
			}
			until := clock.Now().Add(10 * time.Minute).UTC().Format(time.RFC3339)
			// The line the README's fail2ban failregex matches.
			failregex := regexp.MustCompile(`level=WARN msg=banned ip=(\S+) reason=(\S+) until=(\S+)$`)
			var bans []string
			for _, l := range strings.Split(strings.TrimSpace(buf.String()), "\n") {
				if m := failregex.FindStringSubmatch(l); m != nil {
					bans = append(bans, m[1]+" "+m[2]+" "+m[3])
				}
			}
			if want := "192.0.2.9 " + reason + " " + until; len(bans) != 1 || bans[0] != want {
				t.Fatalf("ban lines %q, want one %q; log:\n%s", bans, want, buf.String())
			}
			clock.Advance(10*time.Minute + time.Second)
			for range 3 {
				a.Banned(ip)
			}
			if n := strings.Count(buf.String(), "msg=unbanned ip=192.0.2.9 until="+until); n != 1 {
				t.Fatalf("%d unban lines; log:\n%s", n, buf.String())
			}
		})
	}
}
