package api_test

import (
	"context"
	"encoding/csv"
	"net/http"
	"strings"
	"testing"
	"time"

	"switchboard/internal/testphone"
	"switchboard/store"
)

// liveCallID waits for the one live call of the firm and returns its id.
func liveCallID(t *testing.T, c *client, firm string) string {
	t.Helper()
	var live []struct{ ID, State string }
	c.mustDo("GET", "/api/calls/live?firm="+firm, nil, http.StatusOK, &live)
	if len(live) != 1 {
		t.Fatalf("live calls of %s: %+v, want one", firm, live)
	}
	return live[0].ID
}

// The API's own checks of a transfer: who may ask, the body, and which calls
// exist; the call's own state is the PBX's answer (409 while it rings).
func TestTransferRequests(t *testing.T) {
	t.Parallel()
	a := startApp(t)
	admin := adminClient(t, a.HTTPAddr)
	alice := agentClient(t, a.HTTPAddr, "1001", "alice-pw", "pbx.test")
	carol := agentClient(t, a.HTTPAddr, "1003", "carol-pw", "acme.test")
	anonClient(t, a.HTTPAddr).wantError("POST", "/api/calls/x/transfer", map[string]string{"target": "1002"}, http.StatusUnauthorized)
	admin.wantError("GET", "/api/calls/x/transfer", nil, http.StatusMethodNotAllowed)

	aPhone := registerPhone(t, a, testphone.Config{User: "1001", Password: "alice-pw", Domain: "pbx.test"})
	bPhone := registerPhone(t, a, testphone.Config{User: "1002", Password: "bob-pw", Domain: "pbx.test"})
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	pending := aPhone.DialAsync(ctx, "1002")
	in := <-bPhone.Incoming()
	id := liveCallID(t, admin, "pbx.test")
	path := "/api/calls/" + id + "/transfer"

	tests := []struct {
		name string
		c    *client
		path string
		body any
		want int
	}{
		{"unknown call (admin)", admin, "/api/calls/0000000000000000deadbeef/transfer", map[string]string{"target": "1004"}, http.StatusNotFound},
		{"unknown call (agent)", alice, "/api/calls/nope/transfer", map[string]string{"target": "1004"}, http.StatusNotFound},
		{"another firm's call", carol, path, map[string]string{"target": "1001"}, http.StatusNotFound},
		{"admin names the wrong firm", admin, path + "?firm=acme.test", map[string]string{"target": "1004"}, http.StatusNotFound},
		{"admin names an unknown firm", admin, path + "?firm=nope.test", map[string]string{"target": "1004"}, http.StatusNotFound},
		{"agent names another firm", alice, path + "?firm=acme.test", map[string]string{"target": "1004"}, http.StatusForbidden},
		{"no body", admin, path, nil, http.StatusBadRequest},
		{"no target", admin, path, map[string]string{}, http.StatusBadRequest},
		{"empty target", admin, path, map[string]string{"target": " "}, http.StatusBadRequest},
		{"target with a space", alice, path, map[string]string{"target": "10 04"}, http.StatusBadRequest},
		{"target too long", alice, path, map[string]string{"target": strings.Repeat("1", 200)}, http.StatusBadRequest},
		{"unknown field", admin, path, map[string]string{"target": "1004", "mode": "attended"}, http.StatusBadRequest},
		{"ringing call (admin)", admin, path, map[string]string{"target": "1004"}, http.StatusConflict},
		{"ringing call (admin, with firm)", admin, path + "?firm=pbx.test", map[string]string{"target": "team:sales"}, http.StatusConflict},
	}
	for _, tc := range tests {
		if msg := tc.c.wantError("POST", tc.path, tc.body, tc.want); msg == "" {
			t.Errorf("%s: empty error message", tc.name)
		}
	}
	bCall, err := in.Answer(ctx)
	if err != nil {
		t.Fatal(err)
	}
	aCall, err := pending.Result()
	if err != nil {
		t.Fatal(err)
	}
	// The call ends here, both legs, before the phones close: a BYE the PBX
	// sends to a phone already closed waits for an answer until the shutdown
	// gives up on it.
	if err := aCall.Hangup(ctx); err != nil {
		t.Errorf("hang up: %v", err)
	}
	select {
	case <-bCall.Done():
	case <-ctx.Done():
		t.Error("the callee's leg did not end after the caller hung up")
	}
}

