package pbx

import (
	"context"
	"slices"
	"sync"
	"time"

	"switchboard/callinfo"
	"switchboard/dialplan"
	"switchboard/sip"
	"switchboard/store"
)

// teamQueue holds the callers waiting for one team, first in first out.
type teamQueue struct {
	mu      sync.Mutex
	waiting []*queued
	next    int           // round-robin position in the member list
	wake    chan struct{} // closed and replaced on every change that may let a caller move
}

type queued struct {
	c        *Call
	offering bool // ringing a member right now
}

func (q *teamQueue) broadcast() {
	q.mu.Lock()
	close(q.wake)
	q.wake = make(chan struct{})
	q.mu.Unlock()
}

func (q *teamQueue) length() int {
	q.mu.Lock()
	defer q.mu.Unlock()
	return len(q.waiting)
}

// callers lists the calls waiting, first in line first (the wallboard).
func (q *teamQueue) callers() []*Call {
	q.mu.Lock()
	defer q.mu.Unlock()
	out := make([]*Call, len(q.waiting))
	for i, w := range q.waiting {
		out[i] = w.c
	}
	return out
}

// queues owns the team queues, made on first use.
type queues struct {
	mu sync.Mutex
	m  map[agentKey]*teamQueue // by firm and team id
}

func (qs *queues) get(firm, team string) *teamQueue {
	qs.mu.Lock()
	defer qs.mu.Unlock()
	k := agentKey{firm, team}
	q := qs.m[k]
	if q == nil {
		q = &teamQueue{wake: make(chan struct{})}
		if qs.m == nil {
			qs.m = map[agentKey]*teamQueue{}
		}
		qs.m[k] = q
	}
	return q
}

// QueueLength returns how many callers wait for a team.
func (p *PBX) QueueLength(firm, team string) int { return p.queues.get(firm, team).length() }

