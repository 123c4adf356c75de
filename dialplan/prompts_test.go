package dialplan

import (
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
)

// testBuiltins stands for sounds.Names(): dialplan imports none of our packages.
var testBuiltins = []string{"beep", "hold", "main-menu"}

func TestCheckPrompts(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	for _, p := range []string{"sounds/menu.wav", "beside.wav", "sub/nested.wav", "abs/menu.wav", "firm-sounds/acme.wav", "sounds/plain.wav"} {
		if err := os.MkdirAll(filepath.Join(dir, filepath.Dir(p)), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dir, p), []byte("RIFF"), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.MkdirAll(filepath.Join(dir, "sounds", "folder.wav"), 0o755); err != nil {
		t.Fatal(err)
	}
	abs := filepath.Join(dir, "abs", "menu.wav")
	tests := []struct {
		name   string
		sounds string // sounds_dir line, if any
		prompt string
		bad    bool
	}{
		{name: "built-in", prompt: "main-menu.wav"},
		{name: "built-in without .wav", prompt: "main-menu"},
		{name: "empty means the built-in main-menu", prompt: `""`},
		{name: "in sounds_dir", sounds: "sounds", prompt: "menu.wav"},
		{name: "in sounds_dir without .wav", sounds: "sounds", prompt: "plain"},
		{name: "next to the config file", sounds: "sounds", prompt: "beside.wav"},
		{name: "below the config file's directory", prompt: "sub/nested.wav"},
		{name: "absolute", prompt: abs},
		{name: "missing", sounds: "sounds", prompt: "nope.wav", bad: true},
		{name: "missing, no sounds_dir", prompt: "menu.wav", bad: true},
		{name: "absolute missing", prompt: filepath.Join(dir, "abs", "nope.wav"), bad: true},
		{name: "a directory", sounds: "sounds", prompt: "folder.wav", bad: true},
		{name: "next to the config file needs the exact name", prompt: "beside", bad: true},
		{name: "not a built-in", prompt: "main-menu-2.wav", bad: true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			body := "domain: a.example\n"
			if tc.sounds != "" {
				body += "sounds_dir: " + tc.sounds + "\n"
			}
			body += "ivrs:\n  - {id: other, prompt: hold.wav}\n  - id: main\n    prompt: " + tc.prompt + "\n"
			cfg, err := Parse(filepath.Join(dir, "switchboard.yaml"), []byte(body))
			if err != nil {
				t.Fatal(err)
			}
			err = cfg.CheckPrompts(testBuiltins)
			if !tc.bad {
				if err != nil {
					t.Fatalf("CheckPrompts: %v", err)
				}
				return
			}
			line := strings.Count(body, "\n")
			wantProblem(t, err, filepath.Join(dir, "switchboard.yaml")+":"+strconv.Itoa(line), "ivrs[1].prompt: prompt file")
			if !strings.Contains(err.Error(), "not found") {
				t.Errorf("message %q lacks \"not found\"", err)
			}
		})
	}
}

// A firm file's prompts are looked up in its own sounds_dir and next to it;
// problems name the firm file.
func TestCheckPromptsFirmFile(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	if err := os.MkdirAll(filepath.Join(dir, "firms", "acme-sounds"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "firms", "acme-sounds", "acme.wav"), []byte("RIFF"), 0o600); err != nil {
		t.Fatal(err)
	}
	files := map[string]string{
		filepath.Join(dir, "switchboard.yaml"): "ivrs: [{id: main, prompt: main-menu.wav}]\nfirms: [firms/acme.yaml]\n",
		filepath.Join(dir, "firms", "acme.yaml"): "domain: acme.example\nsounds_dir: acme-sounds\nivrs:\n" +
			"  - {id: a, prompt: acme.wav}\n  - {id: b, prompt: missing.wav}\n",
	}
	for name, body := range files {
		if err := os.WriteFile(name, []byte(body), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	cfg, err := Load(filepath.Join(dir, "switchboard.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	err = cfg.CheckPrompts(testBuiltins)
	wantProblem(t, err, filepath.Join(dir, "firms", "acme.yaml")+":5", `ivrs[1].prompt: prompt file "missing.wav" not found`)
}

// The demo, every good test file and the prompts the e2e tests use pass.
func TestCheckPromptsGoodFiles(t *testing.T) {
	t.Parallel()
	demo, err := Demo()
	if err != nil {
		t.Fatal(err)
	}
	if err := demo.CheckPrompts(testBuiltins); err != nil {
		t.Errorf("demo: %v", err)
	}
	files, _ := filepath.Glob(filepath.Join("testdata", "good", "*.yaml"))
	files = append(files, filepath.Join("testdata", "good", "multi", "switchboard.yaml"))
	for _, name := range files {
		cfg, err := Load(name)
		if err != nil {
			t.Fatal(err)
		}
		if err := cfg.CheckPrompts(testBuiltins); err != nil {
			t.Errorf("%s: %v", name, err)
		}
	}
	// test/e2e: a sounds_dir holding main-menu.wav, and the built-in name.
	cfg, err := Parse(filepath.Join(t.TempDir(), "switchboard.yaml"), []byte("sounds_dir: "+t.TempDir()+
		"\nivrs: [{id: main, extension: \"3000\", prompt: main-menu.wav, options: {\"1\": \"ivr:main\"}}]\n"))
	if err != nil {
		t.Fatal(err)
	}
	if err := cfg.CheckPrompts(testBuiltins); err != nil {
		t.Errorf("e2e-style config: %v", err)
	}
}

// SoundPaths gives absolute paths: the prompt library takes a relative name
// with a directory for an invalid prompt name, so a config file given as a
// relative path (serve -config conf/sb.yaml) would never find its files.
func TestSoundPathsAbsolute(t *testing.T) {
	t.Parallel()
	wd, err := os.Getwd()
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		file, sounds, name string
		want               []string
	}{
		{"conf/sb.yaml", "", "menu.wav", []string{filepath.Join(wd, "conf", "menu.wav")}},
		{"sb.yaml", "", "menu.wav", []string{filepath.Join(wd, "menu.wav")}},
		{"conf/sb.yaml", "conf/sounds", "menu.wav", []string{filepath.Join(wd, "conf", "sounds", "menu.wav"), filepath.Join(wd, "conf", "menu.wav")}},
		{"/etc/sb/sb.yaml", "/srv/sounds", "sub/menu.wav", []string{"/srv/sounds/sub/menu.wav", "/etc/sb/sub/menu.wav"}},
		{"conf/sb.yaml", "sounds", "/abs/menu.wav", []string{"/abs/menu.wav"}},
	}
	for _, tc := range tests {
		f := &Firm{File: tc.file, SoundsDir: tc.sounds}
		if got := f.SoundPaths(tc.name); !slices.Equal(got, tc.want) {
			t.Errorf("%+v: SoundPaths = %q, want %q", tc, got, tc.want)
		}
	}
}
