package pbx

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"strings"
	"time"

	"switchboard/dialplan"
	"switchboard/sip"
	"switchboard/store"
)

// ErrBadNumber is returned for a number that is not dialable.
var ErrBadNumber = errors.New("invalid number")

// validNumber accepts what a dial pad can produce, so nothing else reaches a header.
func validNumber(n string) bool {
	if n == "" || len(n) > 32 {
		return false
	}
	for i, r := range n {
		switch {
		case r >= '0' && r <= '9', r == '*', r == '#':
		case r == '+' && i == 0:
		default:
			return false
		}
	}
	return true
}

// ClickToCall makes the PBX ring the agent first (mobile through the trunk, or their
// registered phones) and, once they answer, dial number and bridge the two. It
// returns the call id at once; the call runs in the background.
func (p *PBX) ClickToCall(firmID, agentID, number string) (string, error) {
	if p.stopping.Load() {
		return "", errors.New("pbx is shutting down")
	}
	f := p.cfg.Load().Firm(firmID)
	if f == nil {
		return "", fmt.Errorf("%w: firm %s", ErrUnknownAgent, firmID)
	}
	a := f.Agent(agentID)
	if a == nil {
		return "", fmt.Errorf("%w: %s", ErrUnknownAgent, agentID)
	}
	if !validNumber(number) {
		return "", fmt.Errorf("%w: %q", ErrBadNumber, number)
	}
	d := f.Resolve(dialplan.Source{Agent: a}, number)
	if d.Kind != dialplan.RouteOutbound && d.Kind != dialplan.RouteAgent {
		return "", fmt.Errorf("%w: %s is neither an agent nor covered by an outbound route", ErrBadNumber, number)
	}
	c := p.newCall(f, nil, "outbound", a.Extension, number)
	if c == nil {
		return "", errors.New("pbx is shutting down")
	}
	if d.Kind == dialplan.RouteAgent {
		c.rec.Direction = "internal"
	}
	c.setAgent(a.ID)
	go func() {
		defer c.finish()
		p.clickToCall(c, a, d, nil)
	}()
	return c.ID, nil
}

// clickToCall runs the two legs; it reports whether the customer answered (for
// callbacks).
func (p *PBX) clickToCall(c *Call, a *dialplan.Agent, d dialplan.Decision, cb *store.Callback) bool {
	number := c.rec.To
	c.markBusy(a.ID)
	c.setState("ringing-agent")
	// The agent sees the customer's number; a mobile gets the trunk's number, since
	// carriers refuse to present numbers that are not ours.
	presented, name := number, "Call "+number
	if a.Routing == "mobile" {
		presented, name = "", ""
	}
	specs := p.agentTargets(c.Firm, a, presented, name)
	if len(specs) == 0 {
		c.outcome("failed", "480 Temporarily Unavailable")
		return false
	}
	ra := p.ring(c, specs, a.RingTimeout)
	if ra.outcome != "answered" {
		c.outcome(ra.outcome, ra.cause)
		p.log.Info("click-to-call: agent did not answer; customer not dialled", "call", c.ID, "agent", a.ID, "outcome", ra.outcome)
		return false
	}
	agentLeg, agentSess := ra.leg, ra.sess
	// Until the customer answers the agent hears ringback; hanging up stops it all.
	ctx, cancel := context.WithCancel(c.ctx)
	defer cancel()
	go func() {
		select {
		case <-agentLeg.Done():
			cancel()
		case <-ctx.Done():
		}
	}()
	ringCtx, stopRing := context.WithCancel(ctx)
	ringDone := make(chan struct{})
	go func() {
		defer close(ringDone)
		if pcm, err := p.sounds.Get("ringback"); err == nil {
			agentSess.PlayLoop(ringCtx, pcm)
		}
	}()
	stopRingback := func() { stopRing(); <-ringDone }

	c.setState("ringing-customer")
	var custSpecs []sip.DialSpec
	switch d.Kind {
	case dialplan.RouteAgent:
		custSpecs = p.agentTargets(c.Firm, d.Agent, a.Extension, a.Name)
	case dialplan.RouteOutbound:
		callerID := d.Trunk.CallerID
		if a.CallerID != "" {
			callerID = a.CallerID
		}
		if spec, ok := p.trunkSpec(c.Firm, number, callerID, ""); ok {
			custSpecs = []sip.DialSpec{spec}
		}
	}
	if len(custSpecs) == 0 {
		stopRingback()
		p.play(c.ctx, agentSess, "unavailable")
		agentLeg.Hangup(context.Background())
		c.outcome("failed", "404 Not Found")
		return false
	}
	sub := &Call{ID: c.ID, Firm: c.Firm, p: p, ctx: ctx, cancel: cancel}
	rc := p.ring(sub, custSpecs, outboundRingLimit)
	for _, s := range sub.sessions {
		c.track(s)
	}
	stopRingback()
	if rc.outcome != "answered" {
		select {
		case <-agentLeg.Done():
			c.outcome("abandoned", "")
			return false
		default:
		}
		p.play(c.ctx, agentSess, "unavailable")
		agentLeg.Hangup(context.Background())
		c.outcome(rc.outcome, rc.cause)
		return false
	}
	c.answered()
	c.outcome("answered", "200 OK")
	if cb != nil {
		p.finishCallback(c.Firm.ID, cb.ID, store.StateDone, "answered by "+a.ID)
	}
	p.bridge(c, agentLeg, agentSess, rc.leg, rc.sess)
	return true
}

