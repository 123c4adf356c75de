package e2e

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"switchboard/dialplan"
	"switchboard/internal/app"
	"switchboard/internal/sipptest"
)

// startWithOptions is startServerDir with app options (trunk back-off).
func startWithOptions(t *testing.T, body string, o app.Options) *server {
	t.Helper()
	data := t.TempDir()
	yaml := fmt.Sprintf(baseConfig, rtpRange()) + body
	cfg, err := dialplan.Parse(data+"/switchboard.yaml", []byte(yaml))
	if err != nil {
		t.Fatalf("config: %v", err)
	}
	o.DataDir, o.Token = data, "test-token"
	if o.Logger == nil {
		o.Logger = testLogger(t)
	}
	a, err := app.Start(context.Background(), cfg, o)
	if err != nil {
		t.Fatalf("start: %v", err)
	}
	s := &server{App: a, t: t, data: data}
	t.Cleanup(func() { s.stop() })
	return s
}

// The PBX registers to a carrier's registrar that challenges, refreshes before the
// granted expiry, and registers again after the carrier restarts.
func TestTrunkRegistration(t *testing.T) {
	t.Parallel()
	sipptest.Require(t)
	port := sipptest.FreeUDPPort(t)
	carrier := func(n int) *sipptest.Proc {
		return sipptest.Run{
			Scenario: "../sipp/carrier-registrar.xml", LocalPort: port,
			Args: []string{"-m", fmt.Sprint(n), "-deadcall_wait", "1"}, Timeout: 30 * time.Second,
		}.Start(t)
	}
	first := carrier(3)
	s := startWithOptions(t, fmt.Sprintf(`
trunks:
  - {id: carrier, uri: "sip:127.0.0.1:%d", register: true, username: acct, password: pw, expires: 60s}
`, port), app.Options{TrunkBackoff: 200 * time.Millisecond})

	// Granted 2 s, the PBX refreshes every second: 3 registrations end the run.
	res, err := first.Wait()
	if err != nil || res.Successful != 3 {
		t.Fatalf("carrier saw %d successful registrations (want 3): %v\n%s", res.Successful, err, res.Errors)
	}
	st := s.PBX.TrunkStates()["test.local"]["carrier"]
	if !st.Registered {
		t.Fatalf("trunk state %+v", st)
	}
	// Admins see it in the API too.
	var trunks []map[string]any
	apiGet(t, s.HTTPAddr, s.data, "/api/trunks", &trunks)
	if len(trunks) != 1 || trunks[0]["id"] != "carrier" || trunks[0]["registered"] != true {
		t.Fatalf("GET /api/trunks: %v", trunks)
	}
	// The carrier is down now: the PBX notices and retries with back-off...
	deadline := time.Now().Add(20 * time.Second)
	for s.PBX.TrunkStates()["test.local"]["carrier"].Registered {
		if time.Now().After(deadline) {
			t.Fatal("trunk still shown registered with the carrier down")
		}
		time.Sleep(50 * time.Millisecond)
	}
	// ...and registers again once it is back.
	second := carrier(1)
	res, err = second.Wait()
	if err != nil || res.Successful != 1 {
		t.Fatalf("after restart: %d registrations: %v\n%s", res.Successful, err, res.Errors)
	}
	deadline = time.Now().Add(10 * time.Second)
	for !s.PBX.TrunkStates()["test.local"]["carrier"].Registered {
		if time.Now().After(deadline) {
			t.Fatalf("not registered after carrier restart: %+v", s.PBX.TrunkStates())
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// carrierPair runs the PBX and a second Switchboard acting as the carrier: each is
// the other's IP-peered trunk. The configs take the peer's SIP port via %[1]d.
func carrierPair(t *testing.T, pbxBody, carrierBody string) (pbx, carrier *server) {
	t.Helper()
	pbx = startServer(t, fmt.Sprintf(pbxBody, 9))
	carrier = startServer(t, fmt.Sprintf(carrierBody, pbx.SIP.Port()))
	reload := func(s *server, body string) {
		yaml := fmt.Sprintf(baseConfig, "20000-20001") + body
		cfg, err := dialplan.Parse(s.data+"/switchboard.yaml", []byte(yaml))
		if err != nil {
			t.Fatalf("reload config: %v", err)
		}
		cfg.Listen = s.Config.Listen
		s.Reload(cfg)
	}
	reload(pbx, fmt.Sprintf(pbxBody, carrier.SIP.Port()))
	return pbx, carrier
}

// An agent with mobile routing: the call goes out through the trunk to the agent's
// mobile (a phone registered at the carrier), which answers; audio flows both ways.
func TestMobileRouting(t *testing.T) {
	t.Parallel()
	pbx, carrier := carrierPair(t, `
agents:
  - {id: alice, extension: "1001", password: alice-pw}
  - {id: mo, extension: "1003", password: mo-pw, routing: mobile, mobile: "+15551230001", ring_timeout: 10s}
trunks:
  - {id: carrier, uri: "sip:127.0.0.1:%[1]d", caller_id: "+15550100"}
routes:
  outbound:
    - {match: "_+X.", trunk: carrier}
`, `
agents:
  - {id: cell, extension: "5001", password: cell-pw}
trunks:
  - {id: pbx, uri: "sip:127.0.0.1:%[1]d"}
routes:
  inbound:
    - {match: "+15551230001", to: "agent:cell"}
`)
	alice := pbx.phone("1001", "alice-pw", "PCMU")
	mobile := carrier.phone("5001", "cell-pw", "PCMA")
	pending := alice.DialAsync(ctxT(t, 20*time.Second), "1003")
	m := answerNext(t, mobile)
	a, err := pending.Result()
	if err != nil {
		t.Fatalf("dial: %v", err)
	}
	a.StartTone(1000)
	m.StartTone(400)
	expectFreq(t, "mobile", m, 1000)
	expectFreq(t, "caller", a, 400)
	a.Hangup(ctxT(t, 5*time.Second))
	if rec := nthCall(t, pbx, 1); rec.Outcome != "answered" || rec.Agent != "mo" {
		t.Fatalf("call log %+v", rec)
	}
}

// A customer calls the DID through the carrier, picks 2 in the menu, joins the team
// queue and a member answers: the tone test passes end to end.
func TestDIDToIVRToTeam(t *testing.T) {
	t.Parallel()
	sounds := shortPrompts(t)
	pbx, carrier := carrierPair(t, `
sounds_dir: `+sounds+`
agents:
  - {id: alice, extension: "1001", password: alice-pw}
  - {id: bob, extension: "1002", password: bob-pw, status: away}
teams:
  - {id: support, extension: "2000", members: [alice, bob], strategy: ring-all, ring_timeout: 5s}
ivrs:
  - {id: main, prompt: main-menu.wav, timeout: 5s, options: {"1": "agent:bob", "2": "team:support"}, default: "voicemail:general"}
mailboxes: [{id: general}]
trunks:
  - {id: carrier, uri: "sip:127.0.0.1:%[1]d"}
routes:
  inbound:
    - {match: "+15550100", to: "ivr:main"}
`, `
agents:
  - {id: customer, extension: "5009", password: cust-pw}
trunks:
  - {id: pbx, uri: "sip:127.0.0.1:%[1]d"}
routes:
  outbound:
    - {match: "_+X.", trunk: pbx}
`)
	alice := pbx.phone("1001", "alice-pw", "PCMA")
	customer := carrier.phone("5009", "cust-pw", "PCMU")
	c, err := customer.Dial(ctxT(t, 20*time.Second), "+15550100")
	if err != nil {
		t.Fatalf("dial DID: %v", err)
	}
	// The menu answers; press 2 while (or after) it plays.
	if _, err := c.Received(ctxT(t, 10*time.Second), 100*time.Millisecond); err != nil {
		t.Fatalf("menu audio: %v", err)
	}
	if err := c.SendDTMF('2'); err != nil {
		t.Fatal(err)
	}
	a := answerNext(t, alice)
	c.StartTone(1000)
	a.StartTone(400)
	expectFreq(t, "agent", a, 1000)
	expectFreq(t, "customer", c, 400)
	c.Hangup(ctxT(t, 5*time.Second))
	rec := nthCall(t, pbx, 1)
	if rec.Direction != "inbound" || rec.Team != "support" || rec.Agent != "alice" || rec.Outcome != "answered" {
		t.Fatalf("call log %+v", rec)
	}
	if !strings.HasSuffix(rec.To, "15550100") {
		t.Errorf("call log to %q", rec.To)
	}
}
