package pbx

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"switchboard/callinfo"
	"switchboard/dialplan"
	"switchboard/rtp"
	"switchboard/sip"
	"switchboard/store"
)

// Errors of Transfer, each with its own HTTP status in the API.
var (
	// ErrNoCall: no live call has this id in the firm (404).
	ErrNoCall = errors.New("no such call")
	// ErrNotYourCall: an agent asked to transfer a call they are not in (403).
	ErrNotYourCall = errors.New("not your call")
	// ErrNotAnswered: the call is not talking, or has no agent to hand it over (409).
	ErrNotAnswered = errors.New("call not answered")
	// ErrBadTarget: the target is malformed or the dialplan reaches nothing with it (400).
	ErrBadTarget = errors.New("invalid transfer target")
)

// maxTransfers bounds the transfers of one call: a loop of agents passing a caller
// around must end somewhere.
const maxTransfers = 16

// blindTransfer is a call on its way to a new destination: the transferor leaves
// and the party left in the call is routed by d.
type blindTransfer struct {
	d     dialplan.Decision
	to    string // the target as the call log names it
	by    party  // the transferor
	stay  party  // the transferee
	refer *sip.Refer
}

// Transfer hands a live, answered call over to target ("EXT", "team:ID", "ivr:ID"
// or a number), as a blind transfer from the phone would: byAgent's leg (the agent
// in the call; "" for an admin, meaning the call's agent) leaves the call and the
// other party is routed to target by the dialplan as if that agent had dialled it.
func (p *PBX) Transfer(firm, callID, byAgent, target string) error {
	p.mu.Lock()
	c := p.live[callID]
	p.mu.Unlock()
	if c == nil || (firm != "" && c.Firm.ID != firm) {
		return fmt.Errorf("%w: %s", ErrNoCall, callID)
	}
	if byAgent != "" && !c.involves(byAgent) {
		return ErrNotYourCall
	}
	if strings.TrimSpace(target) == "" {
		return fmt.Errorf("%w: empty", ErrBadTarget)
	}
	if !c.talking() {
		return ErrNotAnswered
	}
	return c.command(func(br *bridging) error {
		from := -1
		for i, s := range br.sides {
			if s.agent == nil {
				continue
			}
			switch {
			case byAgent != "" && s.agent.ID == byAgent:
				from = i
			case byAgent == "" && (from < 0 || s.agent.ID == c.agentID()):
				from = i
			}
		}
		if from < 0 {
			if byAgent != "" {
				return ErrNotYourCall
			}
			return fmt.Errorf("%w: no agent in the call", ErrNotAnswered)
		}
		by := byAgent
		if by == "" {
			by = "admin"
		}
		return br.blind(from, target, nil, by)
	})
}

// involves reports whether agent takes part in the call (or rings for it).
func (c *Call) involves(agent string) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.left[agent] {
		return false
	}
	if c.rec.Agent == agent || c.rec.CallerAgent == agent {
		return true
	}
	for _, s := range c.parties {
		if s.agentID() == agent {
			return true
		}
	}
	return false
}

func (c *Call) agentID() string {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.rec.Agent
}

// blind ends the bridge so that the party facing side from goes to target, as if
// the agent on from had dialled it. by names the transferor in the call log.
func (br *bridging) blind(from int, target string, refer *sip.Refer, by string) error {
	x, y := br.sides[from], br.sides[1-from]
	if x.agent == nil || (refer != nil && x.viaTrunk) {
		// A customer or a carrier cannot send our calls anywhere (toll fraud).
		return ErrNotYourCall
	}
	if by == "" {
		by = x.agent.ID
	}
	d, to, err := transferDecision(br.c.Firm, x.agent, target)
	if err != nil {
		return err
	}
	if d.Kind == dialplan.RouteAgent && y.agent != nil && d.Agent.ID == y.agent.ID {
		return fmt.Errorf("%w: %s is the party being transferred", ErrBadTarget, target)
	}
	if err := br.c.addTransfer(by, to); err != nil {
		return err
	}
	br.k.p.log.Info("blind transfer", "call", br.c.ID, "by", by, "to", to, "decision", d.Kind.String(), "why", d.Why)
	br.c.keepParty(y)
	br.next = &afterBridge{route: &blindTransfer{d: d, to: to, by: x, stay: y, refer: refer}}
	return nil
}

