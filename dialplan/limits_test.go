package dialplan

import (
	"io/fs"
	"strings"
	"testing"
	"time"
)

func TestLimits(t *testing.T) {
	t.Parallel()
	none := func(string) ([]byte, error) { return nil, fs.ErrNotExist }
	cfg, err := parse("switchboard.yaml", []byte("agents: [{id: a, extension: \"1001\", password: pw}]\n"), none)
	if err != nil {
		t.Fatal(err)
	}
	want := Limits{MaxConnectionsPerIP: 128, SIPIdleTimeout: 30 * time.Second, HTTPReadTimeout: 30 * time.Second, HTTPIdleTimeout: time.Minute}
	if cfg.Limits != want || cfg.ShutdownTimeout != 30*time.Second {
		t.Fatalf("defaults: %+v shutdown %v", cfg.Limits, cfg.ShutdownTimeout)
	}
	cfg, err = parse("switchboard.yaml", []byte(`limits:
  max_connections: 500
  max_connections_per_ip: 20
  sip_idle_timeout: 50ms
  http_read_timeout: 5s
  http_idle_timeout: 2m
shutdown_timeout: 10s
`), none)
	if err != nil {
		t.Fatal(err)
	}
	want = Limits{MaxConnections: 500, MaxConnectionsPerIP: 20, SIPIdleTimeout: 50 * time.Millisecond, HTTPReadTimeout: 5 * time.Second, HTTPIdleTimeout: 2 * time.Minute}
	if cfg.Limits != want || cfg.ShutdownTimeout != 10*time.Second {
		t.Fatalf("set: %+v shutdown %v", cfg.Limits, cfg.ShutdownTimeout)
	}
	bad := []struct{ yaml, msg string }{
		{"limits:\n  max_connections_per_ip: 0\n", "switchboard.yaml:2: limits.max_connections_per_ip:"},
		{"limits:\n  sip_idle_timeout: soon\n", "switchboard.yaml:2: limits.sip_idle_timeout: invalid duration"},
		{"limits:\n  max_conns: 5\n", `switchboard.yaml:2: limits: unknown key "max_conns"`},
		{"shutdown_timeout: 2h\n", "switchboard.yaml:1: shutdown_timeout: duration"},
	}
	for _, b := range bad {
		_, err := parse("switchboard.yaml", []byte(b.yaml), none)
		if err == nil || !strings.Contains(err.Error(), b.msg) {
			t.Errorf("%q: err = %v, want %q", b.yaml, err, b.msg)
		}
	}
}