// Ready answers the agent, who may only ready themself; the admin any agent.
func TestReady(t *testing.T) {
	t.Parallel()
	a := startApp(t)
	admin := adminClient(t, a.HTTPAddr)
	alice := agentClient(t, a.HTTPAddr, "1001", "alice-pw", "pbx.test")
	var out map[string]any
	alice.mustDo("POST", "/api/agents/alice/ready", nil, http.StatusOK, &out)
	if out["id"] != "alice" || out["firm"] != "pbx.test" || out["status"] != "online" {
		t.Errorf("ready answer %v", out)
	}
	if _, ok := out["wrap_up_until"]; ok {
		t.Errorf("wrap_up_until present outside wrap-up: %v", out)
	}
	alice.mustDo("POST", "/api/agents/1001/ready", map[string]any{}, http.StatusOK, &out)
	alice.wantError("POST", "/api/agents/bob/ready", nil, http.StatusForbidden)
	alice.wantError("POST", "/api/agents/alice/ready", map[string]string{"agent": "bob"}, http.StatusBadRequest)
	admin.mustDo("POST", "/api/agents/bob/ready", nil, http.StatusOK, &out)
	admin.mustDo("POST", "/api/agents/carol/ready", nil, http.StatusOK, &out)
	if out["firm"] != "acme.test" {
		t.Errorf("carol: %v", out)
	}
	admin.wantError("POST", "/api/agents/alice/ready", nil, http.StatusBadRequest) // in two firms
	admin.mustDo("POST", "/api/agents/alice/ready?firm=acme.test", nil, http.StatusOK, &out)
	admin.wantError("POST", "/api/agents/zed/ready", nil, http.StatusNotFound)
	anonClient(t, a.HTTPAddr).wantError("POST", "/api/agents/alice/ready", nil, http.StatusUnauthorized)
}

// /api/me lists the firm's teams for the console's transfer picker.
func TestMeTeams(t *testing.T) {
	t.Parallel()
	a := startApp(t)
	var me struct {
		Teams []struct{ ID, Name, Extension string }
	}
	agentClient(t, a.HTTPAddr, "1001", "alice-pw", "pbx.test").mustDo("GET", "/api/me", nil, http.StatusOK, &me)
	if len(me.Teams) != 2 || me.Teams[0].ID != "support" || me.Teams[0].Extension != "2000" || me.Teams[1].ID != "sales" || me.Teams[1].Name != "sales" {
		t.Errorf("alice's teams %+v", me.Teams)
	}
	agentClient(t, a.HTTPAddr, "1003", "carol-pw", "acme.test").mustDo("GET", "/api/me", nil, http.StatusOK, &me)
	if len(me.Teams) != 1 || me.Teams[0].ID != "helpdesk" {
		t.Errorf("carol's teams %+v", me.Teams)
	}
}

