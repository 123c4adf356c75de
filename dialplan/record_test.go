package dialplan

import (
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// record on the firm (top level or firm file, which falls back to the main
// file's), agents, teams and inbound routes; record_notice like hold_music;
// recordings.keep with days.
func TestRecordSettings(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name, main, firm string
		allMain, allAcme bool
		noticeMain       string
		noticeAcme       string
	}{
		{name: "nothing"},
		{name: "top level", main: "record: true\nrecord_notice: notice.wav\n", allMain: true, allAcme: true, noticeMain: "notice.wav", noticeAcme: "notice.wav"},
		{name: "firm file opts out", main: "record: true\n", firm: "record: false\nrecord_notice: acme-notice\n", allMain: true, noticeAcme: "acme-notice"},
		{name: "firm file only", firm: "record: true\n", allAcme: true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			main := tc.main + `agents: [{id: alice, extension: "1001", password: pw, record: true}, {id: bob, extension: "1002", password: pw}]
teams:
  - {id: support, members: [alice], record: true}
  - {id: sales, members: [bob]}
trunks: [{id: carrier, uri: "sip:127.0.0.1:5999"}]
routes:
  inbound:
    - {match: "100", to: "team:sales", record: true}
    - {match: "200", to: "team:sales"}
firms: [acme.yaml]
recordings: {keep: 90d}
`
			firm := "domain: acme.example\n" + tc.firm + `agents: [{id: carol, extension: "1001", password: pw}]
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
			f, acme := cfg.DefaultFirm(), cfg.Firm("acme.example")
			if f.RecordsAll() != tc.allMain || acme.RecordsAll() != tc.allAcme {
				t.Errorf("RecordsAll main %v acme %v, want %v %v", f.RecordsAll(), acme.RecordsAll(), tc.allMain, tc.allAcme)
			}
			if f.RecordNotice() != tc.noticeMain || acme.RecordNotice() != tc.noticeAcme {
				t.Errorf("RecordNotice main %q acme %q", f.RecordNotice(), acme.RecordNotice())
			}
			if !f.Agent("alice").Record || f.Agent("bob").Record || !f.Team("support").Record || f.Team("sales").Record {
				t.Error("agent or team record wrong")
			}
			if cfg.Recordings.Keep != 90*24*time.Hour {
				t.Errorf("keep %v", cfg.Recordings.Keep)
			}
			src := Source{Trunk: f.Trunk("carrier")}
			if d := f.Resolve(src, "100"); !d.Record || d.Kind != RouteTeam {
				t.Errorf("route 100: %+v", d)
			}
			if d := f.Resolve(src, "200"); d.Record {
				t.Errorf("route 200 records: %+v", d)
			}
		})
	}
	var nilFirm *Firm
	if nilFirm.RecordsAll() || nilFirm.RecordNotice() != "" {
		t.Error("nil firm records")
	}
}

func TestRecordingsKeep(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		value string
		want  time.Duration
	}{
		{"90d", 90 * 24 * time.Hour},
		{"1d12h", 36 * time.Hour},
		{"36h", 36 * time.Hour},
		{"2s", 2 * time.Second},
		{"3600", time.Hour},
	} {
		cfg, err := Parse("sb.yaml", []byte("recordings:\n  keep: "+tc.value+"\n"))
		if err != nil {
			t.Errorf("keep %q: %v", tc.value, err)
			continue
		}
		if cfg.Recordings.Keep != tc.want {
			t.Errorf("keep %q = %v, want %v", tc.value, cfg.Recordings.Keep, tc.want)
		}
	}
	if cfg, err := Parse("sb.yaml", nil); err != nil || cfg.Recordings.Keep != 0 {
		t.Errorf("default keep %v, %v", cfg.Recordings.Keep, err)
	}
	for _, bad := range []string{"d", "-1d", "1d1d", "x", "0s", "1dx", "99999999d", "[1d]"} {
		_, err := Parse("sb.yaml", []byte("recordings:\n  keep: "+bad+"\n"))
		wantProblem(t, err, "sb.yaml:2", "recordings.keep: ")
	}
	_, err := Parse("sb.yaml", []byte("recordings: {keep: 1d, when: never}\n"))
	wantProblem(t, err, "sb.yaml:1", `recordings: unknown key "when"`)
	for _, bad := range []struct{ yaml, at, msg string }{
		{"record: yes please\n", "sb.yaml:1", "record: expected true or false"},
		{"agents: [{id: a, extension: '1', password: p, record: 1}]\n", "sb.yaml:1", "agents[0].record: "},
		{"agents: [{id: a, extension: '1', password: p}]\nteams: [{id: t, members: [a], record: maybe}]\n", "sb.yaml:2", "teams[0].record: "},
		{"record_notice: [a]\n", "sb.yaml:1", "record_notice: "},
	} {
		_, err := Parse("sb.yaml", []byte(bad.yaml))
		wantProblem(t, err, bad.at, bad.msg)
	}
}

// A firm file may not set recordings: (retention is the server's).
func TestRecordingsOnlyInMainFile(t *testing.T) {
	t.Parallel()
	read := func(p string) ([]byte, error) {
		return []byte("domain: acme.example\nrecordings: {keep: 1d}\n"), nil
	}
	_, err := parse("dir/main.yaml", []byte("firms: [acme.yaml]\n"), read)
	wantProblem(t, err, "dir/acme.yaml:2", "recordings: only allowed in the main file")
}

// check finds a record_notice that names no playable prompt, at its line.
func TestCheckPromptsRecordNotice(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	os.WriteFile(filepath.Join(dir, "notice.wav"), []byte("RIFF"), 0o600)
	for _, tc := range []struct{ main, firm, want string }{
		{main: "record_notice: notice.wav\n"},
		{main: "record_notice: beep\n"},
		{main: "record_notice: missing.wav\n", want: "main.yaml:1: record_notice: prompt file \"missing.wav\" not found"},
		{firm: "record_notice: gone.wav\n", want: "acme.yaml:2: record_notice: prompt file \"gone.wav\" not found"},
	} {
		os.WriteFile(filepath.Join(dir, "acme.yaml"), []byte("domain: acme.example\n"+tc.firm), 0o600)
		cfg, err := Parse(filepath.Join(dir, "main.yaml"), []byte(tc.main+"firms: [acme.yaml]\n"))
		if err != nil {
			t.Fatal(err)
		}
		err = cfg.CheckPrompts([]string{"beep", "hold"})
		switch {
		case tc.want == "" && err != nil:
			t.Errorf("%q: %v", tc.main, err)
		case tc.want != "" && (err == nil || !strings.Contains(err.Error(), tc.want)):
			t.Errorf("%q %q: %v, want %q", tc.main, tc.firm, err, tc.want)
		}
	}
}
