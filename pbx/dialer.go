package pbx

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"time"

	"switchboard/callinfo"
	"switchboard/dialplan"
	"switchboard/store"
)

// autoClaim prefixes ClaimedBy for entries the automatic dialer holds, so that a
// restart can tell them from claims agents made by hand.
const autoClaim = "auto:"

// callbackSweepEvery is how often housekeeping looks for due callbacks (retries
// whose delay has passed, entries left after a restart).
const callbackSweepEvery = 15 * time.Second

// dialer is the automatic callback dialer: one goroutine that, woken through a
// channel, offers due callbacks to the agents it was told may be free. An agent
// becoming idle, a callback queued or retried and the periodic sweep only mark
// agents and wake it.
type dialer struct {
	p    *PBX
	wake chan struct{} // holds one wake-up at most

	mu     sync.Mutex
	agents map[agentKey]bool // to try at the next wake-up
}

func newDialer(p *PBX) *dialer {
	return &dialer{p: p, wake: make(chan struct{}, 1), agents: map[agentKey]bool{}}
}

// poke marks an agent to be offered a due callback and wakes the dialer.
func (d *dialer) poke(firm, agent string) {
	d.mu.Lock()
	d.agents[agentKey{firm, agent}] = true
	d.mu.Unlock()
	select {
	case d.wake <- struct{}{}:
	default: // a wake-up is pending already and will see the agent
	}
}

// run is the dialer's goroutine.
func (d *dialer) run(ctx context.Context) {
	for {
		select {
		case <-ctx.Done():
			return
		case <-d.wake:
		}
		d.mu.Lock()
		agents := d.agents
		d.agents = map[agentKey]bool{}
		d.mu.Unlock()
		cfg := d.p.cfg.Load()
		for k := range agents {
			if f := cfg.Firm(k.firm); f != nil && ctx.Err() == nil {
				d.autoCallback(f, k.agent)
			}
		}
	}
}

// queued wakes the dialer for a callback queued for an agent or a team.
func (d *dialer) queued(firm, kind, id string) {
	f := d.p.cfg.Load().Firm(firm)
	if f == nil {
		return
	}
	switch kind {
	case store.TargetAgent:
		d.poke(firm, id)
	case store.TargetTeam:
		if t := f.Team(id); t != nil {
			for _, m := range t.Members {
				d.poke(firm, m)
			}
		}
	}
}

// sweep offers due callbacks to every idle agent: at start (entries left from
// before) and periodically (retries whose delay has passed).
func (d *dialer) sweep() {
	for _, f := range d.p.cfg.Load().Firms {
		for _, a := range f.Agents {
			if d.p.presence.idle(f.ID, a.ID) {
				d.poke(f.ID, a.ID)
			}
		}
	}
}

// autoCallback dials the oldest due callback an idle agent may take: their own
// entries (agent auto_callback) or their teams' (team auto_callback), and only while
// no caller waits in any of their teams' queues (callers first).
func (d *dialer) autoCallback(f *dialplan.Firm, agentID string) {
	p := d.p
	if p.stopping.Load() {
		return
	}
	a := f.Agent(agentID)
	if a == nil {
		return
	}
	teams := f.TeamsOf(a.ID)
	for _, t := range teams {
		if p.QueueLength(f.ID, t.ID) > 0 {
			return
		}
	}
	type source struct {
		kind, id    string
		maxAttempts int
		retry       time.Duration
	}
	var sources []source
	if a.AutoCallback {
		sources = append(sources, source{store.TargetAgent, a.ID, a.MaxAttempts, time.Minute})
	}
	for _, t := range teams {
		if t.AutoCallback {
			sources = append(sources, source{store.TargetTeam, t.ID, t.MaxAttempts, t.RetryDelay})
		}
	}
	if len(sources) == 0 {
		return
	}
	// Reserve the agent first: several wake-ups may race here, and only one may
	// ring the agent.
	if !p.presence.reserve(f.ID, agentID) {
		return
	}
	dialled := false
	defer func() {
		if !dialled {
			p.ctl.adjustBusy(f.ID, agentID, -1, false)
		}
	}()
	now := time.Now()
	for _, s := range sources {
		// A lost claim race or an entry that cannot be dialled now moves on to the
		// next one; a few tries bound the work of one wake-up.
		for range 5 {
			cb, err := p.store.OldestPending(f.ID, s.kind, s.id, now)
			if err != nil {
				break
			}
			claimed, err := p.store.ClaimCallback(f.ID, cb.ID, autoClaim+a.ID)
			if err != nil {
				continue // another agent took it: claims are atomic in the store
			}
			p.CallbackChanged(claimed)
			if d.dialCallback(f, a, claimed, s.maxAttempts, s.retry) {
				dialled = true
				return
			}
		}
	}
}

