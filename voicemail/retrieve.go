package voicemail

import (
	"context"
	"crypto/subtle"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"time"

	"switchboard/rtp"
	"switchboard/store"
	"switchboard/wav"
)

// ErrBadPIN is returned by Retrieve after three wrong PIN entries.
var ErrBadPIN = errors.New("voicemail: wrong PIN")

// pinTries is how many PIN entries a caller gets before Retrieve hangs up.
const pinTries = 3

// maxPINLen bounds a PIN entry so a stuck key cannot make it endless.
const maxPINLen = 32

// Menu keys of Retrieve.
const (
	keyNext   = '1'
	keyDelete = '7'
	keySave   = '9'
)

// RetrieveOptions describes one mailbox listening session.
type RetrieveOptions struct {
	// Firm and Mailbox identify the mailbox.
	Firm, Mailbox string
	// PIN is the mailbox PIN; "" asks for none (an agent calling *97 from
	// their own authenticated phone may be let in without one).
	PIN string
	// DigitTimeout is how long a menu or the PIN entry waits for a key
	// (default 5 s).
	DigitTimeout time.Duration
	// OnChange, when set, is called after every change of the mailbox (a
	// message marked read or deleted) so the PBX can update the MWI lamps.
	OnChange func()
	// Logger receives warnings; nil uses slog.Default().
	Logger *slog.Logger
}

// Retrieve runs the *97/*98 listening menu on an answered call. When o.PIN is
// set it first asks for it ("vm-pin", digits then '#'); after three wrong
// entries it plays "vm-bad-pin" and returns ErrBadPIN. It then plays every
// message, newest first: "vm-message", the message (marked read once played),
// and "vm-menu", where 1 goes to the next message, 7 deletes the message
// (index entry, then file; "vm-deleted"), 9 saves it ("vm-saved") and silence
// for DigitTimeout goes on too. Keys work while a prompt plays. An empty
// mailbox gets "vm-none". "vm-goodbye" ends the session, which returns nil;
// a hang-up returns ctx.Err() or an error wrapping rtp.ErrClosed.
func Retrieve(ctx context.Context, sess *rtp.Session, st *store.Store, pr Prompts, o RetrieveOptions) error {
	if o.DigitTimeout <= 0 {
		o.DigitTimeout = DefaultDigitTimeout
	}
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
	if o.Firm == "" || o.Mailbox == "" {
		return fmt.Errorf("voicemail: retrieve: firm and mailbox are required (got %q, %q)", o.Firm, o.Mailbox)
	}
	r := &retrieval{ctx: ctx, sess: sess, st: st, pr: pr, o: o, kp: newKeypad(sess),
		log: o.Logger.With("firm", o.Firm, "mailbox", o.Mailbox)}
	if err := r.run(); err != nil {
		return fmt.Errorf("voicemail: retrieve %s: %w", o.Mailbox, err)
	}
	return nil
}

// retrieval is the state of one Retrieve call.
type retrieval struct {
	ctx  context.Context
	sess *rtp.Session
	st   *store.Store
	pr   Prompts
	o    RetrieveOptions
	kp   *keypad
	log  *slog.Logger
}

func (r *retrieval) run() error {
	if r.o.PIN != "" {
		if err := r.checkPIN(); err != nil {
			return err
		}
	}
	msgs, err := r.st.ListVoicemail(r.o.Firm, r.o.Mailbox)
	if err != nil {
		return err
	}
	if len(msgs) == 0 {
		if err := r.prompt("vm-none", anyDigit); err != nil {
			return err
		}
	}
	for _, m := range msgs {
		if err := r.message(m); err != nil {
			return err
		}
	}
	return r.prompt("vm-goodbye", nil)
}

// checkPIN asks for the PIN up to pinTries times.
func (r *retrieval) checkPIN() error {
	for try := 1; ; try++ {
		if err := r.prompt("vm-pin", anyDigit); err != nil {
			return err
		}
		got, err := r.kp.collect(r.ctx, maxPINLen, r.o.DigitTimeout)
		if err != nil {
			return err
		}
		if subtle.ConstantTimeCompare([]byte(got), []byte(r.o.PIN)) == 1 {
			return nil
		}
		r.log.Info("voicemail: wrong PIN", "try", try)
		last := try >= pinTries
		var stop func(rune) bool
		if !last {
			stop = anyDigit // the caller may already be typing the next try
		}
		if err := r.prompt("vm-bad-pin", stop); err != nil {
			return err
		}
		if last {
			return ErrBadPIN
		}
	}
}

// message plays one message and runs its menu.
func (r *retrieval) message(m store.Voicemail) error {
	if err := r.prompt("vm-message", anyDigit); err != nil {
		return err
	}
	if len(r.kp.buf) == 0 { // a key during the announcement skips the message
		_, pcm, err := wav.DecodeFile(m.File)
		if err != nil {
			// Still offer the menu, so a broken message can be deleted.
			r.log.Warn("voicemail: cannot read message", "id", m.ID, "file", m.File, "err", err)
		} else if err := r.kp.play(r.ctx, r.sess, pcm, anyDigit); err != nil {
			return err
		}
		if err := r.markRead(&m); err != nil {
			return err
		}
	}
	for invalid := 0; ; {
		if err := r.prompt("vm-menu", anyDigit); err != nil {
			return err
		}
		d, err := r.kp.next(r.ctx, r.o.DigitTimeout)
		switch {
		case errors.Is(err, errDigitTimeout):
			return nil
		case err != nil:
			return err
		}
		switch d {
		case keyNext:
			return nil
		case keyDelete:
			return r.delete(m)
		case keySave:
			if err := r.markRead(&m); err != nil {
				return err
			}
			return r.prompt("vm-saved", anyDigit)
		}
		// An unknown key repeats the menu, a few times at most, so a caller
		// who walked away with a key held down does not loop forever.
		if invalid++; invalid >= pinTries {
			return nil
		}
	}
}

// markRead marks m read in the store unless it already is.
func (r *retrieval) markRead(m *store.Voicemail) error {
	if m.Read {
		return nil
	}
	if err := r.st.MarkVoicemailRead(m.Firm, m.Mailbox, m.ID, true); err != nil {
		return err
	}
	m.Read = true
	r.changed()
	return nil
}

// delete removes m: the index entry first, so that a crash in between leaves
// an orphan file rather than an entry without audio.
func (r *retrieval) delete(m store.Voicemail) error {
	old, err := r.st.DeleteVoicemail(m.Firm, m.Mailbox, m.ID)
	if err != nil {
		return err
	}
	if err := os.Remove(old.File); err != nil && !errors.Is(err, os.ErrNotExist) {
		r.log.Warn("voicemail: removing deleted message file", "id", m.ID, "file", old.File, "err", err)
	}
	r.changed()
	return r.prompt("vm-deleted", anyDigit)
}

func (r *retrieval) changed() {
	if r.o.OnChange != nil {
		r.o.OnChange()
	}
}

// prompt plays a named prompt; see keypad.play for stopOn.
func (r *retrieval) prompt(name string, stopOn func(rune) bool) error {
	pcm, err := r.pr.Get(name)
	if err != nil {
		return fmt.Errorf("prompt %q: %w", name, err)
	}
	return r.kp.play(r.ctx, r.sess, pcm, stopOn)
}
