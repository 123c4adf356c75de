package pbx

import (
	"crypto/rand"
	"fmt"
	"sync"
	"time"

	"switchboard/sip/auth"
)

// sessionCreds are SIP credentials issued for agents' browser sessions (the
// softphone in the agent app): a username of its own per session, mapped to
// the agent, so that the agent's password never reaches the page and revoking
// one session touches nothing else.
type sessionCreds struct {
	mu  sync.Mutex
	now func() time.Time
	m   map[string]sessionCred // by username
}

type sessionCred struct {
	firm, agent string
	password    string
	expires     time.Time
}

// SessionCredentials are SIP credentials valid while an API session is.
type SessionCredentials struct {
	Username string
	Password string
	Expires  time.Time
}

// credAlphabet is what the random parts of usernames and passwords are made of:
// lower-case letters and digits, safe in any SIP header and in JSON.
const credAlphabet = "abcdefghijklmnopqrstuvwxyz0123456789"

func randomString(n int) string {
	b := make([]byte, n)
	rand.Read(b) // never fails (Go 1.24+)
	for i := range b {
		b[i] = credAlphabet[int(b[i])%len(credAlphabet)]
	}
	return string(b)
}

// IssueSessionCredentials makes SIP credentials for agent of firm that the
// registrar and the INVITE check accept until expires or until they are revoked.
// The username is "EXT.web.RANDOM"; REGISTERs use the agent's own address
// (To sip:EXT@domain), with the issued username as the digest username.
func (p *PBX) IssueSessionCredentials(firm, agent string, expires time.Time) (SessionCredentials, error) {
	f := p.cfg.Load().Firm(firm)
	if f == nil || f.Agent(agent) == nil {
		return SessionCredentials{}, fmt.Errorf("%w: %s", ErrUnknownAgent, agent)
	}
	a := f.Agent(agent)
	c := SessionCredentials{
		Username: a.Extension + ".web." + randomString(10),
		Password: randomString(24),
		Expires:  expires,
	}
	cs := &p.webCreds
	cs.mu.Lock()
	defer cs.mu.Unlock()
	now := cs.now()
	for u, old := range cs.m {
		if !now.Before(old.expires) {
			delete(cs.m, u)
		}
	}
	cs.m[c.Username] = sessionCred{firm: f.ID, agent: a.ID, password: c.Password, expires: expires}
	return c, nil
}

// RevokeSessionCredentials makes issued credentials invalid at once.
func (p *PBX) RevokeSessionCredentials(username string) {
	p.webCreds.mu.Lock()
	delete(p.webCreds.m, username)
	p.webCreds.mu.Unlock()
}

// sessionAccount is lookupAccount's second source: credentials issued for a
// live session in the firm of realm. The account's Username is the agent's
// extension, so the registrar binds the browser where the agent's calls look.
func (ac *accounts) sessionAccount(realm, username string) (auth.Account, bool) {
	p := ac.p
	cs := &p.webCreds
	cs.mu.Lock()
	c, ok := cs.m[username]
	if ok && !cs.now().Before(c.expires) {
		delete(cs.m, username)
		ok = false
	}
	cs.mu.Unlock()
	if !ok {
		return auth.Account{}, false
	}
	f := p.cfg.Load().FirmByDomain(realm)
	if f == nil || f.ID != c.firm {
		return auth.Account{}, false
	}
	a := f.Agent(c.agent)
	if a == nil {
		return auth.Account{}, false
	}
	return auth.Account{Realm: f.Domain, Username: a.Extension, ID: a.ID, HA1: map[string]string{
		auth.MD5:    auth.HA1(auth.MD5, username, f.Domain, c.password),
		auth.SHA256: auth.HA1(auth.SHA256, username, f.Domain, c.password),
	}}, true
}
