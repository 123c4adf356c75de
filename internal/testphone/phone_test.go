package testphone

import (
	"context"
	"errors"
	"math"
	"testing"
	"time"
)

// guard bounds every wait: a failure guard for a loaded machine, not a timing assertion.
const guard = 10 * time.Second

func newPhone(t *testing.T, cfg Config) *Phone {
	t.Helper()
	p, err := New(context.Background(), cfg)
	if err != nil {
		t.Fatalf("New(%+v): %v", cfg, err)
	}
	t.Cleanup(func() { _ = p.Close() })
	return p
}

func waitIncoming(t *testing.T, p *Phone) *Incoming {
	t.Helper()
	select {
	case in := <-p.Incoming():
		return in
	case <-time.After(guard):
		t.Fatal("no incoming call")
		return nil
	}
}

func waitClosed(t *testing.T, ch <-chan struct{}, what string) {
	t.Helper()
	select {
	case <-ch:
	case <-time.After(guard):
		t.Fatalf("%s: not closed", what)
	}
}

// connect has a dial b directly (no server) and b answer.
func connect(t *testing.T, ctx context.Context, a, b *Phone) (ca, cb *Call) {
	t.Helper()
	pd := a.DialAsync(ctx, b.URI())
	in := waitIncoming(t, b)
	if in.From() != a.cfg.User {
		t.Errorf("Incoming.From() = %q, want %q", in.From(), a.cfg.User)
	}
	cb, err := in.Answer(ctx)
	if err != nil {
		t.Fatalf("Answer: %v", err)
	}
	ca, err = pd.Result()
	if err != nil {
		t.Fatalf("Dial: %v", err)
	}
	return ca, cb
}

func near(got, want float64) bool { return math.Abs(got-want) <= 15 }

func TestCallAudioAndHangup(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name      string
		codec     string
		transport string
		hangupByA bool
		wantCodec string
	}{
		{name: "pcmu udp caller hangs up", codec: "", transport: "", hangupByA: true, wantCodec: "PCMU"},
		{name: "pcma udp callee hangs up", codec: "PCMA", transport: "udp", hangupByA: false, wantCodec: "PCMA"},
		{name: "pcmu tcp", codec: "PCMU", transport: "tcp", hangupByA: true, wantCodec: "PCMU"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			ctx, cancel := context.WithTimeout(context.Background(), guard)
			defer cancel()
			a := newPhone(t, Config{User: "alice", Codec: tt.codec, Transport: tt.transport})
			b := newPhone(t, Config{User: "bob", Codec: tt.codec, Transport: tt.transport})
			ca, cb := connect(t, ctx, a, b)
			if ca.Codec() != tt.wantCodec || cb.Codec() != tt.wantCodec {
				t.Fatalf("codecs = %s/%s, want %s", ca.Codec(), cb.Codec(), tt.wantCodec)
			}

			ca.StartTone(1000)
			cb.StartTone(400)
			f, rms, err := cb.ReceivedFrequency(ctx, 200*time.Millisecond)
			if err != nil || !near(f, 1000) || rms < 1000 {
				t.Errorf("B received %.0f Hz rms %.0f err %v, want ~1000 Hz", f, rms, err)
			}
			f, rms, err = ca.ReceivedFrequency(ctx, 200*time.Millisecond)
			if err != nil || !near(f, 400) || rms < 1000 {
				t.Errorf("A received %.0f Hz rms %.0f err %v, want ~400 Hz", f, rms, err)
			}
			// Symmetric RTP: each side's packets come from the socket its SDP names.
			if got, want := cb.RTPSource(), ca.LocalMedia(); got != want {
				t.Errorf("B RTPSource = %v, want A's media %v", got, want)
			}
			if got, want := ca.RemoteMedia(), cb.LocalMedia(); got != want {
				t.Errorf("A RemoteMedia = %v, want B's media %v", got, want)
			}
			if ca.PacketsReceived() == 0 || ca.UnexpectedPackets() != 0 {
				t.Errorf("A packets = %d, unexpected = %d", ca.PacketsReceived(), ca.UnexpectedPackets())
			}

			// Frequency 0 sends silence frames. Tone frames already in flight are
			// flushed first: loopback UDP keeps their order.
			ca.StartTone(0)
			if _, err := cb.Received(ctx, 200*time.Millisecond); err != nil {
				t.Fatal(err)
			}
			s, err := cb.Received(ctx, 100*time.Millisecond)
			if err != nil || len(s) != 800 {
				t.Fatalf("Received = %d samples, %v", len(s), err)
			}
			for _, x := range s {
				if x > 16 || x < -16 {
					t.Fatalf("silence frame carried sample %d", x)
				}
			}

			hanger, other := ca, cb
			if !tt.hangupByA {
				hanger, other = cb, ca
			}
			if err := hanger.Hangup(ctx); err != nil {
				t.Fatalf("Hangup: %v", err)
			}
			waitClosed(t, hanger.Done(), "hanger Done")
			waitClosed(t, other.Done(), "other Done")
			byeAt := b
			if !tt.hangupByA {
				byeAt = a
			}
			if got := byeAt.Stats().ByesReceived; got != 1 {
				t.Errorf("ByesReceived = %d, want 1", got)
			}
			if _, err := other.Received(ctx, 20*time.Millisecond); !errors.Is(err, ErrCallEnded) {
				t.Errorf("Received after hangup = %v, want ErrCallEnded", err)
			}
		})
	}
}

