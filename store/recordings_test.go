package store

import (
	"errors"
	"testing"
	"time"
)

func TestRecordings(t *testing.T) {
	t.Parallel()
	s := openTest(t)
	base := time.Date(2025, 3, 1, 10, 0, 0, 0, time.UTC)
	add := func(firm string, n int, agent, caller, team string) Recording {
		t.Helper()
		start := base.Add(time.Duration(n) * time.Hour)
		r := Recording{ID: CallID(start, uint32(n)), Firm: firm, Call: CallID(start, uint32(n)), Agent: agent, CallerAgent: caller,
			Team: team, Start: start.Add(5 * time.Second), Duration: time.Minute, File: "/rec/" + firm + "/x.wav", Size: 1000}
		if err := s.AddRecording(&r); err != nil {
			t.Fatal(err)
		}
		return r
	}
	r0 := add("a.test", 0, "alice", "", "support")
	r1 := add("a.test", 1, "bob", "alice", "")
	r2 := add("a.test", 2, "bob", "", "sales")
	o := add("b.test", 0, "alice", "", "support")

	ids := func(rs []Recording) []string {
		out := make([]string, len(rs))
		for i, r := range rs {
			out[i] = r.ID
		}
		return out
	}
	for _, tc := range []struct {
		name string
		q    RecordingQuery
		want []Recording
	}{
		{"all, newest first", RecordingQuery{}, []Recording{r2, r1, r0}},
		{"agent took or placed", RecordingQuery{Agent: "alice"}, []Recording{r1, r0}},
		{"team", RecordingQuery{Team: "sales"}, []Recording{r2}},
		{"limit", RecordingQuery{Limit: 2}, []Recording{r2, r1}},
		{"page on", RecordingQuery{Before: r1.ID}, []Recording{r0}},
		{"after", RecordingQuery{After: base.Add(time.Hour)}, []Recording{r2, r1}},
		{"until", RecordingQuery{Until: base.Add(time.Hour + 5*time.Second)}, []Recording{r0}},
		{"allow", RecordingQuery{Allow: func(r Recording) bool { return r.Agent == "bob" }, Limit: 1}, []Recording{r2}},
	} {
		got, err := s.ListRecordings("a.test", tc.q)
		if err != nil {
			t.Fatal(err)
		}
		if a, b := ids(got), ids(tc.want); len(a) != len(b) || (len(a) > 0 && a[0] != b[0]) || (len(a) > 1 && a[len(a)-1] != b[len(b)-1]) {
			t.Errorf("%s: %v, want %v", tc.name, a, b)
		}
	}
	// A queued call recorded only once answered, long after calls that came later.
	late := Recording{ID: CallID(base.Add(30*time.Minute), 9), Firm: "c.test", Call: "x", Agent: "carol",
		Start: base.Add(5 * time.Hour), Duration: time.Minute, File: "/rec/c.test/late.wav"}
	early := Recording{ID: CallID(base.Add(40*time.Minute), 10), Firm: "c.test", Call: "y", Agent: "carol",
		Start: base.Add(150 * time.Minute), Duration: time.Minute, File: "/rec/c.test/early.wav"}
	for _, r := range []*Recording{&late, &early} {
		if err := s.AddRecording(r); err != nil {
			t.Fatal(err)
		}
	}
	if got, err := s.ListRecordings("c.test", RecordingQuery{After: base.Add(4 * time.Hour)}); err != nil || len(got) != 1 || got[0].ID != late.ID {
		t.Errorf("after, with a call recorded late behind one recorded early: %v %v, want [%s]", ids(got), err, late.ID)
	}
	got, err := s.GetRecording("a.test", r1.ID)
	if err != nil || norm(got) != norm(r1) {
		t.Errorf("get: %+v %v, want %+v", got, err, r1)
	}
	if _, err := s.GetRecording("b.test", r1.ID); !errors.Is(err, ErrNotFound) {
		t.Errorf("another firm's recording: %v", err)
	}
	// Retention: everything before r2's start, of every firm.
	old, err := s.RecordingsBefore(r2.Start, 0)
	if err != nil {
		t.Fatal(err)
	}
	if len(old) != 3 {
		t.Fatalf("before r2: %v", ids(old))
	}
	for _, r := range old {
		if r.ID == r2.ID {
			t.Errorf("r2 is not older than itself")
		}
	}
	if old, _ := s.RecordingsBefore(r2.Start, 1); len(old) != 1 {
		t.Errorf("limit 1: %d", len(old))
	}
	if _, err := s.DeleteRecording("a.test", r0.ID); err != nil {
		t.Fatal(err)
	}
	if _, err := s.DeleteRecording("a.test", r0.ID); !errors.Is(err, ErrNotFound) {
		t.Errorf("second delete: %v", err)
	}
	if _, err := s.GetRecording("b.test", o.ID); err != nil {
		t.Errorf("other firm's entry after delete: %v", err)
	}
	// Indexing again (recovery after a crash) replaces the entry.
	r1.Duration = 2 * time.Minute
	if err := s.AddRecording(&r1); err != nil {
		t.Fatal(err)
	}
	if got, _ := s.GetRecording("a.test", r1.ID); got.Duration != 2*time.Minute {
		t.Errorf("re-added: %+v", got)
	}
	for _, bad := range []*Recording{nil, {ID: "x", Firm: "a", File: "f"}, {ID: r1.ID, File: "f"}, {ID: r1.ID, Firm: "a"}} {
		if err := s.AddRecording(bad); !errors.Is(err, ErrInvalid) {
			t.Errorf("add %+v: %v", bad, err)
		}
	}
}

// The call log entry names its recording.
func TestCallRecording(t *testing.T) {
	t.Parallel()
	s := openTest(t)
	r := CallRecord{Firm: "a.test", Start: time.Now(), Recording: "18eb21a57092ca8800000001"}
	if err := s.AddCall(&r); err != nil {
		t.Fatal(err)
	}
	got, err := s.ListCalls("a.test", CallQuery{})
	if err != nil || len(got) != 1 || got[0].Recording != r.Recording {
		t.Fatalf("calls %+v, %v", got, err)
	}
}
