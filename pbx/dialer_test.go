package pbx

import (
	"context"
	"testing"

	"switchboard/store"
)

// The automatic dialer claims a due callback for an idle agent and rings the
// agent first: a decline gives the attempt back, an unanswered customer counts
// it until max_attempts, an answered one is done.
func TestDialerAttempts(t *testing.T) {
	t.Parallel()
	answer := fakeAnswer(t)
	const alice, bob = "sip:alice@127.0.0.1:5", "sip:bob@127.0.0.1:7"
	tests := []struct {
		name         string
		agent, cust  string
		maxAttempts  int
		wantState    string
		wantAttempts int
		wantNote     string
	}{
		{"agent declines", "status", "answer", 3, store.StatePending, 0, "agent alice did not answer"},
		{"customer busy", "answer", "status", 3, store.StatePending, 1, "customer did not answer"},
		{"customer busy, last attempt", "answer", "status", 1, store.StateFailed, 1, "customer did not answer; gave up after 1 attempts"},
		{"customer answers", "answer", "answer", 3, store.StateDone, 1, "answered by alice"},
	}
	for i, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			var cbID string
			tp := newTestParts(t, `domain: pbx.example.com
sounds_dir: `+shortPrompts(t, "unavailable", "ringback")+`
agents:
  - {id: alice, extension: "1001", password: pw, auto_callback: true, max_attempts: `+string(rune('0'+tc.maxAttempts))+`}
  - {id: bob, extension: "1002", password: pw}
`, 4+i, func(st *store.Store, firm string) {
				register(t, st, firm, "1001", alice)
				register(t, st, firm, "1002", bob)
				cb := &store.Callback{Firm: firm, Caller: "1002", TargetKind: store.TargetAgent, TargetID: "alice"}
				if err := st.AddCallback(cb); err != nil {
					t.Fatal(err)
				}
				cbID = cb.ID
			})
			defer tp.close(t)
			legs := map[string]*fakeLeg{
				alice: {uri: "alice", script: tc.agent, code: 486, done: make(chan struct{}), sdp: answer},
				bob:   {uri: "bob", script: tc.cust, code: 486, done: make(chan struct{}), sdp: answer},
			}
			tp.p.forker.place = &orderPlacer{legs: legs}
			tp.p.Start() // the start-up sweep wakes the dialer for idle alice
			if tc.wantState == store.StateDone {
				waitUntil(t, func() bool { return len(tp.p.LiveCalls("")) == 1 && tp.p.LiveCalls("")[0].State == "talking" })
				legs[bob].Hangup(context.Background())
			}
			// The attempt is over: the entry left dialling and the call ended.
			waitUntil(t, func() bool {
				cb, err := tp.st.GetCallback(tp.firm, cbID)
				return err == nil && cb.State != store.StateDialing && (cb.State != store.StatePending || cb.Note != "") &&
					len(tp.p.LiveCalls("")) == 0
			})
			cb, err := tp.st.GetCallback(tp.firm, cbID)
			if err != nil {
				t.Fatal(err)
			}
			if cb.State != tc.wantState || cb.Attempts != tc.wantAttempts || cb.Note != tc.wantNote || cb.ClaimedBy != "" && cb.State != store.StateDone {
				t.Errorf("callback %s, %d attempts, note %q, claimed by %q; want %s, %d, %q",
					cb.State, cb.Attempts, cb.Note, cb.ClaimedBy, tc.wantState, tc.wantAttempts, tc.wantNote)
			}
		})
	}
}
