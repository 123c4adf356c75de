package e2e

import (
	"context"
	"fmt"
	"sync/atomic"
	"testing"
	"time"

	"switchboard/callinfo"
	"switchboard/internal/testphone"
	"switchboard/pbx"
	"switchboard/store"
)

// autoAnswer answers every call on p and counts the answered ones.
func autoAnswer(p *testphone.Phone, answered *atomic.Int64) {
	go func() {
		for in := range p.Incoming() {
			c, err := in.Answer(context.Background())
			if err != nil {
				continue
			}
			answered.Add(1)
			go func() { <-c.Done() }()
		}
	}()
}

func waitIdle(t *testing.T, s *server, agents ...string) {
	t.Helper()
	deadline := time.Now().Add(15 * time.Second)
	for {
		idle := len(s.PBX.LiveCalls("")) == 0
		for _, a := range agents {
			idle = idle && s.PBX.AgentIdle("test.local", a)
		}
		if idle {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("calls still live: %+v", s.PBX.LiveCalls(""))
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// Each strategy distributes 20 queued calls as its name says.
func TestQueueStrategies(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		strategy string
		check    func(counts, rang [3]int64) bool
	}{
		{"linear", func(c, _ [3]int64) bool { return c == [3]int64{20, 0, 0} }},
		{"round-robin", func(c, _ [3]int64) bool { return c == [3]int64{7, 7, 6} }},
		{"longest-idle", func(c, _ [3]int64) bool { return c == [3]int64{7, 7, 6} }},
		{"ring-all", func(c, r [3]int64) bool { return c[0]+c[1]+c[2] == 20 && r == [3]int64{20, 20, 20} }},
	} {
		t.Run(tc.strategy, func(t *testing.T) {
			t.Parallel()
			s := startServer(t, fmt.Sprintf(`
sounds_dir: %s
agents:
  - {id: a1, extension: "1001", password: pw1}
  - {id: a2, extension: "1002", password: pw2}
  - {id: a3, extension: "1003", password: pw3}
  - {id: cust, extension: "1009", password: pw9}
teams:
  - {id: support, extension: "2000", members: [a1, a2, a3], strategy: %s, ring_timeout: 10s, max_wait: 60s}
`, shortPrompts(t), tc.strategy))
			var counts [3]atomic.Int64
			var phones [3]*testphone.Phone
			for i := range 3 {
				phones[i] = s.phone(fmt.Sprint(1001+i), fmt.Sprint("pw", i+1), "PCMU")
				autoAnswer(phones[i], &counts[i])
			}
			cust := s.phone("1009", "pw9", "PCMU")
			for n := range 20 {
				before := counts[0].Load() + counts[1].Load() + counts[2].Load()
				c, err := cust.Dial(ctxT(t, 20*time.Second), "2000")
				if err != nil {
					t.Fatalf("call %d: %v", n, err)
				}
				deadline := time.Now().Add(15 * time.Second)
				for counts[0].Load()+counts[1].Load()+counts[2].Load() == before {
					if time.Now().After(deadline) {
						t.Fatalf("call %d: no member answered", n)
					}
					time.Sleep(5 * time.Millisecond)
				}
				// The member's phone answered; hang up once the PBX has joined it
				// to the caller, not while its 200 is still on the way (that is a
				// caller who gave up, logged as abandoned).
				waitFor(t, "the member joined to the caller", func() bool {
					for _, lc := range s.PBX.LiveCalls("") {
						if lc.State == callinfo.StateTalking {
							return true
						}
					}
					return false
				})
				c.Hangup(ctxT(t, 5*time.Second))
				waitIdle(t, s, "a1", "a2", "a3")
			}
			// Who took each call, from the call log (with ring-all several phones may
			// answer at once; the PBX keeps the first and hangs up the others).
			// An agent is idle again a moment before the call's entry is written.
			recs := waitCalls(t, s, 20)
			var got, rang [3]int64
			for _, r := range recs {
				switch r.Agent {
				case "a1":
					got[0]++
				case "a2":
					got[1]++
				case "a3":
					got[2]++
				}
			}
			for i, p := range phones {
				rang[i] = int64(p.Stats().InvitesReceived)
			}
			if !tc.check(got, rang) {
				t.Fatalf("%s: answered per agent %v, rang %v", tc.strategy, got, rang)
			}
			st := s.PBX.Stats()
			if w := st.QueueWait[pbx.FirmTeam{Firm: "test.local", Team: "support"}]; w.Count != 20 || w.Seconds <= 0 {
				t.Errorf("queue wait metric %+v, want 20 callers", w)
			}
			if st.RTPPacketsRelayed == 0 {
				t.Error("no RTP packets counted")
			}
			if recs[0].Team != "support" || recs[0].Outcome != "answered" || recs[0].QueueWait <= 0 {
				t.Fatalf("call log: %+v", recs)
			}
		})
	}
}

// max_wait ends in a callback entry; the automatic callback rings the agent first,
// the customer's phone never rings while the agent declines, and once the agent
// answers the customer is dialled and bridged.
func TestQueueTimeoutAutoCallback(t *testing.T) {
	t.Parallel()
	s := startServer(t, fmt.Sprintf(`
sounds_dir: %s
agents:
  - {id: alice, extension: "1001", password: pw1, status: away}
  - {id: cust, extension: "1009", password: pw9}
teams:
  - {id: support, extension: "2000", members: [alice], max_wait: 1s, on_timeout: callback, auto_callback: true, retry_delay: 1s, max_attempts: 3}
`, shortPrompts(t)))
	alice := s.phone("1001", "pw1", "PCMU")
	cust := s.phone("1009", "pw9", "PCMA")
	c, err := cust.Dial(ctxT(t, 20*time.Second), "2000")
	if err != nil {
		t.Fatal(err)
	}
	select {
	case <-c.Done():
	case <-time.After(15 * time.Second):
		t.Fatal("queue did not time out into the callback prompt")
	}
	cbs, err := s.Store.ListCallbacks("test.local", store.StatePending, store.Page{})
	if err != nil || len(cbs) != 1 || cbs[0].TargetKind != "team" || cbs[0].TargetID != "support" || cbs[0].Caller != "1009" {
		t.Fatalf("callback entries %+v %v", cbs, err)
	}
	if rec := nthCall(t, s, 1); rec.Outcome != "callback" || rec.Team != "support" {
		t.Fatalf("call log %+v", rec)
	}
	id := cbs[0].ID

	// Alice comes online: the PBX rings her first; she declines.
	if err := s.PBX.SetAgentStatus("test.local", "alice", "online"); err != nil {
		t.Fatal(err)
	}
	select {
	case in := <-alice.Incoming():
		in.Reject(603, "Decline")
	case <-time.After(10 * time.Second):
		t.Fatal("auto callback did not ring the agent")
	}
	// After retry_delay it tries again; this time she answers and the customer rings.
	var a *testphone.Call
	select {
	case in := <-alice.Incoming():
		if n := cust.Stats().InvitesReceived; n != 0 {
			t.Fatalf("customer rang %d times although the agent declined", n)
		}
		a, err = in.Answer(ctxT(t, 10*time.Second))
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(15 * time.Second):
		t.Fatal("auto callback not retried after the agent declined")
	}
	k := answerNext(t, cust)
	k.StartTone(1000)
	a.StartTone(400)
	expectFreq(t, "agent", a, 1000)
	expectFreq(t, "customer", k, 400)
	a.Hangup(ctxT(t, 5*time.Second))
	deadline := time.Now().Add(10 * time.Second)
	for {
		cb, err := s.Store.GetCallback("test.local", id)
		if err == nil && cb.State == store.StateDone {
			if cb.Attempts != 1 {
				t.Errorf("attempts %d, want 1 (the declined ring does not count)", cb.Attempts)
			}
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("callback not done: %+v %v", cb, err)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// Click-to-call rings the agent first and dials the customer only once the agent
// answers; an agent who does not answer means nobody else is dialled.
func TestClickToCall(t *testing.T) {
	t.Parallel()
	s := startServer(t, fmt.Sprintf(`
sounds_dir: %s
agents:
  - {id: alice, extension: "1001", password: pw1, ring_timeout: 1s}
  - {id: cust, extension: "1009", password: pw9}
`, shortPrompts(t)))
	alice := s.phone("1001", "pw1", "PCMU")
	cust := s.phone("1009", "pw9", "PCMU")

	// Not answered: the customer is never dialled.
	id1, err := s.PBX.ClickToCall("test.local", "alice", "1009")
	if err != nil {
		t.Fatal(err)
	}
	select {
	case <-alice.Incoming():
	case <-time.After(10 * time.Second):
		t.Fatal("agent not rung")
	}
	if rec := nthCall(t, s, 1); rec.Outcome != "no-answer" || rec.ID != id1 {
		t.Fatalf("unanswered click-to-call %s logged %+v", id1, rec)
	}
	if n := cust.Stats().InvitesReceived; n != 0 {
		t.Fatalf("customer dialled although the agent did not answer (%d INVITEs)", n)
	}

	id2, err := s.PBX.ClickToCall("test.local", "alice", "1009")
	if err != nil {
		t.Fatal(err)
	}
	a := answerNext(t, alice)
	k := answerNext(t, cust)
	k.StartTone(1000)
	expectFreq(t, "agent", a, 1000)
	k.Hangup(ctxT(t, 5*time.Second))
	// The ID click-to-call answered with is the call log's ID.
	if rec := nthCall(t, s, 2); rec.Outcome != "answered" || rec.Agent != "alice" || rec.ID != id2 {
		t.Fatalf("click-to-call %s: call log %+v", id2, rec)
	}
}

// Entries the automatic dialer held when the server died go back to pending at the
// next start; an agent's own claim stays.
func TestDialingCallbacksRecoveredAtStart(t *testing.T) {
	t.Parallel()
	data := t.TempDir()
	st, err := store.Open(data + "/switchboard.db")
	if err != nil {
		t.Fatal(err)
	}
	auto := &store.Callback{Firm: "test.local", Caller: "1009", TargetKind: "team", TargetID: "support"}
	manual := &store.Callback{Firm: "test.local", Caller: "1008", TargetKind: "team", TargetID: "support"}
	for _, cb := range []*store.Callback{auto, manual} {
		if err := st.AddCallback(cb); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := st.ClaimCallback("test.local", auto.ID, "auto:alice"); err != nil {
		t.Fatal(err)
	}
	if _, err := st.ClaimCallback("test.local", manual.ID, "alice"); err != nil {
		t.Fatal(err)
	}
	st.Close()
	s := startServerDir(t, `
agents:
  - {id: alice, extension: "1001", password: pw1, status: away}
teams:
  - {id: support, extension: "2000", members: [alice]}
`, data)
	a, err := s.Store.GetCallback("test.local", auto.ID)
	if err != nil || a.State != store.StatePending || a.ClaimedBy != "" {
		t.Fatalf("auto-claimed entry after restart: %+v %v", a, err)
	}
	m, err := s.Store.GetCallback("test.local", manual.ID)
	if err != nil || m.State != store.StateDialing || m.ClaimedBy != "alice" {
		t.Fatalf("agent-claimed entry after restart: %+v %v", m, err)
	}
}

// Pending callbacks left from before a restart are dialled without waiting for an
// agent's status to change.
func TestPendingCallbacksDialledAfterRestart(t *testing.T) {
	t.Parallel()
	data := t.TempDir()
	st, err := store.Open(data + "/switchboard.db")
	if err != nil {
		t.Fatal(err)
	}
	if err := st.AddCallback(&store.Callback{Firm: "test.local", Caller: "1009", TargetKind: "team", TargetID: "support"}); err != nil {
		t.Fatal(err)
	}
	st.Close()
	s := startServerDir(t, fmt.Sprintf(`
sounds_dir: %s
agents:
  - {id: alice, extension: "1001", password: pw1}
  - {id: cust, extension: "1009", password: pw9}
teams:
  - {id: support, extension: "2000", members: [alice], auto_callback: true, retry_delay: 1s}
`, shortPrompts(t)), data)
	alice := s.phone("1001", "pw1", "PCMU")
	cust := s.phone("1009", "pw9", "PCMU")
	a := answerNext(t, alice)
	k := answerNext(t, cust)
	k.StartTone(1000)
	expectFreq(t, "agent", a, 1000)
	a.Hangup(ctxT(t, 5*time.Second))
}

// max_wait holds even while a member is online and idle but never answers: the
// offers ring out one after the other, and when max_wait passes the caller gets
// on_timeout (a callback entry) instead of waiting for ever.
func TestQueueMaxWaitWithUnansweringMember(t *testing.T) {
	t.Parallel()
	s := startServer(t, fmt.Sprintf(`
sounds_dir: %s
agents:
  - {id: alice, extension: "1001", password: pw1}
  - {id: cust, extension: "1009", password: pw9}
teams:
  - {id: support, extension: "2000", members: [alice], ring_timeout: 2s, max_wait: 3s, on_timeout: callback}
`, shortPrompts(t)))
	alice := s.phone("1001", "pw1", "PCMU") // rings, never answers
	cust := s.phone("1009", "pw9", "PCMU")
	c, err := cust.Dial(ctxT(t, 20*time.Second), "2000")
	if err != nil {
		t.Fatal(err)
	}
	select {
	case <-c.Done():
	case <-time.After(30 * time.Second):
		t.Fatal("caller still queued long after max_wait while a member let the offers ring out")
	}
	if n := alice.Stats().InvitesReceived; n == 0 {
		t.Fatal("the online member was never offered the call")
	}
	cbs, err := s.Store.ListCallbacks("test.local", store.StatePending, store.Page{})
	if err != nil || len(cbs) != 1 || cbs[0].TargetID != "support" || cbs[0].Caller != "1009" {
		t.Fatalf("callback entries %+v %v", cbs, err)
	}
	if rec := nthCall(t, s, 1); rec.Outcome != "callback" || rec.Team != "support" || rec.QueueWait < 3*time.Second {
		t.Fatalf("call log %+v", rec)
	}
}