// The call log carries transfers, hold and wrap-up time, in JSON and CSV.
func TestCallLogTransfersHoldWrapUp(t *testing.T) {
	t.Parallel()
	a := startApp(t)
	t0 := time.Date(2025, 3, 1, 10, 0, 0, 0, time.UTC)
	rec := &store.CallRecord{
		Firm: "pbx.test", Start: t0, Answer: t0.Add(time.Second), End: t0.Add(time.Minute), Direction: "inbound",
		From: "+15557770000", To: "2000", Agent: "bob", Team: "support", Outcome: "answered", HoldTime: 12500 * time.Millisecond,
		Transfers: []store.Transfer{{By: "alice", To: "1002", At: t0.Add(20 * time.Second)}, {By: "admin", To: "team:sales", At: t0.Add(40 * time.Second)}},
	}
	if err := a.Store.AddCall(rec); err != nil {
		t.Fatal(err)
	}
	if err := a.Store.SetCallWrapUp(rec.ID, 3*time.Second); err != nil {
		t.Fatal(err)
	}
	plain := addCall(t, a.Store, "pbx.test", "dave", "answered", t0.Add(time.Hour))
	admin := adminClient(t, a.HTTPAddr)
	var calls []struct {
		ID        string
		Transfers []struct {
			By, To string
			At     time.Time
		}
		Hold   *float64 `json:"hold_seconds"`
		WrapUp *float64 `json:"wrap_up_seconds"`
	}
	admin.mustDo("GET", "/api/calls?firm=pbx.test", nil, http.StatusOK, &calls)
	if len(calls) != 2 || calls[1].ID != rec.ID || calls[0].ID != plain {
		t.Fatalf("calls %+v", calls)
	}
	c := calls[1]
	if len(c.Transfers) != 2 || c.Transfers[0].By != "alice" || c.Transfers[0].To != "1002" || !c.Transfers[1].At.Equal(t0.Add(40*time.Second)) ||
		c.Hold == nil || *c.Hold != 12.5 || c.WrapUp == nil || *c.WrapUp != 3 {
		t.Errorf("transferred call %+v", c)
	}
	var raw []map[string]any
	admin.mustDo("GET", "/api/calls?firm=pbx.test&agent=dave", nil, http.StatusOK, &raw)
	if tr, ok := raw[0]["transfers"].([]any); !ok || len(tr) != 0 || raw[0]["hold_seconds"] != 0.0 || raw[0]["wrap_up_seconds"] != 0.0 {
		t.Errorf("plain call: transfers %#v, hold %v, wrap-up %v (want [], 0, 0)", raw[0]["transfers"], raw[0]["hold_seconds"], raw[0]["wrap_up_seconds"])
	}

	r := admin.mustDo("GET", "/api/calls?format=csv&firm=pbx.test", nil, http.StatusOK, nil)
	rows, err := csv.NewReader(strings.NewReader(string(r.body))).ReadAll()
	if err != nil || len(rows) != 3 {
		t.Fatalf("CSV %q (%v)", rows, err)
	}
	head := strings.Join(rows[0][15:18], ",")
	if head != "transfers,hold_seconds,wrap_up_seconds" || rows[0][14] != "caller_agent" {
		t.Errorf("CSV header %q", rows[0])
	}
	got := rows[2][15:18]
	want := []string{"alice>1002@2025-03-01T10:00:20Z admin>team:sales@2025-03-01T10:00:40Z", "12.5", "3"}
	if strings.Join(got, "|") != strings.Join(want, "|") {
		t.Errorf("CSV transferred call %q, want %q", got, want)
	}
	if got := rows[1][15:18]; strings.Join(got, "|") != "|0|0" {
		t.Errorf("CSV plain call %q", got)
	}
}

