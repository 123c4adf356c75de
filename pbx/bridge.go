package pbx

import (
	"context"
	"fmt"
	"sync/atomic"
	"time"

	"switchboard/callinfo"
	"switchboard/dialplan"
	"switchboard/rtp"
	"switchboard/sip"
)

// party is one side of a bridged call: its leg, its media, and the agent on it
// (nil for a customer or a carrier).
type party struct {
	leg   legControl
	sess  *rtp.Session
	agent *dialplan.Agent
	// viaTrunk: the agent is reached through a carrier (mobile routing); what
	// comes in on the leg is the carrier's, so it may not transfer the call.
	viaTrunk bool
}

func (pt party) agentID() string {
	if pt.agent == nil {
		return ""
	}
	return pt.agent.ID
}

// legControl is what the bridge needs of either kind of leg.
type legControl interface {
	Done() <-chan struct{}
	Hangup(ctx context.Context) error
	Reinvite(ctx context.Context, sdp []byte) ([]byte, error)
	OnOffer(h sip.OfferHandler)
	OnRefer(h sip.ReferHandler)
}

// bridging is one bridge of a call in progress. Only the call's goroutine runs
// it; other goroutines (a REFER, the API, a hold from either phone, another call
// taking a party over) reach it through Call.command, so that everything that
// changes who talks to whom happens in one place, one step at a time.
type bridging struct {
	k     *control
	c     *Call
	sides [2]party
	relay func() // stops the relay between the two sides

	held      [2]bool      // side i put the call on hold
	music     [2]func()    // stops the hold music side i hears
	holdSince time.Time    // when the call went on hold; zero when not held
	next      *afterBridge // set by a command that ends this bridge
	mon       *monitor     // a supervisor in the call (monitor.go)
}

// afterBridge says how a call goes on once its bridge ended by a command rather
// than a hang-up.
type afterBridge struct {
	// rebridge: the call goes on between these two parties (attended transfer).
	rebridge *[2]party
	// route: the party left in the call is routed by this decision (blind transfer).
	route *blindTransfer
	// handedOver: a party was given to another call; the call ends without
	// hanging it up, and hangup (the other party) is hung up.
	handedOver bool
	hangup     legControl
}

// bridge relays media between two answered parties until one hangs up, then hangs
// up the other. A transfer or a hand-over changes the parties on the way: the
// call goes on (and is logged) as one call.
func (k *control) bridge(c *Call, a, b party) {
	sides := [2]party{a, b}
	for {
		next := k.bridgeOnce(c, sides)
		switch {
		case next == nil:
			return
		case next.handedOver:
			next.hangup.Hangup(context.Background())
			return
		case next.rebridge != nil:
			sides = *next.rebridge
		case next.route != nil:
			k.continueTransfer(c, next.route)
			return
		}
	}
}

