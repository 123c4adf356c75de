package pbx

import (
	"bytes"
	"context"
	"errors"
	"net/netip"
	"slices"
	"strings"
	"sync"
	"time"

	"switchboard/callinfo"
	"switchboard/dialplan"
	"switchboard/rtp"
	"switchboard/sip"
	"switchboard/store"
)

// trunkOf recognises a carrier's INVITE by its source (see TrunkForSource and
// trunks.bySource). A request with credentials is a phone's answer to our
// challenge, never a trunk.
func (k *control) trunkOf(cfg *dialplan.Config, req *sip.Request) (*dialplan.Firm, *dialplan.Trunk) {
	f, t, _ := k.trunkMatch(cfg, req, false)
	return f, t
}

// trunkMatch is trunkOf; cachedOnly does no DNS lookup (the SIP read path must
// not wait), and sure is false when one would have been needed.
func (k *control) trunkMatch(cfg *dialplan.Config, req *sip.Request, cachedOnly bool) (f *dialplan.Firm, t *dialplan.Trunk, sure bool) {
	if req.GetHeader("proxy-authorization") != nil || req.GetHeader("authorization") != nil {
		return nil, nil, true
	}
	src, _ := netip.ParseAddrPort(req.Source())
	src = netip.AddrPortFrom(src.Addr().Unmap(), src.Port())
	if f, t := cfg.TrunkForSource(src.Addr()); t != nil {
		return f, t, true
	}
	if cachedOnly {
		return k.p.trunks.bySourceCached(cfg, src, req.Transport())
	}
	f, t = k.p.trunks.bySource(cfg, src, req.Transport())
	return f, t, true
}

// challenge answers a phone's first REGISTER or INVITE, the one without
// credentials, on the SIP read path (sip.Server.OnChallenge): the same 401
// Authenticate sends, without a transaction. A carrier's INVITE (never
// challenged) and any INVITE while draining (503) take the normal path.
func (k *control) challenge(req *sip.Request) *sip.Response {
	p := k.p
	if req.IsInvite() {
		if p.stopping.Load() {
			return nil
		}
		// Unsure (a trunk host's address not cached): the normal path looks
		// it up, off the read loop.
		if _, t, sure := k.trunkMatch(p.cfg.Load(), req, true); t != nil || !sure {
			return nil
		}
	}
	return p.auth.Challenge(req, p.accts.firmFor(req).Domain)
}

// handleInvite is where every new call starts: find who is calling (a trunk by its
// address, otherwise a phone that must pass the digest check), accept the leg, ask the
// dialplan, run the decision, log the call.
func (k *control) handleInvite(req *sip.Request, tx sip.ServerTransaction) {
	p := k.p
	if p.stopping.Load() {
		// Draining for a restart: the caller's phone or carrier tries again
		// (another server of ours, or this one once back).
		p.sip.Respond(tx, req, 503, "Service Unavailable", sip.NewHeader("Retry-After", "30"))
		return
	}
	cfg := p.cfg.Load()
	var firm *dialplan.Firm
	var from dialplan.Source
	if f, t := k.trunkOf(cfg, req); t != nil {
		firm, from.Trunk = f, t
	} else {
		firm = p.accts.firmFor(req)
		// 401 rather than 407: we are the registrar and the UAS of the call, not a
		// proxy, and 401 is what every phone and the toll-fraud check expect.
		acct, ok := p.auth.Authenticate(req, tx, firm.Domain, false)
		if !ok {
			return
		}
		from.Agent = firm.Agent(acct.ID)
		if from.Agent == nil {
			p.sip.Respond(tx, req, 403, "Forbidden")
			return
		}
	}
	leg, err := p.sip.Accept(req, tx)
	if errors.Is(err, sip.ErrIntervalTooSmall) {
		return // answered 422: the caller retries with a longer Session-Expires
	}
	if err != nil {
		p.log.Warn("accept INVITE", "err", err)
		return
	}
	direction := callinfo.Internal
	caller := leg.FromUser()
	if from.Trunk != nil {
		direction = callinfo.Inbound
	} else {
		caller = from.Agent.Extension
	}
	dialled := leg.Dialled()
	if from.Trunk != nil && from.Trunk.Username != "" && dialled == from.Trunk.Username {
		// Carriers that we register to send calls to our Contact (the account
		// name) and put the DID in To.
		dialled = req.To().Address.User
	}
	d := firm.Resolve(from, dialled)
	if d.Kind == dialplan.RouteOutbound {
		direction = callinfo.Outbound
	}
	c := k.newCall(firm, leg, direction, caller, dialled)
	if c == nil {
		leg.Reject(503, "Service Unavailable")
		return
	}
	c.mu.Lock()
	c.trunk = from.Trunk
	c.mu.Unlock()
	c.setRecordRoute(d.Record) // record.go
	defer c.finish()
	if from.Agent != nil {
		c.callerAgent, c.inAgent = from.Agent, from.Agent
		c.rec.CallerAgent = from.Agent.ID
		c.markBusy(from.Agent.ID)
		if direction != callinfo.Internal {
			c.setAgent(from.Agent.ID)
		}
	}
	p.log.Info("call", "call", c.ID, "firm", firm.ID, "from", caller, "to", dialled, "decision", d.Kind.String(), "why", d.Why)
	// An offer we could never answer is refused before anything rings, not
	// after a callee picked up. A browser's offer is answered now: only pion
	// knows all it requires of one.
	if body := leg.SDP(); len(bytes.TrimSpace(body)) > 0 {
		md, err := c.media.checkOffer(body)
		if err == nil && md.WebRTC() {
			_, _, err = c.media.callerMedia()
		}
		if err != nil {
			p.log.Info("offer refused", "call", c.ID, "err", err)
			c.outcome(callinfo.Failed, callinfo.CauseNotAcceptableHere)
			leg.Reject(488, "Not Acceptable Here")
			return
		}
	}
	if rep, ok, err := sip.ReplacesOf(req); err != nil || ok {
		if err != nil {
			c.outcome(callinfo.Failed, callinfo.Cause{Code: 400, Reason: "Bad Request"})
			leg.Reject(400, "Bad Request")
			return
		}
		k.takeOver(c, rep)
		return
	}
	k.run(c, d)
}

