package pbx

import (
	"context"
	"math"
	"slices"
	"sync"
	"time"

	"switchboard/callinfo"
	"switchboard/dialplan"
)

// QueueStatus is one team as the wallboard shows it (GET /api/queues, the
// queue event's snapshot, the queue metrics).
type QueueStatus struct {
	Firm               string          `json:"firm"`
	Team               string          `json:"team"`
	Waiting            []WaitingCaller `json:"waiting"` // first in line first
	LongestWaitSeconds float64         `json:"longest_wait_seconds"`
	Members            []MemberState   `json:"members"` // in the team's member order
	Today              TeamToday       `json:"today"`
	// ServiceLevel is the share (0 to 1) of today's offered calls answered
	// within the team's service_level; 1 while none was offered.
	ServiceLevel   float64 `json:"service_level"`
	AvgWaitSeconds float64 `json:"avg_wait_seconds"` // mean queue wait of today's offered calls
	AvgTalkSeconds float64 `json:"avg_talk_seconds"` // mean talk time of today's answered calls
}

// WaitingCaller is a caller in a team's queue.
type WaitingCaller struct {
	Call        string  `json:"call"`
	From        string  `json:"from"`
	WaitSeconds float64 `json:"wait_seconds"`
}

// MemberState is what a team member is doing.
type MemberState struct {
	Agent string `json:"agent"`
	State string `json:"state"` // one of the Member* states
}

// Member states on the wallboard. A member's activity comes before their
// status: an agent who went away during a call is in-call until it ends.
const (
	MemberIdle    = "idle"    // online, free for the team's calls
	MemberRinging = "ringing" // a call (the team's or a direct one) rings them
	MemberInCall  = "in-call" // in a call, or placing one
	MemberWrapUp  = "wrap-up" // online, in wrap-up after a team call
	MemberAway    = "away"
	MemberOffline = "offline"
)

// Queues returns the wallboard of every team of firm, in the file's order;
// nil for an unknown firm.
func (p *PBX) Queues(firm string) []QueueStatus {
	f := p.cfg.Load().Firm(firm)
	if f == nil {
		return nil
	}
	now := time.Now()
	rings := p.ringingAgents(f.ID)
	out := make([]QueueStatus, 0, len(f.Teams))
	for _, t := range f.Teams {
		out = append(out, p.queueStatus(f, t, now, rings))
	}
	return out
}

// queueStatus builds one team's wallboard; rings counts the live calls ringing
// each agent of the firm.
func (p *PBX) queueStatus(f *dialplan.Firm, t *dialplan.Team, now time.Time, rings map[string]int) QueueStatus {
	qs := QueueStatus{Firm: f.ID, Team: t.ID, Waiting: []WaitingCaller{}, Members: make([]MemberState, 0, len(t.Members))}
	for _, c := range p.queues.get(f.ID, t.ID).callers() {
		c.mu.Lock()
		w := WaitingCaller{Call: c.ID, From: c.callerNum}
		if !c.queuedAt.IsZero() {
			w.WaitSeconds = tenths(now.Sub(c.queuedAt).Seconds())
		}
		c.mu.Unlock()
		qs.Waiting = append(qs.Waiting, w)
		qs.LongestWaitSeconds = max(qs.LongestWaitSeconds, w.WaitSeconds)
	}
	for _, id := range t.Members {
		qs.Members = append(qs.Members, MemberState{Agent: id, State: p.memberState(f.ID, id, now, rings[id])})
	}
	fig := p.teamStats.figures(f.ID, t.ID, t.ServiceLevel)
	qs.Today = fig.Today
	qs.ServiceLevel = fig.ServiceLevel
	qs.AvgWaitSeconds = tenths(fig.AvgWait)
	qs.AvgTalkSeconds = tenths(fig.AvgTalk)
	return qs
}

// tenths rounds seconds to a tenth: finer is noise on a wallboard.
func tenths(sec float64) float64 { return math.Round(sec*10) / 10 }

