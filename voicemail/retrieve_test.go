package voicemail

import (
	"context"
	"errors"
	"os"
	"slices"
	"sync/atomic"
	"testing"
	"time"

	"switchboard/rtp"
)

func runRetrieve(t *testing.T, e *env, ctx context.Context, o RetrieveOptions) <-chan error {
	t.Helper()
	o.Logger = quiet
	res := make(chan error, 1)
	go func() { res <- Retrieve(ctx, e.sess, e.st, newTestPrompts(), o) }()
	return res
}

// TestRetrieveDeleteAndSave walks the menu interactively: PIN, the newest
// message deleted with 7, the older one saved with 9.
func TestRetrieveDeleteAndSave(t *testing.T) {
	t.Parallel()
	e := newEnv(t, rtp.PCMU)
	old := e.addMessage("acme", "1001", "+15550001", tones["msg-old"], 100*time.Millisecond)
	newer := e.addMessage("acme", "1001", "+15550002", tones["msg-new"], 100*time.Millisecond)
	var changes atomic.Int32
	res := runRetrieve(t, e, testCtx(t), RetrieveOptions{Firm: "acme", Mailbox: "1001", PIN: "1234",
		DigitTimeout: guard, OnChange: func() { changes.Add(1) }})

	e.ph.waitHeard("vm-pin", 1)
	e.ph.sendDigits("1234#")
	e.ph.waitHeard("msg-new", 5) // the whole newest message
	e.ph.waitHeard("vm-menu", 1)
	e.ph.sendDigits("7")
	e.ph.waitHeard("vm-deleted", 3)
	e.ph.waitHeard("msg-old", 5)
	e.ph.waitHeard("vm-menu", 1)
	e.ph.sendDigits("9")
	if err := await(t, res); err != nil {
		t.Fatalf("Retrieve: %v", err)
	}
	e.ph.waitHeard("vm-goodbye", 3)

	want := []string{"vm-pin", "vm-message", "msg-new", "vm-menu", "vm-deleted",
		"vm-message", "msg-old", "vm-menu", "vm-saved", "vm-goodbye"}
	if got := e.ph.sequence(); !slices.Equal(got, want) {
		t.Errorf("caller heard %v, want %v", got, want)
	}
	list, err := e.st.ListVoicemail("acme", "1001")
	if err != nil {
		t.Fatal(err)
	}
	if len(list) != 1 || list[0].ID != old.ID || !list[0].Read {
		t.Errorf("store lists %+v, want only %s, read", list, old.ID)
	}
	if _, err := os.Stat(newer.File); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("deleted message's file: %v, want it gone", err)
	}
	if _, err := os.Stat(old.File); err != nil {
		t.Errorf("saved message's file: %v", err)
	}
	// newest played (read), deleted, oldest played (read); saving a read
	// message changes nothing.
	if n := changes.Load(); n != 3 {
		t.Errorf("OnChange called %d times, want 3", n)
	}
	if n, o, err := e.st.VoicemailCounts("acme", "1001"); err != nil || n != 0 || o != 1 {
		t.Errorf("counts = %d new, %d old, %v; want 0, 1", n, o, err)
	}
}

// TestRetrieveBargeIn types everything at once: the digits wait in the buffer
// and each cuts its prompt short.
func TestRetrieveBargeIn(t *testing.T) {
	t.Parallel()
	e := newEnv(t, rtp.PCMU)
	e.addMessage("acme", "1001", "a", tones["msg-old"], 100*time.Millisecond)
	newer := e.addMessage("acme", "1001", "b", tones["msg-new"], 100*time.Millisecond)
	res := runRetrieve(t, e, testCtx(t), RetrieveOptions{Firm: "acme", Mailbox: "1001", PIN: "42", DigitTimeout: guard})
	e.ph.waitHeard("vm-pin", 1)
	e.ph.sendDigits("42#17")
	if err := await(t, res); err != nil {
		t.Fatalf("Retrieve: %v", err)
	}
	list, err := e.st.ListVoicemail("acme", "1001")
	if err != nil {
		t.Fatal(err)
	}
	// '1' skipped the newest (still unread), '7' deleted the older one.
	if len(list) != 1 || list[0].ID != newer.ID {
		t.Errorf("store lists %+v, want only %s", list, newer.ID)
	}
}

