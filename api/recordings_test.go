package api_test

import (
	"encoding/csv"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"switchboard/internal/app"
	"switchboard/store"
	"switchboard/wav"
)

// recYAML: alice and bob in support (supervised by sue), dave in sales.
const recYAML = `
domain: pbx.test
listen:
  sip: [udp://127.0.0.1:0]
  http: 127.0.0.1:0
  rtp_ports: %s
firms: [acme.yaml]
agents:
  - {id: alice, name: Alice, extension: "1001", password: alice-pw}
  - {id: bob, name: Bob, extension: "1002", password: bob-pw}
  - {id: dave, name: Dave, extension: "1004", password: dave-pw}
  - {id: sue, name: Sue, extension: "1005", password: sue-pw}
teams:
  - {id: support, extension: "2000", members: [alice, bob], supervisors: [sue]}
  - {id: sales, extension: "2001", members: [dave]}
`

// seedRecording writes a short stereo file and indexes it.
func seedRecording(t *testing.T, a *app.App, firm string, n int, agent, caller, team string) store.Recording {
	t.Helper()
	start := time.Date(2025, 3, 1, 10, n, 0, 0, time.UTC)
	id := store.CallID(start, uint32(n))
	path := filepath.Join(a.DataDir, "recordings", firm, id+".wav")
	os.MkdirAll(filepath.Dir(path), 0o750)
	w, err := wav.CreateStereo(path)
	if err != nil {
		t.Fatal(err)
	}
	w.WriteStereo(make([]int16, 800), make([]int16, 800))
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	r := store.Recording{ID: id, Firm: firm, Call: id, Agent: agent, CallerAgent: caller, Team: team, Start: start, Duration: 100 * time.Millisecond, File: path, Size: 44 + 3200}
	if err := a.Store.AddRecording(&r); err != nil {
		t.Fatal(err)
	}
	return r
}