// transferDecision resolves a transfer target as agent would dial it, and names it
// for the call log.
func transferDecision(f *dialplan.Firm, agent *dialplan.Agent, target string) (dialplan.Decision, string, error) {
	target = strings.TrimSpace(target)
	if id, ok := strings.CutPrefix(target, "team:"); ok {
		t := f.Team(id)
		if t == nil {
			return dialplan.Decision{}, "", fmt.Errorf("%w: no team %q", ErrBadTarget, id)
		}
		return dialplan.Decision{Kind: dialplan.RouteTeam, Team: t, Why: "transfer to team " + id}, "team:" + t.ID, nil
	}
	if id, ok := strings.CutPrefix(target, "ivr:"); ok {
		ivr := f.IVR(id)
		if ivr == nil {
			return dialplan.Decision{}, "", fmt.Errorf("%w: no IVR %q", ErrBadTarget, id)
		}
		return dialplan.Decision{Kind: dialplan.RouteIVR, IVR: ivr, Why: "transfer to IVR " + id}, "ivr:" + ivr.ID, nil
	}
	if !validNumber(target) {
		return dialplan.Decision{}, "", fmt.Errorf("%w: %q", ErrBadTarget, target)
	}
	d := f.Resolve(dialplan.Source{Agent: agent}, target)
	switch d.Kind {
	case dialplan.RouteAgent:
		if d.Agent.ID == agent.ID {
			return d, "", fmt.Errorf("%w: the call is already yours", ErrBadTarget)
		}
		return d, d.Agent.ID, nil
	case dialplan.RouteTeam:
		return d, "team:" + d.Team.ID, nil
	case dialplan.RouteIVR:
		return d, "ivr:" + d.IVR.ID, nil
	case dialplan.RouteOutbound, dialplan.RouteVoicemail, dialplan.RouteCallback:
		return d, target, nil
	case dialplan.Reject:
		return d, "", fmt.Errorf("%w: %s (%d %s)", ErrBadTarget, target, d.Code, d.Reason)
	default:
		// Feature codes act on the dialling agent, not on a caller.
		return d, "", fmt.Errorf("%w: %s cannot take a call", ErrBadTarget, target)
	}
}

// addTransfer appends a link to the call's chain of transfers.
func (c *Call) addTransfer(by, to string) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if len(c.rec.Transfers) >= maxTransfers {
		return fmt.Errorf("%w: the call was transferred %d times already", ErrBadTarget, maxTransfers)
	}
	c.rec.Transfers = append(c.rec.Transfers, store.Transfer{By: by, To: to, At: time.Now()})
	return nil
}

// continueTransfer carries out a blind transfer once the bridge has ended: the
// transferee becomes the call's caller, the transferor leaves, and the call is
// routed again under the transferor's permissions and caller ID.
func (k *control) continueTransfer(c *Call, bt *blindTransfer) {
	c.callerAgent = bt.by.agent
	k.leave(c, bt.by, bt.refer)
	c.mu.Lock()
	c.state = callinfo.StateRouting
	c.ringback = true // the transferee hears ringback while the target rings
	c.mu.Unlock()
	k.run(c, bt.d)
}

// keepParty makes y, the party that stays when the transferor leaves, the call's
// caller: its leg is followed, and its number is what agents, voicemail and
// callbacks see from now on. Run on the call's goroutine before the transferor's
// leg ends, so that its end is not taken for the caller's.
func (c *Call) keepParty(y party) {
	if leg, ok := y.leg.(inLeg); ok && leg == c.In {
		c.mu.Lock()
		c.inAgent = y.agent
		c.mu.Unlock()
		return
	}
	// The callee stays (the customer an agent had called, a colleague).
	c.mu.Lock()
	c.callerNum = c.rec.To
	if y.agent != nil {
		c.callerNum = y.agent.Extension
	}
	c.mu.Unlock()
	c.setCaller(asInLeg(y.leg), y.sess, y.agent)
}

// leave takes the transferor out of the call: the agent is told the call ended for
// them and is free again (after a wrap-up for a team call); the REFER hears that
// it succeeded; the leg is hung up and its media port given back.
func (k *control) leave(c *Call, x party, refer *sip.Refer) {
	p := k.p
	if x.agent != nil {
		c.markLeft(x.agent.ID)
		c.release(x.agent.ID)
	}
	if !p.tasks.spawn(func(ctx context.Context) {
		if refer != nil {
			nctx, cancel := context.WithTimeout(ctx, 5*time.Second)
			if err := refer.Notify(nctx, 200, "OK"); err != nil {
				p.log.Debug("transfer: NOTIFY", "call", c.ID, "err", err)
			}
			cancel()
		}
		x.leg.Hangup(context.WithoutCancel(ctx))
	}) {
		x.leg.Hangup(context.Background()) // the PBX is stopping: no NOTIFY
	}
	if x.sess != nil {
		c.media.untrack(x.sess)
	}
}

