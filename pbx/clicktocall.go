package pbx

import (
	"context"
	"errors"
	"fmt"

	"switchboard/callinfo"
	"switchboard/dialplan"
	"switchboard/sip"
	"switchboard/store"
)

// ErrBadNumber is returned for a number that is not dialable.
var ErrBadNumber = errors.New("invalid number")

// ErrUnreachable is returned by ClickToCall when nothing could ring at once:
// the agent has no phone registered, or no outbound route covers their mobile
// or the number. Its text is meant for the agent ("no phone registered",
// "no route to +1555...").
var ErrUnreachable = errors.New("unreachable")

// unreachableError gives the reason alone as its text and matches ErrUnreachable.
type unreachableError struct{ reason string }

func (e *unreachableError) Error() string        { return e.reason }
func (e *unreachableError) Is(target error) bool { return target == ErrUnreachable }

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
	if err := p.ctl.clickToCallReachable(f, a, d, number); err != nil {
		return "", err
	}
	c := p.ctl.newCall(f, nil, callinfo.Outbound, a.Extension, number)
	if c == nil {
		return "", errors.New("pbx is shutting down")
	}
	if d.Kind == dialplan.RouteAgent {
		c.rec.Direction = callinfo.Internal
	}
	c.setAgent(a.ID)
	p.tasks.spawn(func(context.Context) {
		defer c.finish()
		p.ctl.clickToCall(c, a, d, nil)
	})
	return c.ID, nil
}

// clickToCallReachable checks what can be known before anything rings: the agent's
// phone is registered (computer routing), their mobile and the number have an
// outbound route. Later failures (busy, no answer) end the call and its events.
func (k *control) clickToCallReachable(f *dialplan.Firm, a *dialplan.Agent, d dialplan.Decision, number string) error {
	switch {
	case a.Routing == "mobile" && a.Mobile == "":
		return &unreachableError{"no mobile number set for " + a.ID}
	case a.Routing == "mobile":
		if _, ok := f.OutboundFor(a.Mobile); !ok {
			return &unreachableError{"no route to " + a.Mobile}
		}
	case len(k.agentTargets(f, a, "", "")) == 0:
		return &unreachableError{"no phone registered"}
	}
	if d.Kind != dialplan.RouteOutbound && d.Kind != dialplan.RouteAgent {
		return &unreachableError{"no route to " + number}
	}
	return nil
}

// clickToCall runs the two legs; it reports whether the customer answered (for
// callbacks).
func (k *control) clickToCall(c *Call, a *dialplan.Agent, d dialplan.Decision, cb *store.Callback) bool {
	p := k.p
	number := c.rec.To
	c.clickToCall.Store(true)
	c.markBusy(a.ID)
	c.setState(callinfo.StateRingingAgent)
	// The agent sees the customer's number; a mobile gets the trunk's number, since
	// carriers refuse to present numbers that are not ours.
	presented, name := number, "Call "+number
	if a.Routing == "mobile" {
		presented, name = "", ""
	}
	specs := k.agentTargets(c.Firm, a, presented, name)
	if len(specs) == 0 {
		c.outcome(callinfo.Failed, callinfo.CauseUnavailable)
		return false
	}
	c.notifyRinging(phaseAgent, a.ID)
	ra := k.ring(c, specs, a.RingTimeout)
	c.ringDone(a.ID, ra)
	if ra.outcome != callinfo.Answered {
		c.outcome(ra.outcome, ra.cause)
		p.log.Info("click-to-call: agent did not answer; customer not dialled", "call", c.ID, "agent", a.ID, "outcome", ra.outcome)
		return false
	}
	agentLeg, agentSess := ra.leg, ra.sess
	// Until the customer answers the agent hears ringback; hanging up stops it all.
	ctx, cancel := context.WithCancel(c.ctx)
	defer cancel()
	p.tasks.spawn(func(context.Context) {
		select {
		case <-agentLeg.Done():
			cancel()
		case <-ctx.Done():
		}
	})
	ringCtx, stopRing := context.WithCancel(ctx)
	ringDone := make(chan struct{})
	p.tasks.spawn(func(context.Context) {
		defer close(ringDone)
		if pcm, err := p.sounds.Get("ringback"); err == nil {
			agentSess.PlayLoop(ringCtx, pcm)
		}
	})
	stopRingback := func() { stopRing(); <-ringDone }

	c.setState(callinfo.StateRingingCustomer)
	c.notifyPhase(callinfo.EventRinging, a.ID, phaseCustomer)
	var custSpecs []sip.DialSpec
	switch d.Kind {
	case dialplan.RouteAgent:
		custSpecs = k.agentTargets(c.Firm, d.Agent, a.Extension, a.Name)
	case dialplan.RouteOutbound:
		callerID := d.Trunk.CallerID
		if a.CallerID != "" {
			callerID = a.CallerID
		}
		if spec, ok := k.trunkSpec(c.Firm, number, callerID, ""); ok {
			custSpecs = []sip.DialSpec{spec}
		}
	}
	if len(custSpecs) == 0 {
		stopRingback()
		p.apps.play(c.ctx, agentSess, "unavailable")
		agentLeg.Hangup(context.Background())
		c.outcome(callinfo.Failed, callinfo.CauseNotFound)
		return false
	}
	sub := &Call{ID: c.ID, Firm: c.Firm, p: p, ctx: ctx, cancel: cancel}
	rc := k.ring(sub, custSpecs, outboundRingLimit)
	for _, s := range sub.media.list() {
		c.media.track(s)
	}
	stopRingback()
	if rc.outcome != callinfo.Answered {
		select {
		case <-agentLeg.Done():
			c.outcome(callinfo.Abandoned, callinfo.Cause{})
			return false
		default:
		}
		p.apps.play(c.ctx, agentSess, "unavailable")
		agentLeg.Hangup(context.Background())
		c.outcome(rc.outcome, rc.cause)
		return false
	}
	c.answered()
	c.outcome(callinfo.Answered, callinfo.CauseOK)
	if cb != nil {
		p.dialer.finish(c.Firm.ID, cb.ID, autoClaim+a.ID, store.StateDone, "answered by "+a.ID)
	}
	customer := party{leg: rc.leg, sess: rc.sess}
	if d.Kind == dialplan.RouteAgent { // the "customer" is a colleague's extension
		customer = agentParty(c.Firm, d.Agent, rc)
	}
	k.recordNotice(c, customer.sess) // record.go
	k.bridge(c, agentParty(c.Firm, a, ra), customer)
	return true
}