// queueCall puts a caller in a team's queue: hold music, offers to idle members by
// the team's strategy, max_wait then on_timeout.
func (k *control) queueCall(c *Call, t *dialplan.Team) {
	p := k.p
	c.setTeam(t.ID)
	sess, err := c.answerCaller()
	if err != nil {
		return
	}
	c.setState(callinfo.StateQueued)
	c.mu.Lock()
	c.ringback = false // the queue plays hold music instead
	c.mu.Unlock()
	q := p.queues.get(c.Firm.ID, t.ID)
	me := &queued{c: c}
	q.mu.Lock()
	q.waiting = append(q.waiting, me)
	q.mu.Unlock()
	k.queueChanged(c, t, "join")
	joined := time.Now()
	leave := func() {
		q.mu.Lock()
		q.waiting = slices.DeleteFunc(q.waiting, func(x *queued) bool { return x == me })
		q.mu.Unlock()
		q.broadcast()
		c.mu.Lock()
		c.rec.QueueWait = time.Since(joined)
		c.mu.Unlock()
		k.queueChanged(c, t, "leave")
	}

	holdCtx, stopHold := context.WithCancel(c.ctx)
	holdDone := make(chan struct{})
	p.tasks.spawn(func(context.Context) {
		defer close(holdDone)
		if pcm, err := p.apps.holdMusic(c); err == nil {
			sess.PlayLoop(holdCtx, pcm)
		} else {
			p.log.Warn("hold music", "call", c.ID, "team", t.ID, "err", err)
		}
	})
	stopMusic := func() { stopHold(); <-holdDone }

	deadline := time.NewTimer(t.MaxWait)
	defer deadline.Stop()
	deadlineAt := joined.Add(t.MaxWait)
	tried := map[string]bool{}
	var roundStart time.Time
	for {
		// Offers follow each other without waiting on the timer: a member who lets
		// every offer ring out must not keep the caller past max_wait.
		if !time.Now().Before(deadlineAt) {
			leave()
			stopMusic()
			k.queueTimeout(c, t)
			return
		}
		q.mu.Lock()
		wake := q.wake
		candidates, newRound := k.offerable(q, me, c.Firm, t, tried)
		if len(candidates) > 0 {
			me.offering = true
		}
		q.mu.Unlock()

		if newRound {
			// Every idle member has had this call: pause before the next round so
			// that members who reject at once do not get a storm of INVITEs.
			if wait := roundPause(t) - time.Since(roundStart); !roundStart.IsZero() && wait > 0 {
				q.mu.Lock()
				me.offering = false
				q.mu.Unlock()
				pause := time.NewTimer(wait)
				select {
				case <-pause.C:
				case <-deadline.C:
					pause.Stop()
					leave()
					stopMusic()
					k.queueTimeout(c, t)
					return
				case <-c.ctx.Done():
					pause.Stop()
					leave()
					stopMusic()
					c.outcome(callinfo.Abandoned, callinfo.Cause{})
					return
				}
				continue
			}
			roundStart = time.Now()
		}
		if len(candidates) > 0 {
			// Reserve each member in one step (online, idle, now busy): another
			// team's queue or an automatic callback may want them at this moment.
			reserved := candidates[:0:0]
			for _, a := range candidates {
				tried[a.ID] = true
				if p.presence.reserve(c.Firm.ID, a.ID) {
					c.adoptBusy(a.ID)
					reserved = append(reserved, a)
				}
			}
			candidates = reserved
			if len(candidates) == 0 {
				q.mu.Lock()
				me.offering = false
				q.mu.Unlock()
				continue
			}
			q.broadcast() // callers behind may offer the other idle members now
			// An offer rings no longer than the caller may still wait.
			r := k.ringMembers(c, candidates, min(t.RingTimeout, time.Until(deadlineAt)))
			q.mu.Lock()
			me.offering = false
			q.mu.Unlock()
			if r.outcome == callinfo.Answered {
				// The agent first: the wallboard must not see the call out of the
				// queue with nobody taking it.
				c.setAgent(r.agent)
				c.tookForTeam(r.agent, t.ID)
				leave()
				stopMusic()
				for _, a := range candidates {
					if a.ID != r.agent {
						c.unmarkBusy(a.ID)
					}
				}
				c.outcome(callinfo.Answered, callinfo.CauseOK)
				k.recordNotice(c, sess) // record.go
				k.bridge(c, party{leg: c.In, sess: sess, agent: c.inAgent}, agentParty(c.Firm, c.Firm.Agent(r.agent), r.ringResult))
				return
			}
			for _, a := range candidates {
				c.unmarkBusy(a.ID)
			}
			if c.ctx.Err() != nil {
				leave()
				stopMusic()
				c.outcome(callinfo.Abandoned, callinfo.Cause{})
				return
			}
			continue
		}
		select {
		case <-wake:
		case <-deadline.C:
			leave()
			stopMusic()
			k.queueTimeout(c, t)
			return
		case <-c.ctx.Done():
			leave()
			stopMusic()
			c.outcome(callinfo.Abandoned, callinfo.Cause{})
			return
		}
	}
}

// queueTimeout applies a team's on_timeout to a caller who waited max_wait.
func (k *control) queueTimeout(c *Call, t *dialplan.Team) {
	p := k.p
	p.log.Info("queue timeout", "call", c.ID, "team", t.ID, "on_timeout", t.OnTimeout.String())
	target := t.OnTimeout
	if target.Kind == dialplan.TargetCallback && (target.ID == "" || target.ID == t.ID) {
		p.apps.callbackApp(c, store.TargetTeam, t.ID)
		return
	}
	p.apps.runAnswered(c, target.Decide(c.Firm))
}

// roundPause is the least time between two rounds of offers for one caller.
func roundPause(t *dialplan.Team) time.Duration { return min(t.RingTimeout, 2*time.Second) }

