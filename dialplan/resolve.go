package dialplan

import (
	"net/netip"
	"slices"
	"strconv"
	"strings"
)

// Kind is the kind of a routing Decision.
type Kind int

// Decision kinds.
const (
	// Reject answers the call with Decision.Code and Decision.Reason.
	Reject Kind = iota
	// RouteAgent rings Decision.Agent (mailbox Decision.Mailbox for no_answer).
	RouteAgent
	// RouteTeam queues the call for Decision.Team.
	RouteTeam
	// RouteIVR runs Decision.IVR.
	RouteIVR
	// RouteVoicemail records a message in Decision.Mailbox (Decision.Agent is
	// set when the mailbox is an agent's own).
	RouteVoicemail
	// RouteOutbound sends Decision.Number out through Decision.Trunk.
	RouteOutbound
	// RouteFeature runs feature code Decision.Feature for Decision.Agent.
	RouteFeature
	// RouteCallback stores a callback request for Decision.Team or
	// Decision.Agent and hangs up.
	RouteCallback
)

var kindNames = [...]string{"reject", "agent", "team", "ivr", "voicemail", "outbound", "feature", "callback"}

// String returns a short lower-case name for logs.
func (k Kind) String() string {
	if k >= 0 && int(k) < len(kindNames) {
		return kindNames[k]
	}
	return "unknown"
}

// Feature codes dialled from a registered phone.
const (
	FeatureOnline      = "*50" // set own status online
	FeatureAway        = "*51" // set own status away
	FeatureMyVoicemail = "*97" // listen to own voicemail
	FeatureVoicemail   = "*98" // listen to any mailbox (asks for its number and PIN)
	// FeatureListen, followed by an agent's extension, listens to that agent's
	// call in progress (supervisors of the agent's team); Decision.Number is the
	// extension.
	FeatureListen = "*33"
)

// FeatureCodes lists every feature code; extensions may not use them.
var FeatureCodes = []string{FeatureOnline, FeatureAway, FeatureMyVoicemail, FeatureVoicemail, FeatureListen}

// Source says who places a call: an authenticated agent of the firm, or a
// trunk of the firm. The zero Source is an unauthenticated caller.
type Source struct {
	Agent *Agent
	Trunk *Trunk
}

// Decision is what to do with a call, as plain data.
type Decision struct {
	Kind  Kind
	Agent *Agent
	Team  *Team
	IVR   *IVR
	// Mailbox is the mailbox id for RouteVoicemail, RouteAgent and *97.
	Mailbox string
	Trunk   *Trunk
	// Number is the number to send out (after strip/prepend) for RouteOutbound.
	Number string
	// Feature is the feature code for RouteFeature, e.g. "*50".
	Feature string
	// Code and Reason are the SIP status and reason phrase for Reject.
	Code   int
	Reason string
	// Why explains the decision for logs, e.g. "extension 1001" or
	// "routes.outbound[0] _+X.".
	Why string
	// Record: the inbound route that matched says to record the call.
	Record bool
}

// Resolve decides what happens to a call from `from` to the dialled number
// `to` (the user part of the request URI) within firm f. See the package
// documentation for the order of the rules.
func (f *Firm) Resolve(from Source, to string) Decision {
	switch {
	case from.Agent != nil && from.Trunk != nil:
		// Fail closed: a caller cannot be both, and guessing could open a trunk.
		return Decision{Kind: Reject, Code: 403, Reason: "Forbidden", Why: "source is both an agent and a trunk"}
	case from.Agent != nil:
		a := f.Agent(from.Agent.ID)
		if a == nil {
			return Decision{Kind: Reject, Code: 403, Reason: "Forbidden", Why: "agent " + from.Agent.ID + " is not in firm " + f.ID}
		}
		return f.resolveFromAgent(a, to)
	case from.Trunk != nil:
		t := f.Trunk(from.Trunk.ID)
		if t == nil {
			return Decision{Kind: Reject, Code: 403, Reason: "Forbidden", Why: "trunk " + from.Trunk.ID + " is not in firm " + f.ID}
		}
		return f.resolveFromTrunk(t, to)
	default:
		return Decision{Kind: Reject, Code: 403, Reason: "Forbidden", Why: "unauthenticated caller"}
	}
}

