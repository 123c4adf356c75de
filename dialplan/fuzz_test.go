package dialplan

import (
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"testing"
)

// FuzzParse feeds arbitrary bytes to the loader: it must never panic, and a
// failure must always be a *ValidationError with located problems. Firm files
// come from a fixed in-memory set so that fuzzing never reads the disk.
func FuzzParse(f *testing.F) {
	files, err := filepath.Glob(filepath.Join("testdata", "*", "*.yaml"))
	if err != nil {
		f.Fatal(err)
	}
	more, _ := filepath.Glob(filepath.Join("testdata", "*", "*", "*.yaml"))
	for _, name := range append(files, more...) {
		data, err := os.ReadFile(name)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(data)
	}
	f.Add(DemoYAML)
	f.Add([]byte("a: &a [*a]\nagents: *a\n"))
	f.Add([]byte("agents:\n  - &x {<<: *x}\n"))
	f.Add([]byte("firms: [acme.yaml, acme.yaml]\n"))
	f.Add([]byte("hold_music: jazz.wav\nagents: [{id: a, extension: '1', password: p}]\nteams: [{id: t, members: [a], wrap_up: 3s, hold_music: hold}]\nfirms: [acme.yaml]\n"))
	firm := []byte("domain: acme.example\nagents: [{id: a, extension: '1', password: p}]\n")
	read := func(path string) ([]byte, error) {
		if filepath.Base(path) == "acme.yaml" {
			return firm, nil
		}
		return nil, fs.ErrNotExist
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		cfg, err := parse("fuzz/switchboard.yaml", data, read)
		if err == nil {
			if cfg == nil || len(cfg.Firms) == 0 {
				t.Fatalf("nil error but no config/firms")
			}
			// A valid config must resolve without panicking.
			for _, fm := range cfg.Firms {
				for _, a := range fm.Agents {
					fm.Resolve(Source{Agent: a}, a.Extension)
				}
				if fm.HoldMusic(nil) == "" {
					t.Fatalf("firm %s: empty hold music", fm.ID)
				}
				for _, tm := range fm.Teams {
					if fm.HoldMusic(tm) == "" || tm.WrapUp < 0 {
						t.Fatalf("team %s: hold music %q, wrap_up %v", tm.ID, fm.HoldMusic(tm), tm.WrapUp)
					}
				}
				for _, tr := range fm.Trunks {
					fm.Resolve(Source{Trunk: tr}, "+15550100")
				}
			}
			return
		}
		var verr *ValidationError
		if !errors.As(err, &verr) || len(verr.Problems) == 0 {
			t.Fatalf("error %v (%T) is not a ValidationError with problems", err, err)
		}
	})
}

// FuzzPattern parses and matches arbitrary patterns and numbers: it must
// never panic, and an exact pattern must match itself.
func FuzzPattern(f *testing.F) {
	for _, s := range []string{"+15550100", "_X.", "_+1555010X", "_1[5-7]X!", "_[135]NZ", "_[", "_[9-1]", "_.", "_!", "*50", "_x[0-9+*#]."} {
		f.Add(s, "+15550107")
	}
	f.Fuzz(func(t *testing.T, pattern, number string) {
		p, err := ParsePattern(pattern)
		if err != nil {
			if p.Match(number) {
				t.Fatalf("failed pattern %q matched", pattern)
			}
			return
		}
		m := p.Match(number)
		if p.String() != pattern {
			t.Fatalf("String() = %q, want %q", p.String(), pattern)
		}
		if pattern[0] != '_' && !p.Match(pattern) {
			t.Fatalf("exact %q does not match itself", pattern)
		}
		if m && len(number) < p.MinLen() {
			t.Fatalf("%q matched %q shorter than MinLen %d", pattern, number, p.MinLen())
		}
	})
}
