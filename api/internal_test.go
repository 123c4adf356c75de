package api

import (
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/url"
	"slices"
	"testing"
	"time"

	"switchboard/pbx"
)

type fakeClock struct{ t time.Time }

func (c *fakeClock) now() time.Time { return c.t }

func TestFailLimiter(t *testing.T) {
	t.Parallel()
	clk := &fakeClock{time.Unix(1_700_000_000, 0)}
	l := newFailLimiter(3, time.Minute, clk.now)
	// Attempts in flight count: three started, none finished, the fourth waits.
	for range 3 {
		if _, ok := l.attempt("1.2.3.4"); !ok {
			t.Fatal("blocked too early")
		}
	}
	left, ok := l.attempt("1.2.3.4")
	if ok || left != time.Minute {
		t.Fatalf("after 3 attempts: allowed=%v left=%v", ok, left)
	}
	if _, ok := l.attempt("5.6.7.8"); !ok {
		t.Error("another address is blocked too")
	}
	// A successful attempt gives its slot back.
	l.succeeded("1.2.3.4")
	if _, ok := l.attempt("1.2.3.4"); !ok {
		t.Error("a success did not free its slot")
	}
	clk.t = clk.t.Add(time.Minute)
	if _, ok := l.attempt("1.2.3.4"); !ok {
		t.Error("still blocked after the window")
	}
}

func TestSessionsExpire(t *testing.T) {
	t.Parallel()
	clk := &fakeClock{time.Unix(1_700_000_000, 0)}
	var dropped []string // sessions.dropped runs outside the lock, here on this goroutine
	ss := newSessions(clk.now, func(se session) { dropped = append(dropped, se.agent) })
	s := ss.create("f", "alice", nil)
	other := ss.create("f", "bob", nil)
	if len(s.id) < 40 || s.id == other.id {
		t.Fatalf("weak or repeated session ids %q %q", s.id, other.id)
	}
	clk.t = clk.t.Add(sessionTTL - time.Second)
	if ss.get(s.id) == nil {
		t.Fatal("session gone before its TTL")
	}
	clk.t = clk.t.Add(time.Second)
	if ss.get(s.id) != nil {
		t.Fatal("session alive after its TTL")
	}
	ss.create("f", "carol", nil) // prunes the expired ones
	if len(ss.m) != 1 {
		t.Errorf("%d sessions kept, want 1", len(ss.m))
	}
	if !slices.Equal(dropped, []string{"alice", "bob"}) {
		t.Errorf("dropped %v, want alice (expired on get) and bob (pruned)", dropped)
	}
	dave := ss.create("f", "dave", nil)
	ss.delete(dave.id)
	if ss.update(dave.id, func(*session) { t.Error("update ran on a deleted session") }) != nil {
		t.Error("update of a deleted session answered")
	}
	if dropped[len(dropped)-1] != "dave" {
		t.Errorf("logout did not drop the session: %v", dropped)
	}
}

func TestCSVSafe(t *testing.T) {
	t.Parallel()
	for in, want := range map[string]string{
		"":                  "",
		"+15551234":         "+15551234",
		"1001":              "1001",
		"=HYPERLINK(\"x\")": "'=HYPERLINK(\"x\")",
		"@SUM(A1)":          "'@SUM(A1)",
		"+1+cmd|' /C calc'": "'+1+cmd|' /C calc'",
		"-2+3":              "'-2+3",
		"+":                 "'+",
		"\tx":               "'\tx",
		"alice":             "alice",
	} {
		if got := csvSafe(in); got != want {
			t.Errorf("csvSafe(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestIsLoopback(t *testing.T) {
	t.Parallel()
	for addr, want := range map[string]bool{
		"127.0.0.1:5": true, "[::1]:5": true, "[::ffff:127.0.0.1]:5": true,
		"192.0.2.1:5": false, "garbage": false, "": false,
	} {
		if got := isLoopback(addr); got != want {
			t.Errorf("isLoopback(%q) = %v", addr, got)
		}
	}
}

func TestParseCallQuery(t *testing.T) {
	t.Parallel()
	q, herr := parseCallQuery(url.Values{"since": {"2025-03-01"}, "until": {"2025-03-02T00:00:00Z"}, "limit": {"7"}}, 100)
	if herr != nil {
		t.Fatal(herr)
	}
	if q.Limit != 7 || q.Since.Day() != 1 || q.Until.Day() != 2 {
		t.Errorf("parsed %+v", q)
	}
	if q, _ := parseCallQuery(url.Values{}, 0); q.Limit != 0 {
		t.Errorf("default limit not kept: %d", q.Limit)
	}
}

func FuzzParseCallQuery(f *testing.F) {
	for _, s := range []string{
		"limit=5&before=abc", "since=2025-01-01&until=2025-02-01", "outcome=answered&agent=alice",
		"limit=-1", "since=2025-13-40", "until=2025-01-01T00:00:00+01:00&since=2025-01-02", "limit=99999999999999999999",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, raw string) {
		v, err := url.ParseQuery(raw)
		if err != nil {
			return
		}
		q, herr := parseCallQuery(v, defaultCallLimit)
		if herr != nil {
			if herr.code != 400 || herr.msg == "" {
				t.Fatalf("error %d %q", herr.code, herr.msg)
			}
			return
		}
		if q.Limit < 1 || q.Limit > maxListLimit {
			t.Fatalf("limit %d out of range", q.Limit)
		}
		if !q.Since.IsZero() && !q.Until.IsZero() && !q.Since.Before(q.Until) {
			t.Fatalf("since %v not before until %v", q.Since, q.Until)
		}
	})
}

// Each refusal of pbx.Transfer has its own status (SPEC section 7, issue 11);
// the wrapped error keeps its status, and anything else stays a 500.
func TestTransferError(t *testing.T) {
	t.Parallel()
	tests := []struct {
		err  error
		code int // 0: not an httpError
	}{
		{pbx.ErrNoCall, http.StatusNotFound},
		{pbx.ErrNotYourCall, http.StatusForbidden},
		{pbx.ErrNotAnswered, http.StatusConflict},
		{pbx.ErrBadTarget, http.StatusBadRequest},
		{fmt.Errorf("pbx: transfer to %q: %w", "9x", pbx.ErrBadTarget), http.StatusBadRequest},
		{fmt.Errorf("pbx: call c1: %w", pbx.ErrNotYourCall), http.StatusForbidden},
		{errors.New("disk on fire"), 0},
	}
	for _, tc := range tests {
		err := transferError(tc.err, "c1", "9x")
		var he *httpError
		switch {
		case tc.code == 0 && errors.As(err, &he):
			t.Errorf("%v: mapped to %d, want it passed on", tc.err, he.code)
		case tc.code != 0 && (!errors.As(err, &he) || he.code != tc.code || he.msg == ""):
			t.Errorf("%v: %v, want status %d", tc.err, err, tc.code)
		}
	}
}

// Issue 14: a listener that stopped serving makes /healthz fail.
func TestHealthzFailsWhenAListenerStopped(t *testing.T) {
	t.Parallel()
	var failing error
	s := New(Deps{Health: func() error { return failing }})
	for _, tc := range []struct {
		err  error
		want int
	}{{nil, http.StatusOK}, {errors.New("sip listener stopped: accept: boom"), http.StatusServiceUnavailable}} {
		failing = tc.err
		rec := httptest.NewRecorder()
		s.ServeHTTP(rec, httptest.NewRequest("GET", "/healthz", nil))
		if rec.Code != tc.want {
			t.Errorf("health error %v: status %d, want %d (%s)", tc.err, rec.Code, tc.want, rec.Body)
		}
	}
}
