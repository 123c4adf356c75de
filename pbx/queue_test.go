package pbx

import (
	"slices"
	"testing"
	"time"

	"switchboard/callinfo"
	"switchboard/dialplan"
)

func agentsNamed(ids ...string) []*dialplan.Agent {
	out := make([]*dialplan.Agent, len(ids))
	for i, id := range ids {
		out[i] = &dialplan.Agent{ID: id, Status: "online"}
	}
	return out
}

// Each strategy, offer after offer: who is rung from the members who may be.
func TestQueueStrategies(t *testing.T) {
	t.Parallel()
	members := []string{"a", "b", "c"}
	tests := []struct {
		strategy string
		offers   [][]string // candidates of each offer, in member order
		idle     []string   // longest-idle: agents from the longest idle on
		want     [][]string
	}{
		{"ring-all", [][]string{{"a", "b", "c"}, {"b", "c"}}, nil, [][]string{{"a", "b", "c"}, {"b", "c"}}},
		{"linear", [][]string{{"a", "b", "c"}, {"b", "c"}, {"a", "b", "c"}}, nil, [][]string{{"a"}, {"b"}, {"a"}}},
		{"round-robin", [][]string{{"a", "b", "c"}, {"a", "b", "c"}, {"a", "b", "c"}, {"a", "b", "c"}}, nil,
			[][]string{{"a"}, {"b"}, {"c"}, {"a"}}},
		{"round-robin", [][]string{{"a", "b", "c"}, {"a", "c"}, {"a", "b"}}, nil, [][]string{{"a"}, {"c"}, {"a"}}},
		{"longest-idle", [][]string{{"a", "b", "c"}, {"a", "b"}}, []string{"c", "a", "b"}, [][]string{{"c"}, {"a"}}},
	}
	for _, tc := range tests {
		t.Run(tc.strategy, func(t *testing.T) {
			t.Parallel()
			pr := newPresence()
			all := agentsNamed(members...)
			pr.seed("f", all, nil)
			for _, id := range tc.idle { // became idle in this order
				pr.adjust("f", id, 1)
				pr.adjust("f", id, -1)
				time.Sleep(time.Millisecond) // distinct idle-since times
			}
			q := &teamQueue{wake: make(chan struct{})}
			team := &dialplan.Team{ID: "t", Members: members, Strategy: tc.strategy}
			for i, cand := range tc.offers {
				got := q.pick(team, agentsNamed(cand...), func(c []*dialplan.Agent) *dialplan.Agent { return pr.longestIdle("f", c) })
				if ids := agentIDs(got); !slices.Equal(ids, tc.want[i]) {
					t.Errorf("offer %d from %v: %v, want %v", i, cand, ids, tc.want[i])
				}
			}
		})
	}
}

// Reserving an agent is one step: only one of two queues gets them, and only
// while online and idle.
func TestPresenceReserve(t *testing.T) {
	t.Parallel()
	pr := newPresence()
	pr.seed("f", agentsNamed("a", "b"), map[string]callinfo.Status{"b": callinfo.Away})
	if !pr.reserve("f", "a") || pr.reserve("f", "a") {
		t.Error("a reserved twice, or not at all")
	}
	if pr.reserve("f", "b") {
		t.Error("away agent reserved")
	}
	if pr.idle("f", "a") {
		t.Error("reserved agent idle")
	}
	pr.adjust("f", "a", -1)
	if !pr.idle("f", "a") {
		t.Error("released agent not idle")
	}
}
