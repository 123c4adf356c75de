package voicemail

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"time"

	"switchboard/internal/audio"
	"switchboard/rtp"
	"switchboard/store"
	"switchboard/wav"
)

// Defaults of DepositOptions and RetrieveOptions, as in the specification.
const (
	DefaultSilenceTimeout = 5 * time.Second
	DefaultMaxLength      = 120 * time.Second
	DefaultMinLength      = time.Second
	DefaultSilenceLevel   = 300.0
	DefaultDigitTimeout   = 5 * time.Second
)

// recordQueue is how many 20 ms frames may wait between the session's read
// goroutine and the recorder; the recorder only appends and measures, so this
// is slack for scheduling hiccups, not a jitter buffer.
const recordQueue = 512

// ErrTooShort is returned by Deposit when the message, trailing silence
// removed, is shorter than DepositOptions.MinLength; nothing is stored.
var ErrTooShort = errors.New("voicemail: message too short, discarded")

// DepositOptions describes one message deposit.
type DepositOptions struct {
	// Firm and Mailbox identify the mailbox; Caller is the caller's number or
	// URI as it should be shown to the mailbox owner.
	Firm, Mailbox, Caller string
	// Dir is where the WAV file goes, normally MailboxDir(data_dir, firm,
	// mailbox). It is created when missing.
	Dir string
	// Greeting is the mailbox's own greeting; nil plays the "greeting" prompt.
	Greeting []int16
	// SilenceTimeout ends the recording after this much continuous silence
	// (default 5 s); the silence is not kept.
	SilenceTimeout time.Duration
	// MaxLength caps the recording (default 120 s).
	MaxLength time.Duration
	// MinLength is the shortest message kept (default 1 s).
	MinLength time.Duration
	// SilenceLevel is the RMS level (0..32767) below which a 20 ms frame counts
	// as silence (default 300).
	SilenceLevel float64
	// Logger receives progress and warnings; nil uses slog.Default().
	Logger *slog.Logger
}

func (o *DepositOptions) setDefaults() {
	if o.SilenceTimeout <= 0 {
		o.SilenceTimeout = DefaultSilenceTimeout
	}
	if o.MaxLength <= 0 {
		o.MaxLength = DefaultMaxLength
	}
	if o.MinLength <= 0 {
		o.MinLength = DefaultMinLength
	}
	if o.SilenceLevel <= 0 {
		o.SilenceLevel = DefaultSilenceLevel
	}
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
}

// Deposit runs the leave-a-message application on an answered call. It plays
// the greeting (a '#' skips the rest of it, as callers know from other PBXs)
// and the beep, then records the caller until ctx is done (the caller hung
// up, or the session closed), the caller presses '#', SilenceTimeout of
// continuous silence passes or MaxLength is reached. Trailing silence is cut
// off in every case.
//
// The message is written in the session's codec (µ-law for PCMU, A-law for
// PCMA) as a WAV file in o.Dir, atomically, and then indexed in st with fsync;
// Deposit returns the stored entry. A message shorter than MinLength is
// discarded with ErrTooShort. A hang-up during the greeting or beep returns
// ctx.Err() and stores nothing.
func Deposit(ctx context.Context, sess *rtp.Session, st *store.Store, pr Prompts, o DepositOptions) (store.Voicemail, error) {
	o.setDefaults()
	if o.Firm == "" || o.Mailbox == "" || o.Dir == "" {
		return store.Voicemail{}, fmt.Errorf("voicemail: deposit: firm, mailbox and dir are required (got %q, %q, %q)", o.Firm, o.Mailbox, o.Dir)
	}
	log := o.Logger.With("firm", o.Firm, "mailbox", o.Mailbox, "caller", o.Caller)

	greeting := o.Greeting
	if greeting == nil {
		g, err := pr.Get("greeting")
		if err != nil {
			return store.Voicemail{}, fmt.Errorf("voicemail: deposit to %s: greeting prompt: %w", o.Mailbox, err)
		}
		greeting = g
	}
	beep, err := pr.Get("beep")
	if err != nil {
		return store.Voicemail{}, fmt.Errorf("voicemail: deposit to %s: beep prompt: %w", o.Mailbox, err)
	}

	kp := newKeypad(sess)
	if err := kp.play(ctx, sess, greeting, func(d rune) bool { return d == '#' }); err != nil {
		return store.Voicemail{}, fmt.Errorf("voicemail: deposit to %s: %w", o.Mailbox, err)
	}
	kp.flush()
	if err := kp.play(ctx, sess, beep, nil); err != nil {
		return store.Voicemail{}, fmt.Errorf("voicemail: deposit to %s: %w", o.Mailbox, err)
	}
	// Keys pressed before the beep ended (the '#' that skipped the greeting)
	// must not end the recording at once.
	kp.flush()

	codec := sess.Codec()
	format, err := wavFormat(codec)
	if err != nil {
		return store.Voicemail{}, fmt.Errorf("voicemail: deposit to %s: %w", o.Mailbox, err)
	}
	started := time.Now()
	pcm, reason := record(ctx, sess, kp, o)
	n := len(pcm)
	duration := samplesDuration(n)
	log.Debug("voicemail recording ended", "reason", reason, "duration", duration)
	if duration < o.MinLength {
		log.Info("voicemail discarded", "reason", reason, "duration", duration, "min", o.MinLength)
		return store.Voicemail{}, fmt.Errorf("%w (%s < %s, ended by %s)", ErrTooShort, duration, o.MinLength, reason)
	}

	data, err := rtp.Encode(make([]byte, n), pcm, codec)
	if err != nil {
		return store.Voicemail{}, fmt.Errorf("voicemail: deposit to %s: %w", o.Mailbox, err)
	}
	if err := os.MkdirAll(o.Dir, 0o700); err != nil {
		return store.Voicemail{}, fmt.Errorf("voicemail: deposit to %s: %w", o.Mailbox, err)
	}
	fileID, err := newFileID(started)
	if err != nil {
		return store.Voicemail{}, fmt.Errorf("voicemail: deposit to %s: %w", o.Mailbox, err)
	}
	path := filepath.Join(o.Dir, fileID+".wav")
	if err := wav.WriteFileAtomic(path, format, data); err != nil {
		return store.Voicemail{}, fmt.Errorf("voicemail: deposit to %s: %w", o.Mailbox, err)
	}
	vm := store.Voicemail{
		Firm:     o.Firm,
		Mailbox:  o.Mailbox,
		Caller:   o.Caller,
		Time:     started,
		Duration: duration,
		File:     path,
		Codec:    strings.ToUpper(codec.Name),
	}
	if err := st.AddVoicemail(&vm); err != nil {
		// Without an index entry nobody would ever find or delete the file.
		if rmErr := os.Remove(path); rmErr != nil {
			log.Warn("voicemail: removing unindexed file", "file", path, "err", rmErr)
		}
		return store.Voicemail{}, fmt.Errorf("voicemail: deposit to %s: %w", o.Mailbox, err)
	}
	log.Info("voicemail saved", "id", vm.ID, "duration", duration, "codec", vm.Codec, "reason", reason)
	return vm, nil
}