// markLeft records that an agent left the call and tells them it ended for them.
func (c *Call) markLeft(agent string) {
	c.mu.Lock()
	if c.left == nil {
		c.left = map[string]bool{}
	}
	c.left[agent] = true
	e := c.callEventLocked(callinfo.EventEnded, agent, phaseCustomer)
	e.Outcome, e.Cause = callinfo.Answered, "transferred"
	c.mu.Unlock()
	c.publish(e)
}

// referHandler answers the REFERs a party of the call sends: blind, or attended
// when Refer-To carries Replaces.
func (k *control) referHandler(c *Call, leg legControl) sip.ReferHandler {
	return func(r *sip.Refer) (int, string) {
		var err error
		if r.Replaces != nil {
			err = k.attended(c, leg, r)
		} else {
			target := r.Target.User
			if target == "" {
				target = r.Target.Host // tel:+15551234
			}
			err = c.command(func(br *bridging) error {
				i := br.side(leg)
				if i < 0 {
					return ErrNotAnswered
				}
				return br.blind(i, target, r, "")
			})
		}
		if err != nil {
			k.p.log.Info("REFER refused", "call", c.ID, "err", err)
		}
		return referAnswer(err)
	}
}

// referAnswer is the SIP answer to a REFER that ended with err.
func referAnswer(err error) (int, string) {
	switch {
	case err == nil:
		return 202, "Accepted"
	case errors.Is(err, ErrNotYourCall):
		return 403, "Forbidden"
	case errors.Is(err, ErrBadTarget):
		return 404, "Not Found"
	case errors.Is(err, ErrNoCall):
		return 481, "Call/Transaction Does Not Exist"
	case errors.Is(err, ErrNotAnswered):
		return 491, "Request Pending"
	default:
		return 500, "Server Internal Error"
	}
}

// attended joins the transferee (the party facing leg in c) to the other party of
// the transferor's consult call, which Replaces names; both of the transferor's
// legs end. c keeps its id; the consult call ends. It runs on the REFER's goroutine
// and asks each call in turn, so that no call waits on another.
func (k *control) attended(c *Call, leg legControl, r *sip.Refer) error {
	c2, m := k.p.partyOf(k.p.legByReplaces(*r.Replaces))
	if c2 == nil || c2.Firm.ID != c.Firm.ID {
		return fmt.Errorf("%w: Replaces %s", ErrNoCall, r.Replaces)
	}
	if c2 == c {
		return fmt.Errorf("%w: Replaces names this call", ErrBadTarget)
	}
	err := c.command(func(br *bridging) error {
		i := br.side(leg)
		if i < 0 {
			return ErrNotAnswered
		}
		if x := br.sides[i]; x.agent == nil || x.viaTrunk || !sameAgent(m.agent, x.agent) {
			// Only the agent on both calls may join them.
			return ErrNotYourCall
		}
		return c.canTransfer()
	})
	if err != nil {
		return err
	}
	z, err := c2.handOver(m.leg)
	if err != nil {
		return err
	}
	err = c.command(func(br *bridging) error {
		i := br.side(leg)
		if i < 0 {
			return ErrNotAnswered
		}
		x, y := br.sides[i], br.sides[1-i]
		c.adoptParty(z, x.agentID(), c2)
		k.p.log.Info("attended transfer", "call", c.ID, "by", x.agentID(), "consult", c2.ID, "to", z.agentID())
		c.keepParty(y)
		k.leave(c, x, r)
		br.next = &afterBridge{rebridge: &[2]party{y, z.party}}
		return nil
	})
	if err != nil {
		// The call ended meanwhile: the colleague has nobody to talk to.
		k.drop(c.Firm.ID, z)
	}
	return err
}

// canTransfer refuses a transfer past maxTransfers.
func (c *Call) canTransfer() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if len(c.rec.Transfers) >= maxTransfers {
		return fmt.Errorf("%w: the call was transferred %d times already", ErrBadTarget, maxTransfers)
	}
	return nil
}

// sameAgent compares agents by id: a reload gives the same agent a new value.
// Both must be set; the caller checks the firm.
func sameAgent(a, b *dialplan.Agent) bool { return a != nil && b != nil && a.ID == b.ID }

// handedParty is a party given from one call to another, with what it carries
// along: the team its agent took the call for (for wrap-up).
type handedParty struct {
	party
	team string
}

