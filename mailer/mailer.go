// Package mailer owns voicemail to email: it writes the mail for a new
// message (a short text and the WAV attached, headers safe from what callers
// put in their SIP display names) and delivers it over SMTP (STARTTLS,
// implicit TLS or none; AUTH PLAIN) from a background queue with retries, so
// that the call that left the message never waits for a mail server.
//
// The package knows nothing of the config file or of calls: pbx turns a saved
// message and the smtp: settings into a Voicemail and a Server.
package mailer

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"sync"
	"time"
)

// Defaults of Options.
const (
	DefaultAttemptTimeout = time.Minute
	DefaultQueueSize      = 256
)

// DefaultRetryDelays are the waits before the second and third attempt, as
// a telephony admin would expect from a mail queue: a hiccup is retried
// soon, an outage a little later, and nothing piles up for hours.
var DefaultRetryDelays = []time.Duration{30 * time.Second, 2 * time.Minute}

// ErrClosed is returned by Send after Close.
var ErrClosed = errors.New("mailer: closed")

// ErrQueueFull is returned by Send when Options.QueueSize mails are already
// waiting: the mail server has been away for long enough that memory matters
// more than one more mail.
var ErrQueueFull = errors.New("mailer: queue full")

// Options configure a Mailer; the zero value is ready to use.
type Options struct {
	// Logger receives one line per delivery, retry and failure; nil uses
	// slog.Default().
	Logger *slog.Logger
	// RetryDelays are the waits before each retry: len(RetryDelays)+1
	// attempts in all. Nil uses DefaultRetryDelays; an empty non-nil slice
	// means a single attempt.
	RetryDelays []time.Duration
	// AttemptTimeout bounds one SMTP session. Default one minute.
	AttemptTimeout time.Duration
	// QueueSize bounds the mails waiting or being retried. Default 256.
	QueueSize int
	// Done, when set, is called once per mail Send accepted, on the
	// Mailer's goroutine, with nil when it was delivered or the last error
	// when the Mailer gave up.
	Done func(v Voicemail, err error)
}

// Mailer queues voicemail mails and delivers them on its own goroutine.
// Its methods are safe for concurrent use.
type Mailer struct {
	o   Options
	log *slog.Logger

	mu      sync.Mutex
	ready   []*job
	waiting map[*job]*time.Timer // in back-off until the timer moves them to ready
	pending int                  // ready + waiting + the one in delivery
	aborted int                  // mails lost because Close's context ended
	closed  bool
	wake    chan struct{} // a job became ready, or Close was called

	ctx    context.Context // cancelled when Close's context ends: abort delivery
	cancel context.CancelFunc
	done   chan struct{}
}

type job struct {
	srv     Server
	v       Voicemail
	msg     []byte
	attempt int // attempts made
}

// New starts a Mailer. Close stops it.
func New(o Options) *Mailer {
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
	if o.RetryDelays == nil {
		o.RetryDelays = DefaultRetryDelays
	}
	if o.AttemptTimeout <= 0 {
		o.AttemptTimeout = DefaultAttemptTimeout
	}
	if o.QueueSize <= 0 {
		o.QueueSize = DefaultQueueSize
	}
	m := &Mailer{
		o:       o,
		log:     o.Logger.With("component", "mailer"),
		waiting: map[*job]*time.Timer{},
		wake:    make(chan struct{}, 1),
		done:    make(chan struct{}),
	}
	m.ctx, m.cancel = context.WithCancel(context.Background())
	go m.run()
	return m
}

