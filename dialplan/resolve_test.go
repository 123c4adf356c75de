package dialplan

import (
	"net/netip"
	"path/filepath"
	"testing"
)

func loadFull(t *testing.T) *Firm {
	t.Helper()
	cfg, err := Load(filepath.Join("testdata", "good", "full.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	return cfg.DefaultFirm()
}

// summary flattens a Decision for comparison.
func summary(d Decision) string {
	s := d.Kind.String()
	switch d.Kind {
	case Reject:
		return s + " " + itoa3(d.Code) + " " + d.Reason
	case RouteAgent:
		return s + " " + d.Agent.ID + " mailbox=" + d.Mailbox
	case RouteTeam:
		return s + " " + d.Team.ID
	case RouteIVR:
		return s + " " + d.IVR.ID
	case RouteVoicemail:
		owner := ""
		if d.Agent != nil {
			owner = " agent=" + d.Agent.ID
		}
		return s + " " + d.Mailbox + owner
	case RouteOutbound:
		return s + " " + d.Trunk.ID + " " + d.Number
	case RouteFeature:
		return s + " " + d.Feature + " " + d.Agent.ID + " mailbox=" + d.Mailbox
	case RouteCallback:
		if d.Team != nil {
			return s + " team " + d.Team.ID
		}
		return s + " agent " + d.Agent.ID
	}
	return s
}

func itoa3(n int) string {
	return string([]byte{byte('0' + n/100), byte('0' + n/10%10), byte('0' + n%10)})
}

func TestResolve(t *testing.T) {
	t.Parallel()
	f := loadFull(t)
	alice, carrier := f.Agent("alice"), f.Trunk("carrier")
	fromAlice, fromTrunk := Source{Agent: alice}, Source{Trunk: carrier}
	tests := []struct {
		name string
		from Source
		to   string
		want string
	}{
		{"feature online", fromAlice, "*50", "feature *50 alice mailbox="},
		{"feature away", fromAlice, "*51", "feature *51 alice mailbox="},
		{"own voicemail", fromAlice, "*97", "feature *97 alice mailbox=alice"},
		{"any voicemail", fromAlice, "*98", "feature *98 alice mailbox="},
		{"unknown star code", fromAlice, "*99", "reject 404 Not Found"},
		{"agent extension", fromAlice, "1002", "agent bob mailbox=bob"},
		{"team extension", fromAlice, "2000", "team support"},
		{"ivr extension", fromAlice, "3000", "ivr main"},
		{"outbound strip prepend", fromAlice, "0044201234", "outbound carrier +44201234"},
		{"outbound e164", fromAlice, "+15551230002", "outbound carrier +15551230002"},
		{"no route", fromAlice, "5551234", "reject 404 Not Found"},
		{"empty number", fromAlice, "", "reject 484 Address Incomplete"},
		{"did to ivr", fromTrunk, "+15550100", "ivr main"},
		{"did pattern to team", fromTrunk, "+15550105", "team support"},
		{"did to callback", fromTrunk, "+15550199", "callback team sales"},
		{"extension not reachable from trunk", fromTrunk, "1001", "reject 404 Not Found"},
		{"feature code not from trunk", fromTrunk, "*50", "reject 404 Not Found"},
		{"no trunk to trunk", fromTrunk, "+4420123456", "reject 404 Not Found"},
		{"unauthenticated", Source{}, "1001", "reject 403 Forbidden"},
		{"unauthenticated outbound", Source{}, "+4420123456", "reject 403 Forbidden"},
		{"both agent and trunk", Source{Agent: alice, Trunk: carrier}, "+4420123456", "reject 403 Forbidden"},
		{"agent of another firm", Source{Agent: &Agent{ID: "mallory"}}, "+4420123456", "reject 403 Forbidden"},
		{"trunk of another firm", Source{Trunk: &Trunk{ID: "other"}}, "+15550100", "reject 403 Forbidden"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			d := f.Resolve(tc.from, tc.to)
			if got := summary(d); got != tc.want {
				t.Errorf("Resolve(%q) = %q (%s), want %q", tc.to, got, d.Why, tc.want)
			}
			if d.Why == "" {
				t.Errorf("Decision.Why is empty")
			}
		})
	}
}

func TestResolveInboundTrunkFilter(t *testing.T) {
	t.Parallel()
	f := loadFull(t)
	other := &Trunk{ID: "backup", URI: "sip:backup.example"}
	f2 := &Firm{ID: f.ID, Domain: f.Domain, File: f.File, SoundsDir: f.SoundsDir,
		Agents: f.Agents, Teams: f.Teams, IVRs: f.IVRs, Mailboxes: f.Mailboxes,
		Trunks:  append([]*Trunk{other}, f.Trunks...),
		Inbound: f.Inbound, Outbound: f.Outbound}
	// routes.inbound[1] (_+1555010X) is limited to trunk carrier.
	if got := summary(f2.Resolve(Source{Trunk: other}, "+15550105")); got != "reject 404 Not Found" {
		t.Errorf("from backup: %q", got)
	}
	if got := summary(f2.Resolve(Source{Trunk: other}, "+15550100")); got != "ivr main" {
		t.Errorf("from backup to unrestricted route: %q", got)
	}
}

func TestResolveFirstMatchWins(t *testing.T) {
	t.Parallel()
	f := &Firm{
		ID:     "x",
		Agents: []*Agent{{ID: "a", Extension: "100"}},
		Trunks: []*Trunk{{ID: "t1"}, {ID: "t2"}},
		Outbound: []OutboundRoute{
			{Match: mustPattern(t, "_X."), Trunk: "t1"},
			{Match: mustPattern(t, "_00X."), Trunk: "t2"}, // shadowed: first match wins, not most specific
		},
	}
	if got := summary(f.Resolve(Source{Agent: f.Agents[0]}, "0044")); got != "outbound t1 0044" {
		t.Errorf("got %q", got)
	}
	// Internal extensions win over outbound routes.
	if got := summary(f.Resolve(Source{Agent: f.Agents[0]}, "100")); got != "agent a mailbox=a" {
		t.Errorf("got %q", got)
	}
}

func TestTargetDecide(t *testing.T) {
	t.Parallel()
	f := loadFull(t)
	tests := []struct {
		target Target
		want   string
	}{
		{Target{"agent", "alice"}, "agent alice mailbox=alice"},
		{Target{"team", "sales"}, "team sales"},
		{Target{"ivr", "main"}, "ivr main"},
		{Target{"voicemail", "general"}, "voicemail general"},
		{Target{"voicemail", "bob"}, "voicemail bob agent=bob"},
		{Target{"callback", "support"}, "callback team support"},
		{Target{"callback", "alice"}, "callback agent alice"},
		{Target{"agent", "nobody"}, "reject 404 Not Found"},
		{Target{"bogus", "x"}, "reject 404 Not Found"},
		{Target{}, "reject 404 Not Found"},
	}
	for _, tc := range tests {
		if got := summary(tc.target.Decide(f)); got != tc.want {
			t.Errorf("%v.Decide = %q, want %q", tc.target, got, tc.want)
		}
	}
	if got := summary(Target{"agent", "alice"}.Decide(nil)); got != "reject 404 Not Found" {
		t.Errorf("Decide(nil) = %q", got)
	}
	// The team's on_timeout default is a callback to the team itself.
	if got := summary(f.Team("support").OnTimeout.Decide(f)); got != "callback team support" {
		t.Errorf("on_timeout = %q", got)
	}
}

func TestOutboundForMobile(t *testing.T) {
	t.Parallel()
	f := loadFull(t)
	bob := f.Agent("bob")
	d, ok := f.OutboundFor(bob.Mobile)
	if !ok || d.Trunk.ID != "carrier" || d.Number != "+15551230002" {
		t.Errorf("OutboundFor(%q) = %+v, %v", bob.Mobile, d, ok)
	}
	if _, ok := f.OutboundFor("1234"); ok {
		t.Errorf("OutboundFor(1234) matched")
	}
}

func TestZeroValueLookups(t *testing.T) {
	t.Parallel()
	var f Firm
	if f.Agent("x") != nil || f.Mailbox("x") != nil || f.TeamsOf("x") != nil || f.Trunk("") != nil {
		t.Errorf("zero Firm found something")
	}
	var c *Config
	if c.FirmByDomain("x") != nil || c.DefaultFirm() != nil {
		t.Errorf("nil Config found something")
	}
	if f, tr := c.TrunkForSource(netip.MustParseAddr("127.0.0.1")); f != nil || tr != nil {
		t.Errorf("nil Config found a trunk")
	}
	if Kind(99).String() != "unknown" || RouteOutbound.String() != "outbound" {
		t.Errorf("Kind.String wrong")
	}
}