func (f *Firm) resolveFromAgent(a *Agent, to string) Decision {
	if to == "" {
		return Decision{Kind: Reject, Code: 484, Reason: "Address Incomplete", Why: "empty number"}
	}
	switch to {
	case FeatureOnline, FeatureAway, FeatureVoicemail:
		return Decision{Kind: RouteFeature, Feature: to, Agent: a, Why: "feature code " + to}
	case FeatureMyVoicemail:
		return Decision{Kind: RouteFeature, Feature: to, Agent: a, Mailbox: a.ID, Why: "feature code " + to}
	case FeatureListen:
		return Decision{Kind: Reject, Code: 484, Reason: "Address Incomplete", Why: "*33 needs an extension"}
	}
	if ext, ok := strings.CutPrefix(to, FeatureListen); ok && f.AgentByExtension(ext) != nil {
		return Decision{Kind: RouteFeature, Feature: FeatureListen, Agent: a, Number: ext, Why: "feature code *33 " + ext}
	}
	if x := f.AgentByExtension(to); x != nil {
		return Decision{Kind: RouteAgent, Agent: x, Mailbox: x.ID, Why: "extension " + to}
	}
	if t := f.TeamByExtension(to); t != nil {
		return Decision{Kind: RouteTeam, Team: t, Why: "extension " + to}
	}
	if ivr := f.IVRByExtension(to); ivr != nil {
		return Decision{Kind: RouteIVR, IVR: ivr, Why: "extension " + to}
	}
	if d, ok := f.OutboundFor(to); ok {
		return d
	}
	return Decision{Kind: Reject, Code: 404, Reason: "Not Found", Why: "no extension or outbound route matches " + to}
}

func (f *Firm) resolveFromTrunk(t *Trunk, to string) Decision {
	for i, r := range f.Inbound {
		if r.Trunk != "" && r.Trunk != t.ID {
			continue
		}
		if !r.Match.Match(to) {
			continue
		}
		d := r.To.Decide(f)
		if d.Kind == RouteOutbound || d.Kind == RouteFeature {
			// Targets cannot produce these today; keep trunk calls inside the PBX
			// even if one day they could (toll fraud).
			return Decision{Kind: Reject, Code: 403, Reason: "Forbidden", Why: "inbound route leads out"}
		}
		d.Why = "routes.inbound[" + strconv.Itoa(i) + "] " + r.Match.String() + " -> " + d.Why
		d.Record = r.Record
		return d
	}
	return Decision{Kind: Reject, Code: 404, Reason: "Not Found", Why: "no inbound route matches " + to}
}

// OutboundFor picks the first outbound route matching number and returns a
// RouteOutbound decision with the trunk and the number to send. The pbx uses
// it directly for the legs it originates itself (mobile routing,
// click-to-call, callbacks); agents' calls reach it through Resolve.
func (f *Firm) OutboundFor(number string) (Decision, bool) {
	for i, r := range f.Outbound {
		if !r.Match.Match(number) {
			continue
		}
		t := f.Trunk(r.Trunk)
		if t == nil {
			continue
		}
		out := number
		if r.Strip >= len(out) {
			// Nothing would be left to dial; treat as a non-match rather than
			// send an empty number to the carrier.
			continue
		}
		out = r.Prepend + out[r.Strip:]
		return Decision{
			Kind: RouteOutbound, Trunk: t, Number: out,
			Why: "routes.outbound[" + strconv.Itoa(i) + "] " + r.Match.String() + " via " + t.ID,
		}, true
	}
	return Decision{}, false
}

// FirmByDomain returns the firm whose domain equals domain, ignoring case,
// or nil.
func (c *Config) FirmByDomain(domain string) *Firm {
	if c == nil {
		return nil
	}
	for _, f := range c.Firms {
		if strings.EqualFold(f.Domain, domain) {
			return f
		}
	}
	return nil
}

// Firm returns the firm with the given id, or nil.
func (c *Config) Firm(id string) *Firm {
	if c == nil {
		return nil
	}
	for _, f := range c.Firms {
		if f.ID == id {
			return f
		}
	}
	return nil
}

// TrunkForSource returns the first trunk (firms in order, trunks in file
// order) whose allow_from contains ip, or nil, nil.
func (c *Config) TrunkForSource(ip netip.Addr) (*Firm, *Trunk) {
	if c == nil || !ip.IsValid() {
		return nil, nil
	}
	ip = ip.Unmap()
	for _, f := range c.Firms {
		for _, t := range f.Trunks {
			for _, p := range t.AllowFrom {
				if p.Contains(ip) {
					return f, t
				}
			}
		}
	}
	return nil, nil
}

// Lookups scan slices: firms hold tens to hundreds of entries, and scanning
// keeps hand-built Firm values (as in other packages' tests) working.

