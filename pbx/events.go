package pbx

import (
	"maps"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"switchboard/callinfo"
	"switchboard/dialplan"
	"switchboard/store"
)

// Event is something that happened in the PBX, for live views (the API's
// Server-Sent Events stream).
type Event struct {
	Name   string   // status, call, callback, voicemail or queue
	Firm   string   // the firm it happened in
	Agents []string // the agents it concerns; none: of interest to admins only
	Data   any      // the JSON payload
	// AgentsOnly marks a copy of some news meant for Agents alone: the admins
	// get another copy of it (with more in it) and skip this one.
	AgentsOnly bool
}

// Concerns reports whether the event is about agent of firm.
func (e Event) Concerns(firm, agent string) bool {
	return e.Firm == firm && slices.Contains(e.Agents, agent)
}

// DefaultEventBuffer is the number of events a subscriber may lag behind
// before it loses events.
const DefaultEventBuffer = 64

// Hub fans events out to subscribers. Publish never blocks call control: a
// subscriber whose buffer is full loses the event, and the loss is counted.
type Hub struct {
	mu      sync.Mutex
	subs    map[*hubSub]struct{}
	dropped atomic.Uint64
}

type hubSub struct {
	ch     chan Event
	filter func(Event) bool
	lost   atomic.Uint64
}

// NewHub returns a hub without subscribers.
func NewHub() *Hub { return &Hub{subs: map[*hubSub]struct{}{}} }

// Subscription is one subscriber's view of a hub.
type Subscription struct {
	C      <-chan Event // closed by Cancel
	Cancel func()       // idempotent
	sub    *hubSub
}

// Lost returns how many events this subscriber lost to a full buffer.
func (s Subscription) Lost() uint64 { return s.sub.lost.Load() }

// Subscribe registers a subscriber with room for buffer events (DefaultEventBuffer
// when <= 0). filter, when set, picks the events it gets; it runs under the hub's
// lock and must be quick. Cancel unregisters and closes the channel.
func (h *Hub) Subscribe(buffer int, filter func(Event) bool) Subscription {
	if buffer <= 0 {
		buffer = DefaultEventBuffer
	}
	s := &hubSub{ch: make(chan Event, buffer), filter: filter}
	h.mu.Lock()
	h.subs[s] = struct{}{}
	h.mu.Unlock()
	var once sync.Once
	cancel := func() {
		once.Do(func() {
			h.mu.Lock()
			delete(h.subs, s)
			close(s.ch) // under the lock: Publish never sends on a closed channel
			h.mu.Unlock()
		})
	}
	return Subscription{C: s.ch, Cancel: cancel, sub: s}
}

// Publish hands e to every subscriber that wants it, without waiting for any.
func (h *Hub) Publish(e Event) {
	h.mu.Lock()
	defer h.mu.Unlock()
	for s := range h.subs {
		if s.filter != nil && !s.filter(e) {
			continue
		}
		select {
		case s.ch <- e:
		default:
			s.lost.Add(1)
			h.dropped.Add(1)
		}
	}
}

// Subscribers returns how many subscribers are registered.
func (h *Hub) Subscribers() int {
	h.mu.Lock()
	defer h.mu.Unlock()
	return len(h.subs)
}

// Dropped returns how many events subscribers lost in all.
func (h *Hub) Dropped() uint64 { return h.dropped.Load() }

// Events is the PBX's event hub.
func (p *PBX) Events() *Hub { return p.events }

// CallEvent is the payload of a "call" event: one call as one agent sees it
// (agent empty: the admins' copy of a call no agent took part in).
type CallEvent struct {
	ID          string              `json:"id"`
	State       callinfo.EventState `json:"state"`
	From        string              `json:"from"`
	To          string              `json:"to"`
	Direction   callinfo.Direction  `json:"direction"`
	Team        string              `json:"team,omitempty"`
	WaitSeconds float64             `json:"wait_seconds"` // in the team's queue, so far
	Outcome     callinfo.Outcome    `json:"outcome,omitempty"`
	Cause       string              `json:"cause,omitempty"`
	Agent       string              `json:"agent,omitempty"`
	Firm        string              `json:"firm"`
	ClickToCall bool                `json:"click_to_call"`
	Phase       string              `json:"phase,omitempty"` // click-to-call: agent or customer
}

// StatusEvent is the payload of a "status" event.
type StatusEvent struct {
	Agent  string          `json:"agent"`
	Firm   string          `json:"firm"`
	Status callinfo.Status `json:"status"`
	// WrapUpUntil is set while the agent is in wrap-up after a team call.
	WrapUpUntil *time.Time `json:"wrap_up_until,omitempty"`
}

// CallbackEvent is the payload of a "callback" event; State is the stored
// state (pending, dialing, done, failed, cancelled).
type CallbackEvent struct {
	ID     string `json:"id"`
	State  string `json:"state"`
	Agent  string `json:"agent,omitempty"` // who holds it
	Firm   string `json:"firm"`
	Number string `json:"number"`
	Target string `json:"target"` // agent:ID or team:ID
}

