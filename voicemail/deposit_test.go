package voicemail

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"testing"
	"time"

	"switchboard/internal/audio"
	"switchboard/rtp"
	"switchboard/store"
	"switchboard/wav"
)

type depositResult struct {
	vm  store.Voicemail
	err error
}

func TestDeposit(t *testing.T) {
	t.Parallel()
	const caller = "+15551230001"
	tests := []struct {
		name  string
		codec rtp.Codec
		opts  DepositOptions
		// call drives the caller after the beep; cancel hangs up.
		call       func(e *env, cancel context.CancelFunc)
		format     int
		minD, maxD time.Duration
		wantErr    error
	}{
		{
			name:  "silence ends a PCMU message",
			codec: rtp.PCMU,
			opts:  DepositOptions{SilenceTimeout: time.Second},
			call: func(e *env, _ context.CancelFunc) {
				e.ph.sendTone(1000, 3*time.Second)
				e.ph.sendSilence(1200 * time.Millisecond)
			},
			format: wav.FormatULaw, minD: 2500 * time.Millisecond, maxD: 3600 * time.Millisecond,
		},
		{
			name:  "A-law caller gets an A-law file",
			codec: rtp.PCMA,
			opts:  DepositOptions{SilenceTimeout: 500 * time.Millisecond, MinLength: 300 * time.Millisecond},
			call: func(e *env, _ context.CancelFunc) {
				e.ph.sendTone(1000, time.Second)
				e.ph.sendSilence(700 * time.Millisecond)
			},
			format: wav.FormatALaw, minD: 800 * time.Millisecond, maxD: 1200 * time.Millisecond,
		},
		{
			name:  "hash ends the message",
			codec: rtp.PCMU,
			opts:  DepositOptions{SilenceTimeout: guard, MinLength: 300 * time.Millisecond},
			call: func(e *env, _ context.CancelFunc) {
				e.ph.sendTone(1000, time.Second)
				e.ph.sendDigits("#")
			},
			format: wav.FormatULaw, minD: 800 * time.Millisecond, maxD: 1200 * time.Millisecond,
		},
		{
			name:  "max length cuts the message",
			codec: rtp.PCMU,
			opts:  DepositOptions{SilenceTimeout: guard, MaxLength: 800 * time.Millisecond, MinLength: 300 * time.Millisecond},
			call: func(e *env, _ context.CancelFunc) {
				e.ph.sendTone(1000, 1200*time.Millisecond)
			},
			format: wav.FormatULaw, minD: 600 * time.Millisecond, maxD: 800 * time.Millisecond,
		},
		{
			name:  "hang-up keeps what was said",
			codec: rtp.PCMU,
			opts:  DepositOptions{SilenceTimeout: guard, MinLength: 300 * time.Millisecond},
			call: func(e *env, cancel context.CancelFunc) {
				e.ph.sendTone(1000, time.Second)
				e.ph.sendSilence(20 * time.Millisecond)
				e.waitReceived()
				cancel()
			},
			format: wav.FormatULaw, minD: 800 * time.Millisecond, maxD: 1200 * time.Millisecond,
		},
		{
			name:  "short message is discarded",
			codec: rtp.PCMU,
			opts:  DepositOptions{SilenceTimeout: 500 * time.Millisecond}, // default MinLength 1 s
			call: func(e *env, _ context.CancelFunc) {
				e.ph.sendTone(1000, 500*time.Millisecond)
				e.ph.sendSilence(700 * time.Millisecond)
			},
			wantErr: ErrTooShort,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			e := newEnv(t, tt.codec)
			ctx, cancel := context.WithCancel(testCtx(t))
			o := tt.opts
			o.Firm, o.Mailbox, o.Caller, o.Logger = "acme", "1001", caller, quiet
			o.Dir = MailboxDir(e.dir, o.Firm, o.Mailbox)
			res := make(chan depositResult, 1)
			go func() {
				vm, err := Deposit(ctx, e.sess, e.st, newTestPrompts(), o)
				res <- depositResult{vm, err}
			}()

			e.ph.waitHeard("greeting", 3)
			e.ph.waitHeard("beep", 5) // the whole 1 kHz beep arrived
			// Lead-in silence covers the moment between the beep's last
			// packet and the recorder starting; it is kept, not trimmed.
			e.ph.sendSilence(100 * time.Millisecond)
			tt.call(e, cancel)
			r := await(t, res)

			if tt.wantErr != nil {
				if !errors.Is(r.err, tt.wantErr) {
					t.Fatalf("Deposit error = %v, want %v", r.err, tt.wantErr)
				}
				checkNoMessages(t, e, o)
				return
			}
			if r.err != nil {
				t.Fatalf("Deposit: %v", r.err)
			}
			checkStored(t, e, r.vm, o, tt.format, tt.minD, tt.maxD)
		})
	}
}

