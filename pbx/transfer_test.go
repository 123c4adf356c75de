package pbx

import (
	"errors"
	"testing"
	"time"

	"switchboard/dialplan"
)

const transferYAML = `
domain: t.local
agents:
  - {id: alice, extension: "1001", password: pw1, caller_id: "+15550001"}
  - {id: bob, extension: "1002", password: pw2}
teams:
  - {id: sales, extension: "2000", members: [bob], wrap_up: 30s}
ivrs:
  - {id: main, extension: "3000", prompt: main-menu.wav, options: {"1": "agent:bob"}}
trunks:
  - {id: carrier, uri: "sip:carrier.example:5060"}
routes:
  outbound:
    - {match: "_+1X.", trunk: carrier}
`

// A transfer target is what the transferring agent could dial, named for the call
// log; what no agent could reach, or what acts on the agent rather than on a
// caller, is refused.
func TestTransferDecision(t *testing.T) {
	t.Parallel()
	cfg, err := dialplan.Parse("sb.yaml", []byte(transferYAML))
	if err != nil {
		t.Fatal(err)
	}
	f := cfg.Firms[0]
	alice := f.Agent("alice")
	for _, tc := range []struct {
		target string
		kind   dialplan.Kind
		to     string
		bad    bool
	}{
		{target: "1002", kind: dialplan.RouteAgent, to: "bob"},
		{target: "2000", kind: dialplan.RouteTeam, to: "team:sales"},
		{target: "team:sales", kind: dialplan.RouteTeam, to: "team:sales"},
		{target: "3000", kind: dialplan.RouteIVR, to: "ivr:main"},
		{target: "ivr:main", kind: dialplan.RouteIVR, to: "ivr:main"},
		{target: "+15551234567", kind: dialplan.RouteOutbound, to: "+15551234567"},
		{target: " 1002 ", kind: dialplan.RouteAgent, to: "bob"},
		{target: "1001", bad: true},      // herself
		{target: "9999", bad: true},      // nothing there
		{target: "team:none", bad: true}, // no such team
		{target: "ivr:none", bad: true},
		{target: "*50", bad: true}, // a feature code acts on the dialling agent
		{target: "", bad: true},
		{target: "10\r\n02", bad: true},
		{target: "sip:1002@t.local", bad: true},
	} {
		d, to, err := transferDecision(f, alice, tc.target)
		if tc.bad {
			if !errors.Is(err, ErrBadTarget) {
				t.Errorf("%q: err %v, want ErrBadTarget", tc.target, err)
			}
			continue
		}
		if err != nil || d.Kind != tc.kind || to != tc.to {
			t.Errorf("%q: %v %q %v, want %v %q", tc.target, d.Kind, to, err, tc.kind, tc.to)
		}
	}
}

// Wrap-up keeps an agent from queue offers until it ends or they say ready; a
// shorter wrap-up does not cut a longer one short, and only the end it set ends it.
func TestPresenceWrapUp(t *testing.T) {
	t.Parallel()
	pr := newPresence()
	pr.set("f", "bob", "online")
	if !pr.idle("f", "bob") {
		t.Fatal("online agent not idle")
	}
	long := time.Now().Add(time.Hour)
	if until, ok := pr.startWrapUp("f", "bob", wrapUp{until: long, call: "c1"}); !ok || !until.Equal(long) {
		t.Fatalf("start: %v %v", until, ok)
	}
	if pr.idle("f", "bob") || pr.reserve("f", "bob") {
		t.Fatal("agent in wrap-up is offered work")
	}
	if _, ok := pr.startWrapUp("f", "bob", wrapUp{until: time.Now().Add(time.Minute)}); ok {
		t.Fatal("a shorter wrap-up replaced a longer one")
	}
	if _, ended := pr.endWrapUp("f", "bob", time.Now().Add(time.Minute)); ended {
		t.Fatal("a timer for another wrap-up ended this one")
	}
	if got := pr.wrapUpUntil("f", "bob"); !got.Equal(long) {
		t.Fatalf("wrap-up until %v, want %v", got, long)
	}
	w, ended := pr.endWrapUp("f", "bob", time.Time{})
	if !ended || w.call != "c1" {
		t.Fatalf("ready: %+v %v", w, ended)
	}
	if !pr.idle("f", "bob") || !pr.wrapUpUntil("f", "bob").IsZero() {
		t.Fatal("agent not free after ready")
	}
	if _, ended := pr.endWrapUp("f", "bob", time.Time{}); ended {
		t.Fatal("ready without wrap-up reported one")
	}
}
