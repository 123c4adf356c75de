package api

import (
	"log/slog"

	"github.com/prometheus/client_golang/prometheus"

	"switchboard/callinfo"
	"switchboard/pbx"
	"switchboard/store"
)

// collector reads the PBX and the store at scrape time, so the numbers are never
// stale and nothing in the call path pays for metrics.
type collector struct {
	pbx   *pbx.PBX
	store *store.Store
	log   *slog.Logger

	registrations, activeCalls, calls, queueLength, callbacks, rtpPorts, sipRequests, authFailures *prometheus.Desc
	rtpPackets, rtpLost, queueWait, sipResponses, sipDropped                                       *prometheus.Desc

	// The wallboard's figures (pbx.QueueStatus), by firm and team.
	queueLongest, queueMembers, queueOffered, queueAnswered, queueAbandoned, queueCallbacks *prometheus.Desc
	queueServiceLevel, queueAvgWait, queueAvgTalk                                           *prometheus.Desc
}

func newCollector(p *pbx.PBX, st *store.Store, log *slog.Logger) *collector {
	d := func(name, help string, labels ...string) *prometheus.Desc {
		return prometheus.NewDesc("switchboard_"+name, help, labels, nil)
	}
	return &collector{
		pbx: p, store: st, log: log,
		registrations: d("registrations", "Live SIP contact bindings."),
		activeCalls:   d("active_calls", "Calls in progress."),
		calls:         d("calls_total", "Finished calls by outcome since the server started.", "outcome"),
		queueLength:   d("queue_length", "Callers waiting in a team's queue.", "firm", "team"),
		callbacks:     d("callbacks", "Callback queue entries by state.", "state"),
		rtpPorts:      d("rtp_ports_in_use", "RTP ports held by call legs."),
		sipRequests:   d("sip_requests_total", "SIP requests received, by method.", "method"),
		authFailures:  d("auth_failures_total", "Failed credential checks (SIP digest and others)."),
		rtpPackets:    d("rtp_packets_relayed_total", "RTP packets sent to phones by finished calls."),
		rtpLost:       d("rtp_packets_lost_total", "RTP packets missing from phones' streams (sequence gaps) in finished calls."),
		queueWait:     d("queue_wait_seconds", "Time callers waited in a team's queue.", "firm", "team"),
		sipResponses:  d("sip_responses_total", "Final SIP responses sent, by class.", "class"),
		sipDropped:    d("sip_packets_dropped_total", "SIP packets from banned addresses dropped before parsing."),

		queueLongest:      d("queue_longest_wait_seconds", "Wait of the caller waiting longest in a team's queue.", "firm", "team"),
		queueMembers:      d("queue_members", "A team's members by state (idle, ringing, in-call, wrap-up, away, offline).", "firm", "team", "state"),
		queueOffered:      d("queue_offered_today", "Calls that waited in a team's queue today (since local midnight).", "firm", "team"),
		queueAnswered:     d("queue_answered_today", "Calls of a team's queue answered by a member today.", "firm", "team"),
		queueAbandoned:    d("queue_abandoned_today", "Callers who hung up in a team's queue today.", "firm", "team"),
		queueCallbacks:    d("queue_callbacks_today", "Callback requests stored for a team today.", "firm", "team"),
		queueServiceLevel: d("queue_service_level", "Share of today's offered calls answered within the team's service_level (1 before the first call).", "firm", "team"),
		queueAvgWait:      d("queue_avg_wait_seconds", "Mean queue wait of a team's offered calls today.", "firm", "team"),
		queueAvgTalk:      d("queue_avg_talk_seconds", "Mean talk time of a team's answered calls today.", "firm", "team"),
	}
}

// Describe implements prometheus.Collector.
func (c *collector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{c.registrations, c.activeCalls, c.calls, c.queueLength, c.callbacks, c.rtpPorts, c.sipRequests, c.authFailures, c.rtpPackets, c.rtpLost, c.queueWait, c.sipResponses, c.sipDropped,
		c.queueLongest, c.queueMembers, c.queueOffered, c.queueAnswered, c.queueAbandoned, c.queueCallbacks, c.queueServiceLevel, c.queueAvgWait, c.queueAvgTalk} {
		ch <- d
	}
}