func TestDTMF(t *testing.T) {
	t.Parallel()
	ctx, cancel := context.WithTimeout(context.Background(), guard)
	defer cancel()
	a := newPhone(t, Config{User: "alice"})
	b := newPhone(t, Config{User: "bob"})
	ca, cb := connect(t, ctx, a, b)
	ca.StartTone(440) // digits interleave with audio
	const digits = "1#*9A"
	for _, d := range digits {
		if err := ca.SendDTMF(d); err != nil {
			t.Fatalf("SendDTMF(%q): %v", d, err)
		}
	}
	for _, want := range digits {
		select {
		case got := <-cb.DTMF():
			if got != want {
				t.Errorf("digit = %q, want %q", got, want)
			}
		case <-time.After(guard):
			t.Fatalf("digit %q not received", want)
		}
	}
	if err := ca.SendDTMF('x'); err == nil {
		t.Error("SendDTMF('x') succeeded")
	}
}

func TestCancelBeforeAnswer(t *testing.T) {
	t.Parallel()
	ctx, cancel := context.WithTimeout(context.Background(), guard)
	defer cancel()
	a := newPhone(t, Config{User: "alice"})
	b := newPhone(t, Config{User: "bob"})
	pd := a.DialAsync(ctx, b.URI())
	in := waitIncoming(t, b)
	waitClosed(t, pd.Ringing(), "Ringing")
	pd.Cancel()
	waitClosed(t, in.Cancelled(), "Cancelled")
	if _, err := pd.Result(); !errors.Is(err, context.Canceled) {
		t.Errorf("Result err = %v, want context.Canceled", err)
	}
	if got := b.Stats(); got.CancelsReceived != 1 || got.InvitesReceived != 1 {
		t.Errorf("B stats = %+v, want 1 INVITE and 1 CANCEL", got)
	}
	if _, err := in.Answer(ctx); err == nil {
		t.Error("Answer after CANCEL succeeded")
	}
}