// VoicemailEvent is the payload of a "voicemail" event.
type VoicemailEvent struct {
	Mailbox string `json:"mailbox"`
	ID      string `json:"id"`
	Firm    string `json:"firm"`
	Agent   string `json:"agent,omitempty"` // the mailbox's owner
	Action  string `json:"action"`          // new, deleted, heard
}

// QueueEvent is the payload of a "queue" event: a caller joined or left a team's
// queue (action join or leave: every member hears of it), or something else on
// the team's wallboard changed (action update: no call or from).
type QueueEvent struct {
	Firm   string `json:"firm"`
	Team   string `json:"team"`
	Call   string `json:"call,omitempty"`
	From   string `json:"from,omitempty"`
	Action string `json:"action"` // join, leave, update
	Length int    `json:"length"` // callers waiting after the change
	// QueueStatus, in the copies for the team's supervisors and the admins, is
	// the team's wallboard after the change; its fields join the event's own.
	*QueueStatus
}

// Click-to-call phases: which leg is ringing or answered.
const (
	phaseAgent    = "agent"
	phaseCustomer = "customer"
)

// CallbackChanged tells who may work a callback entry that it changed: its
// target agent, the members of its target team, and whoever holds it.
func (p *PBX) CallbackChanged(cb store.Callback) {
	holder := strings.TrimPrefix(cb.ClaimedBy, autoClaim)
	var agents []string
	switch cb.TargetKind {
	case store.TargetAgent:
		agents = append(agents, cb.TargetID)
	case store.TargetTeam:
		if f := p.cfg.Load().Firm(cb.Firm); f != nil {
			if t := f.Team(cb.TargetID); t != nil {
				agents = append(agents, t.Members...)
			}
		}
	}
	if holder != "" && holder != "admin" && !slices.Contains(agents, holder) {
		agents = append(agents, holder)
	}
	p.events.Publish(Event{Name: "callback", Firm: cb.Firm, Agents: agents, Data: CallbackEvent{
		ID: cb.ID, State: cb.State, Agent: holder, Firm: cb.Firm, Number: cb.Caller, Target: cb.TargetKind + ":" + cb.TargetID,
	}})
}

// VoicemailChanged updates the message-waiting lamps of a mailbox and tells its
// owner (an agent's own mailbox) what happened to message id.
func (p *PBX) VoicemailChanged(firm, mailbox, id, action string) {
	p.mwi.notify(firm, mailbox)
	var agents []string
	owner := ""
	if f := p.cfg.Load().Firm(firm); f != nil {
		if box := f.Mailbox(mailbox); box != nil && box.Agent != "" {
			owner = box.Agent
			agents = []string{owner}
		}
	}
	p.events.Publish(Event{Name: "voicemail", Firm: firm, Agents: agents,
		Data: VoicemailEvent{Mailbox: mailbox, ID: id, Firm: firm, Agent: owner, Action: action}})
}

// queueChanged tells a team's members, its supervisors and the admins that a
// caller joined or left its queue; joining also starts the caller's queue wait.
func (k *control) queueChanged(c *Call, t *dialplan.Team, action string) {
	p := k.p
	if action == "join" {
		c.mu.Lock()
		c.queuedAt = time.Now()
		c.mu.Unlock()
	}
	c.mu.Lock()
	from := c.rec.From
	c.mu.Unlock()
	e := QueueEvent{Firm: c.Firm.ID, Team: t.ID, Call: c.ID, From: from, Action: action, Length: p.QueueLength(c.Firm.ID, t.ID)}
	// Members who do not supervise the team hear of the caller only: the
	// wallboard is for supervisors and admins (GET /api/queues answers them alone).
	var members []string
	for _, m := range t.Members {
		if !slices.Contains(t.Supervisors, m) {
			members = append(members, m)
		}
	}
	if len(members) > 0 {
		p.events.Publish(Event{Name: "queue", Firm: c.Firm.ID, Agents: members, AgentsOnly: true, Data: e})
	}
	qs := p.queueStatus(c.Firm, t, time.Now(), p.ringingAgents(c.Firm.ID))
	e.QueueStatus = &qs
	p.events.Publish(Event{Name: "queue", Firm: c.Firm.ID, Agents: slices.Clone(t.Supervisors), Data: e})
}

// callEventLocked describes the call to agent; called with c.mu held.
func (c *Call) callEventLocked(state callinfo.EventState, agent, phase string) CallEvent {
	e := CallEvent{
		ID: c.ID, State: state, From: c.rec.From, To: c.rec.To, Direction: c.rec.Direction, Team: c.rec.Team,
		Agent: agent, Firm: c.Firm.ID, ClickToCall: c.clickToCall.Load(),
	}
	if !c.queuedAt.IsZero() {
		e.WaitSeconds = time.Since(c.queuedAt).Round(time.Second).Seconds()
		if c.rec.QueueWait > 0 {
			e.WaitSeconds = c.rec.QueueWait.Round(time.Second).Seconds()
		}
	}
	if e.ClickToCall {
		e.Phase = phase
	}
	if state == callinfo.EventEnded {
		e.Outcome, e.Cause = c.rec.Outcome, c.rec.Cause
		if e.Outcome == "" {
			e.Outcome = callinfo.Failed
		}
	}
	return e
}