// bridgeOnce runs one bridge until a party hangs up (nil) or a command ends it.
func (k *control) bridgeOnce(c *Call, sides [2]party) *afterBridge {
	p := k.p
	br := &bridging{k: k, c: c, sides: sides}
	c.mu.Lock()
	c.state = callinfo.StateTalking
	if c.bridged.IsZero() {
		c.bridged = time.Now()
	}
	c.br = br
	c.parties = sides
	c.ringback = false
	c.connecting = false
	c.mu.Unlock()
	defer func() {
		c.mu.Lock()
		c.br = nil
		c.mu.Unlock()
		br.stopAll()
		br.endHold()
		c.setHeld(false)
	}()
	c.notifyAnswered()
	for i := range sides {
		k.linkParty(c, sides[i])
	}
	roles := [2]role{roleAgent, roleCustomer}
	if c.agentSide(sides) == 1 {
		roles = [2]role{roleCustomer, roleAgent}
	}
	c.taps.attach([2]*rtp.Session{sides[0].sess, sides[1].sess}, roles)
	// A party handed to another call must stop feeding this one.
	defer c.taps.detach()
	br.relay = rtp.Bridge(sides[0].sess, sides[1].sess)

	ctx := context.Background()
	watch := time.NewTicker(rtpCheckEvery)
	defer watch.Stop()
	lastIn, lastMove := uint64(0), time.Now()
	for {
		a, b := br.sides[0], br.sides[1]
		var supDone <-chan struct{}
		var supKeys, supInfo <-chan rune
		if m := br.mon; m != nil {
			supDone, supKeys, supInfo = m.sup.leg.Done(), m.sup.sess.DTMF(), m.infoDTM
		}
		select {
		case <-supDone:
			br.endMonitor(false, true)
		case d, ok := <-supKeys:
			if !ok { // the supervisor's session closed: their call is over
				br.endMonitor(false, true)
			} else if mode, ok := modeForDigit[d]; ok {
				br.setMode(mode)
			}
		case d := <-supInfo:
			if mode, ok := modeForDigit[d]; ok {
				br.setMode(mode)
			}
		case <-a.leg.Done():
			b.leg.Hangup(ctx)
			return nil
		case <-b.leg.Done():
			a.leg.Hangup(ctx)
			return nil
		case <-p.ctx.Done():
			a.leg.Hangup(ctx)
			b.leg.Hangup(ctx)
			return nil
		case cmd := <-c.cmds:
			cmd.run(br)
			if br.next != nil {
				return br.next
			}
		case <-watch.C:
			// A phone that vanished without BYE must not hold the agent forever:
			// no RTP from either side for rtpTimeout ends the call (not on hold).
			in := a.sess.Stats().PacketsIn + b.sess.Stats().PacketsIn
			if in != lastIn || br.onHold() {
				lastIn, lastMove = in, time.Now()
				continue
			}
			if time.Since(lastMove) >= rtpTimeout {
				p.log.Warn("no RTP from either leg, hanging up", "call", c.ID, "after", rtpTimeout)
				c.outcome(callinfo.Answered, callinfo.Cause{Reason: "RTP timeout"})
				a.leg.Hangup(ctx)
				b.leg.Hangup(ctx)
				return nil
			}
		}
	}
}

// agentSide says which side of a bridge is the agent's for recordings and
// supervisors: the call's agent, else the side with an agent (the callee when
// both have one).
func (c *Call) agentSide(sides [2]party) int {
	agent := c.agentID()
	for i, s := range sides {
		if s.agentID() == agent && agent != "" {
			return i
		}
	}
	if sides[0].agent != nil && sides[1].agent == nil {
		return 0
	}
	return 1
}

// rtpTimeout ends a bridged call that carries no media at all (Asterisk's
// rtptimeout); rtpCheckEvery is how often it is checked.
const (
	rtpTimeout    = 60 * time.Second
	rtpCheckEvery = 5 * time.Second
)

// linkParty makes a party's mid-call offers (hold, resume, new address) and its
// REFERs reach the call.
func (k *control) linkParty(c *Call, pt party) {
	leg := pt.leg
	pt.leg.OnOffer(k.offerHandler(pt.sess, func(held bool) {
		c.post(func(br *bridging) { br.setHold(leg, held) })
	}))
	pt.leg.OnRefer(k.referHandler(c, leg))
}

// side returns which side leg is on, or -1.
func (br *bridging) side(leg legControl) int {
	for i, s := range br.sides {
		if s.leg == leg {
			return i
		}
	}
	return -1
}

func (br *bridging) onHold() bool { return br.held[0] || br.held[1] }

// setHold records a hold or resume by the party on leg: the other party hears the
// hold music while one side holds, and the bridge carries on when it resumes.
func (br *bridging) setHold(leg legControl, held bool) {
	i := br.side(leg)
	if i < 0 || br.held[i] == held {
		return
	}
	was := br.onHold()
	br.held[i] = held
	for s := range br.sides {
		// A side hears music while the other holds and it does not.
		want := br.held[1-s] && !br.held[s]
		switch {
		case want && br.music[s] == nil:
			br.music[s] = br.k.playHoldMusic(br.c, br.sides[s].sess)
		case !want && br.music[s] != nil:
			br.music[s]()
			br.music[s] = nil
		}
	}
	switch now := br.onHold(); {
	case now && !was:
		br.holdSince = time.Now()
	case !now && was:
		br.endHold()
	}
	br.c.setHeld(br.onHold())
}

