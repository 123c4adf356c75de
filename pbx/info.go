package pbx

import (
	"crypto/subtle"
	"strings"

	"switchboard/callinfo"
	"switchboard/dialplan"
	"switchboard/sip"
	"switchboard/sip/auth"
	"switchboard/sip/registrar"
)

// CheckPassword verifies an agent's SIP credentials (for the web/API login): username
// is the extension or the agent id, domain the firm's SIP domain ("" = every firm).
// It returns every firm where the credentials are valid, with the agent in each.
func (p *PBX) CheckPassword(domain, username, password string) []FirmAgent {
	var out []FirmAgent
	for _, f := range p.cfg.Load().Firms {
		if domain != "" && !strings.EqualFold(domain, f.Domain) {
			continue
		}
		a := f.AgentByExtension(username)
		if a == nil {
			a = f.Agent(username)
		}
		if a == nil {
			continue
		}
		var ok bool
		if a.Password != "" {
			ok = subtle.ConstantTimeCompare([]byte(a.Password), []byte(password)) == 1
		} else if a.HA1 != "" {
			want := auth.HA1("MD5", a.Extension, f.Domain, password)
			ok = subtle.ConstantTimeCompare([]byte(strings.ToLower(a.HA1)), []byte(want)) == 1
		}
		if ok {
			out = append(out, FirmAgent{Firm: f, Agent: a})
		}
	}
	return out
}

// FirmAgent is an agent together with their firm.
type FirmAgent struct {
	Firm  *dialplan.Firm
	Agent *dialplan.Agent
}

// Registrations returns the live registrations of an agent (extension and id).
func (p *PBX) Registrations(firm string, a *dialplan.Agent) []registrar.Binding {
	out := p.reg.Contacts(firm, a.Extension)
	if a.ID != a.Extension {
		out = append(out, p.reg.Contacts(firm, a.ID)...)
	}
	return out
}

// SIPListeners lists the SIP listeners (the API points browsers at the ws/wss one).
func (p *PBX) SIPListeners() []sip.Listener { return p.sip.Listeners() }

// Stats are counters for /metrics.
type Stats struct {
	ActiveCalls   int
	Registrations int
	AuthFailures  uint64
	RTPPortsInUse int
	SIPRequests   map[string]uint64
	SIPResponses  map[string]uint64 // final responses sent, by class: "2xx".."6xx"
	SIPDropped    uint64            // packets from banned addresses dropped unparsed
	Outcomes      map[callinfo.Outcome]uint64
	// RTP counters of finished calls: packets sent to the phones, and packets the
	// phones' streams skipped (sequence gaps).
	RTPPacketsRelayed, RTPPacketsLost uint64
	// QueueWait sums the wait of callers who left each team's queue, by firm and team.
	QueueWait map[FirmTeam]WaitSum
}

// FirmTeam names a team across firms.
type FirmTeam struct{ Firm, Team string }

// WaitSum is a total wait and the number of callers it covers.
type WaitSum struct {
	Seconds float64
	Count   uint64
}

// Stats returns the current counters.
func (p *PBX) Stats() Stats {
	p.mu.Lock()
	active := len(p.live)
	outcomes := make(map[callinfo.Outcome]uint64, len(p.outcomes))
	for k, v := range p.outcomes {
		outcomes[k] = v
	}
	waits := make(map[FirmTeam]WaitSum, len(p.queueWait))
	for k, v := range p.queueWait {
		waits[k] = v
	}
	relayed, lost := p.rtpRelayed, p.rtpLost
	p.mu.Unlock()
	return Stats{
		ActiveCalls:   active,
		Registrations: p.reg.Count(),
		AuthFailures:  p.auth.Failures(),
		RTPPortsInUse: p.pool.InUse(),
		SIPRequests:   p.sip.RequestCounts(),
		SIPResponses:  p.sip.ResponseCounts(),
		SIPDropped:    p.sip.DroppedPackets(),
		Outcomes:      outcomes,

		RTPPacketsRelayed: relayed,
		RTPPacketsLost:    lost,
		QueueWait:         waits,
	}
}
