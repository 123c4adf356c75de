// Package logbuf gathers the server's log lines and writes them in batches.
//
// A busy PBX logs two lines per call. Written one at a time, each line is a
// write system call, and on an otherwise idle process each such call also
// wakes the Go runtime's monitor thread, which then polls every 20 µs while
// the process works. At 100 calls/s that was 15 % of the CPU per call
// (bench/README.md). Lines that wait up to Window for company cost one write
// for all of them. Warnings and errors are written at once, with the lines
// before them (Handler), and Close writes what is left. What a crash (a
// panic, kill -9) loses is the info lines of its last Window.
package logbuf

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"sync"
	"time"
)

// Window is how long a line may wait for others: far below what a person
// following the journal notices.
const Window = 100 * time.Millisecond

// maxPending bounds what waits. A writer that finds this much pending writes
// it itself, so a flood of lines slows its sources as unbuffered writes
// would, and memory stays bounded.
const maxPending = 64 << 10

// Writer is an io.Writer that passes what it is given to out in batches. Each
// Write is kept whole and in order.
type Writer struct {
	out    io.Writer
	window time.Duration

	outMu sync.Mutex // held while writing to out, so batches stay in order

	mu      sync.Mutex
	pending []byte
	spare   []byte // the previous batch's buffer, reused
	closed  bool

	kick chan struct{} // a batch has started; capacity 1
	stop chan struct{}
	done chan struct{}
}

// New starts a Writer on out that holds lines for up to window; Close stops it.
func New(out io.Writer, window time.Duration) *Writer {
	w := &Writer{
		out:    out,
		window: window,
		kick:   make(chan struct{}, 1),
		stop:   make(chan struct{}),
		done:   make(chan struct{}),
	}
	go w.run()
	return w
}

var errClosed = errors.New("logbuf: writer closed")

// Write queues p. After Close it writes p through, so late lines (a
// goroutine logging while the server stops) are not lost.
func (w *Writer) Write(p []byte) (int, error) {
	w.mu.Lock()
	first := len(w.pending) == 0
	w.pending = append(w.pending, p...)
	full := len(w.pending) >= maxPending || w.closed
	w.mu.Unlock()
	if full {
		return len(p), w.Flush()
	}
	if first {
		select {
		case w.kick <- struct{}{}:
		default:
		}
	}
	return len(p), nil
}

// Flush writes what is pending now.
func (w *Writer) Flush() error {
	w.outMu.Lock()
	defer w.outMu.Unlock()
	w.mu.Lock()
	batch := w.pending
	w.pending = w.spare[:0]
	w.mu.Unlock()
	if len(batch) == 0 {
		w.spare = batch
		return nil
	}
	_, err := w.out.Write(batch)
	// spare is only touched under outMu. A batch that grew past the usual
	// size is let go rather than kept for ever.
	if cap(batch) <= 2*maxPending {
		w.spare = batch[:0]
	} else {
		w.spare = nil
	}
	return err
}

// Close writes what is pending, stops the writer's goroutine and waits for
// it. Writes after Close go straight to out.
func (w *Writer) Close() error {
	w.mu.Lock()
	if w.closed {
		w.mu.Unlock()
		return errClosed
	}
	w.closed = true
	w.mu.Unlock()
	close(w.stop)
	<-w.done
	return w.Flush()
}

// run writes each batch Window after its first line.
func (w *Writer) run() {
	defer close(w.done)
	t := time.NewTimer(w.window)
	t.Stop()
	for {
		select {
		case <-w.stop:
			return
		case <-w.kick:
		}
		t.Reset(w.window)
		select {
		case <-w.stop:
			t.Stop()
			return
		case <-t.C:
		}
		// An error here has nowhere better to go than the log it failed
		// to write, and the batch is dropped: a stderr that refuses writes
		// would otherwise hold lines without bound.
		_ = w.Flush()
	}
}

// Handler wraps a handler writing to w so that a record at or above level,
// and every line before it, is written before Handle returns.
func Handler(inner slog.Handler, w *Writer, level slog.Level) slog.Handler {
	return &handler{inner: inner, w: w, level: level}
}

type handler struct {
	inner slog.Handler
	w     *Writer
	level slog.Level
}

func (h *handler) Enabled(ctx context.Context, l slog.Level) bool { return h.inner.Enabled(ctx, l) }

func (h *handler) Handle(ctx context.Context, r slog.Record) error {
	err := h.inner.Handle(ctx, r)
	if r.Level >= h.level {
		if ferr := h.w.Flush(); err == nil {
			err = ferr
		}
	}
	return err
}

func (h *handler) WithAttrs(as []slog.Attr) slog.Handler {
	return &handler{inner: h.inner.WithAttrs(as), w: h.w, level: h.level}
}

func (h *handler) WithGroup(name string) slog.Handler {
	return &handler{inner: h.inner.WithGroup(name), w: h.w, level: h.level}
}
