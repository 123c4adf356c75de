package pbx

import (
	"testing"

	"switchboard/dialplan"
	"switchboard/store"
)

const recordYAML = `
agents:
  - {id: alice, extension: "1001", password: pw, record: true}
  - {id: bob, extension: "1002", password: pw}
  - {id: sue, extension: "1003", password: pw}
  - {id: dan, extension: "1004", password: pw}
teams:
  - {id: support, members: [alice, bob], supervisors: [sue]}
  - {id: sales, members: [dan], record: true}
`

func recordFirm(t *testing.T, extra string) *dialplan.Firm {
	t.Helper()
	cfg, err := dialplan.Parse("sb.yaml", []byte(extra+recordYAML))
	if err != nil {
		t.Fatal(err)
	}
	return cfg.DefaultFirm()
}

// Who may see a recording: the agent who took or placed the call, and the
// supervisors of its team or of its agent's team.
func TestMaySeeRecording(t *testing.T) {
	t.Parallel()
	f := recordFirm(t, "")
	for _, tc := range []struct {
		agent string
		r     store.Recording
		want  bool
	}{
		{"bob", store.Recording{Agent: "bob"}, true},
		{"bob", store.Recording{Agent: "dan", CallerAgent: "bob"}, true},
		{"bob", store.Recording{Agent: "alice", Team: "support"}, false},
		{"sue", store.Recording{Agent: "alice"}, true},                // a member of her team, direct call
		{"sue", store.Recording{Agent: "dan", Team: "support"}, true}, // her team's call
		{"sue", store.Recording{Agent: "dan", Team: "sales"}, false},  // another team
		{"dan", store.Recording{Agent: "alice", Team: "support"}, false},
		{"", store.Recording{}, false},
	} {
		if got := MaySeeRecording(f, tc.agent, tc.r); got != tc.want {
			t.Errorf("%s sees %+v: %v, want %v", tc.agent, tc.r, got, tc.want)
		}
	}
}

// The policy: on demand wins; else the firm, an agent of the call, its team or
// its inbound route.
func TestWantsRecording(t *testing.T) {
	t.Parallel()
	on, off := true, false
	for _, tc := range []struct {
		name          string
		extra         string
		agent, caller string
		team          string
		route         bool
		demand        *bool
		want          bool
	}{
		{name: "nothing", agent: "bob"},
		{name: "agent", agent: "alice", want: true},
		{name: "caller agent", agent: "bob", caller: "alice", want: true},
		{name: "team", agent: "dan", team: "sales", want: true},
		{name: "route", agent: "bob", route: true, want: true},
		{name: "firm", extra: "record: true\n", agent: "bob", want: true},
		{name: "turned off", agent: "alice", demand: &off},
		{name: "turned on", agent: "bob", demand: &on, want: true},
	} {
		c := &Call{Firm: recordFirm(t, tc.extra)}
		c.rec.Agent, c.rec.CallerAgent, c.rec.Team = tc.agent, tc.caller, tc.team
		c.setRecordRoute(tc.route)
		c.recording.demand = tc.demand
		if got := c.wantsRecording(); got != tc.want {
			t.Errorf("%s: %v, want %v", tc.name, got, tc.want)
		}
	}
}