// callbackQueued starts an automatic callback when an eligible agent is idle.
func (p *PBX) callbackQueued(firm, kind, id string) {
	f := p.cfg.Load().Firm(firm)
	if f == nil {
		return
	}
	switch kind {
	case "agent":
		go p.autoCallback(f, id)
	case "team":
		if t := f.Team(id); t != nil {
			for _, m := range t.Members {
				go p.autoCallback(f, m)
			}
		}
	}
}

// autoCallback dials the oldest pending callback an idle agent may take: their own
// entries (agent auto_callback) or their teams' (team auto_callback), only when no
// caller is waiting in that team's queue.
func (p *PBX) autoCallback(f *dialplan.Firm, agentID string) {
	if p.stopping.Load() {
		return
	}
	a := f.Agent(agentID)
	// Reserve the agent first: several wake-ups may race here, and only one may
	// ring the agent.
	if a == nil || !p.tryReserve(f.ID, agentID) {
		return
	}
	dialled := false
	defer func() {
		if !dialled {
			p.adjustBusy(f.ID, agentID, -1, false)
		}
	}()
	type src struct {
		kind, id    string
		maxAttempts int
		retry       time.Duration
	}
	var sources []src
	if a.AutoCallback {
		sources = append(sources, src{"agent", a.ID, a.MaxAttempts, time.Minute})
	}
	for _, t := range f.TeamsOf(a.ID) {
		if t.AutoCallback && p.QueueLength(f.ID, t.ID) == 0 {
			sources = append(sources, src{"team", t.ID, t.MaxAttempts, t.RetryDelay})
		}
	}
	now := time.Now()
	for _, s := range sources {
		cb, err := p.store.OldestPending(f.ID, s.kind, s.id, now)
		if err != nil {
			continue
		}
		claimed, err := p.store.ClaimCallback(f.ID, cb.ID, autoClaim+a.ID)
		if err != nil {
			continue // another agent took it: claims are atomic in the store
		}
		dialled = p.dialCallback(f, a, claimed, s.maxAttempts, s.retry)
		return
	}
}

// autoClaim prefixes ClaimedBy for entries the automatic dialer holds, so that a
// restart can tell them from claims agents made by hand.
const autoClaim = "auto:"

// recoverCallbacks puts entries that the automatic dialer held when the server
// stopped (crash or kill) back to pending: their call died with the process.
func (p *PBX) recoverCallbacks() {
	for _, f := range p.cfg.Load().Firms {
		list, err := p.store.ListCallbacks(f.ID, store.StateDialing, store.Page{})
		if err != nil {
			p.log.Error("recover callbacks", "firm", f.ID, "err", err)
			continue
		}
		for _, cb := range list {
			if !strings.HasPrefix(cb.ClaimedBy, autoClaim) {
				continue // an agent's own claim stays theirs
			}
			_, err := p.store.UpdateCallback(f.ID, cb.ID, func(c *store.Callback) error {
				if c.State == store.StateDialing && strings.HasPrefix(c.ClaimedBy, autoClaim) {
					c.State = store.StatePending
					c.ClaimedBy = ""
					c.Note = "attempt interrupted by a restart"
				}
				return nil
			})
			if err != nil {
				p.log.Error("recover callback", "id", cb.ID, "err", err)
			} else {
				p.log.Info("callback back to pending after restart", "firm", f.ID, "id", cb.ID)
			}
		}
	}
}

// dialCallback runs one attempt of a claimed callback as click-to-call; the agent's
// reservation passes to the call. It reports whether the call started.
func (p *PBX) dialCallback(f *dialplan.Firm, a *dialplan.Agent, cb store.Callback, maxAttempts int, retry time.Duration) bool {
	if !validNumber(cb.Caller) {
		p.finishCallback(f.ID, cb.ID, store.StateFailed, "caller number is not dialable")
		return false
	}
	d := f.Resolve(dialplan.Source{Agent: a}, cb.Caller)
	if d.Kind != dialplan.RouteOutbound && d.Kind != dialplan.RouteAgent {
		p.finishCallback(f.ID, cb.ID, store.StateFailed, "number not dialable: "+d.Why)
		return false
	}
	c := p.newCall(f, nil, "outbound", a.Extension, cb.Caller)
	if c == nil {
		p.releaseCallback(f.ID, cb.ID, -1, 0, "pbx shutting down")
		return false
	}
	c.adoptBusy(a.ID)
	c.setAgent(a.ID)
	if cb.TargetKind == "team" {
		c.setTeam(cb.TargetID)
	}
	p.log.Info("auto callback", "call", c.ID, "callback", cb.ID, "agent", a.ID, "number", cb.Caller, "attempt", cb.Attempts+1)
	go func() {
		defer c.finish()
		if p.clickToCall(c, a, d, &cb) {
			return
		}
		c.mu.Lock()
		agentAnswered := !c.rec.Answer.IsZero() || c.state == "ringing-customer"
		c.mu.Unlock()
		if !agentAnswered {
			// The agent declined or missed it: the customer was not called, so the
			// attempt does not count against them.
			p.releaseCallback(f.ID, cb.ID, -1, retry, "agent "+a.ID+" did not answer")
			return
		}
		p.releaseCallback(f.ID, cb.ID, 0, retry, "customer did not answer")
		if cur, err := p.store.GetCallback(f.ID, cb.ID); err == nil && cur.Attempts >= maxAttempts && cur.State == store.StatePending {
			p.finishCallback(f.ID, cb.ID, store.StateFailed, fmt.Sprintf("no answer after %d attempts", cur.Attempts))
		}
	}()
	return true
}

