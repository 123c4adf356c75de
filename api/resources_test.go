package api_test

import (
	"context"
	"encoding/csv"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"switchboard/callinfo"
	"switchboard/internal/testphone"
	"switchboard/store"
)

type agentOut struct {
	ID, Name, Extension, Firm, Routing, Status string
	Registrations                              []struct {
		Contact, Source, Transport, UserAgent string
		Expires                               time.Time
	}
}

func TestAgents(t *testing.T) {
	t.Parallel()
	a := startApp(t)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	ph, err := testphone.New(ctx, testphone.Config{User: "1002", Password: "bob-pw", Domain: "pbx.test", Server: a.SIPAddr()})
	if err != nil {
		t.Fatal(err)
	}
	defer ph.Close()
	if err := ph.Register(ctx, time.Hour); err != nil {
		t.Fatal(err)
	}
	admin := adminClient(t, a.HTTPAddr)

	var all []agentOut
	admin.mustDo("GET", "/api/agents", nil, http.StatusOK, &all)
	if len(all) != 5 {
		t.Fatalf("admin sees %d agents, want 5 (both firms): %+v", len(all), all)
	}
	var acme []agentOut
	admin.mustDo("GET", "/api/agents?firm=acme.test", nil, http.StatusOK, &acme)
	if len(acme) != 2 || acme[1].ID != "carol" {
		t.Errorf("?firm=acme.test: %+v", acme)
	}
	admin.wantError("GET", "/api/agents?firm=nope.test", nil, http.StatusNotFound)

	var bob agentOut
	admin.mustDo("GET", "/api/agents/bob", nil, http.StatusOK, &bob)
	if bob.Extension != "1002" || bob.Firm != "pbx.test" || bob.Routing != "computer" || bob.Status != "online" ||
		len(bob.Registrations) != 1 || bob.Registrations[0].Transport == "" || bob.Registrations[0].Expires.IsZero() {
		t.Errorf("bob = %+v", bob)
	}
	admin.mustDo("GET", "/api/agents/1002", nil, http.StatusOK, &bob) // by extension
	if bob.ID != "bob" {
		t.Errorf("by extension: %+v", bob)
	}
	if msg := admin.wantError("GET", "/api/agents/alice", nil, http.StatusBadRequest); !strings.Contains(msg, "firm") {
		t.Errorf("ambiguous agent message %q", msg)
	}
	var alice agentOut
	admin.mustDo("GET", "/api/agents/alice?firm=acme.test", nil, http.StatusOK, &alice)
	if alice.Name != "Alice at Acme" {
		t.Errorf("alice at acme = %+v", alice)
	}
	admin.wantError("GET", "/api/agents/zed", nil, http.StatusNotFound)

	ag := agentClient(t, a.HTTPAddr, "1001", "alice-pw", "pbx.test")
	var mine []agentOut
	ag.mustDo("GET", "/api/agents", nil, http.StatusOK, &mine)
	if len(mine) != 3 {
		t.Fatalf("alice sees %d agents, want her firm's 3", len(mine))
	}
	for _, x := range mine {
		if x.ID == "bob" && len(x.Registrations) != 0 {
			t.Errorf("alice sees bob's registrations: %+v", x.Registrations)
		}
	}
	ag.mustDo("GET", "/api/agents/alice", nil, http.StatusOK, &alice)
	ag.wantError("GET", "/api/agents/bob", nil, http.StatusForbidden)
}

