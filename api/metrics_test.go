package api_test

import (
	"context"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"

	"switchboard/internal/testphone"
	"switchboard/store"
)

func TestMetrics(t *testing.T) {
	t.Parallel()
	a := startApp(t)
	addCallback(t, a.Store, "pbx.test", store.TargetTeam, "support")
	addCallback(t, a.Store, "acme.test", store.TargetTeam, "helpdesk")
	claimed := addCallback(t, a.Store, "pbx.test", store.TargetAgent, "bob")
	if _, err := a.Store.ClaimCallback("pbx.test", claimed, "bob"); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	ph, err := testphone.New(ctx, testphone.Config{User: "1001", Password: "alice-pw", Domain: "pbx.test", Server: a.SIPAddr()})
	if err != nil {
		t.Fatal(err)
	}
	defer ph.Close()
	if err := ph.Register(ctx, time.Hour); err != nil {
		t.Fatal(err)
	}

	// Loopback clients need no token.
	r := anonClient(t, a.HTTPAddr).mustDo("GET", "/metrics", nil, http.StatusOK, nil)
	parser := expfmt.NewTextParser(model.UTF8Validation)
	fams, err := parser.TextToMetricFamilies(strings.NewReader(string(r.body)))
	if err != nil {
		t.Fatalf("parse /metrics: %v\n%s", err, r.body)
	}
	value := func(name string, labels map[string]string) (float64, bool) {
		f := fams[name]
		if f == nil {
			return 0, false
		}
	next:
		for _, m := range f.Metric {
			for k, v := range labels {
				if !hasLabel(m, k, v) {
					continue next
				}
			}
			switch {
			case m.Gauge != nil:
				return m.Gauge.GetValue(), true
			case m.Counter != nil:
				return m.Counter.GetValue(), true
			}
		}
		return 0, false
	}
	want := []struct {
		name   string
		labels map[string]string
		value  float64 // -1: any value
	}{
		{"switchboard_registrations", nil, 1},
		{"switchboard_active_calls", nil, 0},
		{"switchboard_rtp_ports_in_use", nil, 0},
		{"switchboard_auth_failures_total", nil, -1},
		{"switchboard_calls_total", map[string]string{"outcome": "answered"}, 0},
		{"switchboard_queue_length", map[string]string{"firm": "pbx.test", "team": "support"}, 0},
		{"switchboard_queue_length", map[string]string{"firm": "acme.test", "team": "helpdesk"}, 0},
		{"switchboard_callbacks", map[string]string{"state": "pending"}, 2},
		{"switchboard_callbacks", map[string]string{"state": "dialing"}, 1},
		{"switchboard_callbacks", map[string]string{"state": "done"}, 0},
		{"switchboard_sip_requests_total", map[string]string{"method": "REGISTER"}, -1},
		{"switchboard_sip_responses_total", map[string]string{"class": "2xx"}, -1},
		{"switchboard_sip_responses_total", map[string]string{"class": "4xx"}, -1},
		{"switchboard_rtp_packets_relayed_total", nil, -1},
		{"switchboard_rtp_packets_lost_total", nil, -1},
	}
	for _, w := range want {
		got, ok := value(w.name, w.labels)
		if !ok {
			t.Errorf("%s%v missing", w.name, w.labels)
			continue
		}
		if w.value >= 0 && got != w.value {
			t.Errorf("%s%v = %v, want %v", w.name, w.labels, got, w.value)
		}
	}
	if n, _ := value("switchboard_sip_requests_total", map[string]string{"method": "REGISTER"}); n < 1 {
		t.Errorf("REGISTER count %v after a registration", n)
	}
	// A registration is a 401 challenge and a 200.
	for _, class := range []string{"2xx", "4xx"} {
		if n, _ := value("switchboard_sip_responses_total", map[string]string{"class": class}); n < 1 {
			t.Errorf("%s responses %v after a registration", class, n)
		}
	}
	if fams["switchboard_calls_total"].GetType() != dto.MetricType_COUNTER || fams["switchboard_callbacks"].GetType() != dto.MetricType_GAUGE {
		t.Error("metric types")
	}

	// From elsewhere the admin token is needed.
	for _, tc := range []struct {
		auth string
		want int
	}{{"", http.StatusUnauthorized}, {"Bearer nope", http.StatusUnauthorized}, {"Bearer " + testToken, http.StatusOK},
		{"bearer " + testToken, http.StatusOK}, {"BEARER  " + testToken, http.StatusOK}, {"Basic " + testToken, http.StatusUnauthorized}, {testToken, http.StatusUnauthorized}} {
		req := httptest.NewRequest("GET", "/metrics", nil)
		req.RemoteAddr = "192.0.2.7:40000"
		if tc.auth != "" {
			req.Header.Set("Authorization", tc.auth)
		}
		rec := httptest.NewRecorder()
		a.API.ServeHTTP(rec, req)
		if rec.Code != tc.want {
			t.Errorf("remote /metrics with %q: %d, want %d", tc.auth, rec.Code, tc.want)
		}
	}
}

func hasLabel(m *dto.Metric, name, value string) bool {
	for _, l := range m.Label {
		if l.GetName() == name && l.GetValue() == value {
			return true
		}
	}
	return false
}