func TestRecordingsAPI(t *testing.T) {
	t.Parallel()
	a := startAppYAML(t, recYAML)
	admin := adminClient(t, a.HTTPAddr)
	alice := agentClient(t, a.HTTPAddr, "1001", "alice-pw", "pbx.test")
	bob := agentClient(t, a.HTTPAddr, "1002", "bob-pw", "pbx.test")
	dave := agentClient(t, a.HTTPAddr, "1004", "dave-pw", "pbx.test")
	sue := agentClient(t, a.HTTPAddr, "1005", "sue-pw", "pbx.test")
	carol := agentClient(t, a.HTTPAddr, "1003", "carol-pw", "acme.test")

	rAlice := seedRecording(t, a, "pbx.test", 1, "alice", "", "support")
	rDave := seedRecording(t, a, "pbx.test", 2, "dave", "bob", "sales") // bob placed it
	rBob := seedRecording(t, a, "pbx.test", 3, "bob", "", "")           // a direct call to bob
	rAcme := seedRecording(t, a, "acme.test", 4, "carol", "", "helpdesk")

	list := func(c *client, q string) []string {
		t.Helper()
		var out []struct {
			ID, URL string
		}
		c.mustDo("GET", "/api/recordings"+q, nil, http.StatusOK, &out)
		ids := make([]string, len(out))
		for i, r := range out {
			ids[i] = r.ID
			if r.URL != "/api/recordings/"+r.ID+".wav" {
				t.Errorf("url %q", r.URL)
			}
		}
		return ids
	}
	eq := func(name string, got []string, want ...store.Recording) {
		t.Helper()
		w := make([]string, len(want))
		for i, r := range want {
			w[i] = r.ID
		}
		if strings.Join(got, ",") != strings.Join(w, ",") {
			t.Errorf("%s: %v, want %v", name, got, w)
		}
	}
	eq("admin, all firms", list(admin, ""), rAcme, rBob, rDave, rAlice)
	eq("admin, one firm", list(admin, "?firm=pbx.test"), rBob, rDave, rAlice)
	eq("admin, by team", list(admin, "?firm=pbx.test&team=sales"), rDave)
	eq("admin, by agent", list(admin, "?agent=bob"), rBob, rDave)
	eq("admin, limit", list(admin, "?firm=pbx.test&limit=1"), rBob)
	eq("admin, next page", list(admin, "?firm=pbx.test&before="+rBob.ID), rDave, rAlice)
	eq("admin, time window", list(admin, "?firm=pbx.test&after=2025-03-01T10:02:00Z&before=2025-03-01T10:03:00Z"), rDave)
	eq("alice: her own", list(alice, ""), rAlice)
	eq("bob: taken and placed", list(bob, ""), rBob, rDave)
	eq("sue: her team's calls and its members'", list(sue, ""), rBob, rAlice)
	eq("sue: by a member", list(sue, "?agent=alice"), rAlice)
	eq("sue: by her team", list(sue, "?team=support"), rAlice)
	eq("dave", list(dave, ""), rDave)
	eq("carol", list(carol, ""), rAcme)

	for _, tc := range []struct {
		name   string
		c      *client
		method string
		path   string
		want   int
	}{
		{"agent lists another agent", alice, "GET", "/api/recordings?agent=bob", http.StatusForbidden},
		{"agent lists another team", dave, "GET", "/api/recordings?team=support", http.StatusForbidden},
		{"supervisor lists another team", sue, "GET", "/api/recordings?team=sales", http.StatusForbidden},
		{"supervisor lists a non-member", sue, "GET", "/api/recordings?agent=dave", http.StatusForbidden},
		{"agent names another firm", alice, "GET", "/api/recordings?firm=acme.test", http.StatusForbidden},
		{"bad limit", admin, "GET", "/api/recordings?limit=0", http.StatusBadRequest},
		{"bad before", admin, "GET", "/api/recordings?before=soon", http.StatusBadRequest},
		{"bad after", admin, "GET", "/api/recordings?after=soon", http.StatusBadRequest},
		{"no login", anonClient(t, a.HTTPAddr), "GET", "/api/recordings", http.StatusUnauthorized},
		{"another team's recording", dave, "GET", "/api/recordings/" + rAlice.ID + ".wav", http.StatusForbidden},
		{"another agent's recording", alice, "GET", "/api/recordings/" + rBob.ID + ".wav", http.StatusForbidden},
		{"another team's entry", alice, "GET", "/api/recordings/" + rDave.ID, http.StatusForbidden},
		{"supervisor, another team", sue, "GET", "/api/recordings/" + rDave.ID + ".wav", http.StatusForbidden},
		{"another firm's recording", alice, "GET", "/api/recordings/" + rAcme.ID + ".wav", http.StatusNotFound},
		{"unknown", admin, "GET", "/api/recordings/0000000000000000deadbeef.wav", http.StatusNotFound},
		{"malformed", admin, "GET", "/api/recordings/nope.wav", http.StatusNotFound},
		{"agent deletes their own", alice, "DELETE", "/api/recordings/" + rAlice.ID, http.StatusForbidden},
		{"supervisor deletes another team's", sue, "DELETE", "/api/recordings/" + rDave.ID, http.StatusForbidden},
		{"record a call that does not exist", alice, "POST", "/api/calls/0000000000000000deadbeef/record", http.StatusNotFound},
	} {
		var body any
		if tc.method == "POST" {
			body = map[string]bool{"on": true}
		}
		tc.c.wantError(tc.method, tc.path, body, tc.want)
	}
	admin.wantError("POST", "/api/calls/x/record", map[string]string{}, http.StatusBadRequest)
	admin.wantError("POST", "/api/calls/x/record", map[string]any{"on": "yes"}, http.StatusBadRequest)

	for _, c := range []*client{alice, sue, admin} {
		res := c.mustDo("GET", "/api/recordings/"+rAlice.ID+".wav", nil, http.StatusOK, nil)
		if res.header.Get("Content-Type") != "audio/wav" || len(res.body) != 44+3200 {
			t.Errorf("wav: %s, %d bytes", res.header.Get("Content-Type"), len(res.body))
		}
	}
	var entry struct {
		ID, Agent, Team string
		Duration        float64
	}
	bob.mustDo("GET", "/api/recordings/"+rDave.ID, nil, http.StatusOK, &entry)
	if entry.ID != rDave.ID || entry.Agent != "dave" || entry.Team != "sales" || entry.Duration != 0.1 {
		t.Errorf("entry %+v", entry)
	}

	// The supervisor deletes her team's recording: file and entry go.
	sue.mustDo("DELETE", "/api/recordings/"+rAlice.ID, nil, http.StatusNoContent, nil)
	if _, err := os.Stat(rAlice.File); !os.IsNotExist(err) {
		t.Errorf("file after delete: %v", err)
	}
	admin.wantError("GET", "/api/recordings/"+rAlice.ID, nil, http.StatusNotFound)
	admin.mustDo("DELETE", "/api/recordings/"+rAcme.ID, nil, http.StatusNoContent, nil)
	eq("admin after deletes", list(admin, ""), rBob, rDave)
}

// The call log names a call's recording; absent when there is none.
func TestCallLogRecording(t *testing.T) {
	t.Parallel()
	a := startApp(t)
	admin := adminClient(t, a.HTTPAddr)
	start := time.Date(2025, 3, 1, 10, 0, 0, 0, time.UTC)
	for _, rec := range []string{"18eb21a57092ca8800000001", ""} {
		r := store.CallRecord{Firm: "pbx.test", Start: start, End: start.Add(time.Minute), Agent: "alice", Outcome: "answered", Recording: rec}
		if err := a.Store.AddCall(&r); err != nil {
			t.Fatal(err)
		}
	}
	var raw []map[string]any
	admin.mustDo("GET", "/api/calls?firm=pbx.test", nil, http.StatusOK, &raw)
	if len(raw) != 2 {
		t.Fatalf("calls %v", raw)
	}
	n := 0
	for _, c := range raw {
		if v, ok := c["recording"]; ok {
			n++
			if v != "18eb21a57092ca8800000001" {
				t.Errorf("recording %v", v)
			}
		}
	}
	if n != 1 {
		t.Errorf("%d entries name a recording, want 1: %v", n, raw)
	}
	res := admin.mustDo("GET", "/api/calls?format=csv&firm=pbx.test", nil, http.StatusOK, nil)
	rows, err := csv.NewReader(strings.NewReader(string(res.body))).ReadAll()
	if err != nil || rows[0][len(rows[0])-1] != "recording" {
		t.Fatalf("CSV header %v (%v)", rows[0], err)
	}
}
