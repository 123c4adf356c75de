package dialplan

import (
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
)

// CheckPrompts reports IVR prompts and hold_music and record_notice settings that name no file
// the PBX could play, as a *ValidationError with one "file:line:
// ivrs[N].prompt: ..." (or "hold_music: ...", "teams[N].hold_music: ...")
// problem each (nil when all are found). It looks where the PBX looks at call
// time: the firm's SoundPaths (its sounds_dir, then next to its file; or the
// absolute path), then, for a plain file name, NAME.wav in the main sounds_dir
// and the built-in prompts. builtin lists the built-in prompt names without
// ".wav" (sounds.Names). An empty prompt plays the built-in main menu; an
// empty hold_music the next one in the order of Firm.HoldMusic.
//
// A top-level hold_music is checked again for each firm file that falls back
// to it, because each firm looks it up in its own sounds_dir and directory
// first.
//
// Unlike Load it looks at the disk beyond the configuration files, so it is a
// separate step: `switchboard check` fails on its problems, while serve only
// logs them (a missing prompt leaves the menu silent, not the PBX down).
func (c *Config) CheckPrompts(builtin []string) error {
	var problems []Problem
	check := func(f *Firm, file string, line int, path, name, what string) bool {
		if name == "" {
			return true
		}
		looked, ok := c.findPrompt(f, name, builtin)
		if ok {
			return true
		}
		msg := fmt.Sprintf("%s: prompt file %q not found%s", path, name, what)
		if !filepath.IsAbs(name) {
			msg += fmt.Sprintf(" (looked for %s; not a built-in prompt either)", strings.Join(looked, ", "))
		}
		problems = append(problems, Problem{File: file, Line: line, Msg: msg})
		return false
	}
	mainFound, mainNoticeFound := true, true
	for i, f := range c.Firms {
		found := check(f, f.File, f.holdMusicLine, "hold_music", f.holdMusic, "")
		if i == 0 {
			mainFound = found
		} else if f.holdMusic == "" && mainFound {
			// The main file's value, as the firm file's firm looks it up;
			// when the default firm cannot find it either, one problem says so.
			main := c.Firms[0]
			check(f, main.File, main.holdMusicLine, "hold_music", f.mainHoldMusic, " for firm "+f.ID)
		}
		// record_notice: the firm's own, else the main file's as this firm
		// looks it up (reported once when the default firm misses it too).
		if f.recordNotice != "" {
			found := check(f, f.File, f.recordNoticeLine, "record_notice", f.recordNotice, "")
			if i == 0 {
				mainNoticeFound = found
			}
		} else if i > 0 && mainNoticeFound {
			main := c.Firms[0]
			check(f, main.File, main.recordNoticeLine, "record_notice", f.mainRecordNotice, " for firm "+f.ID)
		}
		for j, t := range f.Teams {
			check(f, f.File, t.holdMusicLine, index("teams", j)+".hold_music", t.HoldMusic, "")
		}
		for j, r := range f.IVRs {
			check(f, f.File, r.promptLine, index("ivrs", j)+".prompt", r.Prompt, "")
		}
	}
	if len(problems) == 0 {
		return nil
	}
	return &ValidationError{Problems: problems}
}

// findPrompt mirrors the PBX's lookup of a prompt name and returns the files
// it tried.
func (c *Config) findPrompt(f *Firm, name string, builtin []string) (looked []string, ok bool) {
	looked = f.SoundPaths(name)
	// The prompt library takes a plain name (no directory) with or without
	// ".wav" and looks for NAME.wav in the main sounds_dir, then built in.
	if !filepath.IsAbs(name) && !strings.ContainsAny(name, `/\`) {
		base := strings.TrimSuffix(name, ".wav")
		if slices.Contains(builtin, base) {
			return looked, true
		}
		if c.SoundsDir != "" {
			if p := absPath(filepath.Join(c.SoundsDir, base+".wav")); !slices.Contains(looked, p) {
				looked = append(looked, p)
			}
		}
	}
	for _, p := range looked {
		if st, err := os.Stat(p); err == nil && !st.IsDir() {
			return looked, true
		}
	}
	return looked, false
}
