package pbx

import (
	"context"
	"errors"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"switchboard/callinfo"
	"switchboard/sip"
)

// fakeLeg answers Wait as its branch script says: "answer", a SIP status code,
// "error" (no response at all), or "never" (rings until cancelled).
type fakeLeg struct {
	uri     string
	script  string
	code    int
	release chan struct{} // "late": answers once closed
	hungUp  atomic.Bool
	cause   atomic.Value  // context.Cause when Wait was cancelled
	done    chan struct{} // closed by Hangup
	once    sync.Once
	sdp     []byte // the answer's SDP
}

func (l *fakeLeg) Wait(ctx context.Context, _ func(int, []byte)) error {
	switch l.script {
	case "answer":
		return nil
	case "status":
		return &sip.StatusError{Code: l.code, Reason: map[int]string{486: "Busy Here", 603: "Decline", 480: "Temporarily Unavailable"}[l.code]}
	case "error":
		return errors.New("no route")
	case "late":
		<-l.release
		return nil
	}
	<-ctx.Done()
	l.cause.Store(context.Cause(ctx))
	return ctx.Err()
}
func (l *fakeLeg) Done() <-chan struct{} { return l.done }
func (l *fakeLeg) Hangup(context.Context) error {
	l.hungUp.Store(true)
	l.once.Do(func() { close(l.done) })
	return nil
}
func (l *fakeLeg) Reinvite(context.Context, []byte) ([]byte, error) { return nil, nil }
func (l *fakeLeg) OnOffer(sip.OfferHandler)                         {}
func (l *fakeLeg) OnRefer(sip.ReferHandler)                         {}
func (l *fakeLeg) RemoteSDP() []byte                                { return l.sdp }
func (l *fakeLeg) URI() string                                      { return l.uri }

type fakePlacer map[string]*fakeLeg

func (f fakePlacer) Dial(_ context.Context, spec sip.DialSpec) (outLeg, error) {
	return f[spec.URI], nil
}

// testForker is a forker over place whose goroutines wg waits for.
func testForker(place legPlacer, stopping bool) (*forker, *sync.WaitGroup) {
	wg := &sync.WaitGroup{}
	return &forker{place: place, stopping: func() bool { return stopping },
		spawn: func(f func(context.Context)) bool {
			wg.Add(1)
			go func() { defer wg.Done(); f(context.Background()) }()
			return true
		}}, wg
}

func TestFork(t *testing.T) {
	t.Parallel()
	type branch struct {
		script string
		code   int
	}
	tests := []struct {
		name        string
		branches    []branch
		cancel      bool // the caller hangs up while the branches ring
		stopping    bool // ... because the PBX shuts down
		timeout     time.Duration
		wantIdx     int
		wantOutcome callinfo.Outcome
		wantCause   string
	}{
		{"first answer wins", []branch{{"never", 0}, {"answer", 0}, {"never", 0}}, false, false, time.Hour, 1, callinfo.Answered, "200 OK"},
		{"all busy", []branch{{"status", 486}, {"status", 486}}, false, false, time.Hour, -1, callinfo.Busy, "486 Busy Here"},
		{"busy and decline", []branch{{"status", 603}}, false, false, time.Hour, -1, callinfo.Busy, "603 Decline"},
		{"one busy one unavailable", []branch{{"status", 486}, {"error", 0}}, false, false, time.Hour, -1, callinfo.NoAnswer, "486 Busy Here"},
		{"unavailable", []branch{{"status", 480}}, false, false, time.Hour, -1, callinfo.NoAnswer, "480 Temporarily Unavailable"},
		{"no response", []branch{{"error", 0}}, false, false, time.Hour, -1, callinfo.NoAnswer, "408 Request Timeout"},
		{"all ring out", []branch{{"never", 0}, {"never", 0}}, false, false, time.Millisecond, -1, callinfo.NoAnswer, "408 Request Timeout"},
		{"caller cancels", []branch{{"never", 0}, {"never", 0}}, true, false, time.Hour, -1, callinfo.Abandoned, "487 Request Terminated"},
		{"shutdown", []branch{{"never", 0}}, true, true, time.Hour, -1, callinfo.Abandoned, "487 Request Terminated"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			legs := fakePlacer{}
			var specs []sip.DialSpec
			for i, b := range tc.branches {
				uri := "sip:" + string(rune('a'+i)) + "@test"
				legs[uri] = &fakeLeg{uri: uri, script: b.script, code: b.code, done: make(chan struct{})}
				specs = append(specs, sip.DialSpec{URI: uri})
			}
			fk, wg := testForker(legs, tc.stopping)
			ctx, cancel := context.WithCancel(context.Background())
			if tc.cancel {
				cancel()
			}
			r := fk.fork(ctx, specs, tc.timeout, nil)
			cancel()
			wg.Wait() // every branch ended
			if r.idx != tc.wantIdx || r.outcome != tc.wantOutcome || r.cause.String() != tc.wantCause {
				t.Errorf("fork = %d %s %q, want %d %s %q", r.idx, r.outcome, r.cause, tc.wantIdx, tc.wantOutcome, tc.wantCause)
			}
			if (r.leg == nil) != (tc.wantIdx < 0) || (r.leg != nil && r.leg.URI() != specs[tc.wantIdx].URI) {
				t.Errorf("leg = %v, want the one of branch %d", r.leg, tc.wantIdx)
			}
			for uri, l := range legs {
				c, _ := l.cause.Load().(error)
				if tc.stopping != errors.Is(c, sip.ErrAbandoned) && l.script == "never" {
					t.Errorf("%s: branch cancelled with %v, shutdown %v", uri, c, tc.stopping)
				}
			}
		})
	}
}

// A branch that answers after another won is hung up.
func TestForkLateAnswerHungUp(t *testing.T) {
	t.Parallel()
	early := &fakeLeg{uri: "sip:a@test", script: "answer", done: make(chan struct{})}
	late := &fakeLeg{uri: "sip:b@test", script: "late", release: make(chan struct{}), done: make(chan struct{})}
	fk, wg := testForker(fakePlacer{early.uri: early, late.uri: late}, false)
	r := fk.fork(context.Background(), []sip.DialSpec{{URI: early.uri}, {URI: late.uri}}, time.Hour, nil)
	if r.leg != early {
		t.Fatalf("winner %v, want the early leg", r.leg)
	}
	close(late.release)
	wg.Wait()
	if !late.hungUp.Load() || early.hungUp.Load() {
		t.Errorf("hung up: late %v early %v; want only the late one", late.hungUp.Load(), early.hungUp.Load())
	}
}
