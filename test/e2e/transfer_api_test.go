package e2e

import (
	"encoding/json"
	"testing"
	"time"
)

// POST /api/calls/{id}/transfer: each refusal with its status, then the transfer by
// the agent in the call and by the admin, each handing the customer over with audio
// both ways and the hop in the call log.
func TestTransferAPI(t *testing.T) {
	t.Parallel()
	e := newTransferEnv(t)
	admin := e.s.adminAPI()
	aliceAPI := e.s.agentAPI(t, "1001", "alice-pw")
	bobAPI := e.s.agentAPI(t, "1002", "bob-pw")
	transfer := func(c *apiClient, id string, body any) (int, string) {
		t.Helper()
		code, b := c.do("POST", "/api/calls/"+id+"/transfer", body)
		return code, string(b)
	}

	if code, body := transfer(admin, "no-such-call", map[string]string{"target": "1002"}); code != 404 {
		t.Errorf("unknown call: %d %s, want 404", code, body)
	}

	// Ringing, not answered yet: 409.
	pending := e.cust.DialAsync(ctxT(t, 30*time.Second), "1001")
	in := ringNext(t, "alice", e.alice)
	id := liveCallID(t, e.s)
	if code, body := transfer(admin, id, map[string]string{"target": "1002"}); code != 409 {
		t.Errorf("transfer of a ringing call: %d %s, want 409", code, body)
	}
	a, err := in.Answer(ctxT(t, 10*time.Second))
	if err != nil {
		t.Fatal(err)
	}
	k, err := pending.Result()
	if err != nil {
		t.Fatal(err)
	}

	// Answered: bob is not in it (403); bad targets (400).
	for _, tc := range []struct {
		name string
		c    *apiClient
		body any
		want int
	}{
		{"another agent's call", bobAPI, map[string]string{"target": "1003"}, 403},
		{"no target", aliceAPI, map[string]string{}, 400},
		{"empty target", admin, map[string]string{"target": ""}, 400},
		{"unknown extension", aliceAPI, map[string]string{"target": "1999"}, 400},
		{"unknown team", admin, map[string]string{"target": "team:nope"}, 400},
	} {
		if code, body := transfer(tc.c, id, tc.body); code != tc.want {
			t.Errorf("%s: %d %s, want %d", tc.name, code, body, tc.want)
		}
	}
	tonesBothWays(t, "customer", k, "alice", a) // still talking after the refusals

	// alice hands the customer to bob.
	code, body := transfer(aliceAPI, id, map[string]string{"target": "1002"})
	var res struct {
		ID string `json:"id"`
	}
	if code != 202 || json.Unmarshal([]byte(body), &res) != nil || res.ID != id {
		t.Fatalf("alice transfers to 1002: %d %s, want 202 {\"id\": %q}", code, body, id)
	}
	b := answerNext(t, e.bob)
	waitDone(t, "alice after the transfer", a)
	tonesBothWays(t, "customer", k, "bob", b)

	// The admin hands the customer on from bob to the team's queue and back to bob.
	b.StopAudio()
	if code, body := transfer(admin, id, map[string]string{"target": "team:sales"}); code != 202 {
		t.Fatalf("admin transfers to team:sales: %d %s, want 202", code, body)
	}
	b2 := answerNext(t, e.bob)
	waitDone(t, "bob's first leg after the transfer", b)
	tonesBothWays(t, "customer", k, "bob again", b2)
	k.Hangup(ctxT(t, 5*time.Second))
	waitDone(t, "bob", b2)
	settle(t, e.s, 0)

	r := callRecord(t, e.s, id, 1)
	expectTransfers(t, r, [2]string{"alice", "bob"}, [2]string{"admin", "team:sales"})
	apiTransfers(t, e.s, id, [2]string{"alice", "bob"}, [2]string{"admin", "team:sales"})
	if r.Agent != "bob" || r.Team != "sales" {
		t.Errorf("call log %+v, want finished by bob of sales", r)
	}
}
