package pbx

import (
	"crypto/subtle"
	"strings"

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
