package sip

import (
	"context"
	"log/slog"
	"strconv"
	"sync"
	"time"
)

// Log volume limits: whatever an unauthenticated client sends, each kind of
// warning or error line is written at most logBurst times per logWindow, and a
// value from the wire at most excerptLen bytes, escaped.
const (
	logBurst   = 5
	logWindow  = 10 * time.Second
	excerptLen = 64
	maxAttrLen = 200
)

// logLimiter counts lines per key (the message) in fixed windows.
type logLimiter struct {
	mu sync.Mutex
	m  map[string]*logCount
}

type logCount struct {
	start      time.Time
	n          int
	suppressed int
}

func newLogLimiter() *logLimiter { return &logLimiter{m: map[string]*logCount{}} }

// allow reports whether a line of key may be written now, and how many lines of
// key were dropped before it (to be reported on it).
func (l *logLimiter) allow(key string, now time.Time) (bool, int) {
	l.mu.Lock()
	defer l.mu.Unlock()
	c := l.m[key]
	if c == nil || now.Sub(c.start) >= logWindow {
		prev := 0
		if c != nil {
			prev = c.suppressed
		}
		// Keys are the constant messages of our code and sipgo's, so the map
		// stays small without sweeping.
		c = &logCount{start: now, suppressed: prev}
		l.m[key] = c
	}
	if c.n >= logBurst {
		c.suppressed++
		return false, 0
	}
	c.n++
	s := c.suppressed
	c.suppressed = 0
	return true, s
}

// excerpt is a short, escaped piece of bytes from the wire for a log line: a
// quoted Go string (control bytes and invalid UTF-8 escaped) of at most
// excerptLen bytes of the input.
func excerpt(b []byte) string {
	if len(b) > excerptLen {
		return strconv.Quote(string(b[:excerptLen])) + "..."
	}
	return strconv.Quote(string(b))
}

// quietHandler is the handler of sipgo's transport and server logs. sipgo logs
// every unparseable message at ERROR with its raw bytes (up to 64 KB a line) and
// a line per refused connection: an unauthenticated flood of the log. Warnings
// and errors are rate-limited per message, and wire data is cut to an escaped
// excerpt.
type quietHandler struct {
	inner slog.Handler
	lim   *logLimiter
}

func (h quietHandler) Enabled(ctx context.Context, level slog.Level) bool {
	return h.inner.Enabled(ctx, level)
}

func (h quietHandler) Handle(ctx context.Context, r slog.Record) error {
	suppressed := 0
	if r.Level >= slog.LevelWarn {
		ok, n := h.lim.allow(r.Message, r.Time)
		if !ok {
			return nil
		}
		suppressed = n
	}
	out := slog.NewRecord(r.Time, r.Level, r.Message, r.PC)
	r.Attrs(func(a slog.Attr) bool {
		out.AddAttrs(shorten(a))
		return true
	})
	if suppressed > 0 {
		out.AddAttrs(slog.Int("suppressed", suppressed))
	}
	return h.inner.Handle(ctx, out)
}

// shorten replaces a raw message ("data") by its excerpt and cuts other long
// strings, which may quote the wire too (parse errors name the bad header).
func shorten(a slog.Attr) slog.Attr {
	v := a.Value.Resolve()
	switch {
	case a.Key == "data":
		b := []byte(v.String())
		return slog.Group("data", slog.Int("len", len(b)), slog.String("excerpt", excerpt(b)))
	case v.Kind() == slog.KindString && len(v.String()) > maxAttrLen:
		return slog.String(a.Key, excerpt([]byte(v.String())))
	case v.Kind() == slog.KindAny:
		if err, ok := v.Any().(error); ok && len(err.Error()) > maxAttrLen {
			return slog.String(a.Key, excerpt([]byte(err.Error())))
		}
	}
	return a
}

func (h quietHandler) WithAttrs(as []slog.Attr) slog.Handler {
	short := make([]slog.Attr, len(as))
	for i, a := range as {
		short[i] = shorten(a)
	}
	return quietHandler{inner: h.inner.WithAttrs(short), lim: h.lim}
}

func (h quietHandler) WithGroup(name string) slog.Handler {
	return quietHandler{inner: h.inner.WithGroup(name), lim: h.lim}
}
