package pbx

import (
	"log/slog"
	"sync"
	"time"

	"switchboard/callinfo"
	"switchboard/dialplan"
	"switchboard/store"
)

// presence owns what the PBX knows of each agent's availability: the status they
// set, the calls they are in and since when they are idle. Queues and the callback
// dialer ask it, and reserve an agent in one step through it, so that two of them
// never ring the same agent at once.
type presence struct {
	mu       sync.Mutex
	status   map[agentKey]callinfo.Status // live status cache, persisted in store
	busy     map[agentKey]int             // calls an agent is in (queues offer only idle agents)
	idleFrom map[agentKey]time.Time       // when the agent last became idle (longest-idle)
	// wrapUntil is when an agent's wrap-up after a team call ends: until then
	// queues and the callback dialer leave them alone.
	wrapUntil map[agentKey]wrapUp
}

// wrapUp is an agent's time after a team call.
type wrapUp struct {
	until time.Time
	start time.Time
	call  string // the call whose log entry records it, if any
}

type agentKey struct{ firm, agent string }

func newPresence() *presence {
	return &presence{status: map[agentKey]callinfo.Status{}, busy: map[agentKey]int{}, idleFrom: map[agentKey]time.Time{},
		wrapUntil: map[agentKey]wrapUp{}}
}

// load fills the status cache of every firm in cfg from the store and the file.
// The lock is held from the read to the seed: a status change persisted in
// between waits for it (set) instead of being overwritten by the older read.
func (pr *presence) load(st *store.Store, log *slog.Logger, cfg *dialplan.Config) {
	pr.mu.Lock()
	defer pr.mu.Unlock()
	for _, f := range cfg.Firms {
		stored, err := st.AgentStatuses(f.ID)
		if err != nil {
			log.Error("read agent status", "firm", f.ID, "err", err)
		}
		pr.seedLocked(f.ID, f.Agents, stored)
	}
}

// seed fills the status of a firm's agents: stored status wins over the file's
// starting one, and a status already known stays.
func (pr *presence) seed(firm string, agents []*dialplan.Agent, stored map[string]callinfo.Status) {
	pr.mu.Lock()
	defer pr.mu.Unlock()
	pr.seedLocked(firm, agents, stored)
}

// seedLocked is seed with pr.mu held.
func (pr *presence) seedLocked(firm string, agents []*dialplan.Agent, stored map[string]callinfo.Status) {
	for _, a := range agents {
		k := agentKey{firm, a.ID}
		if st, ok := stored[a.ID]; ok {
			pr.status[k] = st
		} else if _, ok := pr.status[k]; !ok {
			pr.status[k] = callinfo.Status(a.Status)
		}
		if _, ok := pr.idleFrom[k]; !ok {
			pr.idleFrom[k] = time.Time{}
		}
	}
}

// get returns an agent's status.
func (pr *presence) get(firm, agent string) callinfo.Status {
	pr.mu.Lock()
	defer pr.mu.Unlock()
	return pr.status[agentKey{firm, agent}]
}

// set records an agent's status (the caller persisted it).
func (pr *presence) set(firm, agent string, st callinfo.Status) {
	pr.mu.Lock()
	pr.status[agentKey{firm, agent}] = st
	pr.mu.Unlock()
}

// adjust changes the number of calls an agent is in.
func (pr *presence) adjust(firm, agent string, delta int) {
	k := agentKey{firm, agent}
	pr.mu.Lock()
	defer pr.mu.Unlock()
	pr.busy[k] += delta
	if pr.busy[k] <= 0 {
		delete(pr.busy, k)
		pr.idleFrom[k] = time.Now()
	}
}

// view returns an agent's status, the calls they are in (queue offers ringing
// them included) and the end of their wrap-up, read in one step.
func (pr *presence) view(firm, agent string) (callinfo.Status, int, time.Time) {
	k := agentKey{firm, agent}
	pr.mu.Lock()
	defer pr.mu.Unlock()
	return pr.status[k], pr.busy[k], pr.wrapUntil[k].until
}

// reserve marks an online, idle agent busy in one step.
func (pr *presence) reserve(firm, agent string) bool {
	k := agentKey{firm, agent}
	pr.mu.Lock()
	defer pr.mu.Unlock()
	if !pr.idleLocked(k) {
		return false
	}
	pr.busy[k] = 1
	return true
}

// idle reports whether an agent is online, in no call and not in wrap-up: free
// for queue offers and automatic callbacks.
func (pr *presence) idle(firm, agent string) bool {
	pr.mu.Lock()
	defer pr.mu.Unlock()
	return pr.idleLocked(agentKey{firm, agent})
}

func (pr *presence) idleLocked(k agentKey) bool {
	return pr.status[k] == callinfo.Online && pr.busy[k] == 0 && !time.Now().Before(pr.wrapUntil[k].until)
}

// startWrapUp puts an agent in wrap-up until w.until and returns that time; a
// wrap-up that runs longer already is kept (false).
func (pr *presence) startWrapUp(firm, agent string, w wrapUp) (time.Time, bool) {
	k := agentKey{firm, agent}
	pr.mu.Lock()
	defer pr.mu.Unlock()
	if cur := pr.wrapUntil[k]; !cur.until.Before(w.until) {
		return cur.until, false
	}
	pr.wrapUntil[k] = w
	return w.until, true
}

// endWrapUp ends an agent's wrap-up if it still ends at until (zero: whatever
// its end), and reports whether one was still running.
func (pr *presence) endWrapUp(firm, agent string, until time.Time) (wrapUp, bool) {
	k := agentKey{firm, agent}
	pr.mu.Lock()
	defer pr.mu.Unlock()
	cur, ok := pr.wrapUntil[k]
	if !ok || (!until.IsZero() && !cur.until.Equal(until)) {
		return wrapUp{}, false
	}
	delete(pr.wrapUntil, k)
	return cur, !until.IsZero() || time.Now().Before(cur.until)
}

// wrapUpUntil is when an agent's wrap-up ends; zero when not in wrap-up.
func (pr *presence) wrapUpUntil(firm, agent string) time.Time {
	pr.mu.Lock()
	defer pr.mu.Unlock()
	if u := pr.wrapUntil[agentKey{firm, agent}].until; time.Now().Before(u) {
		return u
	}
	return time.Time{}
}

// longestIdle picks the agent of cand (not empty) idle for the longest time; the
// first one wins a tie.
func (pr *presence) longestIdle(firm string, cand []*dialplan.Agent) *dialplan.Agent {
	pr.mu.Lock()
	defer pr.mu.Unlock()
	best := cand[0]
	for _, a := range cand[1:] {
		if pr.idleFrom[agentKey{firm, a.ID}].Before(pr.idleFrom[agentKey{firm, best.ID}]) {
			best = a
		}
	}
	return best
}