// Collect implements prometheus.Collector.
func (c *collector) Collect(ch chan<- prometheus.Metric) {
	st := c.pbx.Stats()
	ch <- prometheus.MustNewConstMetric(c.registrations, prometheus.GaugeValue, float64(st.Registrations))
	ch <- prometheus.MustNewConstMetric(c.activeCalls, prometheus.GaugeValue, float64(st.ActiveCalls))
	ch <- prometheus.MustNewConstMetric(c.rtpPorts, prometheus.GaugeValue, float64(st.RTPPortsInUse))
	ch <- prometheus.MustNewConstMetric(c.authFailures, prometheus.CounterValue, float64(st.AuthFailures))
	ch <- prometheus.MustNewConstMetric(c.rtpPackets, prometheus.CounterValue, float64(st.RTPPacketsRelayed))
	ch <- prometheus.MustNewConstMetric(c.rtpLost, prometheus.CounterValue, float64(st.RTPPacketsLost))
	ch <- prometheus.MustNewConstMetric(c.sipDropped, prometheus.CounterValue, float64(st.SIPDropped))
	for class, n := range st.SIPResponses {
		ch <- prometheus.MustNewConstMetric(c.sipResponses, prometheus.CounterValue, float64(n), class)
	}
	for k, w := range st.QueueWait {
		ch <- prometheus.MustNewConstSummary(c.queueWait, w.Count, w.Seconds, nil, k.Firm, k.Team)
	}
	// Every outcome is exported, zero or not, so rate() works from the first call on.
	for _, o := range callinfo.Outcomes {
		ch <- prometheus.MustNewConstMetric(c.calls, prometheus.CounterValue, float64(st.Outcomes[o]), string(o))
	}
	for o, n := range st.Outcomes {
		if !o.Valid() {
			ch <- prometheus.MustNewConstMetric(c.calls, prometheus.CounterValue, float64(n), string(o))
		}
	}
	for m, n := range st.SIPRequests {
		ch <- prometheus.MustNewConstMetric(c.sipRequests, prometheus.CounterValue, float64(n), m)
	}
	counts := make(map[string]int, len(callbackStates))
	cfg := c.pbx.Config()
	for _, f := range cfg.Firms {
		for _, t := range f.Teams {
			ch <- prometheus.MustNewConstMetric(c.queueLength, prometheus.GaugeValue, float64(c.pbx.QueueLength(f.ID, t.ID)), f.ID, t.ID)
		}
		c.collectQueues(ch, f.ID)
		cbs, err := c.store.ListCallbacks(f.ID, "", store.Page{})
		if err != nil {
			c.log.Warn("metrics: list callbacks", "firm", f.ID, "err", err)
			ch <- prometheus.NewInvalidMetric(c.callbacks, err)
			return
		}
		for _, cb := range cbs {
			counts[cb.State]++
		}
	}
	for _, s := range callbackStates {
		ch <- prometheus.MustNewConstMetric(c.callbacks, prometheus.GaugeValue, float64(counts[s]), s)
	}
}

// memberStates are the wallboard's member states, every one exported per team
// (zero or not) so that a state's series does not come and go.
var memberStates = []string{pbx.MemberIdle, pbx.MemberRinging, pbx.MemberInCall, pbx.MemberWrapUp, pbx.MemberAway, pbx.MemberOffline}

// collectQueues exports the wallboard of firm's teams: the figures GET
// /api/queues shows. The today counts start from zero at local midnight, so
// they are gauges, not counters.
func (c *collector) collectQueues(ch chan<- prometheus.Metric, firm string) {
	gauge := func(d *prometheus.Desc, v float64, labels ...string) {
		ch <- prometheus.MustNewConstMetric(d, prometheus.GaugeValue, v, labels...)
	}
	for _, q := range c.pbx.Queues(firm) {
		gauge(c.queueLongest, q.LongestWaitSeconds, firm, q.Team)
		counts := map[string]int{}
		for _, m := range q.Members {
			counts[m.State]++
		}
		for _, st := range memberStates {
			gauge(c.queueMembers, float64(counts[st]), firm, q.Team, st)
		}
		gauge(c.queueOffered, float64(q.Today.Offered), firm, q.Team)
		gauge(c.queueAnswered, float64(q.Today.Answered), firm, q.Team)
		gauge(c.queueAbandoned, float64(q.Today.Abandoned), firm, q.Team)
		gauge(c.queueCallbacks, float64(q.Today.Callbacks), firm, q.Team)
		gauge(c.queueServiceLevel, q.ServiceLevel, firm, q.Team)
		gauge(c.queueAvgWait, q.AvgWaitSeconds, firm, q.Team)
		gauge(c.queueAvgTalk, q.AvgTalkSeconds, firm, q.Team)
	}
}
