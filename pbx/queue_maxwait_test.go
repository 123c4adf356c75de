package pbx

import (
	"context"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"switchboard/callinfo"
	"switchboard/sip"
	"switchboard/store"
)

// fakeCaller is the caller's leg of a call: it offers plain media and records
// what call control does with it.
type fakeCaller struct {
	sdp            []byte
	hangUpOnAnswer bool // the caller gives up as soon as the call is answered
	done           chan struct{}
	once           sync.Once
	answered       atomic.Bool
	mu             sync.Mutex
	local          []byte
	rejected       int
}

func newFakeCaller(sdp []byte, hangUpOnAnswer bool) *fakeCaller {
	return &fakeCaller{sdp: sdp, hangUpOnAnswer: hangUpOnAnswer, done: make(chan struct{})}
}

func (f *fakeCaller) Done() <-chan struct{} { return f.done }
func (f *fakeCaller) Hangup(context.Context) error {
	f.once.Do(func() { close(f.done) })
	return nil
}
func (f *fakeCaller) Reinvite(context.Context, []byte) ([]byte, error) { return nil, nil }
func (f *fakeCaller) OnOffer(sip.OfferHandler)                         {}
func (f *fakeCaller) OnRefer(sip.ReferHandler)                         {}
func (f *fakeCaller) CallID() string                                   { return "fake-call" }
func (f *fakeCaller) FromDisplay() string                              { return "Caller" }
func (f *fakeCaller) SDP() []byte                                      { return f.sdp }
func (f *fakeCaller) AckSDP() []byte                                   { return nil }
func (f *fakeCaller) LastLocalSDP() []byte {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.local
}
func (f *fakeCaller) SetLocalSDP(sdp []byte) {
	f.mu.Lock()
	f.local = sdp
	f.mu.Unlock()
}
func (f *fakeCaller) InfoDTMF() <-chan rune     { return nil }
func (f *fakeCaller) Ring() error               { return nil }
func (f *fakeCaller) Progress(sdp []byte) error { return nil }
func (f *fakeCaller) Answer(sdp []byte) error {
	f.answered.Store(true)
	if f.hangUpOnAnswer {
		f.Hangup(context.Background())
	}
	return nil
}
func (f *fakeCaller) Answered() bool { return f.answered.Load() }
func (f *fakeCaller) Reject(int, string, ...sip.Header) error {
	f.mu.Lock()
	f.rejected++
	f.mu.Unlock()
	return nil
}

// fakeCallLog keeps the call log entries written to it.
type fakeCallLog struct {
	mu   sync.Mutex
	recs []store.CallRecord
}

func (f *fakeCallLog) AddCall(rec *store.CallRecord) error {
	f.mu.Lock()
	f.recs = append(f.recs, *rec)
	f.mu.Unlock()
	return nil
}

// A caller waits no longer than the team's max_wait: offers still ringing and
// the pause between rounds are cut there, and on_timeout (here: agent over)
// takes the call. A member who answers in time gets it.
func TestQueueMaxWait(t *testing.T) {
	t.Parallel()
	sdp := fakeAnswer(t)
	const alice, over = "sip:alice@127.0.0.1:5", "sip:over@127.0.0.1:7"
	tests := []struct {
		name        string
		member      string // alice's fake leg script; empty: alice has no phone
		maxWait     time.Duration
		hangUp      bool // the caller hangs up once in the queue
		wantDials   []string
		wantOutcome callinfo.Outcome
		wantAgent   string
	}{
		{"member answers in time", "answer", time.Minute, false, []string{"alice"}, callinfo.Answered, "alice"},
		{"no member to offer", "", 50 * time.Millisecond, false, []string{"over"}, callinfo.Answered, "over"},
		{"offer cut at max_wait", "never", 50 * time.Millisecond, false, []string{"alice", "over"}, callinfo.Answered, "over"},
		{"round pause cut at max_wait", "status", 50 * time.Millisecond, false, []string{"alice", "over"}, callinfo.Answered, "over"},
		{"caller hangs up", "", time.Minute, true, nil, callinfo.Abandoned, ""},
	}
	for i, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			tp := newTestParts(t, `domain: pbx.example.com
sounds_dir: `+shortPrompts(t, "hold")+`
agents:
  - {id: alice, extension: "1001", password: pw}
  - {id: over, extension: "1009", password: pw}
teams:
  - {id: support, extension: "2000", members: [alice], strategy: ring-all, ring_timeout: 10m, max_wait: 1h, on_timeout: "agent:over"}
`, 8+i, func(st *store.Store, firm string) {
				if tc.member != "" {
					register(t, st, firm, "1001", alice)
				}
				register(t, st, firm, "1009", over)
			})
			defer tp.close(t)
			answering := func(uri, script string) *fakeLeg {
				l := &fakeLeg{uri: uri, script: script, code: 486, done: make(chan struct{}), sdp: sdp}
				if script == "answer" {
					l.once.Do(func() { close(l.done) }) // hangs up once bridged
				}
				return l
			}
			// A leg's URI is its contact: the queue finds the member who answered by it.
			legs := map[string]*fakeLeg{over: answering(over, "answer")}
			if tc.member != "" {
				legs[alice] = answering(alice, tc.member)
			}
			names := map[string]string{alice: "alice", over: "over"}
			op := &orderPlacer{legs: legs}
			tp.p.forker.place = op
			log := &fakeCallLog{}
			tp.p.callLog = log
			f := tp.p.Config().Firm(tp.firm)
			team := f.Team("support")
			team.MaxWait = tc.maxWait

			caller := newFakeCaller(sdp, tc.hangUp)
			c := tp.p.ctl.newCall(f, caller, callinfo.Inbound, "555", "2000")
			tp.p.ctl.queueCall(c, team)
			c.finish()

			var dials []string
			op.mu.Lock()
			for _, s := range op.log {
				if d, ok := strings.CutPrefix(s, "dial "); ok {
					dials = append(dials, names[d])
				}
			}
			op.mu.Unlock()
			if !slices.Equal(dials, tc.wantDials) {
				t.Errorf("dialled %q, want %q", dials, tc.wantDials)
			}
			log.mu.Lock()
			recs := slices.Clone(log.recs)
			log.mu.Unlock()
			if len(recs) != 1 || recs[0].Outcome != tc.wantOutcome || recs[0].Agent != tc.wantAgent || recs[0].Team != "support" {
				t.Fatalf("call log %+v, want one %s call for %q in team support", recs, tc.wantOutcome, tc.wantAgent)
			}
			if l := legs[alice]; l != nil && l.script == "never" {
				// The offer ended because max_wait passed, not by ring_timeout.
				waitUntil(t, func() bool { return l.cause.Load() != nil })
			}
		})
	}
}