// recover puts entries that the automatic dialer held when the server
// stopped (crash or kill) back to pending: their call died with the process, and
// the interrupted attempt is not held against the customer.
func (d *dialer) recover() {
	p := d.p
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
			d.release(f.ID, cb.ID, cb.ClaimedBy, false, 0, 0, "attempt interrupted by a restart")
			p.log.Info("callback back to pending after restart", "firm", f.ID, "id", cb.ID)
		}
	}
}

// dialCallback runs one attempt of a claimed callback as click-to-call; the agent's
// reservation passes to the call. It reports whether the call started.
func (d *dialer) dialCallback(f *dialplan.Firm, a *dialplan.Agent, cb store.Callback, maxAttempts int, retry time.Duration) bool {
	p := d.p
	claimant := autoClaim + a.ID
	if !validNumber(cb.Caller) {
		d.finish(f.ID, cb.ID, claimant, store.StateFailed, "caller number is not dialable")
		return false
	}
	dec := f.Resolve(dialplan.Source{Agent: a}, cb.Caller)
	if dec.Kind != dialplan.RouteOutbound && dec.Kind != dialplan.RouteAgent {
		// Likely a configuration gap (a route or trunk missing for now): try again
		// later rather than give up on the customer.
		d.release(f.ID, cb.ID, claimant, false, retry, 0, "no route to the number: "+dec.Why)
		return false
	}
	c := p.ctl.newCall(f, nil, callinfo.Outbound, a.Extension, cb.Caller)
	if c == nil {
		d.release(f.ID, cb.ID, claimant, false, 0, 0, "pbx shutting down")
		return false
	}
	c.adoptBusy(a.ID)
	c.setAgent(a.ID)
	if cb.TargetKind == store.TargetTeam {
		c.setTeam(cb.TargetID)
	}
	p.log.Info("auto callback", "call", c.ID, "callback", cb.ID, "agent", a.ID, "number", cb.Caller, "attempt", cb.Attempts)
	p.tasks.spawn(func(context.Context) {
		defer c.finish()
		if p.ctl.clickToCall(c, a, dec, &cb) {
			return
		}
		c.mu.Lock()
		customerDialled := !c.rec.Answer.IsZero() || c.state == callinfo.StateRingingCustomer
		c.mu.Unlock()
		if !customerDialled {
			// The agent declined or missed it: the customer was not called, so the
			// attempt does not count against them.
			d.release(f.ID, cb.ID, claimant, false, retry, 0, "agent "+a.ID+" did not answer")
			return
		}
		d.release(f.ID, cb.ID, claimant, true, retry, maxAttempts, "customer did not answer")
	})
	return true
}

// release ends an attempt that did not reach the customer, in one update: the
// entry must still be dialling under claimant. When the customer was never dialled
// (uncounted) the claim is given back (store.Callback.Unclaim); otherwise the
// attempt counts, and after maxAttempts (if > 0) the entry fails
// (store.Callback.Unanswered). An entry tried again is pending after delay.
func (d *dialer) release(firm, id, claimant string, counted bool, delay time.Duration, maxAttempts int, note string) {
	p := d.p
	var retry bool
	cb, err := p.store.UpdateCallback(firm, id, func(cb *store.Callback) error {
		if cb.State != store.StateDialing || cb.ClaimedBy != claimant {
			return nil // cancelled or finished meanwhile: leave it
		}
		if counted {
			retry, _ = cb.Unanswered(maxAttempts) // dialling: cannot fail
		} else {
			retry = cb.Unclaim() == nil
		}
		if !retry {
			cb.Note = fmt.Sprintf("%s; gave up after %d attempts", note, cb.Attempts)
			return nil
		}
		cb.NextAttempt = time.Now().Add(delay)
		cb.Note = note
		return nil
	})
	if err != nil {
		p.log.Error("callback release", "id", id, "err", err)
		return
	}
	p.CallbackChanged(cb)
	if retry && delay > 0 {
		p.tasks.after(delay, func(context.Context) {
			if cb, err := p.store.GetCallback(firm, id); err == nil {
				p.dialer.queued(firm, cb.TargetKind, cb.TargetID)
			}
		})
	}
}

// finish records the end of an attempt (done, failed) if the entry is still
// held by claimant: an entry cancelled meanwhile stays cancelled.
func (d *dialer) finish(firm, id, claimant, state, note string) {
	p := d.p
	cb, err := p.store.UpdateCallback(firm, id, func(cb *store.Callback) error {
		if cb.State != store.StateDialing || cb.ClaimedBy != claimant {
			return nil
		}
		cb.Note = note
		return cb.Close(state) // dialling: cannot fail
	})
	if err != nil {
		p.log.Error("callback update", "id", id, "err", err)
		return
	}
	p.CallbackChanged(cb)
}