// run carries out a routing decision for a call whose caller is c.In.
func (k *control) run(c *Call, d dialplan.Decision) {
	p := k.p
	switch d.Kind {
	case dialplan.Reject:
		c.outcome(callinfo.Failed, callinfo.Cause{Code: d.Code, Reason: d.Reason})
		c.In.Reject(d.Code, d.Reason)
	case dialplan.RouteAgent:
		k.callAgent(c, d.Agent)
	case dialplan.RouteTeam:
		k.queueCall(c, d.Team)
	case dialplan.RouteIVR:
		p.apps.runIVR(c, d.IVR)
	case dialplan.RouteVoicemail:
		p.apps.voicemailApp(c, d.Mailbox)
	case dialplan.RouteCallback:
		if d.Team != nil {
			p.apps.callbackApp(c, store.TargetTeam, d.Team.ID)
		} else if d.Agent != nil {
			p.apps.callbackApp(c, store.TargetAgent, d.Agent.ID)
		} else {
			c.In.Reject(404, "Not Found")
		}
	case dialplan.RouteOutbound:
		k.callOutbound(c, d.Trunk, d.Number)
	case dialplan.RouteFeature:
		p.apps.feature(c, d)
	default:
		c.outcome(callinfo.Failed, callinfo.CauseServerInternalError)
		c.In.Reject(500, "Server Internal Error")
	}
}

// callAgent delivers a call to an agent by their status and routing (SPEC section 1).
func (k *control) callAgent(c *Call, a *dialplan.Agent) {
	p := k.p
	c.setAgent(a.ID)
	if st := p.AgentStatus(c.Firm.ID, a.ID); st != callinfo.Online {
		k.unavailable(c, a, a.Away)
		return
	}
	specs := k.agentTargets(c.Firm, a, c.callerNumber(), c.In.FromDisplay())
	if len(specs) == 0 {
		c.outcome(callinfo.NoAnswer, callinfo.CauseUnavailable)
		k.unavailable(c, a, a.NoAnswer)
		return
	}
	c.setState(callinfo.StateRinging)
	c.notifyRinging("", a.ID)
	r := k.ring(c, specs, a.RingTimeout)
	c.ringDone(a.ID, r)
	switch r.outcome {
	case callinfo.Answered:
		c.markBusy(a.ID)
		k.connect(c, agentParty(c.Firm, a, r))
		return
	case callinfo.Abandoned:
		c.outcome(callinfo.Abandoned, callinfo.CauseRequestTerminated)
		return
	}
	c.outcome(r.outcome, r.cause)
	k.unavailable(c, a, a.NoAnswer)
}

// unavailable applies an agent's no_answer or away action.
func (k *control) unavailable(c *Call, a *dialplan.Agent, action string) {
	p := k.p
	if action == "callback" {
		p.apps.callbackApp(c, store.TargetAgent, a.ID)
		return
	}
	p.apps.voicemailApp(c, a.ID)
}

