package dialplan

import (
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
)

// CheckPrompts reports IVR prompts that name no file the PBX could play, as
// a *ValidationError with one "file:line: ivrs[N].prompt: ..." problem each
// (nil when all are found). It looks where the PBX looks at call time: the
// firm's SoundPaths (its sounds_dir, then next to its file; or the absolute
// path), then, for a plain file name, NAME.wav in the main sounds_dir and the
// built-in prompts. builtin lists the built-in prompt names without ".wav"
// (sounds.Names). An empty prompt plays the built-in main menu.
//
// Unlike Load it looks at the disk beyond the configuration files, so it is a
// separate step: `switchboard check` fails on its problems, while serve only
// logs them (a missing prompt leaves the menu silent, not the PBX down).
func (c *Config) CheckPrompts(builtin []string) error {
	var problems []Problem
	for _, f := range c.Firms {
		for i, r := range f.IVRs {
			if r.Prompt == "" {
				continue
			}
			looked, ok := c.findPrompt(f, r.Prompt, builtin)
			if ok {
				continue
			}
			msg := fmt.Sprintf("%s: prompt file %q not found", index("ivrs", i)+".prompt", r.Prompt)
			if !filepath.IsAbs(r.Prompt) {
				msg += fmt.Sprintf(" (looked for %s; not a built-in prompt either)", strings.Join(looked, ", "))
			}
			problems = append(problems, Problem{File: f.File, Line: r.promptLine, Msg: msg})
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
