package pbx

import (
	"context"
	"fmt"
	"time"
)

// tookForTeam records that agent answered the call as a member of team: they get
// the team's wrap-up when they leave it.
func (c *Call) tookForTeam(agent, team string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.teamAgents == nil {
		c.teamAgents = map[string]string{}
	}
	c.teamAgents[agent] = team
}

// wrapUp starts the wrap-up of an agent leaving the call, when they took it for a
// team with a wrap_up time: no team offers and no automatic callbacks until it
// ends or they say ready. Direct calls still reach them. atEnd is set when the
// call itself ends: the call log then records the wrap-up of the agent who
// finished it (an agent who transferred it away has theirs, but not in this entry).
func (k *control) wrapUp(c *Call, agent string, atEnd bool) {
	p := k.p
	c.mu.Lock()
	teamID, ok := c.teamAgents[agent]
	delete(c.teamAgents, agent)
	c.mu.Unlock()
	if !ok {
		return
	}
	t := c.Firm.Team(teamID)
	if t == nil || t.WrapUp <= 0 {
		return
	}
	c.mu.Lock()
	logged := atEnd && c.rec.Agent == agent
	c.mu.Unlock()
	w := wrapUp{until: time.Now().Add(t.WrapUp), start: time.Now()}
	if logged {
		w.call = c.ID
	}
	until, started := p.presence.startWrapUp(c.Firm.ID, agent, w)
	if !started {
		return
	}
	if logged {
		c.mu.Lock()
		c.rec.WrapUp = t.WrapUp
		c.mu.Unlock()
	}
	p.log.Info("wrap-up", "firm", c.Firm.ID, "agent", agent, "team", t.ID, "until", until.Format(time.RFC3339))
	k.publishStatus(c.Firm.ID, agent)
	firm := c.Firm.ID
	p.tasks.after(t.WrapUp, func(context.Context) {
		if _, ended := p.presence.endWrapUp(firm, agent, until); ended {
			k.wrapUpOver(firm, agent)
		}
	})
}

// wrapUpOver tells the agent's views that wrap-up ended and lets queues and the
// dialer offer them work again.
func (k *control) wrapUpOver(firm, agent string) {
	k.p.log.Info("wrap-up over", "firm", firm, "agent", agent)
	k.publishStatus(firm, agent)
	k.agentMaybeFree(firm, agent)
}

// publishStatus sends an agent's status (with the wrap-up's end, if any) to
// live views.
func (k *control) publishStatus(firm, agent string) {
	p := k.p
	e := StatusEvent{Agent: agent, Firm: firm, Status: p.presence.get(firm, agent)}
	if u := p.presence.wrapUpUntil(firm, agent); !u.IsZero() {
		e.WrapUpUntil = &u
	}
	p.events.Publish(Event{Name: "status", Firm: firm, Agents: []string{agent}, Data: e})
	p.wall.touchAgents(firm, agent)
}

// Ready ends an agent's wrap-up early; it is a no-op when the agent is not in
// wrap-up. The call log keeps the wrap-up time the agent actually took.
func (p *PBX) Ready(firm, agent string) error {
	f := p.cfg.Load().Firm(firm)
	if f == nil || f.Agent(agent) == nil {
		return fmt.Errorf("%w: %s", ErrUnknownAgent, agent)
	}
	w, ended := p.presence.endWrapUp(firm, agent, time.Time{})
	if !ended {
		return nil
	}
	if w.call != "" {
		took := time.Since(w.start)
		p.mu.Lock()
		c := p.live[w.call]
		p.mu.Unlock()
		if c != nil {
			// Still being written: its entry takes the shorter time.
			c.mu.Lock()
			c.rec.WrapUp = took
			c.mu.Unlock()
		}
		if err := p.store.SetCallWrapUp(w.call, took); err != nil && c == nil {
			p.log.Warn("wrap-up: update call log", "call", w.call, "err", err)
		}
	}
	p.ctl.wrapUpOver(firm, agent)
	return nil
}

// WrapUpUntil is when an agent's wrap-up ends; zero when not in wrap-up.
func (p *PBX) WrapUpUntil(firm, agent string) time.Time {
	return p.presence.wrapUpUntil(firm, agent)
}
