package dialplan

import (
	"strings"
	"testing"
	"time"
)

// Supervisors name agents of the firm, once each; a supervisor supervises the
// members of their teams only. service_level defaults to 20 s.
func TestSupervisorsAndServiceLevel(t *testing.T) {
	t.Parallel()
	const agents = "agents:\n  - {id: a, extension: '1', password: p}\n  - {id: b, extension: '2', password: p}\n  - {id: s, extension: '3', password: p}\n"
	for _, tc := range []struct {
		team, err string
	}{
		{team: "{id: t, members: [a], supervisors: [s], service_level: 30s}"},
		{team: "{id: t, members: [a], supervisors: [x]}", err: `sb.yaml:6: teams[0].supervisors[0]: unknown agent "x"`},
		{team: "{id: t, members: [a], supervisors: [s, s]}", err: `teams[0].supervisors[1]: agent "s" listed twice`},
		{team: "{id: t, members: [a], service_level: 0s}", err: "teams[0].service_level"},
		{team: "{id: t, members: [a], supervisors: s}", err: "teams[0].supervisors"},
	} {
		cfg, err := Parse("sb.yaml", []byte(agents+"teams:\n  - "+tc.team+"\n"))
		if tc.err != "" {
			if err == nil || !strings.Contains(err.Error(), tc.err) {
				t.Errorf("%s: err %v, want %q", tc.team, err, tc.err)
			}
			continue
		}
		if err != nil {
			t.Fatalf("%s: %v", tc.team, err)
		}
		f := cfg.Firms[0]
		if !f.Supervises("s", "a") || f.Supervises("s", "b") || f.Supervises("a", "a") {
			t.Errorf("Supervises wrong for %s", tc.team)
		}
		if got := f.Team("t").ServiceLevel; got != 30*time.Second {
			t.Errorf("service_level %v", got)
		}
	}
	cfg, err := Parse("sb.yaml", []byte(agents+"teams: [{id: t, members: [a]}]\n"))
	if err != nil {
		t.Fatal(err)
	}
	if got := cfg.Firms[0].Team("t").ServiceLevel; got != DefaultServiceLevel {
		t.Errorf("default service_level %v", got)
	}
}
