package dialplan

import (
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"
)

// HoldMusic takes the team's hold_music, then the firm's, then the main file's
// top-level one, then the built-in "hold"; a firm file falls back to the main
// file's value, not to another firm's.
func TestHoldMusic(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name       string
		main, firm string // extra lines of the main file and of the firm file
		firmID     string // firm asked ("" = the default firm)
		team       string // team asked ("" = nil)
		want       string
	}{
		{name: "nothing set", want: "hold"},
		{name: "nothing set, team call", team: "support", want: "hold"},
		{name: "top level", main: "hold_music: jazz.wav\n", want: "jazz.wav"},
		{name: "top level, team without its own", main: "hold_music: jazz.wav\n", team: "support", want: "jazz.wav"},
		{name: "team wins", main: "hold_music: jazz.wav\n", team: "sales", want: "sales-loop"},
		{name: "firm file falls back to top level", main: "hold_music: jazz.wav\n", firmID: "acme.example", want: "jazz.wav"},
		{name: "firm file's own", main: "hold_music: jazz.wav\n", firm: "hold_music: acme.wav\n", firmID: "acme.example", want: "acme.wav"},
		{name: "firm file's own without top level", firm: "hold_music: acme.wav\n", firmID: "acme.example", want: "acme.wav"},
		{name: "firm file, nothing set", firmID: "acme.example", team: "helpdesk", want: "hold"},
		{name: "firm file's team", firm: "hold_music: acme.wav\n", firmID: "acme.example", team: "queue", want: "/srv/queue.wav"},
		{name: "empty means unset", main: "hold_music: \"\"\n", team: "support", want: "hold"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			main := tc.main + `agents: [{id: alice, extension: "1001", password: pw}]
teams:
  - {id: support, members: [alice]}
  - {id: sales, members: [alice], hold_music: sales-loop}
firms: [acme.yaml]
`
			firm := "domain: acme.example\n" + tc.firm + `agents: [{id: carol, extension: "1001", password: pw}]
teams:
  - {id: helpdesk, members: [carol]}
  - {id: queue, members: [carol], hold_music: /srv/queue.wav}
`
			read := func(p string) ([]byte, error) {
				if filepath.Base(p) == "acme.yaml" {
					return []byte(firm), nil
				}
				return nil, fs.ErrNotExist
			}
			cfg, err := parse("conf/switchboard.yaml", []byte(main), read)
			if err != nil {
				t.Fatal(err)
			}
			f := cfg.DefaultFirm()
			if tc.firmID != "" {
				f = cfg.Firm(tc.firmID)
			}
			var team *Team
			if tc.team != "" {
				if team = f.Team(tc.team); team == nil {
					t.Fatalf("no team %s in %s", tc.team, f.ID)
				}
			}
			if got := f.HoldMusic(team); got != tc.want {
				t.Errorf("HoldMusic(%s) = %q, want %q", tc.team, got, tc.want)
			}
		})
	}
	var nilFirm *Firm
	if got := nilFirm.HoldMusic(&Team{HoldMusic: "x"}); got != "x" {
		t.Errorf("nil firm, team x: %q", got)
	}
	if got := nilFirm.HoldMusic(nil); got != DefaultHoldMusic {
		t.Errorf("nil firm: %q", got)
	}
}

func TestWrapUp(t *testing.T) {
	t.Parallel()
	tests := []struct {
		value string // "" = key absent
		want  time.Duration
	}{
		{"", 0},
		{"0", 0},
		{"0s", 0},
		{"3s", 3 * time.Second},
		{"45", 45 * time.Second},
		{"2m", 2 * time.Minute},
		{"1h", time.Hour},
	}
	for _, tc := range tests {
		body := "agents: [{id: alice, extension: \"1001\", password: pw}]\nteams:\n  - id: support\n    members: [alice]\n"
		if tc.value != "" {
			body += "    wrap_up: " + tc.value + "\n"
		}
		cfg, err := Parse("sb.yaml", []byte(body))
		if err != nil {
			t.Errorf("wrap_up %q: %v", tc.value, err)
			continue
		}
		if got := cfg.DefaultFirm().Team("support").WrapUp; got != tc.want {
			t.Errorf("wrap_up %q = %v, want %v", tc.value, got, tc.want)
		}
	}
	for _, bad := range []string{"61m", "2h", "-1", "soon", "[3s]"} {
		body := "agents: [{id: alice, extension: \"1001\", password: pw}]\nteams:\n  - {id: support, members: [alice], wrap_up: " + bad + "}\n"
		_, err := Parse("sb.yaml", []byte(body))
		wantProblem(t, err, "sb.yaml:3", "teams[0].wrap_up: ")
	}
}

