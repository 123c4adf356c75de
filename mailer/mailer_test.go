package mailer

import (
	"bytes"
	"context"
	"errors"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"switchboard/internal/smtptest"
)

// testLogger sends the Mailer's log to the test log.
func testLogger(t *testing.T) *slog.Logger {
	return slog.New(slog.NewTextHandler(testWriter{t}, &slog.HandlerOptions{Level: slog.LevelDebug}))
}

type testWriter struct{ t *testing.T }

func (w testWriter) Write(b []byte) (int, error) {
	w.t.Log(strings.TrimRight(string(b), "\n"))
	return len(b), nil
}

// results collects the Done reports of a Mailer.
type results struct{ ch chan error }

func newResults() *results { return &results{ch: make(chan error, 100)} }

func (r *results) done(_ Voicemail, err error) { r.ch <- err }

func (r *results) next(t *testing.T) error {
	t.Helper()
	select {
	case err := <-r.ch:
		return err
	case <-time.After(10 * time.Second):
		t.Fatal("no delivery result")
		return nil
	}
}

// closeMailer closes m at the end of the test.
func closeMailer(t *testing.T, m *Mailer) {
	t.Cleanup(func() {
		if err := m.Close(ctxT(t)); err != nil {
			t.Errorf("Close: %v", err)
		}
	})
}

// The whole way: Send queues, the Mailer reads the WAV from disk, builds
// the mail and delivers it over STARTTLS with AUTH PLAIN.
func TestMailerDelivers(t *testing.T) {
	t.Parallel()
	serverTLS, roots := smtptest.SelfSigned(t)
	sink := smtptest.Start(t, smtptest.Options{TLS: serverTLS, Username: "pbx", Password: "pw"})
	res := newResults()
	m := New(Options{Logger: testLogger(t), Done: res.done})
	closeMailer(t, m)
	v := sampleVoicemail()
	path := filepath.Join(t.TempDir(), v.ID+".wav")
	if err := os.WriteFile(path, v.WAV, 0o600); err != nil {
		t.Fatal(err)
	}
	wav := v.WAV
	v.WAV, v.WAVPath = nil, path
	srv := Server{Addr: sink.Addr, From: "Switchboard <pbx@example.com>", Username: "pbx", Password: "pw", RootCAs: roots}
	if err := m.Send(srv, v); err != nil {
		t.Fatal(err)
	}
	if err := res.next(t); err != nil {
		t.Fatalf("delivery: %v", err)
	}
	got, err := sink.Next(ctxT(t))
	if err != nil {
		t.Fatal(err)
	}
	if !got.TLS || got.User != "pbx" || got.To[0] != "office@example.com" {
		t.Errorf("session: TLS %v user %q to %v", got.TLS, got.User, got.To)
	}
	p, err := smtptest.Parse(got.Data)
	if err != nil {
		t.Fatal(err)
	}
	if want := "Voicemail from Alice Smith <+15551230001> (1:05) for mailbox general"; p.Subject != want {
		t.Errorf("Subject = %q", p.Subject)
	}
	if !bytes.Equal(p.Attachments[v.ID+".wav"], wav) {
		t.Error("attachment differs from the WAV file")
	}
}

// A server that answers 451 at first gets the mail on the retry.
func TestMailerRetriesAfterRefusal(t *testing.T) {
	t.Parallel()
	sink := smtptest.Start(t, smtptest.Options{Refuse: []int{451}})
	res := newResults()
	m := New(Options{Logger: testLogger(t), RetryDelays: []time.Duration{time.Millisecond, time.Millisecond}, Done: res.done})
	closeMailer(t, m)
	if err := m.Send(Server{Addr: sink.Addr, From: "pbx@example.com"}, sampleVoicemail()); err != nil {
		t.Fatal(err)
	}
	if err := res.next(t); err != nil {
		t.Fatalf("delivery: %v", err)
	}
	if _, err := sink.Next(ctxT(t)); err != nil {
		t.Fatal(err)
	}
	if n := sink.Transactions(); n != 2 {
		t.Errorf("%d transactions, want 2 (refused, then accepted)", n)
	}
}

// Temporary failures are retried len(RetryDelays) times; a permanent one
// is not retried.
func TestMailerGivesUp(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name   string
		refuse []int
		tries  int
	}{
		{"temporary every time", []int{451, 452, 421}, 3},
		{"permanent", []int{550}, 1},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			sink := smtptest.Start(t, smtptest.Options{Refuse: tc.refuse})
			res := newResults()
			m := New(Options{Logger: testLogger(t), RetryDelays: []time.Duration{time.Millisecond, 2 * time.Millisecond}, Done: res.done})
			closeMailer(t, m)
			if err := m.Send(Server{Addr: sink.Addr, From: "pbx@example.com"}, sampleVoicemail()); err != nil {
				t.Fatal(err)
			}
			err := res.next(t)
			if err == nil || !strings.Contains(err.Error(), "refused by test") {
				t.Fatalf("result %v, want the refusal", err)
			}
			if n := sink.Transactions(); n != tc.tries {
				t.Errorf("%d transactions, want %d", n, tc.tries)
			}
			if len(sink.Received()) != 0 {
				t.Error("a message got through")
			}
		})
	}
}

