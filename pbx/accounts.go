package pbx

import (
	"crypto/subtle"
	"strings"
	"sync"
	"sync/atomic"

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

// accounts knows who is calling or registering: the firm a request belongs to
// and the digest credentials of its agents (from the file, or issued to a
// browser session).
type accounts struct {
	p *PBX
	// known caches the digest accounts of the running config's agents: hashing
	// each password with MD5 and SHA-256 on every REGISTER and INVITE was a
	// tenth of a REGISTER's CPU. A config reload starts a new cache.
	known atomic.Pointer[knownAccounts]
}

// knownAccounts holds the accounts of one config, by realm and username.
type knownAccounts struct {
	cfg *dialplan.Config
	m   sync.Map // realm + "\x00" + username -> auth.Account
}

// handleRegister authenticates a phone and hands the REGISTER to the registrar.
func (ac *accounts) handleRegister(req *sip.Request, tx sip.ServerTransaction) {
	p := ac.p
	f := p.accts.firmFor(req)
	acct, ok := p.auth.Authenticate(req, tx, f.Domain, false)
	if !ok {
		return
	}
	p.reg.HandleRegister(req, tx, f.ID, acct.Username)
}

// lookupAccount gives the digest layer the credentials of an agent: the username is
// the extension (or the agent id), the realm the firm's domain.
func (ac *accounts) lookupAccount(realm, username string) (auth.Account, bool) {
	p := ac.p
	cfg := p.cfg.Load()
	f := cfg.FirmByDomain(realm)
	if f == nil {
		return auth.Account{}, false
	}
	a := f.AgentByExtension(username)
	if a == nil {
		a = f.Agent(username)
	}
	if a == nil {
		return p.accts.sessionAccount(realm, username)
	}
	known := ac.known.Load()
	if known == nil || known.cfg != cfg {
		known = &knownAccounts{cfg: cfg}
		ac.known.Store(known)
	}
	key := realm + "\x00" + username
	if acct, ok := known.m.Load(key); ok {
		return acct.(auth.Account), true
	}
	acct := auth.Account{Realm: f.Domain, Username: username, ID: a.ID, HA1: map[string]string{}}
	if a.Password != "" {
		acct.HA1["MD5"] = auth.HA1("MD5", username, f.Domain, a.Password)
		acct.HA1["SHA-256"] = auth.HA1("SHA-256", username, f.Domain, a.Password)
	} else if a.HA1 != "" && username == a.Extension {
		acct.HA1["MD5"] = strings.ToLower(a.HA1)
	}
	known.m.Store(key, acct) // read-only from here on
	return acct, true
}

// firmFor picks the firm a phone's request belongs to: by the domain in From, then
// To and Request-URI; phones set up with the PBX's IP fall back to the default firm.
func (ac *accounts) firmFor(req *sip.Request) *dialplan.Firm {
	p := ac.p
	cfg := p.cfg.Load()
	for _, host := range []string{req.From().Address.Host, req.To().Address.Host, req.Recipient.Host} {
		if f := cfg.FirmByDomain(host); f != nil {
			return f
		}
	}
	return cfg.Firms[0]
}

// handleSubscribe accepts message-summary subscriptions from agents for their own
// mailbox and sends the current counts at once.
func (ac *accounts) handleSubscribe(req *sip.Request, tx sip.ServerTransaction) {
	p := ac.p
	if sip.EventPackage(req) != "message-summary" {
		p.sip.RejectEvent(tx, req, "message-summary")
		return
	}
	f := p.accts.firmFor(req)
	acct, ok := p.auth.Authenticate(req, tx, f.Domain, false)
	if !ok {
		return
	}
	p.mwi.subscribe(req, tx, f.ID, acct.ID)
}