func TestAgentStatus(t *testing.T) {
	t.Parallel()
	a := startApp(t)
	admin := adminClient(t, a.HTTPAddr)
	var out agentOut
	admin.mustDo("PUT", "/api/agents/bob/status", map[string]string{"status": "away"}, http.StatusOK, &out)
	if out.Status != "away" || a.PBX.AgentStatus("pbx.test", "bob") != "away" {
		t.Errorf("after PUT away: %+v, pbx %q", out, a.PBX.AgentStatus("pbx.test", "bob"))
	}
	admin.wantError("PUT", "/api/agents/bob/status", map[string]string{"status": "lunch"}, http.StatusBadRequest)
	admin.wantError("PUT", "/api/agents/bob/status", nil, http.StatusBadRequest)
	admin.wantError("PUT", "/api/agents/zed/status", map[string]string{"status": "away"}, http.StatusNotFound)
	admin.mustDo("PUT", "/api/agents/alice/status?firm=acme.test", map[string]string{"status": "offline"}, http.StatusOK, &out)
	if a.PBX.AgentStatus("acme.test", "alice") != "offline" || a.PBX.AgentStatus("pbx.test", "alice") != "online" {
		t.Error("status went to the wrong firm")
	}

	ag := agentClient(t, a.HTTPAddr, "alice", "alice-pw", "pbx.test")
	ag.mustDo("PUT", "/api/agents/alice/status", map[string]string{"status": "away"}, http.StatusOK, &out)
	if a.PBX.AgentStatus("pbx.test", "alice") != "away" {
		t.Error("alice's own status change did not apply")
	}
	ag.wantError("PUT", "/api/agents/bob/status", map[string]string{"status": "offline"}, http.StatusForbidden)
	if a.PBX.AgentStatus("pbx.test", "bob") != "away" {
		t.Error("alice changed bob's status")
	}
}

func addCall(t *testing.T, st *store.Store, firm, agent, outcome string, start time.Time) string {
	t.Helper()
	r := &store.CallRecord{
		Firm: firm, Start: start, End: start.Add(30 * time.Second), Direction: "inbound", From: "+15557770000", To: "1001",
		Agent: agent, Outcome: callinfo.Outcome(outcome), TalkTime: 25500 * time.Millisecond, QueueWait: 2 * time.Second, Cause: "200 OK",
	}
	if outcome == "answered" {
		r.Answer = start.Add(5 * time.Second)
	}
	if err := st.AddCall(r); err != nil {
		t.Fatal(err)
	}
	return r.ID
}

type callOut struct {
	ID, Firm, Direction, From, To, Agent, Outcome, Cause string
	Start                                                time.Time
	TalkTime                                             float64 `json:"talk_time"`
	QueueWait                                            float64 `json:"queue_wait"`
}

