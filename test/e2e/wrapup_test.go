package e2e

import (
	"encoding/json"
	"fmt"
	"testing"
	"time"

	"switchboard/internal/testphone"
	"switchboard/store"
)

// wrapUpConfig: customers 1009 and 1008 call the team support (2000, linear: a1 is
// offered first). %[1]s sounds dir, %[2]s members, %[3]s wrap_up.
const wrapUpConfig = `
sounds_dir: %[1]s
agents:
  - {id: a1, extension: "1001", password: pw1}
  - {id: a2, extension: "1002", password: pw2}
  - {id: cust, extension: "1009", password: pw9}
  - {id: cust2, extension: "1008", password: pw8}
teams:
  - {id: support, extension: "2000", members: %[2]s, strategy: linear, ring_timeout: 10s, max_wait: 120s, wrap_up: %[3]s}
`

// ringNext waits for the next INVITE on p (the timeout only guards a hang).
func ringNext(t *testing.T, who string, p *testphone.Phone) *testphone.Incoming {
	t.Helper()
	select {
	case in := <-p.Incoming():
		return in
	case <-time.After(20 * time.Second):
		t.Fatalf("%s never rang", who)
		return nil
	}
}

// firstTeamCall has cust call the team, a1 answer and hang up; it returns when a1 is
// in wrap-up and says until when.
func firstTeamCall(t *testing.T, s *server, cust, a1 *testphone.Phone) time.Time {
	t.Helper()
	k, a := connect(t, cust, a1, "2000")
	tonesBothWays(t, "customer", k, "a1", a)
	if err := a.Hangup(ctxT(t, 5*time.Second)); err != nil {
		t.Fatal(err)
	}
	waitDone(t, "customer", k)
	var until time.Time
	waitFor(t, "a1 in wrap-up", func() bool {
		until = s.PBX.WrapUpUntil("test.local", "a1")
		return !until.IsZero()
	})
	return until
}

// wrapUpOf waits for the call log entry id to carry its wrap-up time.
func wrapUpOf(t *testing.T, s *server, id string) time.Duration {
	t.Helper()
	var d time.Duration
	waitFor(t, "wrap-up time in the call log", func() bool {
		recs, err := s.Store.ListCalls("test.local", store.CallQuery{Limit: 10})
		if err != nil {
			t.Fatal(err)
		}
		for _, r := range recs {
			if r.ID == id {
				d = r.WrapUp
			}
		}
		return d > 0
	})
	return d
}

// Wrap-up (wrap_up: 3s): after a team call, the member who took it is not offered
// the next queued call: another member is, or the same member once wrap-up is over.
func TestWrapUpHoldsBackTeamOffers(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name, members string
	}{
		{"another member takes the next call", "[a1, a2]"},
		{"the same member after wrap-up ends", "[a1]"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			s := startServer(t, fmt.Sprintf(wrapUpConfig, shortPrompts(t), tc.members, "3s"))
			cust := s.phone("1009", "pw9", "PCMU")
			cust2 := s.phone("1008", "pw8", "PCMU")
			a1 := s.phone("1001", "pw1", "PCMU")
			a2 := s.phone("1002", "pw2", "PCMU")
			until := firstTeamCall(t, s, cust, a1)
			id := waitCalls(t, s, 1)[0].ID

			pending := cust2.DialAsync(ctxT(t, 30*time.Second), "2000")
			var in *testphone.Incoming
			var who string
			select {
			case in = <-a1.Incoming():
				who = "a1"
				// Offered to a1 again: only allowed once wrap-up is over.
				if now := time.Now(); now.Before(until) {
					t.Fatalf("a1 offered a team call at %v, during wrap-up (until %v)", now, until)
				}
			case in = <-a2.Incoming():
				who = "a2"
			case <-time.After(20 * time.Second):
				t.Fatal("the second queued call was offered to nobody")
			}
			if tc.members == "[a1, a2]" && who != "a2" {
				// a1 only got it because wrap-up had already ended: the machine was
				// too slow to show the hand-over to a2; the rule still held.
				t.Logf("second call reached a1 after wrap-up ended (%v), not a2", until)
			}
			b, err := in.Answer(ctxT(t, 10*time.Second))
			if err != nil {
				t.Fatal(err)
			}
			k2, err := pending.Result()
			if err != nil {
				t.Fatal(err)
			}
			tonesBothWays(t, "second customer", k2, who, b)
			k2.Hangup(ctxT(t, 5*time.Second))
			waitDone(t, who, b)
			if d := wrapUpOf(t, s, id); d != 3*time.Second {
				t.Errorf("first call's wrap-up in the call log %v, want 3s", d)
			}
			settle(t, s, 0)
		})
	}
}