// Reasons a recording ended, for logs and errors.
const (
	endHangup  = "hang-up"
	endHash    = "'#'"
	endSilence = "silence"
	endMax     = "max length"
)

// record collects the caller's audio until one of the end conditions and
// returns it with trailing silence removed, plus why it ended.
func record(ctx context.Context, sess *rtp.Session, kp *keypad, o DepositOptions) ([]int16, string) {
	frames := make(chan []int16, recordQueue)
	var dropped atomic.Int64
	sess.OnAudio(func(pcm []int16) {
		f := make([]int16, len(pcm))
		copy(f, pcm)
		select {
		case frames <- f:
		default: // the recorder is stuck; losing a frame beats stalling the read loop
			dropped.Add(1)
		}
	})
	defer func() {
		sess.OnAudio(nil)
		if n := dropped.Load(); n > 0 {
			o.Logger.Warn("voicemail: recorder fell behind, frames lost", "firm", o.Firm, "mailbox", o.Mailbox, "frames", n)
		}
	}()

	r := recorder{
		level:      o.SilenceLevel,
		maxSamples: durationSamples(o.MaxLength),
		maxSilence: durationSamples(o.SilenceTimeout),
	}
	// A phone with voice activity detection sends nothing while the caller is
	// quiet, so silence is also measured as time without any frame.
	idle := time.NewTimer(o.SilenceTimeout)
	defer idle.Stop()
	// A caller trickling a frame now and then must not hold the line for
	// MaxLength worth of frames.
	guard := time.NewTimer(o.MaxLength + o.SilenceTimeout)
	defer guard.Stop()

	// drain takes the frames already handed over before the end condition, so
	// that nothing the caller said before '#' or the hang-up is lost.
	drain := func() {
		for {
			select {
			case f := <-frames:
				if r.add(f) != "" {
					return
				}
			default:
				return
			}
		}
	}
	reason := ""
	for reason == "" {
		select {
		case <-ctx.Done():
			drain()
			reason = endHangup
		case d, ok := <-kp.ch:
			kp.take(d, ok)
			switch {
			case !ok:
				drain()
				reason = endHangup
			case d == '#':
				drain()
				reason = endHash
			}
		case f := <-frames:
			reason = r.add(f)
			idle.Reset(o.SilenceTimeout)
		case <-idle.C:
			reason = endSilence
		case <-guard.C:
			reason = endMax
		}
	}
	return r.pcm[:r.voicedEnd], reason
}

// recorder accumulates frames and tracks silence in audio time.
type recorder struct {
	level      float64
	maxSamples int
	maxSilence int

	pcm       []int16
	voicedEnd int // end of the last frame louder than level
	silentRun int // samples of silence since then
}

// add appends one frame and reports an end reason, or "" to go on.
func (r *recorder) add(f []int16) string {
	if room := r.maxSamples - len(r.pcm); len(f) > room {
		f = f[:room]
	}
	r.pcm = append(r.pcm, f...)
	if audio.RMS(f) >= r.level {
		r.voicedEnd, r.silentRun = len(r.pcm), 0
	} else {
		r.silentRun += len(f)
	}
	switch {
	case len(r.pcm) >= r.maxSamples:
		return endMax
	case r.silentRun >= r.maxSilence:
		return endSilence
	}
	return ""
}

// wavFormat maps the negotiated codec to the WAV format that stores its bytes
// unchanged.
func wavFormat(c rtp.Codec) (int, error) {
	switch strings.ToUpper(c.Name) {
	case rtp.PCMU.Name:
		return wav.FormatULaw, nil
	case rtp.PCMA.Name:
		return wav.FormatALaw, nil
	}
	return 0, fmt.Errorf("cannot record codec %s", c)
}

// newFileID names a new message file: its start time (so a directory listing
// sorts by time) and random bits (so two callers in the same instant differ).
func newFileID(t time.Time) (string, error) {
	var b [4]byte
	if _, err := rand.Read(b[:]); err != nil {
		return "", fmt.Errorf("file name: %w", err)
	}
	return t.UTC().Format("20060102T150405.000000000Z") + "-" + hex.EncodeToString(b[:]), nil
}

func durationSamples(d time.Duration) int {
	return int(d * audio.SampleRate / time.Second)
}

func samplesDuration(n int) time.Duration {
	return time.Duration(n) * time.Second / audio.SampleRate
}
