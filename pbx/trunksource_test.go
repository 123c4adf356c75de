package pbx

import (
	"context"
	"log/slog"
	"net/netip"
	"testing"

	"switchboard/dialplan"
)

// Issue 14, problem 6: a trunk is recognised by allow_from alone when that is
// set, else by the exact address and port of its URI over UDP, or over a
// connection only when it is the one our registration opened; a phone or
// browser from the carrier's address is challenged.
func TestTrunkBySourceNeedsExactPort(t *testing.T) {
	t.Parallel()
	plain := &dialplan.Trunk{ID: "plain", URI: "sip:127.0.0.1:5999"}
	registering := &dialplan.Trunk{ID: "reg", URI: "sip:127.0.0.2:5070;transport=tcp", Register: true}
	allowed := &dialplan.Trunk{ID: "allowed", URI: "sip:127.0.0.3:5060", AllowFrom: []netip.Prefix{netip.MustParsePrefix("10.0.0.0/8")}}
	cfg := &dialplan.Config{Firms: []*dialplan.Firm{{ID: "main", Trunks: []*dialplan.Trunk{plain, registering, allowed}}}}
	tr := &trunks{ctx: context.Background(), log: slog.New(slog.DiscardHandler), dns: dnsCache{m: map[string]dnsEntry{}}}
	tests := []struct {
		src, transport string
		want           *dialplan.Trunk
	}{
		{"127.0.0.1:5999", "UDP", plain},
		{"127.0.0.1:40000", "UDP", nil}, // a phone on the carrier's host
		{"127.0.0.1:5999", "WS", nil},   // a browser: not a registering trunk's connection
		{"127.0.0.1:41000", "TCP", nil}, // any TCP peer from the carrier's address
		{"127.0.0.2:5070", "TCP", registering},
		{"127.0.0.2:43000", "TCP", nil},
		{"127.0.0.3:5060", "UDP", nil}, // allow_from set: it alone decides
	}
	for _, tc := range tests {
		_, got := tr.bySource(cfg, netip.MustParseAddrPort(tc.src), tc.transport)
		if got != tc.want {
			t.Errorf("%s over %s: trunk %v, want %v", tc.src, tc.transport, got, tc.want)
		}
	}
}