// In an answered call only its agents may transfer it; the transfer answers 202
// with the call's own id, the transferring leg ends and the call goes on under
// the same id.
func TestTransferAnswered(t *testing.T) {
	t.Parallel()
	a := startApp(t)
	admin := adminClient(t, a.HTTPAddr)
	alice := agentClient(t, a.HTTPAddr, "1001", "alice-pw", "pbx.test")
	dave := agentClient(t, a.HTTPAddr, "1004", "dave-pw", "pbx.test")
	aPhone := registerPhone(t, a, testphone.Config{User: "1001", Password: "alice-pw", Domain: "pbx.test"})
	bPhone := registerPhone(t, a, testphone.Config{User: "1002", Password: "bob-pw", Domain: "pbx.test"})
	dPhone := registerPhone(t, a, testphone.Config{User: "1004", Password: "dave-pw", Domain: "pbx.test"})
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	pending := aPhone.DialAsync(ctx, "1002")
	in := <-bPhone.Incoming()
	bobLeg, err := in.Answer(ctx)
	if err != nil {
		t.Fatal(err)
	}
	aliceLeg, err := pending.Result()
	if err != nil {
		t.Fatal(err)
	}
	id := liveCallID(t, admin, "pbx.test")
	path := "/api/calls/" + id + "/transfer"

	dave.wantError("POST", path, map[string]string{"target": "1004"}, http.StatusForbidden)
	alice.wantError("POST", path, map[string]string{"target": "1999"}, http.StatusBadRequest)
	admin.wantError("POST", path, map[string]string{"target": "team:nope"}, http.StatusBadRequest)

	// bob, the agent alice called, hands her over to dave.
	bob := agentClient(t, a.HTTPAddr, "1002", "bob-pw", "pbx.test")
	var res map[string]string
	bob.mustDo("POST", path, map[string]string{"target": "1004"}, http.StatusAccepted, &res)
	if res["id"] != id {
		t.Errorf("transfer answer %v, want id %s", res, id)
	}
	select {
	case <-bobLeg.Done():
	case <-ctx.Done():
		t.Fatal("bob's leg not ended after his transfer")
	}
	in = <-dPhone.Incoming()
	daveLeg, err := in.Answer(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if got := liveCallID(t, admin, "pbx.test"); got != id {
		t.Errorf("live call after the transfer %s, want the same id %s", got, id)
	}
	// bob has left the call: it is not his to transfer any more.
	bob.wantError("POST", path, map[string]string{"target": "1002"}, http.StatusForbidden)
	// The call ends before the phones go: a BYE to a phone already closed
	// would hold the server's shutdown.
	if err := aliceLeg.Hangup(ctx); err != nil {
		t.Fatal(err)
	}
	select {
	case <-daveLeg.Done():
	case <-ctx.Done():
		t.Fatal("dave's leg not ended after alice hung up")
	}
}

// wrapYAML gives the support team a wrap-up.
const wrapYAML = `
domain: pbx.test
listen:
  sip: [udp://127.0.0.1:0]
  http: 127.0.0.1:0
  rtp_ports: %s
firms: [acme.yaml]
agents:
  - {id: alice, name: Alice, extension: "1001", password: alice-pw}
  - {id: bob, name: Bob, extension: "1002", password: bob-pw}
teams:
  - {id: support, extension: "2000", members: [alice], wrap_up: 10m}
`

// After a team call the member's wrap-up shows as wrap_up_until on /api/me and
// /api/agents, and ready ends it.
func TestWrapUpUntil(t *testing.T) {
	t.Parallel()
	a := startAppYAML(t, wrapYAML)
	alice := agentClient(t, a.HTTPAddr, "1001", "alice-pw", "pbx.test")
	aPhone := registerPhone(t, a, testphone.Config{User: "1001", Password: "alice-pw", Domain: "pbx.test"})
	bPhone := registerPhone(t, a, testphone.Config{User: "1002", Password: "bob-pw", Domain: "pbx.test"})
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	pending := bPhone.DialAsync(ctx, "2000")
	in := <-aPhone.Incoming()
	aliceLeg, err := in.Answer(ctx)
	if err != nil {
		t.Fatal(err)
	}
	bobLeg, err := pending.Result()
	if err != nil {
		t.Fatal(err)
	}
	before := time.Now()
	if err := bobLeg.Hangup(ctx); err != nil {
		t.Fatal(err)
	}
	<-aliceLeg.Done()

	type view struct {
		Status      string
		WrapUpUntil *time.Time `json:"wrap_up_until"`
	}
	var me view
	for me.WrapUpUntil == nil { // the wrap-up starts as the PBX handles the hang-up
		alice.mustDo("GET", "/api/me", nil, http.StatusOK, &me)
		select {
		case <-ctx.Done():
			t.Fatalf("no wrap_up_until on /api/me after a team call: %+v", me)
		case <-time.After(20 * time.Millisecond):
		}
	}
	if me.Status != "online" || me.WrapUpUntil.Before(before.Add(9*time.Minute)) {
		t.Errorf("/api/me in wrap-up: %+v, want online until about 10m from now", me)
	}
	var agents []struct {
		ID          string
		WrapUpUntil *time.Time `json:"wrap_up_until"`
	}
	alice.mustDo("GET", "/api/agents", nil, http.StatusOK, &agents)
	for _, x := range agents {
		if (x.ID == "alice") != (x.WrapUpUntil != nil) {
			t.Errorf("/api/agents: %s wrap_up_until %v", x.ID, x.WrapUpUntil)
		}
	}
	var out map[string]any
	alice.mustDo("POST", "/api/agents/alice/ready", nil, http.StatusOK, &out)
	if _, ok := out["wrap_up_until"]; ok {
		t.Errorf("ready answer still in wrap-up: %v", out)
	}
	var after map[string]any
	alice.mustDo("GET", "/api/me", nil, http.StatusOK, &after)
	if _, ok := after["wrap_up_until"]; ok {
		t.Errorf("/api/me after ready: %v", after)
	}
}
