package pbx

import (
	"sync"
	"testing"
	"time"

	"switchboard/callinfo"
	"switchboard/store"
)

// fakeClock is a settable clock for teamStats.
type fakeClock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *fakeClock) now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *fakeClock) set(t time.Time) {
	c.mu.Lock()
	c.t = t
	c.mu.Unlock()
}

// day is the fake clock's noon, in a zone of its own so that local midnight is
// not the UTC one.
var (
	zone = time.FixedZone("test", 5*3600+1800)
	noon = time.Date(2025, 3, 14, 12, 0, 0, 0, zone)
)

// teamCall is a finished call of team "support" of firm "f" that started at
// start, waited wait in the queue and talked talk.
func teamCall(start time.Time, outcome callinfo.Outcome, wait, talk time.Duration) store.CallRecord {
	return store.CallRecord{Firm: "f", Team: "support", Start: start, Outcome: outcome, QueueWait: wait, TalkTime: talk}
}

func TestTeamStatsFigures(t *testing.T) {
	t.Parallel()
	sec := time.Second
	for _, tc := range []struct {
		name  string
		calls []store.CallRecord
		cbs   int // team callbacks stored
		sl    time.Duration
		want  teamFigures
	}{
		{name: "no calls", sl: 20 * sec, want: teamFigures{ServiceLevel: 1}},
		{
			name: "a day",
			sl:   20 * sec,
			calls: []store.CallRecord{
				teamCall(noon, callinfo.Answered, 5*sec, 60*sec),                               // within
				teamCall(noon, callinfo.Answered, 20*sec, 120*sec),                             // exactly the level: within
				teamCall(noon, callinfo.Answered, 35*sec, 30*sec),                              // late
				teamCall(noon, callinfo.Abandoned, 10*sec, 0),                                  // hung up waiting
				teamCall(noon, callinfo.Callback, 50*sec, 0),                                   // max_wait, then a callback
				teamCall(noon, callinfo.Voicemail, 40*sec, 0),                                  // max_wait, then voicemail
				{Firm: "f", Team: "support", Start: noon, Outcome: "answered"},                 // an automatic callback: never queued
				{Firm: "f", Start: noon, Outcome: "answered", TalkTime: sec},                   // no team
				{Firm: "g", Team: "support", Start: noon, Outcome: "answered", QueueWait: sec}, // another firm
				teamCall(noon.Add(-13*time.Hour), callinfo.Answered, sec, sec),                 // yesterday
			},
			cbs: 2,
			want: teamFigures{
				Today:        TeamToday{Offered: 6, Answered: 3, Abandoned: 1, Callbacks: 2},
				ServiceLevel: 2.0 / 6,
				AvgWait:      (5 + 20 + 35 + 10 + 50 + 40) / 6.0,
				AvgTalk:      (60 + 120 + 30) / 3.0,
			},
		},
		{
			name:  "a longer service level counts the late call",
			sl:    35 * sec,
			calls: []store.CallRecord{teamCall(noon, callinfo.Answered, 5*sec, 10*sec), teamCall(noon, callinfo.Answered, 35*sec, 20*sec)},
			want:  teamFigures{Today: TeamToday{Offered: 2, Answered: 2}, ServiceLevel: 1, AvgWait: 20, AvgTalk: 15},
		},
		{
			name:  "abandoned only",
			sl:    20 * sec,
			calls: []store.CallRecord{teamCall(noon, callinfo.Abandoned, 3*sec, 0)},
			want:  teamFigures{Today: TeamToday{Offered: 1, Abandoned: 1}, ServiceLevel: 0, AvgWait: 3},
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			clock := &fakeClock{t: noon.Add(time.Hour)}
			live := newTeamStats(clock.now)
			var cbs []store.Callback
			for i := range tc.calls {
				live.callEnded(&tc.calls[i])
			}
			for range tc.cbs {
				live.callbackStored("f", "support", noon)
				cbs = append(cbs, store.Callback{Firm: "f", TargetKind: store.TargetTeam, TargetID: "support", Created: noon})
			}
			// Noise the seed must skip: an agent's callback, yesterday's team one.
			cbs = append(cbs, store.Callback{Firm: "f", TargetKind: store.TargetAgent, TargetID: "support", Created: noon},
				store.Callback{Firm: "f", TargetKind: store.TargetTeam, TargetID: "support", Created: noon.Add(-13 * time.Hour)})
			live.callbackStored("f", "support", noon.Add(-13*time.Hour))
			if got := live.figures("f", "support", tc.sl); !sameFigures(got, tc.want) {
				t.Errorf("live: got %+v, want %+v", got, tc.want)
			}
			// A restart rebuilds the same figures from the call log.
			seeded := newTeamStats(clock.now)
			seeded.seed(tc.calls, cbs)
			if got := seeded.figures("f", "support", tc.sl); !sameFigures(got, tc.want) {
				t.Errorf("seeded: got %+v, want %+v", got, tc.want)
			}
		})
	}
}

