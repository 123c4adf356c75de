// Package sounds owns the audio prompts the PBX plays to callers (voicemail greeting,
// beep, menus, hold music, ringback, ...). The built-in prompts are G.711 µ-law
// 8 kHz mono WAV files embedded in the binary; they are made by generate.sh with
// espeak-ng and sox and committed under prompts/. An admin replaces any of them by
// putting a WAV file of the same name in the configured sounds_dir.
package sounds

import (
	"bytes"
	"embed"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"sort"
	"strings"
	"sync"

	"switchboard/wav"
)

//go:embed prompts/*.wav
var builtin embed.FS

// ErrNotFound reports a prompt that is neither in the override directories nor
// built in.
var ErrNotFound = errors.New("sounds: prompt not found")

// Names returns the names of the built-in prompts (without ".wav"), sorted.
func Names() []string {
	entries, err := fs.ReadDir(builtin, "prompts")
	if err != nil {
		// The directory is embedded at build time; it cannot be missing at run time.
		return nil
	}
	names := make([]string, 0, len(entries))
	for _, e := range entries {
		if n, ok := strings.CutSuffix(e.Name(), ".wav"); ok {
			names = append(names, n)
		}
	}
	sort.Strings(names)
	return names
}

// Library resolves prompt names to decoded audio. Files in the override
// directories take precedence over the built-in prompts. Each prompt is read and
// decoded once, on first use, and then served from memory; a Library is safe for
// concurrent use. Because of the cache, a file changed on disk is seen by a new
// Library (the PBX builds one per configuration load), not by an existing one.
type Library struct {
	dirs []string

	mu    sync.Mutex
	cache map[string]*entry
}

// entry is one prompt being loaded or loaded. done is closed when pcm and err are
// set, so that concurrent first requests wait for a single decode.
type entry struct {
	done chan struct{}
	pcm  []int16
	err  error
}

// New returns a Library that looks for prompts in dir (the configured sounds_dir;
// "" for none), then in extraDirs in order (such as the directory of the config
// file), then among the built-in prompts.
func New(dir string, extraDirs ...string) *Library {
	l := &Library{cache: make(map[string]*entry)}
	for _, d := range append([]string{dir}, extraDirs...) {
		if d != "" {
			l.dirs = append(l.dirs, d)
		}
	}
	return l
}

// Get returns the prompt called name as 16-bit 8 kHz mono samples. name may carry
// the ".wav" extension or not; an absolute path names one file directly. The
// returned slice is shared with other callers and must not be modified. An unknown
// prompt gives an error wrapping ErrNotFound; an override file that exists but
// cannot be read or decoded gives that error rather than a silent fallback to the
// built-in, so that the admin learns about it.
func (l *Library) Get(name string) ([]int16, error) {
	key, err := cleanName(name)
	if err != nil {
		return nil, err
	}
	l.mu.Lock()
	e, ok := l.cache[key]
	if !ok {
		e = &entry{done: make(chan struct{})}
		l.cache[key] = e
	}
	l.mu.Unlock()
	if ok {
		<-e.done
		return e.pcm, e.err
	}
	e.pcm, e.err = l.load(key)
	if e.err != nil {
		// Forget failures so that a file fixed or added later is picked up.
		l.mu.Lock()
		delete(l.cache, key)
		l.mu.Unlock()
	}
	close(e.done)
	return e.pcm, e.err
}

// cleanName turns a user-supplied prompt name into a cache key: an absolute path,
// or a bare name without ".wav". Relative names must not reach outside the
// prompt directories.
func cleanName(name string) (string, error) {
	if filepath.IsAbs(name) {
		return filepath.Clean(name), nil
	}
	base := strings.TrimSuffix(name, ".wav")
	if base == "" || base == "." || base == ".." || strings.ContainsAny(base, `/\`) || strings.ContainsRune(base, 0) {
		return "", fmt.Errorf("sounds: invalid prompt name %q: want a file name or an absolute path", name)
	}
	return base, nil
}

// load reads and decodes the prompt for key, searching the override directories
// before the built-in prompts.
func (l *Library) load(key string) ([]int16, error) {
	if filepath.IsAbs(key) {
		pcm, err := decodeFile(key)
		if errors.Is(err, fs.ErrNotExist) {
			return nil, fmt.Errorf("%w: %s: %w", ErrNotFound, key, err)
		}
		return pcm, err
	}
	file := key + ".wav"
	for _, dir := range l.dirs {
		pcm, err := decodeFile(filepath.Join(dir, file))
		if errors.Is(err, fs.ErrNotExist) {
			continue
		}
		return pcm, err
	}
	data, err := builtin.ReadFile(path.Join("prompts", file))
	if err != nil {
		return nil, fmt.Errorf("%w: %q (looked in %s)", ErrNotFound, key, l.searched())
	}
	_, pcm, err := wav.Decode(bytes.NewReader(data))
	if err != nil {
		return nil, fmt.Errorf("sounds: built-in prompt %s: %w", key, err)
	}
	return pcm, nil
}

// searched describes where load looked, for the not-found error.
func (l *Library) searched() string {
	if len(l.dirs) == 0 {
		return "the built-in prompts"
	}
	return strings.Join(l.dirs, ", ") + " and the built-in prompts"
}

// decodeFile decodes one override file. A path that is missing, or a directory
// where a file should be, reports fs.ErrNotExist so that the search moves on.
func decodeFile(p string) ([]int16, error) {
	st, err := os.Stat(p)
	if err != nil {
		return nil, fmt.Errorf("sounds: %w", err)
	}
	if st.IsDir() {
		return nil, fmt.Errorf("sounds: %s is a directory: %w", p, fs.ErrNotExist)
	}
	_, pcm, err := wav.DecodeFile(p)
	if err != nil {
		return nil, fmt.Errorf("sounds: %w", err)
	}
	if len(pcm) == 0 {
		return nil, fmt.Errorf("sounds: prompt file %s holds no audio", p)
	}
	return pcm, nil
}