// releaseCallback puts a claimed entry back to pending after a failed attempt. The
// claim counted an attempt; attempts adjusts that (-1 when the customer was never
// dialled).
func (p *PBX) releaseCallback(firm, id string, attempts int, delay time.Duration, note string) {
	_, err := p.store.UpdateCallback(firm, id, func(cb *store.Callback) error {
		if cb.State != store.StateDialing {
			return nil
		}
		cb.State = store.StatePending
		cb.Attempts += attempts
		cb.ClaimedBy = ""
		cb.NextAttempt = time.Now().Add(delay)
		cb.Note = note
		return nil
	})
	if err != nil {
		p.log.Error("callback release", "id", id, "err", err)
	}
	if delay > 0 {
		time.AfterFunc(delay, func() {
			f := p.cfg.Load().Firm(firm)
			if f == nil {
				return
			}
			if cb, err := p.store.GetCallback(firm, id); err == nil {
				p.callbackQueued(firm, cb.TargetKind, cb.TargetID)
			}
		})
	}
}

func (p *PBX) finishCallback(firm, id, state, note string) {
	_, err := p.store.UpdateCallback(firm, id, func(cb *store.Callback) error {
		cb.State = state
		cb.Note = note
		return nil
	})
	if err != nil {
		p.log.Error("callback update", "id", id, "err", err)
	}
}

// trunkBySource finds the trunk whose URI names the address a request came from:
// a carrier we register to, or a peer we send calls to. Over UDP the port must match
// too (a phone on the carrier's host is not the carrier); over TCP/TLS the carrier's
// source port is ephemeral, so the address alone decides. Host names are resolved
// and cached.
func (p *PBX) trunkBySource(src netip.AddrPort, transport string) (*dialplan.Firm, *dialplan.Trunk) {
	udp := strings.EqualFold(transport, "udp")
	for _, f := range p.cfg.Load().Firms {
		for _, t := range f.Trunks {
			host, _, err := trunkHost(t.URI)
			if err != nil {
				continue
			}
			h, port, err := net.SplitHostPort(host)
			if err != nil {
				h, port = host, "5060"
			}
			if udp && port != fmt.Sprint(src.Port()) {
				continue
			}
			for _, a := range p.resolveHost(strings.Trim(h, "[]")) {
				if a == src.Addr() {
					return f, t
				}
			}
		}
	}
	return nil, nil
}

// resolveHost returns the addresses of a trunk host, from a 5-minute cache.
func (p *PBX) resolveHost(host string) []netip.Addr {
	if a, err := netip.ParseAddr(host); err == nil {
		return []netip.Addr{a.Unmap()}
	}
	p.dnsMu.Lock()
	e, ok := p.dns[host]
	p.dnsMu.Unlock()
	if ok && time.Since(e.at) < 5*time.Minute {
		return e.addrs
	}
	ctx, cancel := context.WithTimeout(p.ctx, 2*time.Second)
	defer cancel()
	addrs, err := net.DefaultResolver.LookupNetIP(ctx, "ip", host)
	if err != nil {
		p.log.Warn("trunk host lookup", "host", host, "err", err)
	}
	for i := range addrs {
		addrs[i] = addrs[i].Unmap()
	}
	p.dnsMu.Lock()
	p.dns[host] = dnsEntry{addrs: addrs, at: time.Now()}
	p.dnsMu.Unlock()
	return addrs
}

type dnsEntry struct {
	addrs []netip.Addr
	at    time.Time
}

// trunkHost returns host[:port] and transport of a trunk URI such as
// sip:sip.carrier.example:5060;transport=tcp.
func trunkHost(uri string) (string, string, error) {
	var u sip.Uri
	if err := sip.ParseURI(uri, &u); err != nil {
		return "", "", err
	}
	host := u.Host
	if u.Port != 0 {
		host = net.JoinHostPort(u.Host, fmt.Sprint(u.Port))
	}
	transport := "UDP"
	if t, ok := u.UriParams.Get("transport"); ok {
		transport = strings.ToUpper(t)
	}
	return host, transport, nil
}
