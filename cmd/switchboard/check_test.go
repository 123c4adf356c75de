package main

import (
	"bytes"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// `switchboard check` on each kind of bad file prints file:line: message and exits 1;
// the files are the dialplan package's test data.
func TestCheckBadFiles(t *testing.T) {
	t.Parallel()
	bin := filepath.Join(t.TempDir(), "switchboard")
	if out, err := exec.Command("go", "build", "-o", bin, ".").CombinedOutput(); err != nil {
		t.Fatalf("build: %v\n%s", err, out)
	}
	bad := filepath.Join("..", "..", "dialplan", "testdata", "bad")
	tests := []struct{ file, at, msg string }{
		{"syntax.yaml", "syntax.yaml:4", "YAML syntax error"},
		{"unknown_key.yaml", "unknown_key.yaml:4", `unknown key "pasword"`},
		{"dup_agent_id.yaml", "dup_agent_id.yaml:5", `duplicate agent id "alice"`},
		{"dup_extension.yaml", "dup_extension.yaml:7", `extension "1001" is already used by agent alice`},
		{"unknown_member.yaml", "unknown_member.yaml:7", `teams[0].members[1]: unknown agent "carol"`},
		{"unknown_ivr_option.yaml", "unknown_ivr_option.yaml:8", `unknown team "sales"`},
		{"unknown_route_trunk.yaml", "unknown_route_trunk.yaml:3", `unknown trunk "carrier"`},
		{"unknown_ivr_default.yaml", "unknown_ivr_default.yaml:4", `unknown mailbox "nobody"`},
		{"bad_duration.yaml", "bad_duration.yaml:9", `invalid duration "20x"`},
		{"bad_cidr.yaml", "bad_cidr.yaml:6", `invalid CIDR "10.0.0.0/33"`},
		{"bad_pattern.yaml", "bad_pattern.yaml:5", `invalid pattern`},
		{"mobile_without_number.yaml", "mobile_without_number.yaml:5", `mobile routing needs a mobile number`},
		{"bad_strategy.yaml", "bad_strategy.yaml:6", `invalid value "random"`},
		{"missing_firm_file.yaml", "missing_firm_file.yaml:2", `cannot read firm file`},
		{"firm_file_listen.yaml", "with-listen.yaml:3", `only allowed in the main file`},
	}
	for _, tc := range tests {
		t.Run(tc.file, func(t *testing.T) {
			t.Parallel()
			cmd := exec.Command(bin, "check", "-config", filepath.Join(bad, tc.file))
			var stdout, stderr bytes.Buffer
			cmd.Stdout, cmd.Stderr = &stdout, &stderr
			err := cmd.Run()
			if ee, ok := err.(*exec.ExitError); !ok || ee.ExitCode() != 1 {
				t.Fatalf("exit: %v, want status 1 (stdout %q)", err, stdout.String())
			}
			first := strings.SplitN(stderr.String(), "\n", 2)[0]
			if !strings.Contains(first, tc.at+": ") || !strings.Contains(first, tc.msg) {
				t.Fatalf("check printed %q, want %q ... %q", first, tc.at, tc.msg)
			}
		})
	}
	// A good file: exit 0.
	if out, err := exec.Command(bin, "check", "-config", filepath.Join("..", "..", "dialplan", "testdata", "good", "full.yaml")).CombinedOutput(); err != nil {
		t.Fatalf("good file: %v\n%s", err, out)
	}
}
