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
	}
}

// Describe implements prometheus.Collector.
func (c *collector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{c.registrations, c.activeCalls, c.calls, c.queueLength, c.callbacks, c.rtpPorts, c.sipRequests, c.authFailures, c.rtpPackets, c.rtpLost, c.queueWait, c.sipResponses, c.sipDropped} {
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
