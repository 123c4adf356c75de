package api_test

import (
	"encoding/json"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"
)

// wallYAML gives the teams supervisors: sue supervises support without being a
// member, dave supervises his own team sales.
const wallYAML = `
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
  - {id: sue, name: Sue, extension: "1006", password: sue-pw}
teams:
  - {id: support, extension: "2000", members: [alice, bob], supervisors: [sue]}
  - {id: sales, extension: "2001", members: [dave], supervisors: [dave], service_level: 30s}
`

type queueOut struct {
	Firm    string
	Team    string
	Waiting []struct {
		Call        string
		From        string
		WaitSeconds float64 `json:"wait_seconds"`
	}
	LongestWaitSeconds float64 `json:"longest_wait_seconds"`
	Members            []struct{ Agent, State string }
	Today              struct{ Offered, Answered, Abandoned, Callbacks int }
	ServiceLevel       float64 `json:"service_level"`
	AvgWaitSeconds     float64 `json:"avg_wait_seconds"`
	AvgTalkSeconds     float64 `json:"avg_talk_seconds"`
}

func teamIDs(qs []queueOut) []string {
	var out []string
	for _, q := range qs {
		out = append(out, q.Firm+"/"+q.Team)
	}
	return out
}

// Who sees which teams on the wallboard: the admin every team, a supervisor
// their teams, anyone else nothing (403).
func TestQueuesAuthorization(t *testing.T) {
	t.Parallel()
	a := startAppYAML(t, wallYAML)
	admin := adminClient(t, a.HTTPAddr)
	sue := agentClient(t, a.HTTPAddr, "sue", "sue-pw", "pbx.test")
	dave := agentClient(t, a.HTTPAddr, "dave", "dave-pw", "pbx.test")
	alice := agentClient(t, a.HTTPAddr, "1001", "alice-pw", "pbx.test")

	for _, tc := range []struct {
		name string
		c    *client
		path string
		code int
		want []string
	}{
		{"admin, every firm", admin, "/api/queues", 200, []string{"pbx.test/support", "pbx.test/sales", "acme.test/helpdesk"}},
		{"admin, one firm", admin, "/api/queues?firm=acme.test", 200, []string{"acme.test/helpdesk"}},
		{"admin, one team", admin, "/api/queues?firm=pbx.test&team=sales", 200, []string{"pbx.test/sales"}},
		{"admin, unknown team", admin, "/api/queues?team=nope", 404, nil},
		{"supervisor, not a member", sue, "/api/queues", 200, []string{"pbx.test/support"}},
		{"supervisor, own team by name", sue, "/api/queues?team=support", 200, []string{"pbx.test/support"}},
		{"supervisor, another team", sue, "/api/queues?team=sales", 403, nil},
		{"supervisor and member", dave, "/api/queues", 200, []string{"pbx.test/sales"}},
		{"supervisor, a team they are not over", dave, "/api/queues?team=support", 403, nil},
		{"supervisor, another firm", sue, "/api/queues?firm=acme.test", 403, nil},
		{"member, not a supervisor", alice, "/api/queues", 403, nil},
		{"member asks for their own team", alice, "/api/queues?team=support", 403, nil},
		{"nobody", anonClient(t, a.HTTPAddr), "/api/queues", 401, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			c := *tc.c // failures go to the subtest
			c.t = t
			if tc.code != http.StatusOK {
				c.wantError("GET", tc.path, nil, tc.code)
				return
			}
			var got []queueOut
			c.mustDo("GET", tc.path, nil, http.StatusOK, &got)
			if ids := teamIDs(got); !slices.Equal(ids, tc.want) {
				t.Fatalf("teams %v, want %v", ids, tc.want)
			}
		})
	}
}

// The JSON has SPEC's names; members show their state; a quiet day has
// service level 1; the same figures are on /metrics; a member's state change
// reaches the supervisor as a queue event with the team's snapshot.
func TestQueuesSnapshot(t *testing.T) {
	t.Parallel()
	a := startAppYAML(t, wallYAML)
	admin := adminClient(t, a.HTTPAddr)
	sue := agentClient(t, a.HTTPAddr, "sue", "sue-pw", "pbx.test")

	r := sue.mustDo("GET", "/api/queues", nil, http.StatusOK, nil)
	var raw []map[string]any
	if err := json.Unmarshal(r.body, &raw); err != nil || len(raw) != 1 {
		t.Fatalf("body %s: %v", r.body, err)
	}
	var keys []string
	for k := range raw[0] {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	want := []string{"avg_talk_seconds", "avg_wait_seconds", "firm", "longest_wait_seconds", "members", "service_level", "team", "today", "waiting"}
	if !slices.Equal(keys, want) {
		t.Fatalf("keys %v, want %v", keys, want)
	}
	if today, _ := json.Marshal(raw[0]["today"]); string(today) != `{"abandoned":0,"answered":0,"callbacks":0,"offered":0}` {
		t.Fatalf("today %s", today)
	}
	if w, _ := json.Marshal(raw[0]["waiting"]); string(w) != `[]` {
		t.Fatalf("waiting %s, want []", w)
	}

	events := openEvents(t, sue)
	admin.mustDo("PUT", "/api/agents/bob/status?firm=pbx.test", map[string]string{"status": "away"}, http.StatusOK, nil)
	deadline := time.After(15 * time.Second)
	for {
		var ev sseEvent
		select {
		case ev = <-events.events:
		case <-deadline:
			t.Fatal("no queue event with bob away")
		}
		if ev.name != "queue" || ev.data["action"] != "update" || ev.data["team"] != "support" {
			continue
		}
		members, _ := json.Marshal(ev.data["members"])
		if string(members) == `[{"agent":"alice","state":"idle"},{"agent":"bob","state":"away"}]` {
			if ev.data["service_level"] != 1.0 || ev.data["firm"] != "pbx.test" {
				t.Fatalf("event %v", ev.data)
			}
			break
		}
	}

	var got []queueOut
	sue.mustDo("GET", "/api/queues", nil, http.StatusOK, &got)
	if len(got[0].Members) != 2 || got[0].Members[1].State != "away" || got[0].ServiceLevel != 1 {
		t.Fatalf("wallboard %+v", got)
	}

	m := string(anonClient(t, a.HTTPAddr).mustDo("GET", "/metrics", nil, http.StatusOK, nil).body)
	for _, line := range []string{
		`switchboard_queue_members{firm="pbx.test",state="away",team="support"} 1`,
		`switchboard_queue_members{firm="pbx.test",state="idle",team="support"} 1`,
		`switchboard_queue_members{firm="pbx.test",state="in-call",team="support"} 0`,
		`switchboard_queue_service_level{firm="pbx.test",team="sales"} 1`,
		`switchboard_queue_offered_today{firm="pbx.test",team="support"} 0`,
		`switchboard_queue_callbacks_today{firm="acme.test",team="helpdesk"} 0`,
		`switchboard_queue_longest_wait_seconds{firm="pbx.test",team="support"} 0`,
		`switchboard_queue_avg_wait_seconds{firm="pbx.test",team="support"} 0`,
		`switchboard_queue_avg_talk_seconds{firm="pbx.test",team="support"} 0`,
		`# TYPE switchboard_queue_answered_today gauge`,
		`# TYPE switchboard_queue_abandoned_today gauge`,
	} {
		if !strings.Contains(m, line+"\n") {
			t.Errorf("/metrics lacks %q", line)
		}
	}
}