func TestCalls(t *testing.T) {
	t.Parallel()
	a := startApp(t)
	t0 := time.Date(2025, 3, 1, 10, 0, 0, 0, time.UTC)
	addCall(t, a.Store, "pbx.test", "alice", "answered", t0)
	addCall(t, a.Store, "pbx.test", "bob", "voicemail", t0.Add(time.Hour))
	addCall(t, a.Store, "pbx.test", "alice", "no-answer", t0.Add(2*time.Hour))
	addCall(t, a.Store, "acme.test", "carol", "answered", t0.Add(3*time.Hour))
	admin := adminClient(t, a.HTTPAddr)

	var calls []callOut
	admin.mustDo("GET", "/api/calls", nil, http.StatusOK, &calls)
	if len(calls) != 4 || calls[0].Agent != "carol" || calls[3].TalkTime != 25.5 || calls[3].QueueWait != 2 {
		t.Fatalf("all calls: %+v", calls)
	}
	checks := []struct {
		query string
		want  []string // agents, newest first
	}{
		{"?firm=pbx.test", []string{"alice", "bob", "alice"}},
		{"?limit=2", []string{"carol", "alice"}},
		{"?limit=2&before=" + calls[1].ID, []string{"bob", "alice"}},
		{"?agent=alice", []string{"alice", "alice"}},
		{"?outcome=voicemail", []string{"bob"}},
		{"?since=2025-03-01T10:30:00Z&until=2025-03-01T12:30:00Z", []string{"alice", "bob"}},
	}
	for _, c := range checks {
		admin.mustDo("GET", "/api/calls"+c.query, nil, http.StatusOK, &calls)
		var got []string
		for _, x := range calls {
			got = append(got, x.Agent)
		}
		if strings.Join(got, ",") != strings.Join(c.want, ",") {
			t.Errorf("%s: %v, want %v", c.query, got, c.want)
		}
	}
	for _, q := range []string{"?limit=0", "?limit=x", "?limit=5000", "?outcome=great", "?since=yesterday",
		"?since=2025-03-02&until=2025-03-01", "?format=xml", "?before=zzz"} {
		admin.wantError("GET", "/api/calls"+q, nil, http.StatusBadRequest)
	}

	r := admin.mustDo("GET", "/api/calls?format=csv&firm=pbx.test", nil, http.StatusOK, nil)
	if ct := r.header.Get("Content-Type"); !strings.HasPrefix(ct, "text/csv") {
		t.Errorf("CSV Content-Type %q", ct)
	}
	rows, err := csv.NewReader(strings.NewReader(string(r.body))).ReadAll()
	if err != nil || len(rows) != 4 || rows[0][0] != "id" || rows[3][8] != "alice" || rows[3][12] != "25.5" || rows[3][6] != "+15557770000" {
		t.Errorf("CSV rows %q (%v)", rows, err)
	}
	r = admin.do("GET", "/api/calls?agent=bob", nil, "Accept", "text/csv")
	if rows, _ := csv.NewReader(strings.NewReader(string(r.body))).ReadAll(); r.code != 200 || len(rows) != 2 {
		t.Errorf("Accept: text/csv: %d %q", r.code, r.body)
	}

	ag := agentClient(t, a.HTTPAddr, "1001", "alice-pw", "pbx.test")
	ag.mustDo("GET", "/api/calls", nil, http.StatusOK, &calls)
	if len(calls) != 2 || calls[0].Agent != "alice" || calls[1].Agent != "alice" {
		t.Errorf("alice's calls: %+v", calls)
	}
	ag.mustDo("GET", "/api/calls?agent=alice", nil, http.StatusOK, &calls)
	ag.wantError("GET", "/api/calls?agent=bob", nil, http.StatusForbidden)
	ag.wantError("GET", "/api/calls?firm=acme.test", nil, http.StatusForbidden)

	// Every field of SPEC section 5 is in each record; "answer" is null for a call
	// nobody answered.
	var raw []map[string]any
	admin.mustDo("GET", "/api/calls?firm=pbx.test&outcome=no-answer", nil, http.StatusOK, &raw)
	if len(raw) != 1 {
		t.Fatalf("no-answer calls: %v", raw)
	}
	for _, k := range []string{"id", "start", "answer", "end", "direction", "from", "to", "agent", "team", "outcome", "queue_wait", "talk_time", "cause"} {
		if _, ok := raw[0][k]; !ok {
			t.Errorf("call record lacks %q: %v", k, raw[0])
		}
	}
	if raw[0]["answer"] != nil {
		t.Errorf("unanswered call has answer %v, want null", raw[0]["answer"])
	}

	// An agent also sees the calls their own phone placed.
	placed := &store.CallRecord{Firm: "pbx.test", Start: t0.Add(4 * time.Hour), End: t0.Add(5 * time.Hour), Direction: "internal",
		From: "1002", To: "1001", Agent: "alice", CallerAgent: "bob", Outcome: "no-answer"}
	if err := a.Store.AddCall(placed); err != nil {
		t.Fatal(err)
	}
	bob := agentClient(t, a.HTTPAddr, "1002", "bob-pw", "pbx.test")
	bob.mustDo("GET", "/api/calls", nil, http.StatusOK, &calls)
	if len(calls) != 2 || calls[0].ID != placed.ID || calls[1].Agent != "bob" {
		t.Errorf("bob's calls (one taken, one placed): %+v", calls)
	}
}