func sameFigures(a, b teamFigures) bool {
	near := func(x, y float64) bool { return x-y < 1e-9 && y-x < 1e-9 }
	return a.Today == b.Today && near(a.ServiceLevel, b.ServiceLevel) && near(a.AvgWait, b.AvgWait) && near(a.AvgTalk, b.AvgTalk)
}

// The figures start from zero at local midnight; a call that started before it
// and ends after counts for neither day.
func TestTeamStatsMidnight(t *testing.T) {
	t.Parallel()
	clock := &fakeClock{t: noon}
	s := newTeamStats(clock.now)
	c := teamCall(noon, callinfo.Answered, time.Second, time.Minute)
	if !s.callEnded(&c) {
		t.Fatal("today's call not counted")
	}
	s.callbackStored("f", "support", noon)
	if got := s.figures("f", "support", 20*time.Second).Today; got != (TeamToday{Offered: 1, Answered: 1, Callbacks: 1}) {
		t.Fatalf("before midnight: %+v", got)
	}
	nextDay := midnight(noon).Add(24 * time.Hour)
	if want := time.Date(2025, 3, 15, 0, 0, 0, 0, zone); !nextDay.Equal(want) {
		t.Fatalf("local midnight %v, want %v", nextDay, want)
	}
	clock.set(nextDay.Add(time.Second))
	if got := s.figures("f", "support", 20*time.Second); !sameFigures(got, teamFigures{ServiceLevel: 1}) {
		t.Fatalf("after midnight: %+v", got)
	}
	late := teamCall(nextDay.Add(-time.Minute), callinfo.Answered, time.Second, time.Minute)
	if s.callEnded(&late) {
		t.Fatal("a call that started yesterday counted today")
	}
	early := teamCall(nextDay, callinfo.Abandoned, time.Second, 0)
	if !s.callEnded(&early) {
		t.Fatal("a call that started at midnight not counted")
	}
	if got := s.figures("f", "support", 20*time.Second).Today; got != (TeamToday{Offered: 1, Abandoned: 1}) {
		t.Fatalf("the new day: %+v", got)
	}
}

// A member's activity comes before their status, and ringing offers (which
// reserve the member) are not calls they are in.
func TestMemberState(t *testing.T) {
	t.Parallel()
	now := noon
	for _, tc := range []struct {
		name   string
		status callinfo.Status
		busy   int
		rings  int
		wrap   time.Time
		want   string
	}{
		{"online and free", callinfo.Online, 0, 0, time.Time{}, MemberIdle},
		{"a queue offer rings", callinfo.Online, 1, 1, time.Time{}, MemberRinging},
		{"a direct call rings", callinfo.Online, 0, 1, time.Time{}, MemberRinging},
		{"talking", callinfo.Online, 1, 0, time.Time{}, MemberInCall},
		{"talking, went away meanwhile", callinfo.Away, 1, 0, time.Time{}, MemberInCall},
		{"wrap-up", callinfo.Online, 0, 0, now.Add(time.Minute), MemberWrapUp},
		{"wrap-up over", callinfo.Online, 0, 0, now, MemberIdle},
		{"away in wrap-up", callinfo.Away, 0, 0, now.Add(time.Minute), MemberAway},
		{"away", callinfo.Away, 0, 0, time.Time{}, MemberAway},
		{"offline", callinfo.Offline, 0, 0, time.Time{}, MemberOffline},
		{"unknown", "", 0, 0, time.Time{}, MemberOffline},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			p := &PBX{presence: newPresence()}
			k := agentKey{"f", "a"}
			if tc.status != "" {
				p.presence.status[k] = tc.status
			}
			if tc.busy > 0 {
				p.presence.busy[k] = tc.busy
			}
			if !tc.wrap.IsZero() {
				p.presence.wrapUntil[k] = wrapUp{until: tc.wrap}
			}
			if got := p.memberState("f", "a", now, tc.rings); got != tc.want {
				t.Errorf("got %s, want %s", got, tc.want)
			}
		})
	}
}