// Agent returns the agent with the given id, or nil.
func (f *Firm) Agent(id string) *Agent {
	if id == "" {
		return nil
	}
	f.indexAgents()
	return f.agentIndex.byID[id]
}

// indexAgents builds the agent lookup maps once; the first of duplicates wins, as a
// scan would.
func (f *Firm) indexAgents() {
	f.agentIndex.once.Do(func() {
		f.agentIndex.byID = make(map[string]*Agent, len(f.Agents))
		f.agentIndex.byExt = make(map[string]*Agent, len(f.Agents))
		for _, a := range f.Agents {
			if _, dup := f.agentIndex.byID[a.ID]; !dup {
				f.agentIndex.byID[a.ID] = a
			}
			if _, dup := f.agentIndex.byExt[a.Extension]; !dup && a.Extension != "" {
				f.agentIndex.byExt[a.Extension] = a
			}
		}
	})
}

// AgentByExtension returns the agent with the given extension, or nil.
func (f *Firm) AgentByExtension(ext string) *Agent {
	if ext == "" {
		return nil
	}
	f.indexAgents()
	return f.agentIndex.byExt[ext]
}

// Team returns the team with the given id, or nil.
func (f *Firm) Team(id string) *Team {
	if id == "" {
		return nil
	}
	for _, t := range f.Teams {
		if t.ID == id {
			return t
		}
	}
	return nil
}

// TeamByExtension returns the team with the given extension, or nil.
func (f *Firm) TeamByExtension(ext string) *Team {
	if ext == "" {
		return nil
	}
	for _, t := range f.Teams {
		if t.Extension == ext {
			return t
		}
	}
	return nil
}

// IVR returns the IVR with the given id, or nil.
func (f *Firm) IVR(id string) *IVR {
	if id == "" {
		return nil
	}
	for _, v := range f.IVRs {
		if v.ID == id {
			return v
		}
	}
	return nil
}

// IVRByExtension returns the IVR with the given extension, or nil.
func (f *Firm) IVRByExtension(ext string) *IVR {
	if ext == "" {
		return nil
	}
	for _, v := range f.IVRs {
		if v.Extension == ext {
			return v
		}
	}
	return nil
}

// Mailbox returns the mailbox with the given id, or nil. Besides the
// mailboxes: entries, every agent owns a mailbox with the agent's id whose PIN
// is the agent's voicemail_pin; without a mailboxes: entry of that id (which
// adds an email) it is returned as a new value on each call.
func (f *Firm) Mailbox(id string) *Mailbox {
	if id == "" {
		return nil
	}
	for _, m := range f.Mailboxes {
		if m.ID == id {
			return m
		}
	}
	if a := f.Agent(id); a != nil {
		return &Mailbox{ID: a.ID, PIN: a.VoicemailPIN, Agent: a.ID}
	}
	return nil
}

// Trunk returns the trunk with the given id, or nil.
func (f *Firm) Trunk(id string) *Trunk {
	if id == "" {
		return nil
	}
	for _, t := range f.Trunks {
		if t.ID == id {
			return t
		}
	}
	return nil
}

// TeamsOf returns the teams agentID is a member of, in file order.
func (f *Firm) TeamsOf(agentID string) []*Team {
	var out []*Team
	for _, t := range f.Teams {
		for _, m := range t.Members {
			if m == agentID {
				out = append(out, t)
				break
			}
		}
	}
	return out
}

// SupervisedBy returns the teams agentID supervises, in file order.
func (f *Firm) SupervisedBy(agentID string) []*Team {
	var out []*Team
	for _, t := range f.Teams {
		if slices.Contains(t.Supervisors, agentID) {
			out = append(out, t)
		}
	}
	return out
}

// SupervisesCall reports whether supervisor may watch a call (or its recording)
// of agent: the call's team's supervisors when it came through a team, else the
// supervisors of any team of the agent.
func (f *Firm) SupervisesCall(supervisor, agent, team string) bool {
	if team != "" {
		t := f.Team(team)
		return t != nil && slices.Contains(t.Supervisors, supervisor)
	}
	return agent != "" && f.Supervises(supervisor, agent)
}

// Supervises reports whether supervisor supervises a team that agent is a member of.
func (f *Firm) Supervises(supervisor, agent string) bool {
	for _, t := range f.SupervisedBy(supervisor) {
		if slices.Contains(t.Members, agent) {
			return true
		}
	}
	return false
}