func TestLiveCallsAndDial(t *testing.T) {
	t.Parallel()
	a := startApp(t)
	admin := adminClient(t, a.HTTPAddr)
	var live []map[string]any
	admin.mustDo("GET", "/api/calls/live", nil, http.StatusOK, &live)
	if live == nil || len(live) != 0 {
		t.Errorf("live calls on an idle PBX: %v", live)
	}
	admin.mustDo("GET", "/api/calls/live?firm=acme.test", nil, http.StatusOK, &live)

	var res map[string]string
	// Nothing to ring yet: said at once.
	if msg := admin.wantError("POST", "/api/calls", map[string]string{"agent": "bob", "number": "1004"}, http.StatusConflict); msg != "no phone registered" {
		t.Errorf("click-to-call without a phone: %q", msg)
	}
	registerPhone(t, a, testphone.Config{User: "1002", Password: "bob-pw", Domain: "pbx.test"})
	registerPhone(t, a, testphone.Config{User: "1001", Password: "alice-pw", Domain: "pbx.test"})
	registerPhone(t, a, testphone.Config{User: "1001", Password: "alice-pw", Domain: "acme.test"})
	admin.mustDo("POST", "/api/calls", map[string]string{"agent": "bob", "number": "1004"}, http.StatusAccepted, &res)
	if res["id"] == "" {
		t.Errorf("dial answer %v", res)
	}
	admin.wantError("POST", "/api/calls", map[string]string{"agent": "bob", "number": "12ab"}, http.StatusBadRequest)
	admin.wantError("POST", "/api/calls", map[string]string{"number": "1004"}, http.StatusBadRequest)
	admin.wantError("POST", "/api/calls", map[string]string{"agent": "bob"}, http.StatusBadRequest)
	admin.wantError("POST", "/api/calls", map[string]string{"agent": "zed", "number": "1004"}, http.StatusNotFound)
	admin.wantError("POST", "/api/calls", map[string]string{"agent": "alice", "number": "1004"}, http.StatusBadRequest) // two firms
	admin.mustDo("POST", "/api/calls", map[string]string{"agent": "alice", "firm": "acme.test", "number": "1003"}, http.StatusAccepted, &res)

	ag := agentClient(t, a.HTTPAddr, "1001", "alice-pw", "pbx.test")
	ag.mustDo("POST", "/api/calls", map[string]string{"number": "1002"}, http.StatusAccepted, &res)
	ag.mustDo("POST", "/api/calls", map[string]string{"agent": "alice", "number": "1002"}, http.StatusAccepted, &res)
	ag.wantError("POST", "/api/calls", map[string]string{"agent": "bob", "number": "1001"}, http.StatusForbidden)
	ag.mustDo("GET", "/api/calls/live", nil, http.StatusOK, &live)
	for _, c := range live {
		if c["agent"] != "alice" {
			t.Errorf("alice sees a live call of %v", c["agent"])
		}
	}
}

func addCallback(t *testing.T, st *store.Store, firm, kind, target string) string {
	t.Helper()
	cb := &store.Callback{Firm: firm, Caller: "+15558880000", TargetKind: kind, TargetID: target}
	if err := st.AddCallback(cb); err != nil {
		t.Fatal(err)
	}
	return cb.ID
}

type callbackOut struct {
	ID, Firm, Caller, Target, State, Note string
	ClaimedBy                             string `json:"claimed_by"`
	Attempts                              int
}