// agentTargets lists where an agent's calls ring: every registered contact for
// computer routing, the mobile number through the outbound route for mobile routing.
func (k *control) agentTargets(f *dialplan.Firm, a *dialplan.Agent, callerNum, callerName string) []sip.DialSpec {
	p := k.p
	if a.Routing == "mobile" {
		spec, ok := k.trunkSpec(f, a.Mobile, callerNum, callerName)
		if !ok {
			return nil
		}
		return []sip.DialSpec{spec}
	}
	var specs []sip.DialSpec
	seen := map[string]bool{}
	for _, user := range []string{a.Extension, a.ID} {
		for _, b := range p.reg.Contacts(f.ID, user) {
			if seen[b.Contact] {
				continue
			}
			seen[b.Contact] = true
			specs = append(specs, sip.DialSpec{
				URI: b.Contact, Destination: b.Source, Transport: b.Transport,
				FromUser: callerNum, FromDisplay: callerName, FromHost: f.Domain,
				ToURI: agentAOR(f, a),
			})
		}
	}
	return specs
}

// trunkSpec builds the INVITE for a number through the firm's outbound routes.
func (k *control) trunkSpec(f *dialplan.Firm, number, callerNum, callerName string) (sip.DialSpec, bool) {
	p := k.p
	d, ok := f.OutboundFor(number)
	if !ok || d.Trunk == nil {
		return sip.DialSpec{}, false
	}
	t := d.Trunk
	host, transport, err := trunkHost(t.URI)
	if err != nil {
		p.log.Error("trunk uri", "trunk", t.ID, "err", err)
		return sip.DialSpec{}, false
	}
	if callerNum == "" {
		callerNum = t.CallerID
	}
	return sip.DialSpec{
		URI:       "sip:" + d.Number + "@" + host,
		Transport: transport,
		FromUser:  callerNum, FromDisplay: callerName, FromHost: f.Domain,
		AuthUser: t.Username, AuthPass: t.Password,
	}, true
}

type ringResult struct {
	outcome callinfo.Outcome // answered, no-answer, busy, failed, abandoned
	cause   callinfo.Cause
	leg     outLeg
	sess    *rtp.Session
	spec    sip.DialSpec // the branch that answered
}

// agentParty is the answered leg of a ring for agent a: it counts as the agent's
// own (it may transfer by REFER) only when it rang one of the agent's registered
// phones, not their mobile through a carrier.
func agentParty(f *dialplan.Firm, a *dialplan.Agent, r ringResult) party {
	return party{leg: r.leg, sess: r.sess, agent: a, viaTrunk: r.spec.ToURI != agentAOR(f, a)}
}

// agentAOR is the address agentTargets puts in To when it rings an agent's phone.
func agentAOR(f *dialplan.Firm, a *dialplan.Agent) string {
	return "sip:" + a.Extension + "@" + f.Domain
}

// ring offers media and rings all specs at once for up to timeout: the first to
// answer wins and the others get CANCEL (parallel fork). The caller hears 180 when a
// branch rings. Plain phones share one media session and offer; each contact that
// registered over a WebSocket (a browser) gets a WebRTC session of its own, since
// its ICE and DTLS belong to one peer.
func (k *control) ring(c *Call, specs []sip.DialSpec, timeout time.Duration) ringResult {
	p := k.p
	specs = slices.Clone(specs)
	sessions, err := k.offerMedia(c, specs)
	if err != nil {
		for i, s := range sessions {
			if s != nil && slices.Index(sessions, s) == i {
				c.media.untrack(s)
			}
		}
		p.log.Error("ring: media", "call", c.ID, "err", err)
		return ringResult{outcome: callinfo.Failed, cause: callinfo.CauseServiceUnavailable}
	}
	release := func(keep *rtp.Session) {
		// The ports go back now: a queue may ring many times.
		for i, s := range sessions {
			if s != keep && slices.Index(sessions, s) == i {
				c.media.untrack(s)
			}
		}
	}
	var ringOnce sync.Once
	onProgress := func(code int, early []byte) {
		ringOnce.Do(func() {
			if c.In == nil || c.In.Answered() {
				return
			}
			// A single plain branch with early media (a carrier's ringback or
			// announcement) is relayed: 183 to the caller and the media bridged
			// now. Forks just ring: which branch's media would the caller hear?
			if sess := sessions[0]; code == 183 && len(early) > 0 && len(specs) == 1 && !sess.IsWebRTC() &&
				len(c.In.SDP()) > 0 && applyRemote(sess, early) == nil {
				if aSess, answer, err := c.media.callerMedia(); err == nil && c.In.Progress(answer) == nil {
					rtp.Bridge(aSess, sess)
					return
				}
			}
			c.In.Ring()
		})
	}
	stopRingback := k.ringbackWhileRinging(c)
	fr := p.forker.fork(c.ctx, specs, timeout, onProgress)
	stopRingback()
	leg := fr.leg
	if leg == nil {
		release(nil)
		if c.ctx.Err() != nil {
			fr.outcome = callinfo.Abandoned
		}
		return ringResult{outcome: fr.outcome, cause: fr.cause}
	}
	sess := sessions[fr.idx]
	release(sess)
	if sess.IsWebRTC() {
		err = sess.AcceptWebRTCAnswer(leg.RemoteSDP())
	} else {
		err = applyRemote(sess, leg.RemoteSDP())
	}
	if err != nil {
		p.log.Warn("ring: answer SDP", "call", c.ID, "err", err)
		c.media.untrack(sess)
		leg.Hangup(context.Background())
		return ringResult{outcome: callinfo.Failed, cause: callinfo.CauseNotAcceptableHere}
	}
	return ringResult{outcome: callinfo.Answered, leg: leg, sess: sess, spec: specs[fr.idx]}
}