func TestDialFailures(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name     string
		bCodec   string
		reject   int
		wantCode int
	}{
		{name: "busy", reject: 486, wantCode: 486},
		{name: "declined", reject: 603, wantCode: 603},
		{name: "codec mismatch", bCodec: "PCMA", wantCode: 488},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			ctx, cancel := context.WithTimeout(context.Background(), guard)
			defer cancel()
			a := newPhone(t, Config{User: "alice"})
			b := newPhone(t, Config{User: "bob", Codec: tt.bCodec})
			pd := a.DialAsync(ctx, b.URI())
			if tt.reject != 0 {
				in := waitIncoming(t, b)
				if err := in.Reject(tt.reject, "Nope"); err != nil {
					t.Fatalf("Reject: %v", err)
				}
			}
			_, err := pd.Result()
			var se *StatusError
			if !errors.As(err, &se) || se.Code != tt.wantCode {
				t.Fatalf("Dial err = %v, want StatusError %d", err, tt.wantCode)
			}
		})
	}
}

func TestHoldUnhold(t *testing.T) {
	t.Parallel()
	ctx, cancel := context.WithTimeout(context.Background(), guard)
	defer cancel()
	a := newPhone(t, Config{User: "alice"})
	b := newPhone(t, Config{User: "bob"})
	ca, cb := connect(t, ctx, a, b)
	ca.StartTone(1000)
	cb.StartTone(400)

	// The callee holds the caller (UAS-side re-INVITE), then the caller holds back.
	for _, step := range []struct {
		holder, held *Call
	}{{cb, ca}, {ca, cb}} {
		if err := step.holder.Hold(ctx); err != nil {
			t.Fatalf("Hold: %v", err)
		}
		if d1, d2 := step.holder.Direction(), step.held.Direction(); d1 != dirSendOnly || d2 != dirRecvOnly {
			t.Fatalf("directions after hold = %s/%s, want sendonly/recvonly", d1, d2)
		}
		// The holder's audio (music on hold) still reaches the held side.
		want := 1000.0
		if step.holder == cb {
			want = 400
		}
		if f, _, err := step.held.ReceivedFrequency(ctx, 100*time.Millisecond); err != nil || !near(f, want) {
			t.Errorf("held side received %.0f Hz (%v), want %.0f", f, err, want)
		}
		if err := step.holder.Unhold(ctx); err != nil {
			t.Fatalf("Unhold: %v", err)
		}
		if d1, d2 := step.holder.Direction(), step.held.Direction(); d1 != dirSendRecv || d2 != dirSendRecv {
			t.Fatalf("directions after unhold = %s/%s", d1, d2)
		}
	}
	if got := a.Stats().ReInvitesReceived + b.Stats().ReInvitesReceived; got != 4 {
		t.Errorf("re-INVITEs received = %d, want 4", got)
	}
	if f, _, err := ca.ReceivedFrequency(ctx, 100*time.Millisecond); err != nil || !near(f, 400) {
		t.Errorf("A after unhold received %.0f Hz (%v)", f, err)
	}
	if err := cb.Hangup(ctx); err != nil {
		t.Fatalf("Hangup: %v", err)
	}
	waitClosed(t, ca.Done(), "caller Done")
}

func TestCloseEndsCalls(t *testing.T) {
	t.Parallel()
	ctx, cancel := context.WithTimeout(context.Background(), guard)
	defer cancel()
	a := newPhone(t, Config{User: "alice"})
	b := newPhone(t, Config{User: "bob"})
	ca, cb := connect(t, ctx, a, b)
	if err := a.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
	waitClosed(t, ca.Done(), "closed phone's call")
	waitClosed(t, cb.Done(), "peer's call (BYE on close)")
	if _, err := a.Dial(ctx, b.URI()); !errors.Is(err, ErrClosed) {
		t.Errorf("Dial after Close = %v, want ErrClosed", err)
	}
}

func TestDialValidation(t *testing.T) {
	t.Parallel()
	if _, err := New(context.Background(), Config{Codec: "G729"}); err == nil {
		t.Error("New accepted codec G729")
	}
	if _, err := New(context.Background(), Config{Transport: "sctp"}); err == nil {
		t.Error("New accepted transport sctp")
	}
	a := newPhone(t, Config{User: "alice"})
	if _, err := a.Dial(context.Background(), "bad target"); err == nil {
		t.Error("Dial accepted a target with a space")
	}
}
