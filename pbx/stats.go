package pbx

import (
	"maps"
	"sync"

	"switchboard/callinfo"
	"switchboard/store"
)

// stats owns the counters of finished calls for /metrics: outcomes, RTP packets
// and queue waits. Call.finish adds each call once.
type stats struct {
	mu                  sync.Mutex
	outcomes            map[callinfo.Outcome]uint64 // calls logged, by outcome
	queueWait           map[FirmTeam]WaitSum
	rtpRelayed, rtpLost uint64
}

func newStats() *stats {
	return &stats{outcomes: map[callinfo.Outcome]uint64{}, queueWait: map[FirmTeam]WaitSum{}}
}

// callEnded counts a logged call and the RTP packets its sessions relayed and lost.
func (s *stats) callEnded(rec *store.CallRecord, relayed, lost uint64) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.outcomes[rec.Outcome]++
	s.rtpRelayed += relayed
	s.rtpLost += lost
	if rec.Team != "" {
		k := FirmTeam{rec.Firm, rec.Team}
		w := s.queueWait[k]
		w.Seconds += rec.QueueWait.Seconds()
		w.Count++
		s.queueWait[k] = w
	}
}

// fill copies the counters into st.
func (s *stats) fill(st *Stats) {
	s.mu.Lock()
	defer s.mu.Unlock()
	st.Outcomes = maps.Clone(s.outcomes)
	st.QueueWait = maps.Clone(s.queueWait)
	st.RTPPacketsRelayed, st.RTPPacketsLost = s.rtpRelayed, s.rtpLost
}

// Stats are counters for /metrics.
type Stats struct {
	ActiveCalls   int
	Registrations int
	AuthFailures  uint64
	RTPPortsInUse int
	SIPRequests   map[string]uint64
	SIPResponses  map[string]uint64 // final responses sent, by class: "2xx".."6xx"
	SIPDropped    uint64            // packets from banned addresses dropped unparsed
	Outcomes      map[callinfo.Outcome]uint64
	// RTP counters of finished calls: packets sent to the phones, and packets the
	// phones' streams skipped (sequence gaps).
	RTPPacketsRelayed, RTPPacketsLost uint64
	// QueueWait sums the wait of callers who left each team's queue, by firm and team.
	QueueWait map[FirmTeam]WaitSum
}

// FirmTeam names a team across firms.
type FirmTeam struct{ Firm, Team string }

// WaitSum is a total wait and the number of callers it covers.
type WaitSum struct {
	Seconds float64
	Count   uint64
}

// Stats returns the current counters.
func (p *PBX) Stats() Stats {
	st := Stats{
		Registrations: p.reg.Count(),
		AuthFailures:  p.auth.Failures(),
		RTPPortsInUse: p.pool.InUse(),
		SIPRequests:   p.sip.RequestCounts(),
		SIPResponses:  p.sip.ResponseCounts(),
		SIPDropped:    p.sip.DroppedPackets(),
	}
	// The live count and the ended-call counters are read in one step, as
	// finish changes them in one (p.mu, then the stats lock).
	p.mu.Lock()
	st.ActiveCalls = len(p.live)
	p.stats.fill(&st)
	p.mu.Unlock()
	return st
}
