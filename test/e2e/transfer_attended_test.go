package e2e

import (
	"fmt"
	"testing"
	"time"

	"switchboard/internal/testphone"
)

// attendedConfig: cust (1009) calls alice (1001), who consults bob (1002).
const attendedConfig = `
sounds_dir: %s
agents:
  - {id: alice, extension: "1001", password: alice-pw}
  - {id: bob, extension: "1002", password: bob-pw, ring_timeout: 10s}
  - {id: cust, extension: "1009", password: cust-pw}
`

// noLegLeft checks that nothing of the transfer is left: no live call in the PBX nor
// in GET /api/calls/live, no RTP port held, no dialog in the SIP layer.
func noLegLeft(t *testing.T, s *server) {
	t.Helper()
	settle(t, s, 0)
	var live []map[string]any
	apiGet(t, s.HTTPAddr, s.data, "/api/calls/live", &live)
	if len(live) != 0 {
		t.Fatalf("GET /api/calls/live: %v, want none", live)
	}
	waitFor(t, "no dialog left in the SIP layer", func() bool { return s.SIP.LegCount() == 0 })
}

// Attended transfer: alice holds the customer (who hears hold music), consults bob,
// then completes the transfer in one of the two ways phones do it. Each ends with the
// customer and bob talking, both of alice's legs ended, the customer's call keeping
// its id with the hop in `transfers`, and no leg or RTP port left over.
func TestTransferAttended(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name string
		// complete hands the customer (k, alice's side a1) to bob (alice's consult
		// call a2, bob's side b) and returns the customer's call now talking to bob.
		complete func(t *testing.T, cust *testphone.Phone, k, a1, a2 *testphone.Call) *testphone.Call
	}{
		{"REFER with Replaces", func(t *testing.T, _ *testphone.Phone, k, a1, a2 *testphone.Call) *testphone.Call {
			st, err := a1.ReferReplaces(ctxT(t, 10*time.Second), "1002", a2)
			if err != nil {
				t.Fatalf("REFER with Replaces: %v", err)
			}
			expectNotifies(t, collectNotifies(t, st))
			waitDone(t, "alice's call with the customer", a1)
			waitDone(t, "alice's consult call", a2)
			return k
		}},
		{"INVITE with Replaces", func(t *testing.T, cust *testphone.Phone, k, a1, a2 *testphone.Call) *testphone.Call {
			n, err := cust.DialReplaces(ctxT(t, 10*time.Second), "1002", a2.ReplacesValue())
			if err != nil {
				t.Fatalf("INVITE with Replaces %s: %v", a2.ReplacesValue(), err)
			}
			waitDone(t, "alice's consult call, replaced", a2)
			// alice then hangs up the first call, as the transferor does.
			if err := a1.Hangup(ctxT(t, 5*time.Second)); err != nil {
				t.Fatal(err)
			}
			waitDone(t, "the customer's first call", k)
			return n
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			s := startServer(t, fmt.Sprintf(attendedConfig, shortPrompts(t)))
			cust := s.phone("1009", "cust-pw", "PCMU")
			alice := s.phone("1001", "alice-pw", "PCMA")
			bob := s.phone("1002", "bob-pw", "PCMU")

			k, a1 := connect(t, cust, alice, "1001")
			id := liveCallID(t, s)
			if err := a1.Hold(ctxT(t, 10*time.Second)); err != nil {
				t.Fatalf("hold: %v", err)
			}
			k.StartTone(0)
			expectFreq(t, "customer on hold", k, sndHoldHz)

			a2, b := connect(t, alice, bob, "1002")
			tonesBothWays(t, "alice consulting", a2, "bob", b)
			b.StartTone(0)
			kn := tc.complete(t, cust, k, a1, a2)

			tonesBothWays(t, "customer", kn, "bob", b)
			if n := cust.Stats().InvitesReceived; n != 0 {
				t.Errorf("customer's phone got %d INVITEs", n)
			}
			b.Hangup(ctxT(t, 5*time.Second))
			waitDone(t, "customer", kn)
			noLegLeft(t, s)

			if tc.name != "REFER with Replaces" {
				return // the replaced leg's call goes on with the customer in it
			}
			// The customer's call keeps its id, is finished by bob and names the
			// hop; the consult call is an entry of its own.
			r := callRecord(t, s, id, 2)
			if r.Agent != "bob" {
				t.Errorf("customer's call log entry %+v, want bob as the agent who finished it", r)
			}
			expectTransfers(t, r, [2]string{"alice", "bob"})
		})
	}
}