// adoptParty makes a party taken from another call (from) part of c: its media
// closes with c, its agent is busy with c and is now c's agent.
func (c *Call) adoptParty(z handedParty, by string, from *Call) {
	to := z.agentID()
	if to == "" {
		from.mu.Lock()
		to = from.rec.To
		from.mu.Unlock()
	}
	if by == "" {
		by = "admin"
	}
	c.mu.Lock()
	c.rec.Transfers = append(c.rec.Transfers, store.Transfer{By: by, To: to, At: time.Now()})
	c.mu.Unlock()
	c.media.track(z.sess)
	if z.agent != nil {
		c.adoptBusy(z.agent.ID)
		c.setAgent(z.agent.ID)
		if z.team != "" {
			c.tookForTeam(z.agent.ID, z.team)
		}
	}
}

// drop ends a handed party that no call could take after all.
func (k *control) drop(firm string, z handedParty) {
	z.leg.Hangup(context.Background())
	z.sess.Close()
	if z.agent != nil {
		k.adjustBusy(firm, z.agent.ID, -1, true)
	}
}

// handOver gives the party facing leg to another call: leg is hung up, this call
// ends, and the other party (with its media and its agent's busy mark) is returned
// still connected.
func (c *Call) handOver(leg legControl) (handedParty, error) {
	var z handedParty
	err := c.command(func(br *bridging) error {
		i := br.side(leg)
		if i < 0 {
			return fmt.Errorf("%w: leg not in call %s", ErrNoCall, c.ID)
		}
		z.party = br.sides[1-i]
		br.stopAll()
		c.media.release(z.sess)
		if z.agent != nil {
			c.dropBusy(z.agent.ID)
			c.mu.Lock()
			z.team = c.teamAgents[z.agent.ID]
			delete(c.teamAgents, z.agent.ID)
			c.mu.Unlock()
		}
		if l, ok := z.leg.(inLeg); ok && l == c.In {
			c.setCaller(nil, nil, nil)
		}
		c.outcome(callinfo.Answered, callinfo.CauseOK)
		br.next = &afterBridge{handedOver: true, hangup: br.sides[i].leg}
		return nil
	})
	return z, err
}

// dropBusy forgets one busy mark of agent without releasing it: the mark moves to
// the call that took the agent's party.
func (c *Call) dropBusy(agent string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	for i, a := range c.busy {
		if a == agent {
			c.busy = append(c.busy[:i], c.busy[i+1:]...)
			return
		}
	}
}

// takeOver runs an INVITE with Replaces (RFC 3891): the new caller takes the place
// of the leg it names and talks to that call's other party.
func (k *control) takeOver(c *Call, rep sip.Replaces) {
	refuse := func(code int, reason string, why string) {
		k.p.log.Info("INVITE with Replaces refused", "call", c.ID, "replaces", rep.String(), "why", why)
		c.outcome(callinfo.Failed, callinfo.Cause{Code: code, Reason: reason})
		c.In.Reject(code, reason)
	}
	c2, m := k.p.partyOf(k.p.legByReplaces(rep))
	if c2 == nil || c2.Firm.ID != c.Firm.ID {
		refuse(481, "Call/Transaction Does Not Exist", "no such dialog")
		return
	}
	if !k.mayReplace(c, c2, m) {
		refuse(403, "Forbidden", "the caller is neither the agent on that leg nor talking to them")
		return
	}
	z, err := c2.handOver(m.leg)
	if err != nil {
		refuse(481, "Call/Transaction Does Not Exist", err.Error())
		return
	}
	c.adoptParty(z, m.agentID(), c2)
	k.p.log.Info("INVITE with Replaces", "call", c.ID, "replaces", c2.ID, "talks to", z.agentID())
	sess, err := c.answerCaller()
	if err != nil {
		z.leg.Hangup(context.Background())
		return
	}
	c.outcome(callinfo.Answered, callinfo.CauseOK)
	k.bridge(c, party{leg: c.In, sess: sess, agent: c.inAgent}, z.party)
}

// mayReplace decides whether the caller of c may take the place of party m of c2
// (RFC 3891 section 6 leaves the policy to us): m must be an agent's leg, and the
// caller that same agent on another phone, or someone that agent is talking to in
// another call (the transferee of an attended transfer). Knowing the dialog's tags
// alone is not enough.
func (k *control) mayReplace(c, c2 *Call, m party) bool {
	if m.agent == nil {
		return false
	}
	c.mu.Lock()
	inAgent, trunk := c.inAgent, c.trunk
	c.mu.Unlock()
	if sameAgent(inAgent, m.agent) {
		return true
	}
	k.p.mu.Lock()
	calls := make([]*Call, 0, len(k.p.live))
	for _, x := range k.p.live {
		if x != c && x != c2 && x.Firm.ID == c.Firm.ID {
			calls = append(calls, x)
		}
	}
	k.p.mu.Unlock()
	for _, x := range calls {
		x.mu.Lock()
		bridged, sides, xTrunk := x.br != nil, x.parties, x.trunk
		x.mu.Unlock()
		if !bridged {
			continue
		}
		for i, s := range sides {
			if !sameAgent(s.agent, m.agent) {
				continue
			}
			other := sides[1-i]
			switch {
			case sameAgent(other.agent, inAgent):
				return true
			case inAgent == nil && trunk != nil && other.agent == nil && xTrunk == trunk:
				return true
			}
		}
	}
	return false
}