// Send queues the mail for v through srv and returns at once: it never
// waits for the network or the disk. It fails only when the addresses cannot
// work (nothing would ever be sent), the queue is full or the Mailer is
// closed.
func (m *Mailer) Send(srv Server, v Voicemail) error {
	if srv.Addr == "" {
		return errors.New("mailer: no SMTP server address")
	}
	if err := checkAddresses(srv.From, v.To); err != nil {
		return err
	}
	if v.WAV == nil && v.WAVPath == "" {
		return errors.New("mailer: no audio to attach")
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	switch {
	case m.closed:
		return ErrClosed
	case m.pending >= m.o.QueueSize:
		return fmt.Errorf("%w (%d mails waiting)", ErrQueueFull, m.pending)
	}
	m.pending++
	m.ready = append(m.ready, &job{srv: srv, v: v})
	m.signal()
	return nil
}

// Close stops taking mails and delivers what is queued until ctx ends: mails
// waiting for a retry get one last attempt at once. When ctx ends first, the
// delivery in progress is aborted, the rest is dropped (each logged), and
// Close returns an error. Close may be called more than once.
func (m *Mailer) Close(ctx context.Context) error {
	m.mu.Lock()
	if !m.closed {
		m.closed = true
		for j, t := range m.waiting {
			t.Stop()
			delete(m.waiting, j)
			m.ready = append(m.ready, j)
		}
		m.signal()
	}
	m.mu.Unlock()
	stop := context.AfterFunc(ctx, m.cancel)
	defer stop()
	// Once ctx has ended the worker aborts at once (the session's connection is
	// closed), so m.done may be ready as soon as ctx.Done: what was aborted
	// decides the answer, not which of the two select saw first.
	select {
	case <-m.done:
		if ctx.Err() == nil {
			return nil
		}
	case <-ctx.Done():
		<-m.done
	}
	m.mu.Lock()
	n := m.aborted
	m.mu.Unlock()
	if n == 0 {
		return nil // delivered, or the queue emptied just as ctx ended
	}
	return fmt.Errorf("mailer: %d mails left undelivered: %w", n, ctx.Err())
}

// signal wakes the worker; m.mu is held.
func (m *Mailer) signal() {
	select {
	case m.wake <- struct{}{}:
	default:
	}
}

func (m *Mailer) run() {
	defer close(m.done)
	for {
		j, ok := m.next()
		if !ok {
			return
		}
		if m.ctx.Err() != nil {
			m.finish(j, fmt.Errorf("shutting down: %w", m.ctx.Err()), "voicemail mail dropped")
			continue
		}
		m.deliver(j)
	}
}

// next waits for a ready job; false once closed with nothing left.
func (m *Mailer) next() (*job, bool) {
	for {
		m.mu.Lock()
		if len(m.ready) > 0 {
			j := m.ready[0]
			m.ready[0] = nil
			m.ready = m.ready[1:]
			m.mu.Unlock()
			return j, true
		}
		if m.closed && len(m.waiting) == 0 {
			m.mu.Unlock()
			return nil, false
		}
		m.mu.Unlock()
		<-m.wake
	}
}

// deliver makes one attempt and decides what follows: done, retry later, or
// give up.
func (m *Mailer) deliver(j *job) {
	log := m.log.With("firm", j.v.Firm, "mailbox", j.v.Mailbox, "message", j.v.ID, "to", j.v.To)
	if j.msg == nil {
		msg, err := m.build(j)
		if err != nil {
			m.finish(j, err, "voicemail mail not sent")
			return
		}
		j.msg = msg
	}
	m.mu.Lock()
	closedBefore := m.closed
	m.mu.Unlock()
	ctx, cancel := context.WithTimeout(m.ctx, m.o.AttemptTimeout)
	err := Deliver(ctx, j.srv, j.v.To, j.msg)
	cancel()
	j.attempt++
	if err == nil {
		log.Info("voicemail mailed", "attempt", j.attempt, "server", j.srv.Addr)
		m.finish(j, nil, "")
		return
	}
	m.mu.Lock()
	closed := m.closed
	retryable := !Permanent(err) && j.attempt <= len(m.o.RetryDelays) && m.ctx.Err() == nil
	switch {
	case retryable && closed && !closedBefore:
		// Close came during this attempt: every queued mail gets one
		// attempt that starts after Close, as the waiting ones do.
		m.ready = append(m.ready, j)
		m.mu.Unlock()
		log.Warn("voicemail mail failed, one last try before shutdown", "attempt", j.attempt, "server", j.srv.Addr, "err", err)
		return
	case retryable && !closed:
		delay := m.o.RetryDelays[j.attempt-1]
		m.waiting[j] = time.AfterFunc(delay, func() { m.retry(j) })
		m.mu.Unlock()
		log.Warn("voicemail mail failed, will retry", "attempt", j.attempt, "retry_in", delay, "server", j.srv.Addr, "err", err)
		return
	}
	m.mu.Unlock()
	why := "giving up"
	switch {
	case Permanent(err):
		why = "permanent error"
	case closed:
		why = "shutting down"
	}
	m.finish(j, err, "voicemail mail not sent: "+why)
}

// retry moves j from back-off to ready, unless Close already did.
func (m *Mailer) retry(j *job) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if _, ok := m.waiting[j]; !ok {
		return
	}
	delete(m.waiting, j)
	m.ready = append(m.ready, j)
	m.signal()
}

// finish ends a job: logs a failure, frees its queue slot, reports it.
func (m *Mailer) finish(j *job, err error, msg string) {
	if err != nil {
		m.log.Error(msg, "firm", j.v.Firm, "mailbox", j.v.Mailbox, "message", j.v.ID, "to", j.v.To,
			"attempts", j.attempt, "server", j.srv.Addr, "err", err)
	}
	m.mu.Lock()
	m.pending--
	if err != nil && m.ctx.Err() != nil {
		m.aborted++
	}
	m.mu.Unlock()
	if m.o.Done != nil {
		m.o.Done(j.v, err)
	}
}

// build reads the audio when only its path was given and writes the mail.
// The file is read here, not in Send, to keep disk I/O off the call.
func (m *Mailer) build(j *job) ([]byte, error) {
	v := j.v
	if v.WAV == nil {
		data, err := os.ReadFile(v.WAVPath)
		if err != nil {
			return nil, fmt.Errorf("mailer: read recording: %w", err)
		}
		v.WAV = data
	}
	return BuildMessage(j.srv.From, v)
}