// offerable picks the members to ring for caller me, or none when it is not me's
// turn. Callers ahead that are not ringing anyone go first (FIFO); a member who did
// not answer is skipped for this call until every member has had a turn.
// Called with q.mu held.
func (k *control) offerable(q *teamQueue, me *queued, f *dialplan.Firm, t *dialplan.Team, tried map[string]bool) (cand []*dialplan.Agent, newRound bool) {
	p := k.p
	for _, w := range q.waiting {
		if w == me {
			break
		}
		if !w.offering {
			return nil, false
		}
	}
	var idle []*dialplan.Agent
	untried := 0
	for _, id := range t.Members {
		a := f.Agent(id)
		if a == nil || !p.AgentIdle(f.ID, id) || len(k.agentTargets(f, a, "", "")) == 0 {
			continue
		}
		idle = append(idle, a)
		if !tried[id] {
			untried++
		}
	}
	if len(idle) > 0 && (untried == 0 || len(tried) == 0) {
		clear(tried) // a new round
		newRound = true
	}
	for _, a := range idle {
		if !tried[a.ID] {
			cand = append(cand, a)
		}
	}
	if len(cand) == 0 {
		return nil, false
	}
	return q.pick(t, cand, func(cand []*dialplan.Agent) *dialplan.Agent { return p.presence.longestIdle(f.ID, cand) }), newRound
}

// pick applies the team's strategy to the members who may be offered the call
// (cand, in member order, not empty); longestIdle picks for longest-idle.
// Called with q.mu held.
func (q *teamQueue) pick(t *dialplan.Team, cand []*dialplan.Agent, longestIdle func([]*dialplan.Agent) *dialplan.Agent) []*dialplan.Agent {
	switch t.Strategy {
	case "ring-all":
		return cand
	case "linear":
		return cand[:1]
	case "longest-idle":
		return []*dialplan.Agent{longestIdle(cand)}
	default: // round-robin: the next member after the one offered last
		n := len(t.Members)
		for i := range n {
			id := t.Members[(q.next+i)%n]
			for _, a := range cand {
				if a.ID == id {
					q.next = (q.next + i + 1) % n
					return []*dialplan.Agent{a}
				}
			}
		}
		return cand[:1]
	}
}

type memberResult struct {
	ringResult
	agent string
}

// ringMembers rings the routing targets of several agents at once.
func (k *control) ringMembers(c *Call, agents []*dialplan.Agent, timeout time.Duration) memberResult {
	var specs []sip.DialSpec
	owner := map[string]string{}
	for _, a := range agents {
		for _, s := range k.agentTargets(c.Firm, a, c.callerNumber(), c.callerName()) {
			specs = append(specs, s)
			owner[s.URI] = a.ID
		}
	}
	if len(specs) == 0 {
		return memberResult{ringResult: ringResult{outcome: callinfo.NoAnswer}}
	}
	c.notifyRinging("", agentIDs(agents)...)
	r := k.ring(c, specs, timeout)
	if r.outcome != callinfo.Answered {
		c.ringDone("", r)
		return memberResult{ringResult: r}
	}
	// The agent is the call's before the ring is over for them: a view that
	// sees them busy and no longer ringing finds them in this call.
	c.setAgent(owner[r.leg.URI()])
	c.ringDone(owner[r.leg.URI()], r)
	return memberResult{ringResult: r, agent: owner[r.leg.URI()]}
}

func (c *Call) callerName() string {
	if c.In == nil {
		return ""
	}
	return c.In.FromDisplay()
}

// adoptBusy takes over a reservation made with tryReserve: finish releases it.
func (c *Call) adoptBusy(agent string) {
	c.mu.Lock()
	c.busy = append(c.busy, agent)
	c.mu.Unlock()
}

// release frees an agent who left the call before its end (a transfer): their
// wrap-up starts, then their busy mark goes, if the call holds one.
func (c *Call) release(agent string) {
	c.p.ctl.wrapUp(c, agent, false)
	c.mu.Lock()
	i := slices.Index(c.busy, agent)
	if i >= 0 {
		c.busy = slices.Delete(c.busy, i, i+1)
	}
	c.mu.Unlock()
	if i >= 0 {
		c.p.ctl.adjustBusy(c.Firm.ID, agent, -1, true)
	}
}

// unmarkBusy releases one reservation made with markBusy.
func (c *Call) unmarkBusy(agent string) {
	c.mu.Lock()
	for i, a := range c.busy {
		if a == agent {
			c.busy = append(c.busy[:i], c.busy[i+1:]...)
			break
		}
	}
	c.mu.Unlock()
	c.p.ctl.adjustBusy(c.Firm.ID, agent, -1, true)
}