// Send returns at once even while the mail server hangs; the queue is
// bounded; Close with an ended context aborts the session and drops the
// rest, reporting each mail.
func TestMailerSendNeverBlocks(t *testing.T) {
	t.Parallel()
	addr, accepted := stallServer(t)
	res := newResults()
	m := New(Options{Logger: testLogger(t), QueueSize: 3, Done: res.done})
	srv := Server{Addr: addr, From: "pbx@example.com"}
	for i := range 3 {
		if err := m.Send(srv, sampleVoicemail()); err != nil {
			t.Fatalf("Send %d: %v", i, err)
		}
		if i == 0 {
			<-accepted // the first mail is in delivery, stuck
		}
	}
	if err := m.Send(srv, sampleVoicemail()); !errors.Is(err, ErrQueueFull) {
		t.Errorf("Send on a full queue: %v, want ErrQueueFull", err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if err := m.Close(ctx); err == nil {
		t.Error("Close with an ended context reported success")
	}
	for range 3 {
		if err := res.next(t); err == nil {
			t.Error("a mail reported delivered")
		}
	}
	if err := m.Send(srv, sampleVoicemail()); !errors.Is(err, ErrClosed) {
		t.Errorf("Send after Close: %v, want ErrClosed", err)
	}
	if err := m.Close(context.Background()); err != nil {
		t.Errorf("second Close: %v", err)
	}
}

// Close does not wait out a back-off: a mail waiting for its retry gets one
// more attempt at once.
func TestMailerCloseFlushesRetries(t *testing.T) {
	t.Parallel()
	sink := smtptest.Start(t, smtptest.Options{Refuse: []int{451}})
	res := newResults()
	m := New(Options{Logger: testLogger(t), RetryDelays: []time.Duration{time.Hour}, Done: res.done})
	if err := m.Send(Server{Addr: sink.Addr, From: "pbx@example.com"}, sampleVoicemail()); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(10 * time.Second)
	for sink.Transactions() == 0 {
		if time.Now().After(deadline) {
			t.Fatal("no first attempt")
		}
		time.Sleep(time.Millisecond)
	}
	if err := m.Close(ctxT(t)); err != nil {
		t.Fatalf("Close: %v", err)
	}
	if err := res.next(t); err != nil {
		t.Fatalf("result: %v", err)
	}
	if len(sink.Received()) != 1 {
		t.Errorf("received %d messages, want 1", len(sink.Received()))
	}
}

func TestMailerSendRejects(t *testing.T) {
	t.Parallel()
	m := New(Options{Logger: testLogger(t)})
	closeMailer(t, m)
	v := sampleVoicemail()
	tests := []struct {
		name string
		srv  Server
		edit func(*Voicemail)
	}{
		{"no server", Server{From: "pbx@example.com"}, nil},
		{"bad sender", Server{Addr: "127.0.0.1:25", From: "pbx"}, nil},
		{"bad recipient", Server{Addr: "127.0.0.1:25", From: "pbx@example.com"}, func(v *Voicemail) { v.To = "x\r\n@example.com" }},
		{"no audio", Server{Addr: "127.0.0.1:25", From: "pbx@example.com"}, func(v *Voicemail) { v.WAV = nil }},
	}
	for _, tc := range tests {
		v := v
		if tc.edit != nil {
			tc.edit(&v)
		}
		if err := m.Send(tc.srv, v); err == nil {
			t.Errorf("%s: Send accepted", tc.name)
		}
	}
}

// A missing recording is reported, not retried.
func TestMailerMissingFile(t *testing.T) {
	t.Parallel()
	res := newResults()
	m := New(Options{Logger: testLogger(t), Done: res.done})
	closeMailer(t, m)
	v := sampleVoicemail()
	v.WAV, v.WAVPath = nil, filepath.Join(t.TempDir(), "gone.wav")
	if err := m.Send(Server{Addr: "127.0.0.1:25", From: "pbx@example.com"}, v); err != nil {
		t.Fatal(err)
	}
	if err := res.next(t); err == nil || !strings.Contains(err.Error(), "read recording") {
		t.Errorf("result %v, want a read error", err)
	}
}

// stallServer accepts connections and never says a word. accepted gets a
// value per connection.
func stallServer(t *testing.T) (addr string, accepted <-chan struct{}) {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ch := make(chan struct{}, 10)
	var mu sync.Mutex
	var conns []net.Conn
	done := make(chan struct{})
	go func() {
		defer close(done)
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			mu.Lock()
			conns = append(conns, c)
			mu.Unlock()
			ch <- struct{}{}
		}
	}()
	t.Cleanup(func() {
		l.Close()
		<-done
		mu.Lock()
		for _, c := range conns {
			c.Close()
		}
		mu.Unlock()
	})
	return l.Addr().String(), ch
}