func TestCallbacks(t *testing.T) {
	t.Parallel()
	a := startApp(t)
	forAlice := addCallback(t, a.Store, "pbx.test", store.TargetAgent, "alice")
	forSupport := addCallback(t, a.Store, "pbx.test", store.TargetTeam, "support")
	forBob := addCallback(t, a.Store, "pbx.test", store.TargetAgent, "bob")
	forSales := addCallback(t, a.Store, "pbx.test", store.TargetTeam, "sales")
	inAcme := addCallback(t, a.Store, "acme.test", store.TargetTeam, "helpdesk")
	admin := adminClient(t, a.HTTPAddr)

	var list []callbackOut
	admin.mustDo("GET", "/api/callbacks", nil, http.StatusOK, &list)
	if len(list) != 5 || list[0].ID != inAcme || list[4].ID != forAlice || list[1].Target != "team:sales" {
		t.Fatalf("all callbacks: %+v", list)
	}
	admin.mustDo("GET", "/api/callbacks?firm=acme.test&state=pending", nil, http.StatusOK, &list)
	if len(list) != 1 {
		t.Errorf("acme pending: %+v", list)
	}
	admin.mustDo("GET", "/api/callbacks?limit=2", nil, http.StatusOK, &list)
	if len(list) != 2 {
		t.Errorf("limit=2 gave %d", len(list))
	}
	admin.wantError("GET", "/api/callbacks?state=lost", nil, http.StatusBadRequest)
	admin.wantError("GET", "/api/callbacks?limit=-1", nil, http.StatusBadRequest)
	admin.wantError("GET", "/api/callbacks?before=zzz", nil, http.StatusBadRequest)

	bob := agentClient(t, a.HTTPAddr, "1002", "bob-pw", "")
	bob.mustDo("GET", "/api/callbacks", nil, http.StatusOK, &list)
	if len(list) != 2 || list[0].ID != forBob || list[1].ID != forSupport {
		t.Errorf("bob's callbacks: %+v", list)
	}
	var cb callbackOut
	bob.mustDo("POST", "/api/callbacks/"+forBob+"/claim", nil, http.StatusOK, &cb)
	if cb.State != "dialing" || cb.ClaimedBy != "bob" || cb.Attempts != 1 {
		t.Errorf("claimed: %+v", cb)
	}
	if msg := admin.wantError("POST", "/api/callbacks/"+forBob+"/claim", nil, http.StatusConflict); !strings.Contains(msg, "bob") {
		t.Errorf("conflict message %q", msg)
	}
	bob.mustDo("GET", "/api/callbacks?state=dialing", nil, http.StatusOK, &list)
	if len(list) != 1 || list[0].ID != forBob {
		t.Errorf("bob dialing: %+v", list)
	}
	// Release gives a claim back (only its holder or the admin), without the attempt.
	alice := agentClient(t, a.HTTPAddr, "1001", "alice-pw", "pbx.test")
	alice.wantError("POST", "/api/callbacks/"+forBob+"/release", nil, http.StatusForbidden)
	bob.mustDo("POST", "/api/callbacks/"+forBob+"/release", nil, http.StatusOK, &cb)
	if cb.State != "pending" || cb.ClaimedBy != "" || cb.Attempts != 0 {
		t.Errorf("released: %+v", cb)
	}
	bob.wantError("POST", "/api/callbacks/"+forBob+"/release", nil, http.StatusConflict)
	bob.mustDo("POST", "/api/callbacks/"+forBob+"/claim", nil, http.StatusOK, &cb)
	bob.wantError("POST", "/api/callbacks/"+forAlice+"/claim", nil, http.StatusForbidden)
	bob.wantError("POST", "/api/callbacks/"+forAlice+"/cancel", nil, http.StatusForbidden)
	bob.wantError("POST", "/api/callbacks/"+forSales+"/done", nil, http.StatusForbidden)
	bob.wantError("POST", "/api/callbacks/"+inAcme+"/done", nil, http.StatusNotFound) // other firm
	bob.wantError("POST", "/api/callbacks/"+forSupport+"/claim", map[string]string{"agent": "alice"}, http.StatusForbidden)
	bob.mustDo("POST", "/api/callbacks/"+forBob+"/done", map[string]string{"note": "sorted"}, http.StatusOK, &cb)
	if cb.State != "done" || cb.Note != "sorted" {
		t.Errorf("done: %+v", cb)
	}
	bob.wantError("POST", "/api/callbacks/"+forBob+"/cancel", nil, http.StatusConflict)
	bob.mustDo("POST", "/api/callbacks/"+forSupport+"/cancel", nil, http.StatusOK, &cb)

	alice.mustDo("POST", "/api/callbacks/"+forAlice+"/done", nil, http.StatusOK, &cb)
	admin.mustDo("POST", "/api/callbacks/"+forSales+"/claim", map[string]string{"agent": "dave"}, http.StatusOK, &cb)
	if cb.ClaimedBy != "dave" {
		t.Errorf("claim on behalf: %+v", cb)
	}
	admin.mustDo("POST", "/api/callbacks/"+inAcme+"/claim", nil, http.StatusOK, &cb)
	if cb.ClaimedBy != "admin" {
		t.Errorf("admin claim: %+v", cb)
	}
	admin.mustDo("POST", "/api/callbacks/"+inAcme+"/cancel", nil, http.StatusOK, &cb)
	admin.wantError("POST", "/api/callbacks/nope/claim", nil, http.StatusNotFound)
	admin.wantError("POST", "/api/callbacks/"+forSales+"/explode", nil, http.StatusNotFound)
	admin.wantError("POST", "/api/callbacks/"+forSales+"/done", []int{1}, http.StatusBadRequest)
	admin.mustDo("GET", "/api/callbacks?state=pending,dialing", nil, http.StatusOK, &list)
	if len(list) != 1 || list[0].ID != forSales {
		t.Errorf("open entries left: %+v", list)
	}
}

