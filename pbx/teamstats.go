package pbx

import (
	"slices"
	"sync"
	"time"

	"switchboard/callinfo"
	"switchboard/store"
)

// teamStats owns today's figures of every team for the wallboard: the calls its
// queue was offered and how they ended, the team callbacks stored, and the waits
// and talk times behind the averages and the service level.
//
// A call counts when its call log entry is written (Call.finish), on the day it
// started: the call log is ordered by start, so the figures rebuilt from the log at
// start (seed) are the ones counted live before a restart. A call counts once, for
// the team whose queue it waited in last (rec.Team with a queue wait; a call
// transferred through two queues is one call log entry). "Today" is the server's
// local day; the figures start from zero at local midnight.
type teamStats struct {
	mu  sync.Mutex
	now func() time.Time
	day time.Time // local midnight that starts the day counted
	m   map[FirmTeam]*teamDay
}

// teamDay is one team's figures of the day.
type teamDay struct {
	offered, answered, abandoned, callbacks int

	waitSum time.Duration // queue wait of every offered call
	talkSum time.Duration // talk time of the answered calls
	// answerWaits are the queue waits of the answered calls, sorted.
	answerWaits []time.Duration
}

// TeamToday are a team's counts since local midnight.
type TeamToday struct {
	Offered   int `json:"offered"`   // calls that waited in the team's queue and left it
	Answered  int `json:"answered"`  // of those, answered by a member
	Abandoned int `json:"abandoned"` // of those, the caller hung up while waiting
	Callbacks int `json:"callbacks"` // callback requests stored for the team
}

// teamFigures are a team's counts and the figures derived from them.
type teamFigures struct {
	Today TeamToday
	// ServiceLevel is the share of offered calls answered within the team's
	// service_level (wait <= service_level); 1 while no call was offered.
	ServiceLevel float64
	// AvgWait is the mean queue wait of the offered calls; AvgTalk the mean talk
	// time of the answered ones (seconds; 0 without calls).
	AvgWait, AvgTalk float64
}

func newTeamStats(now func() time.Time) *teamStats {
	if now == nil {
		now = time.Now
	}
	return &teamStats{now: now, m: map[FirmTeam]*teamDay{}}
}

// midnight is the start of t's local day.
func midnight(t time.Time) time.Time {
	y, m, d := t.Date()
	return time.Date(y, m, d, 0, 0, 0, 0, t.Location())
}

// rollLocked starts a new day when the clock left the one counted. Called with
// s.mu held.
func (s *teamStats) rollLocked() {
	if d := midnight(s.now()); !d.Equal(s.day) {
		s.day = d
		clear(s.m)
	}
}

func (s *teamStats) teamLocked(firm, team string) *teamDay {
	k := FirmTeam{firm, team}
	td := s.m[k]
	if td == nil {
		td = &teamDay{}
		s.m[k] = td
	}
	return td
}

// offeredTeam is the team whose queue a finished call waited in, if any. Only
// the queue sets a queue wait (and always a positive one): the team of an
// automatic callback's call, which never queued, does not make it offered.
func offeredTeam(rec *store.CallRecord) (string, bool) {
	return rec.Team, rec.Team != "" && rec.QueueWait > 0
}

// callEnded counts a finished call; it reports whether the call changed its
// team's figures (it was offered to a team today).
func (s *teamStats) callEnded(rec *store.CallRecord) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.rollLocked()
	return s.addCallLocked(rec)
}

func (s *teamStats) addCallLocked(rec *store.CallRecord) bool {
	team, ok := offeredTeam(rec)
	if !ok || rec.Start.Before(s.day) {
		return false
	}
	td := s.teamLocked(rec.Firm, team)
	td.offered++
	td.waitSum += rec.QueueWait
	switch rec.Outcome {
	case callinfo.Answered:
		td.answeredCall(rec.QueueWait, rec.TalkTime)
	case callinfo.Abandoned:
		td.abandoned++
	}
	return true
}

// answeredCall counts an answered call; its wait goes in sorted, so that the
// service level at any threshold is one binary search.
func (td *teamDay) answeredCall(wait, talk time.Duration) {
	td.answered++
	td.talkSum += talk
	i, _ := slices.BinarySearch(td.answerWaits, wait)
	td.answerWaits = slices.Insert(td.answerWaits, i, wait)
}

// callbackStored counts a callback request for a team, stored at created.
func (s *teamStats) callbackStored(firm, team string, created time.Time) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.rollLocked()
	if created.Before(s.day) {
		return
	}
	s.teamLocked(firm, team).callbacks++
}

// seed replaces the figures with those of today's call log entries and team
// callbacks (entries of other days are skipped).
func (s *teamStats) seed(calls []store.CallRecord, callbacks []store.Callback) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.day = midnight(s.now())
	clear(s.m)
	for i := range calls {
		s.addCallLocked(&calls[i])
	}
	for _, cb := range callbacks {
		if cb.TargetKind == store.TargetTeam && !cb.Created.Before(s.day) {
			s.teamLocked(cb.Firm, cb.TargetID).callbacks++
		}
	}
}

// since is the start of the day counted: entries from then on seed the figures.
func (s *teamStats) since() time.Time {
	return midnight(s.now())
}

// figures returns a team's figures of today; serviceLevel is the team's
// service_level now (a changed one applies to the whole day at once).
func (s *teamStats) figures(firm, team string, serviceLevel time.Duration) teamFigures {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.rollLocked()
	f := teamFigures{ServiceLevel: 1}
	td := s.m[FirmTeam{firm, team}]
	if td == nil {
		return f
	}
	f.Today = TeamToday{Offered: td.offered, Answered: td.answered, Abandoned: td.abandoned, Callbacks: td.callbacks}
	if td.offered > 0 {
		// Waits equal to the service level count as within it.
		within, _ := slices.BinarySearch(td.answerWaits, serviceLevel)
		for within < len(td.answerWaits) && td.answerWaits[within] == serviceLevel {
			within++
		}
		f.ServiceLevel = float64(within) / float64(td.offered)
		f.AvgWait = td.waitSum.Seconds() / float64(td.offered)
	}
	if td.answered > 0 {
		f.AvgTalk = td.talkSum.Seconds() / float64(td.answered)
	}
	return f
}