// legByReplaces finds the leg a Replaces names; nil when none.
func (p *PBX) legByReplaces(r sip.Replaces) legControl {
	in, out := p.sip.LegByReplaces(r)
	switch {
	case in != nil:
		return in
	case out != nil:
		return out
	}
	return nil
}

// partyOf finds the bridged call a leg is a party of.
func (p *PBX) partyOf(leg legControl) (*Call, party) {
	if leg == nil {
		return nil, party{}
	}
	p.mu.Lock()
	calls := make([]*Call, 0, len(p.live))
	for _, c := range p.live {
		calls = append(calls, c)
	}
	p.mu.Unlock()
	for _, c := range calls {
		c.mu.Lock()
		bridged, parties := c.br != nil, c.parties
		c.mu.Unlock()
		if !bridged {
			continue
		}
		for _, s := range parties {
			if rawLeg(s.leg) == leg {
				return c, s
			}
		}
	}
	return nil, party{}
}

// answeredLeg lets an answered outbound leg (the customer an agent had called)
// take the caller's place after a transfer.
type answeredLeg struct{ legControl }

// asInLeg makes leg usable as a call's caller.
func asInLeg(leg legControl) inLeg {
	if l, ok := leg.(inLeg); ok {
		return l
	}
	return answeredLeg{leg}
}

// rawLeg is the SIP leg behind a party's leg.
func rawLeg(l legControl) legControl {
	if w, ok := l.(answeredLeg); ok {
		return w.legControl
	}
	return l
}

func (l answeredLeg) CallID() string      { return "" }
func (l answeredLeg) FromDisplay() string { return "" }
func (l answeredLeg) SDP() []byte         { return nil }
func (l answeredLeg) AckSDP() []byte      { return nil }
func (l answeredLeg) Ring() error         { return nil }
func (l answeredLeg) Answered() bool      { return true }

func (l answeredLeg) Progress([]byte) error { return nil }
func (l answeredLeg) Answer([]byte) error   { return nil }

// Reject on an answered leg can only hang it up.
func (l answeredLeg) Reject(int, string, ...sip.Header) error {
	return l.Hangup(context.Background())
}

func (l answeredLeg) LastLocalSDP() []byte {
	if s, ok := l.legControl.(interface{ LastLocalSDP() []byte }); ok {
		return s.LastLocalSDP()
	}
	return nil
}

func (l answeredLeg) SetLocalSDP(b []byte) {
	if s, ok := l.legControl.(interface{ SetLocalSDP([]byte) }); ok {
		s.SetLocalSDP(b)
	}
}

func (l answeredLeg) InfoDTMF() <-chan rune {
	if s, ok := l.legControl.(interface{ InfoDTMF() <-chan rune }); ok {
		return s.InfoDTMF()
	}
	return nil
}

// ringbackWhileRinging plays ringback to a caller who is already answered (a
// transferee) while ring runs; it returns the stop function.
func (k *control) ringbackWhileRinging(c *Call) func() {
	c.mu.Lock()
	want := c.ringback
	c.mu.Unlock()
	sess := c.media.callerSess.Load()
	if !want || sess == nil {
		return func() {}
	}
	return k.loop(c, sess, "ringback")
}

// loop plays a built-in prompt over and over into sess until the returned stop
// is called (which waits for the player).
func (k *control) loop(c *Call, sess *rtp.Session, name string) func() {
	p := k.p
	pcm, err := p.sounds.Get(name)
	if err != nil {
		return func() {}
	}
	return k.loopPCM(c, sess, pcm)
}

// loopPCM plays pcm over and over into sess until the returned stop is called.
func (k *control) loopPCM(c *Call, sess *rtp.Session, pcm []int16) func() {
	ctx, cancel := context.WithCancel(c.ctx)
	done := make(chan struct{})
	if !k.p.tasks.spawn(func(context.Context) {
		defer close(done)
		sess.PlayLoop(ctx, pcm)
	}) {
		cancel()
		return func() {}
	}
	return func() { cancel(); <-done }
}
