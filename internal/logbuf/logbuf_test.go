package logbuf

import (
	"bytes"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"
)

// sink records what reaches it and in how many writes.
type sink struct {
	mu     sync.Mutex
	buf    bytes.Buffer
	writes int
}

func (s *sink) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.writes++
	return s.buf.Write(p)
}

func (s *sink) get() (string, int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.buf.String(), s.writes
}

// never is a window no test waits for: only Flush, Close and a full buffer
// write.
const never = time.Hour

func lines(n int, prefix string) string {
	var b strings.Builder
	for i := range n {
		fmt.Fprintf(&b, "%s %d\n", prefix, i)
	}
	return b.String()
}

func TestBatchesInOrder(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name       string
		lines      int
		wantWrites int // to out, after Close
		beforeEnd  bool
	}{
		{"none", 0, 0, false},
		{"one", 1, 1, false},
		{"many in one batch", 100, 1, false},
		{"past the bound", 2 * maxPending / 10, 3, true}, // lines of ~10 bytes
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			var out sink
			w := New(&out, never)
			want := lines(tc.lines, "line")
			for _, l := range strings.SplitAfter(want, "\n") {
				if l == "" {
					continue
				}
				if n, err := w.Write([]byte(l)); n != len(l) || err != nil {
					t.Fatalf("Write = %d, %v", n, err)
				}
			}
			if got, _ := out.get(); (got != "") != tc.beforeEnd {
				t.Errorf("before Close out has %d bytes; want some: %v", len(got), tc.beforeEnd)
			}
			if err := w.Close(); err != nil {
				t.Fatal(err)
			}
			got, writes := out.get()
			if got != want {
				t.Errorf("out differs from what was written: %d bytes, want %d", len(got), len(want))
			}
			if writes > tc.wantWrites {
				t.Errorf("%d writes to out, want at most %d", writes, tc.wantWrites)
			}
		})
	}
}

// A line reaches out on its own, a window after it was written.
func TestWindowFlush(t *testing.T) {
	t.Parallel()
	var out sink
	w := New(&out, time.Millisecond)
	defer w.Close()
	for i := range 3 {
		line := fmt.Sprintf("line %d\n", i)
		w.Write([]byte(line))
		for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(time.Millisecond) {
			if got, _ := out.get(); strings.HasSuffix(got, line) {
				break
			}
			if time.Now().After(deadline) {
				got, _ := out.get()
				t.Fatalf("line %d never written: %q", i, got)
			}
		}
	}
}

// Warnings and errors are written before Handle returns, with the info lines
// before them; info lines wait.
func TestHandlerWritesWarningsAtOnce(t *testing.T) {
	t.Parallel()
	var out sink
	w := New(&out, never)
	defer w.Close()
	log := slog.New(Handler(slog.NewTextHandler(w, nil), w, slog.LevelWarn)).With("call", "c1").WithGroup("g")
	log.Info("ringing")
	if got, _ := out.get(); got != "" {
		t.Fatalf("info written at once: %q", got)
	}
	log.Warn("trunk down")
	got, _ := out.get()
	ringing, down := strings.Index(got, "msg=ringing"), strings.Index(got, "msg=\"trunk down\"")
	if ringing < 0 || down < ringing || !strings.Contains(got, "call=c1") {
		t.Errorf("after Warn out is %q", got)
	}
}

// After Close, lines still arrive, after the ones before it.
func TestWriteAfterClose(t *testing.T) {
	t.Parallel()
	var out sink
	w := New(&out, never)
	w.Write([]byte("before\n"))
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	if err := w.Close(); err == nil {
		t.Error("second Close succeeded")
	}
	w.Write([]byte("after\n"))
	if got, _ := out.get(); got != "before\nafter\n" {
		t.Errorf("out %q", got)
	}
}

// Lines written at once from many goroutines arrive whole.
func TestConcurrentWritesStayWhole(t *testing.T) {
	t.Parallel()
	var out sink
	w := New(&out, 50*time.Microsecond)
	const writers, each = 8, 2000
	var wg sync.WaitGroup
	for g := range writers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range each {
				w.Write([]byte(fmt.Sprintf("writer %d line %d %s\n", g, i, strings.Repeat("x", i%50))))
			}
		}()
	}
	wg.Wait()
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	got, _ := out.get()
	next := make([]int, writers)
	for _, l := range strings.Split(strings.TrimSuffix(got, "\n"), "\n") {
		var g, i int
		var xs string
		if n, _ := fmt.Sscanf(l, "writer %d line %d %s", &g, &i, &xs); n < 2 || g < 0 || g >= writers {
			t.Fatalf("torn line %q", l)
		}
		if i != next[g] || (i%50 != 0 && len(xs) != i%50) {
			t.Fatalf("line %q out of order or torn (want line %d of writer %d)", l, next[g], g)
		}
		next[g]++
	}
	for g, n := range next {
		if n != each {
			t.Errorf("writer %d: %d lines, want %d", g, n, each)
		}
	}
}
