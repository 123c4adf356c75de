package pbx

import (
	"context"
	"slices"
	"sync"
	"testing"
	"time"

	"switchboard/callinfo"
	"switchboard/sip"
	"switchboard/store"
)

// orderPlacer places fake legs by contact URI and logs each step in order:
// "dial X", then "X answered" or "X <code>".
type orderPlacer struct {
	mu   sync.Mutex
	log  []string
	legs map[string]*fakeLeg
}

func (o *orderPlacer) add(s string) {
	o.mu.Lock()
	o.log = append(o.log, s)
	o.mu.Unlock()
}

func (o *orderPlacer) Dial(_ context.Context, spec sip.DialSpec) (outLeg, error) {
	l := o.legs[spec.URI]
	o.add("dial " + l.uri)
	return loggedLeg{l, o}, nil
}

type loggedLeg struct {
	*fakeLeg
	o *orderPlacer
}

func (l loggedLeg) Wait(ctx context.Context, p func(int, []byte)) error {
	err := l.fakeLeg.Wait(ctx, p)
	if err == nil {
		l.o.add(l.uri + " answered")
	} else {
		l.o.add(l.uri + " " + err.Error())
	}
	return err
}

// Click-to-call rings the agent first and dials the customer only once the
// agent answered.
func TestClickToCallOrder(t *testing.T) {
	t.Parallel()
	answer := fakeAnswer(t)
	const alice, bob = "sip:alice@127.0.0.1:5", "sip:bob@127.0.0.1:7"
	tests := []struct {
		name        string
		agent, cust string // fake leg scripts
		wantLog     []string
		wantOutcome callinfo.Outcome
	}{
		{"both answer", "answer", "answer", []string{"dial alice", "alice answered", "dial bob", "bob answered"}, callinfo.Answered},
		{"agent busy", "status", "answer", []string{"dial alice", "alice 486 Busy Here"}, callinfo.Busy},
		{"customer busy", "answer", "status", []string{"dial alice", "alice answered", "dial bob", "bob 486 Busy Here"}, callinfo.Busy},
	}
	for i, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			tp := newTestParts(t, `domain: pbx.example.com
sounds_dir: `+shortPrompts(t, "unavailable", "ringback")+`
agents:
  - {id: alice, extension: "1001", password: pw}
  - {id: bob, extension: "1002", password: pw}
`, 1+i, func(st *store.Store, firm string) {
				register(t, st, firm, "1001", alice)
				register(t, st, firm, "1002", bob)
			})
			defer tp.close(t)
			legs := map[string]*fakeLeg{
				alice: {uri: "alice", script: tc.agent, code: 486, done: make(chan struct{}), sdp: answer},
				bob:   {uri: "bob", script: tc.cust, code: 486, done: make(chan struct{}), sdp: answer},
			}
			op := &orderPlacer{legs: legs}
			tp.p.forker.place = op
			id, err := tp.p.ClickToCall(tp.firm, "alice", "1002")
			if err != nil {
				t.Fatal(err)
			}
			if tc.wantOutcome == callinfo.Answered {
				// Bridged: the customer hangs up.
				waitUntil(t, func() bool { return slices.Contains(liveStates(tp.p), callinfo.StateTalking) })
				legs[bob].Hangup(context.Background())
			}
			waitUntil(t, func() bool { return len(tp.p.LiveCalls("")) == 0 })
			op.mu.Lock()
			got := slices.Clone(op.log)
			op.mu.Unlock()
			if !slices.Equal(got, tc.wantLog) {
				t.Errorf("steps %q, want %q", got, tc.wantLog)
			}
			recs, err := tp.st.ListCalls(tp.firm, store.CallQuery{})
			if err != nil || len(recs) != 1 || recs[0].ID != id || recs[0].Outcome != tc.wantOutcome {
				t.Errorf("call log %+v, %v; want one %s call %s", recs, err, tc.wantOutcome, id)
			}
		})
	}
}

func liveStates(p *PBX) []callinfo.CallState {
	var out []callinfo.CallState
	for _, c := range p.LiveCalls("") {
		out = append(out, c.State)
	}
	return out
}

// waitUntil polls cond; the deadline only guards against a hang.
func waitUntil(t *testing.T, cond func() bool) {
	t.Helper()
	for deadline := time.Now().Add(10 * time.Second); !cond(); time.Sleep(5 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatal("condition not met in 10 s")
		}
	}
}