// TestDepositHashSkipsGreeting checks that '#' during the greeting jumps to
// the beep without ending the recording that follows.
func TestDepositHashSkipsGreeting(t *testing.T) {
	t.Parallel()
	e := newEnv(t, rtp.PCMU)
	pr := newTestPrompts()
	o := DepositOptions{Logger: quiet, Firm: "acme", Mailbox: "1002", Caller: "bob", SilenceTimeout: 500 * time.Millisecond, MinLength: 300 * time.Millisecond,
		Dir: MailboxDir(e.dir, "acme", "1002"),
		// Long enough that the test fails on the guard if '#' is ignored.
		Greeting: audio.Sine(tones["greeting"], 8000, 0, durationSamples(2*guard))}
	res := make(chan depositResult, 1)
	go func() {
		vm, err := Deposit(testCtx(t), e.sess, e.st, pr, o)
		res <- depositResult{vm, err}
	}()
	e.ph.waitHeard("greeting", 2)
	e.ph.sendDigits("#")
	e.ph.waitHeard("beep", 5)
	e.ph.sendSilence(100 * time.Millisecond)
	e.ph.sendTone(1000, time.Second)
	e.ph.sendSilence(700 * time.Millisecond)
	r := await(t, res)
	if r.err != nil {
		t.Fatalf("Deposit: %v", r.err)
	}
	checkStored(t, e, r.vm, o, wav.FormatULaw, 800*time.Millisecond, 1200*time.Millisecond)
}

func TestDepositHangupDuringGreeting(t *testing.T) {
	t.Parallel()
	e := newEnv(t, rtp.PCMU)
	o := DepositOptions{Logger: quiet, Firm: "acme", Mailbox: "1003", Dir: MailboxDir(e.dir, "acme", "1003"),
		Greeting: audio.Sine(tones["greeting"], 8000, 0, durationSamples(2*guard))}
	ctx, cancel := context.WithCancel(testCtx(t))
	res := make(chan depositResult, 1)
	go func() {
		vm, err := Deposit(ctx, e.sess, e.st, newTestPrompts(), o)
		res <- depositResult{vm, err}
	}()
	e.ph.waitHeard("greeting", 2)
	cancel()
	if r := await(t, res); !errors.Is(r.err, context.Canceled) {
		t.Fatalf("Deposit error = %v, want context.Canceled", r.err)
	}
	checkNoMessages(t, e, o)
}

func TestDepositBadOptions(t *testing.T) {
	t.Parallel()
	e := newEnv(t, rtp.PCMU)
	_, err := Deposit(testCtx(t), e.sess, e.st, newTestPrompts(), DepositOptions{Firm: "acme", Mailbox: "1001"})
	if err == nil {
		t.Fatal("Deposit without Dir succeeded")
	}
	missing := testPrompts{"greeting": nil}
	_, err = Deposit(testCtx(t), e.sess, e.st, missing, DepositOptions{Firm: "acme", Mailbox: "1001", Dir: e.dir})
	if !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("Deposit without a beep prompt: %v", err)
	}
}

// checkStored verifies the returned entry, the index and the WAV file.
func checkStored(t *testing.T, e *env, vm store.Voicemail, o DepositOptions, format int, minD, maxD time.Duration) {
	t.Helper()
	if vm.ID == "" || vm.Firm != o.Firm || vm.Mailbox != o.Mailbox || vm.Caller != o.Caller || vm.Read {
		t.Fatalf("entry = %+v", vm)
	}
	if vm.Duration < minD || vm.Duration > maxD {
		t.Errorf("entry duration %s, want %s..%s", vm.Duration, minD, maxD)
	}
	if wantCodec := map[int]string{wav.FormatULaw: "PCMU", wav.FormatALaw: "PCMA"}[format]; vm.Codec != wantCodec {
		t.Errorf("entry codec %q, want %q", vm.Codec, wantCodec)
	}
	if filepath.Dir(vm.File) != o.Dir {
		t.Errorf("file %s is not in %s", vm.File, o.Dir)
	}
	list, err := e.st.ListVoicemail(o.Firm, o.Mailbox)
	if err != nil {
		t.Fatal(err)
	}
	if len(list) != 1 || list[0].ID != vm.ID || list[0].File != vm.File || list[0].Duration != vm.Duration {
		t.Fatalf("store lists %+v, want just %+v", list, vm)
	}
	info, pcm, err := wav.DecodeFile(vm.File)
	if err != nil {
		t.Fatalf("decode recording: %v", err)
	}
	if info.Format != format {
		t.Errorf("WAV format %s, want %s", wav.FormatName(info.Format), wav.FormatName(format))
	}
	if info.Duration != vm.Duration {
		t.Errorf("WAV lasts %s, entry says %s", info.Duration, vm.Duration)
	}
	if f := audio.DominantFrequency(pcm); f < 990 || f > 1010 {
		t.Errorf("recording's dominant frequency %.0f Hz, want 1000", f)
	}
	// Trailing silence is trimmed: the last 20 ms are still the tone.
	if rms := audio.RMS(pcm[len(pcm)-frame:]); rms < 1000 {
		t.Errorf("recording ends with silence (RMS %.0f)", rms)
	}
	entries, err := os.ReadDir(o.Dir)
	if err != nil {
		t.Fatal(err)
	}
	if len(entries) != 1 {
		t.Errorf("mailbox dir holds %d files, want 1 (no temp files left)", len(entries))
	}
}

func checkNoMessages(t *testing.T, e *env, o DepositOptions) {
	t.Helper()
	list, err := e.st.ListVoicemail(o.Firm, o.Mailbox)
	if err != nil {
		t.Fatal(err)
	}
	if len(list) != 0 {
		t.Errorf("store lists %+v, want nothing", list)
	}
	entries, err := os.ReadDir(o.Dir)
	if err != nil && !errors.Is(err, os.ErrNotExist) {
		t.Fatal(err)
	}
	if len(entries) != 0 {
		t.Errorf("mailbox dir holds %d files, want none", len(entries))
	}
}
