package limit

import (
	"testing"
	"time"
)

func TestWindow(t *testing.T) {
	t.Parallel()
	t0 := time.Unix(1_700_000_000, 0)
	w := New[string](time.Minute)
	steps := []struct {
		name   string
		key    string
		at     time.Duration
		max    int
		undo   bool
		wantN  int
		wantOK bool
	}{
		{"first", "a", 0, 2, false, 1, true},
		{"second", "a", time.Second, 2, false, 2, true},
		{"over the cap", "a", 2 * time.Second, 2, false, 2, false},
		{"other key", "b", 2 * time.Second, 2, false, 1, true},
		{"undo frees a slot", "a", 3 * time.Second, 2, true, 2, true},
		{"new window", "a", time.Minute, 2, false, 1, true},
		{"no cap", "b", time.Minute + time.Second, 0, false, 2, true},
	}
	for _, s := range steps {
		if s.undo {
			w.Undo(s.key)
		}
		n, end, ok := w.Add(s.key, t0.Add(s.at), s.max)
		if n != s.wantN || ok != s.wantOK || !end.After(t0.Add(s.at)) {
			t.Errorf("%s: Add = %d, %v, %v; want %d, %v", s.name, n, end, ok, s.wantN, s.wantOK)
		}
	}
	w.Reset("a")
	if n, _, _ := w.Add("a", t0.Add(time.Minute+2*time.Second), 0); n != 1 {
		t.Errorf("after Reset: %d", n)
	}
}
