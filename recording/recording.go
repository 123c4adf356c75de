// Package recording writes call recordings: a stereo WAV file (8 kHz 16-bit
// PCM, the customer on the left, the agent on the right) filled while the call
// runs, by a clock that takes 20 ms from each side every 20 ms so that the two
// channels stay aligned whatever the packet timing, with silence where a side
// sent nothing.
//
// Audio reaches the file on every tick, so a process killed mid-call leaves
// everything up to the last tick in the page cache and on disk; the header,
// patched only at Close, is then repaired by Recover at the next start. Next to
// each file a small JSON sidecar holds what the index needs (firm, call, agent,
// team, start) until the caller has indexed the finished recording (Commit), so
// that Recover can index a recording whose call never ended.
package recording

import (
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"switchboard/wav"
)

// Channel is a side of the recording.
type Channel int

// The two sides: the customer left, the agent right.
const (
	Left Channel = iota
	Right
)

const (
	// frame is the clock's step: 20 ms of audio at 8 kHz, the usual RTP packet.
	frame    = 160
	tick     = 20 * time.Millisecond
	bytesPer = 4 // one stereo 16-bit sample pair
	// prime is how much a side must have buffered before the clock takes from
	// it: packets arriving a little late then do not punch holes of silence.
	prime = 3 * frame
	// maxBacklog bounds what a side may have waiting (a sender whose clock runs
	// fast, a burst after a stall): older audio is dropped beyond it, so that the
	// two channels never drift apart by more than this.
	maxBacklog = 10 * frame
)

// Meta is what identifies a recording in the index.
type Meta struct {
	ID    string `json:"id"`
	Firm  string `json:"firm"`
	Call  string `json:"call"`
	Agent string `json:"agent,omitempty"`
	// CallerAgent is the agent who placed the call, who may fetch it too.
	CallerAgent string    `json:"caller_agent,omitempty"`
	Team        string    `json:"team,omitempty"`
	Start       time.Time `json:"start"`
}

// Result describes a finished (or repaired) recording file.
type Result struct {
	File     string
	Duration time.Duration
	Size     int64 // bytes of the whole file
}

// Path is where the recording id of firm lives under root.
func Path(root, firm, id string) string {
	return filepath.Join(root, firm, id+".wav")
}

func sidecar(wavPath string) string { return strings.TrimSuffix(wavPath, ".wav") + ".json" }

// Recorder writes one recording. Feed and SetOn may be called from any
// goroutine; Close once, by the owner.
type Recorder struct {
	path string
	w    *wav.FileWriter
	log  *slog.Logger

	mu     sync.Mutex
	buf    [2][]int16
	primed [2]bool
	on     bool
	err    error // the first write error; the recording stops there

	stop chan struct{}
	done chan struct{}
	once sync.Once
}

// Start creates the recording m at path (its directory made as needed) and
// starts its clock, recording. The clock goroutine belongs to the Recorder and
// ends in Close.
func Start(path string, m Meta, log *slog.Logger) (*Recorder, error) {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o750); err != nil {
		return nil, fmt.Errorf("recording: %w", err)
	}
	// The sidecar first: a file on disk without one is either indexed or was
	// never more than a header.
	b, err := json.Marshal(m)
	if err != nil {
		return nil, fmt.Errorf("recording: %w", err)
	}
	if err := os.WriteFile(sidecar(path), b, 0o600); err != nil {
		return nil, fmt.Errorf("recording: %w", err)
	}
	w, err := wav.CreateStereo(path)
	if err != nil {
		os.Remove(sidecar(path))
		return nil, fmt.Errorf("recording: %w", err)
	}
	// The new names must survive a power cut as well as their data will.
	if err := syncDir(filepath.Dir(path)); err != nil {
		log.Warn("recording: sync directory", "dir", filepath.Dir(path), "err", err)
	}
	r := &Recorder{path: path, w: w, log: log, on: true, stop: make(chan struct{}), done: make(chan struct{})}
	go r.clock()
	return r, nil
}

// Feed hands the recorder 20 ms (or any amount) of a side's audio; it copies.
func (r *Recorder) Feed(ch Channel, pcm []int16) {
	if ch != Left && ch != Right {
		return
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if !r.on {
		return
	}
	b := append(r.buf[ch], pcm...)
	if over := len(b) - maxBacklog; over > 0 {
		b = append(b[:0], b[over:]...)
	}
	r.buf[ch] = b
}

// SetOn pauses (false) or resumes (true) the recording: while paused, nothing
// is written and the call's audio is not kept.
func (r *Recorder) SetOn(on bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.on = on
	if !on {
		r.buf[0], r.buf[1] = r.buf[0][:0], r.buf[1][:0]
		r.primed = [2]bool{}
	}
}

// On reports whether the recorder records (not paused).
func (r *Recorder) On() bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.on
}

