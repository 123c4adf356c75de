package dialplan

import (
	"fmt"
	"strings"
)

// Target kinds, as written before the colon in "kind:id".
const (
	TargetAgent     = "agent"
	TargetTeam      = "team"
	TargetIVR       = "ivr"
	TargetVoicemail = "voicemail"
	// TargetCallback queues a callback request for a team or an agent. Plain
	// "callback" (allowed only as a team's on_timeout) means that team.
	TargetCallback = "callback"
)

// Target names where a call goes: "agent:alice", "team:support", "ivr:main",
// "voicemail:general" or "callback:support". The zero Target means none.
type Target struct {
	Kind string
	ID   string
}

// ParseTarget parses "kind:id". A bare "callback" yields a Target with an
// empty ID, which the loader fills in for a team's on_timeout.
func ParseTarget(s string) (Target, error) {
	if s == TargetCallback {
		return Target{Kind: TargetCallback}, nil
	}
	kind, id, ok := strings.Cut(s, ":")
	if !ok {
		return Target{}, fmt.Errorf("invalid target %q (want agent:ID, team:ID, ivr:ID, voicemail:ID or callback:ID)", s)
	}
	switch kind {
	case TargetAgent, TargetTeam, TargetIVR, TargetVoicemail, TargetCallback:
	default:
		return Target{}, fmt.Errorf("invalid target kind %q in %q (want agent, team, ivr, voicemail or callback)", kind, s)
	}
	if err := checkID(id); err != nil {
		return Target{}, fmt.Errorf("target %q: %w", s, err)
	}
	return Target{Kind: kind, ID: id}, nil
}

// IsZero reports whether t is the zero Target.
func (t Target) IsZero() bool { return t.Kind == "" && t.ID == "" }

// String returns "kind:id", or "" for the zero Target.
func (t Target) String() string {
	if t.IsZero() {
		return ""
	}
	if t.ID == "" {
		return t.Kind
	}
	return t.Kind + ":" + t.ID
}

// Decide turns the target into a decision within firm f. A target that names
// nothing in f (impossible after validation, possible for hand-built values)
// and the zero Target give a 404 Reject.
func (t Target) Decide(f *Firm) Decision {
	notFound := Decision{Kind: Reject, Code: 404, Reason: "Not Found"}
	if f == nil {
		return notFound
	}
	switch t.Kind {
	case TargetAgent:
		if a := f.Agent(t.ID); a != nil {
			return Decision{Kind: RouteAgent, Agent: a, Mailbox: a.ID, Why: t.String()}
		}
	case TargetTeam:
		if tm := f.Team(t.ID); tm != nil {
			return Decision{Kind: RouteTeam, Team: tm, Why: t.String()}
		}
	case TargetIVR:
		if ivr := f.IVR(t.ID); ivr != nil {
			return Decision{Kind: RouteIVR, IVR: ivr, Why: t.String()}
		}
	case TargetVoicemail:
		if mb := f.Mailbox(t.ID); mb != nil {
			return Decision{Kind: RouteVoicemail, Mailbox: mb.ID, Agent: f.Agent(mb.Agent), Why: t.String()}
		}
	case TargetCallback:
		// Teams first: validation rejects an id that is both a team and an agent.
		if tm := f.Team(t.ID); tm != nil {
			return Decision{Kind: RouteCallback, Team: tm, Why: t.String()}
		}
		if a := f.Agent(t.ID); a != nil {
			return Decision{Kind: RouteCallback, Agent: a, Why: t.String()}
		}
	}
	notFound.Why = "target " + t.String() + " does not exist"
	if t.IsZero() {
		notFound.Why = "no target"
	}
	return notFound
}