type vmOut struct {
	ID, Firm, Mailbox, Caller, Codec, URL string
	Duration                              float64
	Read                                  bool
}

func TestVoicemail(t *testing.T) {
	t.Parallel()
	a := startApp(t)
	dir := t.TempDir()
	wav := []byte("RIFF\x24\x00\x00\x00WAVEfmt fake audio")
	add := func(firm, mailbox string) store.Voicemail {
		f := filepath.Join(dir, firm+"-"+mailbox+"-"+time.Now().Format("150405.000000000")+".wav")
		if err := os.WriteFile(f, wav, 0o600); err != nil {
			t.Fatal(err)
		}
		v := &store.Voicemail{Firm: firm, Mailbox: mailbox, Caller: "+15559990000", Duration: 4200 * time.Millisecond, File: f, Codec: "PCMU"}
		if err := a.Store.AddVoicemail(v); err != nil {
			t.Fatal(err)
		}
		return *v
	}
	gen := add("pbx.test", "general")
	mine := add("pbx.test", "alice")
	add("acme.test", "alice")
	admin := adminClient(t, a.HTTPAddr)

	var list []vmOut
	admin.mustDo("GET", "/api/voicemail/general", nil, http.StatusOK, &list)
	if len(list) != 1 || list[0].ID != gen.ID || list[0].Duration != 4.2 || list[0].Read ||
		list[0].URL != "/api/voicemail/general/"+gen.ID+".wav" {
		t.Fatalf("general: %+v", list)
	}
	admin.wantError("GET", "/api/voicemail/alice", nil, http.StatusBadRequest) // a mailbox in two firms
	admin.mustDo("GET", "/api/voicemail/alice?firm=pbx.test", nil, http.StatusOK, &list)
	if len(list) != 1 || list[0].ID != mine.ID {
		t.Errorf("alice's mailbox: %+v", list)
	}
	admin.wantError("GET", "/api/voicemail/nobody", nil, http.StatusNotFound)

	r := admin.mustDo("GET", list[0].URL+"?firm=pbx.test", nil, http.StatusOK, nil)
	if r.header.Get("Content-Type") != "audio/wav" || string(r.body) != string(wav) {
		t.Errorf("wav: %q %q", r.header.Get("Content-Type"), r.body)
	}
	var one vmOut
	admin.mustDo("GET", "/api/voicemail/alice/"+mine.ID+"?firm=pbx.test", nil, http.StatusOK, &one)
	if !one.Read {
		t.Error("fetching the audio did not mark the message read")
	}
	admin.wantError("GET", "/api/voicemail/general/nope.wav", nil, http.StatusNotFound)

	alice := agentClient(t, a.HTTPAddr, "1001", "alice-pw", "pbx.test")
	alice.mustDo("GET", "/api/voicemail/alice", nil, http.StatusOK, &list)
	if len(list) != 1 || list[0].Firm != "pbx.test" {
		t.Errorf("alice's own list: %+v", list)
	}
	alice.wantError("GET", "/api/voicemail/general", nil, http.StatusForbidden)
	alice.wantError("GET", "/api/voicemail/bob", nil, http.StatusForbidden)
	alice.wantError("GET", "/api/voicemail/general/"+gen.ID+".wav", nil, http.StatusForbidden)
	alice.wantError("DELETE", "/api/voicemail/general/"+gen.ID, nil, http.StatusForbidden)

	alice.mustDo("DELETE", "/api/voicemail/alice/"+mine.ID, nil, http.StatusNoContent, nil)
	if _, err := os.Stat(mine.File); !os.IsNotExist(err) {
		t.Errorf("audio file still there: %v", err)
	}
	alice.wantError("DELETE", "/api/voicemail/alice/"+mine.ID, nil, http.StatusNotFound)
	admin.mustDo("DELETE", "/api/voicemail/general/"+gen.ID, nil, http.StatusNoContent, nil)
	admin.mustDo("GET", "/api/voicemail/general", nil, http.StatusOK, &list)
	if len(list) != 0 {
		t.Errorf("after delete: %+v", list)
	}
}