// clock writes one frame per side per 20 ms of wall-clock time. It counts
// frames against the time since it began rather than ticks, so that a loaded
// machine that skips ticks catches up instead of shortening the recording.
func (r *Recorder) clock() {
	defer close(r.done)
	t := time.NewTicker(tick)
	defer t.Stop()
	begin := time.Now()
	var due, written int64
	var left, right []int16
	for {
		select {
		case <-r.stop:
			return
		case now := <-t.C:
			due = int64(now.Sub(begin) / tick)
		}
		left, right = left[:0], right[:0]
		r.mu.Lock()
		for ; written < due; written++ {
			if !r.on {
				continue // paused time is not in the file
			}
			for ch := range r.buf {
				out := &left
				if ch == int(Right) {
					out = &right
				}
				*out = r.take(ch, *out)
			}
		}
		r.mu.Unlock()
		if len(left) > 0 && r.write(left, right) != nil {
			return
		}
	}
}

// take appends one frame of side ch to out: its audio when it has some, else
// silence. Called with mu held.
func (r *Recorder) take(ch int, out []int16) []int16 {
	b := r.buf[ch]
	if !r.primed[ch] && len(b) >= prime {
		r.primed[ch] = true
	}
	n := 0
	if r.primed[ch] {
		n = min(frame, len(b))
		out = append(out, b[:n]...)
		r.buf[ch] = append(b[:0], b[n:]...)
		if len(r.buf[ch]) == 0 {
			r.primed[ch] = false
		}
	}
	for ; n < frame; n++ {
		out = append(out, 0)
	}
	return out
}

func (r *Recorder) write(left, right []int16) error {
	if err := r.w.WriteStereo(left, right); err != nil {
		r.mu.Lock()
		if r.err == nil {
			r.err = err
			r.log.Error("recording: write", "file", r.path, "err", err)
		}
		r.mu.Unlock()
		return err
	}
	return nil
}

// Close stops the clock, writes what the sides still had buffered, completes
// the header and fsyncs the file. The sidecar stays until Commit.
func (r *Recorder) Close() (Result, error) {
	var err error
	r.once.Do(func() {
		close(r.stop)
		<-r.done
		r.mu.Lock()
		left, right := r.buf[Left], r.buf[Right]
		n := max(len(left), len(right))
		left = append(left, make([]int16, n-len(left))...)
		right = append(right, make([]int16, n-len(right))...)
		werr, on := r.err, r.on
		// A listener still running on a read goroutine must not append to
		// these buffers while they are written out.
		r.on = false
		r.buf = [2][]int16{}
		r.mu.Unlock()
		if werr == nil && n > 0 && on {
			werr = r.write(left, right)
		}
		err = errors.Join(werr, r.w.Close())
	})
	if err != nil {
		return Result{}, fmt.Errorf("recording %s: %w", r.path, err)
	}
	return r.result()
}

func (r *Recorder) result() (Result, error) {
	st, err := os.Stat(r.path)
	if err != nil {
		return Result{}, fmt.Errorf("recording: %w", err)
	}
	return Result{File: r.path, Duration: r.w.Duration(), Size: st.Size()}, nil
}

// Commit says the finished recording at path is indexed: its sidecar goes.
func Commit(path string) error {
	if err := os.Remove(sidecar(path)); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("recording: %w", err)
	}
	return nil
}

// Remove deletes a recording's file and sidecar (retention, DELETE); a file
// already gone is no error.
func Remove(path string) error {
	var errs []error
	for _, p := range []string{path, sidecar(path)} {
		if err := os.Remove(p); err != nil && !errors.Is(err, fs.ErrNotExist) {
			errs = append(errs, err)
		}
	}
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("recording: %w", err)
	}
	return nil
}

// Recover finds the recordings under root that were never committed (the
// process died while they were written, or before they were indexed), repairs
// their WAV headers, and hands each to index; a recording index accepts is
// committed. Recordings that cannot be read are logged and left in place.
func Recover(root string, log *slog.Logger, index func(Meta, Result) error) (int, error) {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	sidecars, err := filepath.Glob(filepath.Join(root, "*", "*.json"))
	if err != nil {
		return 0, fmt.Errorf("recording: scan %s: %w", root, err)
	}
	n := 0
	var errs []error
	for _, sc := range sidecars {
		path := strings.TrimSuffix(sc, ".json") + ".wav"
		b, err := os.ReadFile(sc)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		var m Meta
		if err := json.Unmarshal(b, &m); err != nil || m.ID == "" || m.Firm == "" {
			log.Warn("recording: unreadable sidecar, left in place", "file", sc, "err", err)
			continue
		}
		if _, err := os.Stat(path); errors.Is(err, fs.ErrNotExist) {
			// Died between the sidecar and the file: nothing was recorded.
			os.Remove(sc)
			continue
		}
		changed, data, err := wav.Repair(path)
		if err != nil {
			log.Warn("recording: cannot repair, left in place", "file", path, "err", err)
			continue
		}
		st, err := os.Stat(path)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		res := Result{File: path, Duration: time.Duration(data/bytesPer) * time.Second / wav.SampleRate, Size: st.Size()}
		if err := index(m, res); err != nil {
			errs = append(errs, fmt.Errorf("index %s: %w", path, err))
			continue
		}
		if err := Commit(path); err != nil {
			errs = append(errs, err)
		}
		log.Info("recording recovered", "file", path, "repaired", changed, "duration", res.Duration)
		n++
	}
	if err := errors.Join(errs...); err != nil {
		return n, fmt.Errorf("recording: recover: %w", err)
	}
	return n, nil
}

// syncDir makes the entries of dir durable (new or removed files).
func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer d.Close()
	return d.Sync()
}