func TestRetrieveWrongPIN(t *testing.T) {
	t.Parallel()
	e := newEnv(t, rtp.PCMU)
	msg := e.addMessage("acme", "1001", "a", tones["msg-old"], 100*time.Millisecond)
	res := runRetrieve(t, e, testCtx(t), RetrieveOptions{Firm: "acme", Mailbox: "1001", PIN: "1234", DigitTimeout: guard})
	e.ph.waitHeard("vm-pin", 1)
	e.ph.sendDigits("9999#123#12345#")
	if err := await(t, res); !errors.Is(err, ErrBadPIN) {
		t.Fatalf("Retrieve error = %v, want ErrBadPIN", err)
	}
	// The first two "vm-bad-pin" and the repeated "vm-pin" are skipped
	// because the next try is already typed; the last one plays in full.
	e.ph.waitHeard("vm-bad-pin", 3)
	if got, want := e.ph.sequence(), []string{"vm-pin", "vm-bad-pin"}; !slices.Equal(got, want) {
		t.Errorf("caller heard %v, want %v", got, want)
	}
	if got, err := e.st.GetVoicemail("acme", "1001", msg.ID); err != nil || got.Read {
		t.Errorf("message after bad PINs: %+v, %v", got, err)
	}
}

func TestRetrieveTimeoutsAndEmpty(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name    string
		msgs    []string // tones, oldest first
		want    []string
		changes int32
	}{
		{name: "empty mailbox", want: []string{"vm-none", "vm-goodbye"}},
		{
			name: "no key plays everything", msgs: []string{"msg-old", "msg-new"},
			want: []string{"vm-message", "msg-new", "vm-menu", "vm-message", "msg-old", "vm-menu", "vm-goodbye"},
			// both marked read
			changes: 2,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			e := newEnv(t, rtp.PCMA)
			for _, m := range tt.msgs {
				e.addMessage("acme", "2000", "x", tones[m], 100*time.Millisecond)
			}
			var changes atomic.Int32
			res := runRetrieve(t, e, testCtx(t), RetrieveOptions{Firm: "acme", Mailbox: "2000",
				DigitTimeout: 100 * time.Millisecond, OnChange: func() { changes.Add(1) }})
			if err := await(t, res); err != nil {
				t.Fatalf("Retrieve: %v", err)
			}
			e.ph.waitHeard("vm-goodbye", 3)
			if got := e.ph.sequence(); !slices.Equal(got, tt.want) {
				t.Errorf("caller heard %v, want %v", got, tt.want)
			}
			if n := changes.Load(); n != tt.changes {
				t.Errorf("OnChange called %d times, want %d", n, tt.changes)
			}
			if n, _, err := e.st.VoicemailCounts("acme", "2000"); err != nil || n != 0 {
				t.Errorf("%d messages still new (%v)", n, err)
			}
		})
	}
}

func TestRetrieveHangup(t *testing.T) {
	t.Parallel()
	e := newEnv(t, rtp.PCMU)
	ctx, cancel := context.WithCancel(testCtx(t))
	res := runRetrieve(t, e, ctx, RetrieveOptions{Firm: "acme", Mailbox: "1001", PIN: "1", DigitTimeout: guard})
	e.ph.waitHeard("vm-pin", 1)
	cancel()
	if err := await(t, res); !errors.Is(err, context.Canceled) {
		t.Fatalf("Retrieve error = %v, want context.Canceled", err)
	}
}

func TestCollectDigits(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name   string
		keys   string
		maxLen int
		want   string
	}{
		{"hash ends", "123#9", 0, "123"},
		{"max length ends", "12345", 3, "123"},
		{"timeout ends", "56", 10, "56"},
		{"nothing typed", "", 4, ""},
		{"star is a digit", "*98#", 0, "*98"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			e := newEnv(t, rtp.PCMU)
			e.ph.sendDigits(tt.keys)
			got, err := CollectDigits(testCtx(t), e.sess, tt.maxLen, 300*time.Millisecond)
			if err != nil || got != tt.want {
				t.Errorf("CollectDigits = %q, %v; want %q", got, err, tt.want)
			}
		})
	}
}

func TestCollectDigitsClosed(t *testing.T) {
	t.Parallel()
	e := newEnv(t, rtp.PCMU)
	e.ph.sendDigits("7")
	e.waitReceived()
	if err := e.sess.Close(); err != nil {
		t.Fatal(err)
	}
	got, err := CollectDigits(testCtx(t), e.sess, 0, guard)
	if !errors.Is(err, rtp.ErrClosed) {
		t.Errorf("CollectDigits = %q, %v; want rtp.ErrClosed", got, err)
	}
}