func (c *Call) publish(e CallEvent) {
	ev := Event{Name: "call", Firm: c.Firm.ID, Data: e}
	if e.Agent != "" {
		ev.Agents = []string{e.Agent}
	}
	c.p.events.Publish(ev)
}

// notifyRinging tells agents that their phones (or mobiles) ring for this call.
func (c *Call) notifyRinging(phase string, agents ...string) {
	var out []CallEvent
	c.mu.Lock()
	if c.rung == nil {
		c.rung = map[string]string{}
	}
	for _, a := range agents {
		c.rung[a] = phase
		out = append(out, c.callEventLocked(callinfo.EventRinging, a, phase))
	}
	c.mu.Unlock()
	c.p.wall.touchAgents(c.Firm.ID, agents...)
	for _, e := range out {
		c.publish(e)
	}
}

// notifyPhase tells agent that a click-to-call moved on (the customer rings).
func (c *Call) notifyPhase(state callinfo.EventState, agent, phase string) {
	c.mu.Lock()
	e := c.callEventLocked(state, agent, phase)
	c.mu.Unlock()
	c.publish(e)
}

// ringDone closes the ringing of the agents notifyRinging told about: the one
// who answered (winner) stays in the call; the others hear that it ended for
// them, with the ring's outcome (answered, with cause "answered elsewhere", when
// someone else took it: the outcomes are SPEC's).
func (c *Call) ringDone(winner string, r ringResult) {
	if r.outcome != callinfo.Answered {
		winner = ""
	}
	var out []CallEvent
	c.mu.Lock()
	rung := slices.Collect(maps.Keys(c.rung))
	for a, phase := range c.rung {
		if a == winner {
			continue
		}
		e := c.callEventLocked(callinfo.EventRinging, a, phase)
		e.State, e.Outcome, e.Cause = callinfo.EventEnded, r.outcome, r.cause.String()
		if r.outcome == callinfo.Answered {
			e.Outcome, e.Cause = callinfo.Answered, "answered elsewhere"
		}
		out = append(out, e)
		if c.told == nil {
			c.told = map[string]bool{}
		}
		c.told[a] = true
	}
	clear(c.rung)
	c.mu.Unlock()
	c.p.wall.touchAgents(c.Firm.ID, rung...)
	for _, e := range out {
		c.publish(e)
	}
}

// setHeld records a hold or resume from either leg and tells the agents in
// the call when it changed (state held, or answered again).
func (c *Call) setHeld(held bool) {
	if c.held.Swap(held) == held {
		return
	}
	state := callinfo.EventAnswered
	if held {
		state = callinfo.EventHeld
	}
	c.notifyState(state)
}

// notifyAnswered tells the agents in the call that it is connected.
func (c *Call) notifyAnswered() { c.notifyState(callinfo.EventAnswered) }

// notifyState tells the agents in the call its state.
func (c *Call) notifyState(state callinfo.EventState) {
	c.mu.Lock()
	var out []CallEvent
	for _, a := range c.partiesLocked() {
		out = append(out, c.callEventLocked(state, a, phaseCustomer))
	}
	c.mu.Unlock()
	for _, e := range out {
		c.publish(e)
	}
}

// notifyEnded tells everyone the call concerned that it is over: the agents in
// it and any still ringing; the admins' copy when no agent took part.
func (c *Call) notifyEnded() {
	c.mu.Lock()
	parties := c.partiesLocked()
	for a := range c.rung {
		if !slices.Contains(parties, a) {
			parties = append(parties, a)
		}
	}
	phase := phaseCustomer
	if c.state == callinfo.StateRingingAgent {
		phase = phaseAgent
	}
	var out []CallEvent
	for _, a := range parties {
		if !c.told[a] { // ringDone already told them
			out = append(out, c.callEventLocked(callinfo.EventEnded, a, phase))
		}
	}
	if len(parties) == 0 {
		out = append(out, c.callEventLocked(callinfo.EventEnded, "", ""))
	}
	c.mu.Unlock()
	for _, e := range out {
		c.publish(e)
	}
}

// partiesLocked lists the agents in the call: the one it is for and the one who
// placed it. Called with c.mu held.
func (c *Call) partiesLocked() []string {
	var out []string
	if c.rec.Agent != "" && !c.left[c.rec.Agent] {
		out = append(out, c.rec.Agent)
	}
	if c.rec.CallerAgent != "" && c.rec.CallerAgent != c.rec.Agent && !c.left[c.rec.CallerAgent] {
		out = append(out, c.rec.CallerAgent)
	}
	return out
}

func agentIDs(agents []*dialplan.Agent) []string {
	out := make([]string, len(agents))
	for i, a := range agents {
		out[i] = a.ID
	}
	return out
}