// Wrap-up does not hold back direct calls, and POST /api/agents/{id}/ready ends it
// early: the queued call is offered at once, long before the minute of wrap_up.
func TestWrapUpDirectCallsAndReady(t *testing.T) {
	t.Parallel()
	s := startServer(t, fmt.Sprintf(wrapUpConfig, shortPrompts(t), "[a1]", "1m"))
	cust := s.phone("1009", "pw9", "PCMU")
	cust2 := s.phone("1008", "pw8", "PCMU")
	a1 := s.phone("1001", "pw1", "PCMU")
	s.phone("1002", "pw2", "PCMU")
	until := firstTeamCall(t, s, cust, a1)
	id := waitCalls(t, s, 1)[0].ID

	// The agent list shows the wrap-up's end.
	var agents []struct {
		ID          string     `json:"id"`
		WrapUpUntil *time.Time `json:"wrap_up_until"`
	}
	apiGet(t, s.HTTPAddr, s.data, "/api/agents", &agents)
	for _, a := range agents {
		if a.ID == "a1" && (a.WrapUpUntil == nil || !a.WrapUpUntil.Round(time.Second).Equal(until.Round(time.Second))) {
			t.Errorf("GET /api/agents: a1 wrap_up_until %v, want %v", a.WrapUpUntil, until)
		}
		if a.ID == "a2" && a.WrapUpUntil != nil {
			t.Errorf("GET /api/agents: a2 wrap_up_until %v, want absent", a.WrapUpUntil)
		}
	}

	// A direct call rings a1 in wrap-up.
	k, a := connect(t, cust, a1, "1001")
	tonesBothWays(t, "customer", k, "a1", a)
	k.Hangup(ctxT(t, 5*time.Second))
	waitDone(t, "a1", a)
	if s.PBX.WrapUpUntil("test.local", "a1").IsZero() {
		t.Fatal("a direct call ended a1's wrap-up")
	}

	// A team call waits in the queue while a1 is in wrap-up...
	pending := cust2.DialAsync(ctxT(t, 30*time.Second), "2000")
	waitFor(t, "second call queued for the team", func() bool {
		for _, c := range s.PBX.LiveCalls("") {
			if c.Team == "support" {
				return true
			}
		}
		return false
	})
	rang := a1.Stats().InvitesReceived

	// ...the errors of ready first: someone else's ready, an unknown agent...
	a2api := s.agentAPI(t, "1002", "pw2")
	if code, body := a2api.do("POST", "/api/agents/a1/ready", nil); code != 403 {
		t.Errorf("a2 readies a1: %d %s, want 403", code, body)
	}
	if code, body := s.adminAPI().do("POST", "/api/agents/nobody/ready", nil); code != 404 {
		t.Errorf("ready for an unknown agent: %d %s, want 404", code, body)
	}
	if n := a1.Stats().InvitesReceived; n != rang || s.PBX.WrapUpUntil("test.local", "a1").IsZero() {
		t.Fatalf("a refused ready ended the wrap-up (a1 rang %d times, was %d)", n, rang)
	}
	// ...then a1's own: the queued call is offered at once.
	code, body := s.agentAPI(t, "1001", "pw1").do("POST", "/api/agents/a1/ready", nil)
	var me struct {
		ID          string     `json:"id"`
		WrapUpUntil *time.Time `json:"wrap_up_until"`
	}
	if code != 200 || json.Unmarshal(body, &me) != nil || me.ID != "a1" || me.WrapUpUntil != nil {
		t.Fatalf("a1 ready: %d %s, want 200 with a1 and no wrap_up_until", code, body)
	}
	in := ringNext(t, "a1 after ready", a1)
	if now := time.Now(); !now.Before(until) {
		t.Fatalf("offered at %v, not before the wrap-up's end %v", now, until)
	}
	b, err := in.Answer(ctxT(t, 10*time.Second))
	if err != nil {
		t.Fatal(err)
	}
	k2, err := pending.Result()
	if err != nil {
		t.Fatal(err)
	}
	tonesBothWays(t, "second customer", k2, "a1", b)
	k2.Hangup(ctxT(t, 5*time.Second))
	waitDone(t, "a1", b)
	if d := wrapUpOf(t, s, id); d >= time.Minute {
		t.Errorf("wrap-up in the call log %v, want it cut short by ready", d)
	}
	// The admin may say ready too, also for an agent not in wrap-up.
	if code, body := s.adminAPI().do("POST", "/api/agents/a2/ready", nil); code != 200 {
		t.Errorf("admin ready for a2: %d %s, want 200", code, body)
	}
	settle(t, s, 0)
}