// endHold adds the time on hold so far to the call log.
func (br *bridging) endHold() {
	if br.holdSince.IsZero() {
		return
	}
	br.c.mu.Lock()
	br.c.rec.HoldTime += time.Since(br.holdSince)
	br.c.mu.Unlock()
	br.holdSince = time.Time{}
}

// stopAll stops the relay, any hold music and a supervisor's session (hung up):
// the bridge's sessions are about to change hands or close.
func (br *bridging) stopAll() {
	br.endMonitor(true, false)
	if br.relay != nil {
		br.relay()
	}
	for i, stop := range br.music {
		if stop != nil {
			stop()
			br.music[i] = nil
		}
	}
}

// playHoldMusic loops the call's hold music into sess until the returned stop is
// called (which waits for the player to finish).
func (k *control) playHoldMusic(c *Call, sess *rtp.Session) (stop func()) {
	pcm, err := k.p.apps.holdMusic(c)
	if err != nil {
		k.p.log.Warn("hold music", "call", c.ID, "err", err)
		return func() {}
	}
	return k.loopPCM(c, sess, pcm)
}

// A command is work for a call's bridge, run by the call's goroutine.
type command struct {
	fn    func(br *bridging) error
	reply chan error    // buffered; nil for posts nobody waits for
	until time.Time     // a post found later than this is dropped
	state *atomic.Int32 // cmdPending, then cmdRunning or cmdAbandoned (its sender gave up)
}

const (
	cmdPending int32 = iota
	cmdRunning
	cmdAbandoned
)

func (cmd command) run(br *bridging) {
	if cmd.state != nil && !cmd.state.CompareAndSwap(cmdPending, cmdRunning) {
		return
	}
	if !cmd.until.IsZero() && time.Now().After(cmd.until) {
		return
	}
	err := cmd.fn(br)
	if cmd.reply != nil {
		cmd.reply <- err
	}
}

// commandWait bounds how long a command waits for a call's bridge.
const commandWait = 3 * time.Second

// talking reports whether the call is bridged, or about to be (its callee has
// answered): what the API asks of a call in progress waits for the bridge then.
func (c *Call) talking() bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.br != nil || c.connecting
}

// command runs fn on the call's bridge and returns its error, or ErrNotAnswered
// when no bridge takes it within commandWait. A call just answered gets that long
// for its bridge to start: a phone may send REFER right after its 200.
func (c *Call) command(fn func(br *bridging) error) error {
	cmd := command{fn: fn, reply: make(chan error, 1), state: new(atomic.Int32)}
	timer := time.NewTimer(commandWait)
	defer timer.Stop()
	select {
	case c.cmds <- cmd:
	case <-c.ctx.Done():
		return ErrNotAnswered
	case <-timer.C:
		return fmt.Errorf("%w: the call has no bridge", ErrNotAnswered)
	}
	select {
	case err := <-cmd.reply:
		return err
	case <-c.ctx.Done():
	case <-timer.C:
	}
	// Given up, unless the bridge has begun to run it: then its answer counts,
	// since what it did cannot be undone.
	if cmd.state.CompareAndSwap(cmdPending, cmdAbandoned) {
		return fmt.Errorf("%w: the call has no bridge", ErrNotAnswered)
	}
	return <-cmd.reply
}

// post hands fn to the call's bridge without waiting. A post made just before the
// bridge starts (a hold sent right after the ACK) waits for it a little; it is
// dropped when the queue of commands is full.
func (c *Call) post(fn func(br *bridging)) {
	cmd := command{fn: func(br *bridging) error { fn(br); return nil }, until: time.Now().Add(commandWait)}
	select {
	case c.cmds <- cmd:
	default:
	}
}