// check finds a hold_music that names no playable prompt, with the IVR
// prompts' lookup, at the line of the setting.
func TestCheckPromptsHoldMusic(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	for _, p := range []string{"sounds/jazz.wav", "beside.wav", "firms/acme-sounds/acme.wav", "firms/next-to-acme.wav"} {
		if err := os.MkdirAll(filepath.Join(dir, filepath.Dir(p)), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dir, p), []byte("RIFF"), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	tests := []struct {
		name       string
		main, firm string // lines of the main file and of its firm file
		at         string // "file:line" of the problem, relative to dir; "" = no problem
		msg        string
	}{
		{name: "built-in", main: "hold_music: hold\n"},
		{name: "built-in with .wav", main: "hold_music: beep.wav\n"},
		{name: "in sounds_dir", main: "sounds_dir: sounds\nhold_music: jazz\n"},
		{name: "next to the main file (the firm has its own)", main: "hold_music: beside.wav\n", firm: "hold_music: hold\n"},
		{name: "firm's own in its sounds_dir", firm: "sounds_dir: acme-sounds\nhold_music: acme.wav\n"},
		{name: "firm's own next to its file", firm: "hold_music: next-to-acme.wav\n"},
		{name: "top level found in sounds_dir by every firm", main: "sounds_dir: sounds\nhold_music: jazz.wav\n"},
		{name: "missing at top level", main: "hold_music: nope.wav\n", at: "switchboard.yaml:1",
			msg: `hold_music: prompt file "nope.wav" not found (looked for `},
		{name: "missing in the firm", firm: "hold_music: nope.wav\n", at: "firms/acme.yaml:2",
			msg: `hold_music: prompt file "nope.wav" not found (looked for `},
		{name: "missing in a team", firm: "teams: [{id: q, members: [carol], hold_music: gone.wav}]\n", at: "firms/acme.yaml:2",
			msg: `teams[0].hold_music: prompt file "gone.wav" not found`},
		// beside.wav lies next to the main file only: the firm file's firm,
		// which looks next to its own file, cannot play it.
		{name: "top level not found by a firm file's firm", main: "hold_music: beside.wav\n", at: "switchboard.yaml:1",
			msg: `hold_music: prompt file "beside.wav" not found for firm acme.example`},
		{name: "absolute missing", main: "hold_music: " + filepath.Join(dir, "gone.wav") + "\n", at: "switchboard.yaml:1",
			msg: `hold_music: prompt file "` + filepath.Join(dir, "gone.wav") + `" not found`},
	}
	for i, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			// Each case gets its own pair of files next to the shared sounds.
			main := filepath.Join(dir, "case"+strconv.Itoa(i)+".yaml")
			firmName := "acme" + strconv.Itoa(i) + ".yaml"
			if err := os.WriteFile(filepath.Join(dir, "firms", firmName), []byte("domain: acme.example\n"+tc.firm+
				"agents: [{id: carol, extension: \"1001\", password: pw}]\n"), 0o600); err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(main, []byte(tc.main+"firms: [firms/"+firmName+"]\n"), 0o600); err != nil {
				t.Fatal(err)
			}
			cfg, err := Load(main)
			if err != nil {
				t.Fatal(err)
			}
			err = cfg.CheckPrompts(testBuiltins)
			if tc.at == "" {
				if err != nil {
					t.Fatalf("CheckPrompts: %v", err)
				}
				return
			}
			at := strings.Replace(strings.Replace(tc.at, "switchboard.yaml", filepath.Base(main), 1), "acme.yaml", firmName, 1)
			wantProblem(t, err, filepath.Join(dir, at), tc.msg)
		})
	}
}