// memberState derives an agent's wallboard state from presence and the number
// of live calls ringing them. A queue offer reserves the agent (one busy mark
// per ringing offer), so only busy marks beyond the rings are calls they are in.
func (p *PBX) memberState(firm, agent string, now time.Time, rings int) string {
	status, busy, wrapUntil := p.presence.view(firm, agent)
	switch {
	case busy > rings:
		return MemberInCall
	case rings > 0:
		return MemberRinging
	case status == callinfo.Away:
		return MemberAway
	case status != callinfo.Online:
		return MemberOffline
	case now.Before(wrapUntil):
		return MemberWrapUp
	}
	return MemberIdle
}

// ringingAgents counts, for each agent of firm, the live calls ringing them.
func (p *PBX) ringingAgents(firm string) map[string]int {
	p.mu.Lock()
	calls := make([]*Call, 0, len(p.live))
	for _, c := range p.live {
		if c.Firm.ID == firm {
			calls = append(calls, c)
		}
	}
	p.mu.Unlock()
	out := map[string]int{}
	for _, c := range calls {
		c.mu.Lock()
		for a := range c.rung {
			out[a]++
		}
		c.mu.Unlock()
	}
	return out
}

// wallboard pushes a team's snapshot to its supervisors and the admins (queue
// events with action "update") when something on it changed: a member's state,
// a call of the team ended, a callback was stored. Call control only marks the
// team (touch, never blocking, safe under any lock); one goroutine builds and
// publishes the snapshots, so a burst of changes costs one snapshot per team.
// Joins and leaves are published at once by queueChanged, with the snapshot.
type wallboard struct {
	p     *PBX
	mu    sync.Mutex
	dirty map[FirmTeam]bool
	wake  chan struct{} // capacity 1: a pending wake-up covers every touch before it
}

func newWallboard(p *PBX) *wallboard {
	return &wallboard{p: p, dirty: map[FirmTeam]bool{}, wake: make(chan struct{}, 1)}
}

// touch marks teams of firm as changed.
func (w *wallboard) touch(firm string, teams ...string) {
	if len(teams) == 0 {
		return
	}
	w.mu.Lock()
	for _, t := range teams {
		w.dirty[FirmTeam{firm, t}] = true
	}
	w.mu.Unlock()
	select {
	case w.wake <- struct{}{}:
	default:
	}
}

// touchAgents marks the teams the agents are members of as changed.
func (w *wallboard) touchAgents(firm string, agents ...string) {
	f := w.p.cfg.Load().Firm(firm)
	if f == nil {
		return
	}
	var teams []string
	for _, a := range agents {
		for _, t := range f.TeamsOf(a) {
			if !slices.Contains(teams, t.ID) {
				teams = append(teams, t.ID)
			}
		}
	}
	w.touch(firm, teams...)
}

// touchAll marks every team (a reload may change members and supervisors).
func (w *wallboard) touchAll() {
	for _, f := range w.p.cfg.Load().Firms {
		for _, t := range f.Teams {
			w.touch(f.ID, t.ID)
		}
	}
}

// run publishes the snapshots of touched teams until ctx ends. At local
// midnight every team is pushed: today's figures start again from zero, and
// nothing else may change on a quiet night.
func (w *wallboard) run(ctx context.Context) {
	untilMidnight := func() time.Duration { return time.Until(midnight(time.Now()).AddDate(0, 0, 1)) }
	night := time.NewTimer(untilMidnight())
	defer night.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-night.C:
			night.Reset(untilMidnight())
			w.touchAll()
			continue
		case <-w.wake:
		}
		w.mu.Lock()
		dirty := w.dirty
		w.dirty = map[FirmTeam]bool{}
		w.mu.Unlock()
		for k := range dirty {
			w.publish(k.Firm, k.Team)
		}
	}
}

// publish sends one team's snapshot to its supervisors and the admins.
func (w *wallboard) publish(firm, team string) {
	p := w.p
	f := p.cfg.Load().Firm(firm)
	if f == nil {
		return
	}
	t := f.Team(team)
	if t == nil {
		return
	}
	qs := p.queueStatus(f, t, time.Now(), p.ringingAgents(firm))
	p.events.Publish(Event{Name: "queue", Firm: firm, Agents: slices.Clone(t.Supervisors), Data: QueueEvent{
		Firm: firm, Team: team, Action: "update", Length: len(qs.Waiting), QueueStatus: &qs,
	}})
}