// offerMedia opens the media sessions for ring and puts each branch's offer in
// its spec: sessions[i] is the session of specs[i].
func (k *control) offerMedia(c *Call, specs []sip.DialSpec) ([]*rtp.Session, error) {
	p := k.p
	sessions := make([]*rtp.Session, len(specs))
	var plain *rtp.Session
	var plainOffer []byte
	for i := range specs {
		if isWebSocket(specs[i].Transport) {
			s, err := p.pool.OpenWebRTC(p.mediaIP)
			if err != nil {
				return sessions, err
			}
			c.media.track(s)
			sessions[i] = s
			offer, err := s.OfferWebRTC()
			if err != nil {
				return sessions, err
			}
			sessions[i], specs[i].SDP = s, offer
			continue
		}
		if plain == nil {
			s, err := p.pool.Open()
			if err != nil {
				return sessions, err
			}
			c.media.track(s)
			sessions[i] = s
			if plainOffer, err = k.sdp(s, rtp.Supported, rtp.DefaultDTMFPT, rtp.SendRecv); err != nil {
				return sessions, err
			}
			plain = s
		}
		sessions[i], specs[i].SDP = plain, plainOffer
	}
	return sessions, nil
}

// isWebSocket tells whether a contact registered over ws or wss: a browser,
// which speaks WebRTC only.
func isWebSocket(transport string) bool {
	return strings.EqualFold(transport, "ws") || strings.EqualFold(transport, "wss")
}

// connect answers the caller and bridges them to the callee, the answered party,
// until either side hangs up.
func (k *control) connect(c *Call, callee party) {
	// The mid-call offer handlers go in before the 200: a phone may put the call on
	// hold right after its ACK.
	caller := party{leg: c.In, agent: c.inAgent}
	c.mu.Lock()
	c.connecting = true // a transfer asked for now waits for the bridge
	c.mu.Unlock()
	if aSess, _, err := c.media.callerMedia(); err == nil {
		caller.sess = aSess
		k.linkParty(c, caller)
		k.linkParty(c, callee)
	}
	aSess, err := c.answerCaller()
	if err != nil {
		callee.leg.Hangup(context.Background())
		if c.ctx.Err() != nil {
			c.outcome(callinfo.Abandoned, callinfo.CauseRequestTerminated)
		}
		return
	}
	caller.sess = aSess
	c.outcome(callinfo.Answered, callinfo.CauseOK)
	// The notice is for the customer: the callee when an agent called out.
	notice := aSess
	if caller.agent != nil && callee.agent == nil {
		notice = callee.sess
	}
	k.recordNotice(c, notice) // record.go
	k.bridge(c, caller, callee)
}

// callOutbound sends an agent's call out through a trunk.
func (k *control) callOutbound(c *Call, t *dialplan.Trunk, number string) {
	callerID := t.CallerID
	if a := c.callerAgent; a != nil && a.CallerID != "" {
		callerID = a.CallerID
	}
	spec, ok := k.trunkSpec(c.Firm, number, callerID, "")
	if !ok {
		c.outcome(callinfo.Failed, callinfo.CauseNotFound)
		c.In.Reject(404, "Not Found")
		return
	}
	c.setState(callinfo.StateDialing)
	r := k.ring(c, []sip.DialSpec{spec}, outboundRingLimit)
	switch r.outcome {
	case callinfo.Answered:
		k.connect(c, party{leg: r.leg, sess: r.sess})
	case callinfo.Abandoned:
		c.outcome(callinfo.Abandoned, callinfo.CauseRequestTerminated)
	default:
		c.outcome(r.outcome, r.cause)
		reject := callinfo.CauseUnavailable
		if r.outcome == callinfo.Busy {
			reject = callinfo.CauseBusyHere
		}
		c.In.Reject(reject.Code, reject.Reason)
	}
}

// outboundRingLimit bounds how long an outbound call may ring before we give up.
const outboundRingLimit = 3 * time.Minute

// control runs calls: it carries out the dialplan's decision for each (ring,
// fork, bridge, queue, click-to-call), with the PBX's components as its parts.
type control struct{ p *PBX }
