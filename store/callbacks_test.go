package store

import (
	"errors"
	"fmt"
	"reflect"
	"sync"
	"testing"
	"time"
)

var t0 = time.Date(2025, 3, 1, 9, 0, 0, 0, time.UTC)

func addCallbacks(t *testing.T, s *Store, firm string, n int) []Callback {
	t.Helper()
	out := make([]Callback, 0, n)
	for i := 0; i < n; i++ {
		c := &Callback{Firm: firm, Caller: fmt.Sprintf("+49301%04d", i), TargetKind: TargetTeam, TargetID: "sales"}
		if err := s.AddCallback(c); err != nil {
			t.Fatalf("AddCallback %d: %v", i, err)
		}
		out = append(out, *c)
	}
	return out
}

func TestCallbackRoundTrip(t *testing.T) {
	t.Parallel()
	s := openTest(t)
	frozenClock(s, t0)
	in := &Callback{
		Firm: "acme.example", Caller: "+493012345", CallerName: "Jane Doe", TargetKind: TargetAgent,
		TargetID: "100", NextAttempt: t0.Add(time.Minute), Note: "wants a quote",
	}
	if err := s.AddCallback(in); err != nil {
		t.Fatal(err)
	}
	if len(in.ID) != idLen || in.State != StatePending || !in.Created.Equal(t0) || !in.Updated.Equal(t0) {
		t.Fatalf("AddCallback did not fill ID/State/Created/Updated: %+v", in)
	}
	got, err := s.GetCallback("acme.example", in.ID)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(norm(got), norm(*in)) {
		t.Errorf("GetCallback = %+v\nwant %+v", got, *in)
	}
	if _, err := s.GetCallback("acme.example", "0000000000000000deadbeef"); !errors.Is(err, ErrNotFound) {
		t.Errorf("GetCallback(missing) = %v, want ErrNotFound", err)
	}
}

func TestAddCallbackValidation(t *testing.T) {
	t.Parallel()
	s := openTest(t)
	ok := Callback{Firm: "f", Caller: "1", TargetKind: TargetAgent, TargetID: "a"}
	tests := []struct {
		name string
		mod  func(*Callback)
	}{
		{"no firm", func(c *Callback) { c.Firm = "" }},
		{"no caller", func(c *Callback) { c.Caller = "" }},
		{"bad target kind", func(c *Callback) { c.TargetKind = "queue" }},
		{"no target", func(c *Callback) { c.TargetID = "" }},
		{"bad state", func(c *Callback) { c.State = "ringing" }},
		{"negative attempts", func(c *Callback) { c.Attempts = -1 }},
	}
	for _, tt := range tests {
		c := ok
		tt.mod(&c)
		if err := s.AddCallback(&c); !errors.Is(err, ErrInvalid) {
			t.Errorf("%s: AddCallback = %v, want ErrInvalid", tt.name, err)
		}
		if c.ID != "" {
			t.Errorf("%s: failed AddCallback still assigned ID %q", tt.name, c.ID)
		}
	}
	if err := s.AddCallback(nil); !errors.Is(err, ErrInvalid) {
		t.Errorf("AddCallback(nil) = %v", err)
	}
}

// pageAll reads every page of size limit and checks the pages are ordered,
// disjoint and together complete.
func pageAll(t *testing.T, s *Store, firm, state string, limit int, oldest bool) []Callback {
	t.Helper()
	var all []Callback
	p := Page{Limit: limit, OldestFirst: oldest}
	for pages := 0; ; pages++ {
		if pages > 1000 {
			t.Fatal("paging does not terminate")
		}
		got, err := s.ListCallbacks(firm, state, p)
		if err != nil {
			t.Fatal(err)
		}
		if len(got) > limit {
			t.Fatalf("page of %d entries exceeds limit %d", len(got), limit)
		}
		if len(got) == 0 {
			return all
		}
		all = append(all, got...)
		if oldest {
			p.After = got[len(got)-1].ID
		} else {
			p.Before = got[len(got)-1].ID
		}
	}
}

func TestListCallbacksPaging(t *testing.T) {
	t.Parallel()
	clocks := []struct {
		name string
		set  func(*Store)
	}{
		{"same nanosecond", func(s *Store) { frozenClock(s, t0) }},
		{"stepping", func(s *Store) { steppingClock(s, t0) }},
		{"real", func(*Store) {}},
	}
	for _, clk := range clocks {
		t.Run(clk.name, func(t *testing.T) {
			t.Parallel()
			s := openTest(t)
			clk.set(s)
			added := addCallbacks(t, s, "f", 53)
			newest := make([]Callback, len(added))
			for i, c := range added {
				newest[len(added)-1-i] = c
			}
			for _, limit := range []int{1, 7, 10, 53, 100} {
				if got := pageAll(t, s, "f", "", limit, false); !reflect.DeepEqual(normAll(got), normAll(newest)) {
					t.Errorf("limit %d newest first: got %d entries in wrong order or with gaps", limit, len(got))
				}
				if got := pageAll(t, s, "f", "", limit, true); !reflect.DeepEqual(normAll(got), normAll(added)) {
					t.Errorf("limit %d oldest first: got %d entries in wrong order or with gaps", limit, len(got))
				}
			}
			seen := map[string]bool{}
			for _, c := range added {
				if seen[c.ID] {
					t.Fatalf("duplicate ID %s", c.ID)
				}
				seen[c.ID] = true
			}
			// A page that starts in the middle and stops at Before.
			mid, err := s.ListCallbacks("f", "", Page{After: added[10].ID, Before: added[14].ID})
			if err != nil || len(mid) != 3 || mid[0].ID != added[11].ID || mid[2].ID != added[13].ID {
				t.Errorf("After+Before window = %v, %v", ids(mid), err)
			}
		})
	}
}

func ids(cs []Callback) []string {
	out := make([]string, len(cs))
	for i, c := range cs {
		out[i] = c.ID
	}
	return out
}

func TestListCallbacksByState(t *testing.T) {
	t.Parallel()
	s := openTest(t)
	added := addCallbacks(t, s, "f", 12)
	// Every third entry done, every other fourth cancelled (0 is both: done wins).
	want := map[string][]string{}
	for i := len(added) - 1; i >= 0; i-- {
		state := StatePending
		switch {
		case i%3 == 0:
			state = StateDone
		case i%4 == 0:
			state = StateCancelled
		}
		if state != StatePending {
			if _, err := s.UpdateCallback("f", added[i].ID, func(c *Callback) error { c.State = state; return nil }); err != nil {
				t.Fatal(err)
			}
		}
		want[state] = append(want[state], added[i].ID)
	}
	for state, wantIDs := range want {
		got, err := s.ListCallbacks("f", state, Page{})
		if err != nil {
			t.Fatal(err)
		}
		if !reflect.DeepEqual(ids(got), wantIDs) {
			t.Errorf("state %s: got %v, want %v", state, ids(got), wantIDs)
		}
		var paged []Callback
		for _, limit := range []int{1, 2, 5} {
			paged = pageAll(t, s, "f", state, limit, false)
			if !reflect.DeepEqual(ids(paged), wantIDs) {
				t.Errorf("state %s limit %d: got %v, want %v", state, limit, ids(paged), wantIDs)
			}
		}
	}
	if _, err := s.ListCallbacks("f", "bogus", Page{}); !errors.Is(err, ErrInvalid) {
		t.Errorf("unknown state filter = %v, want ErrInvalid", err)
	}
}

func TestOldestPending(t *testing.T) {
	t.Parallel()
	s := openTest(t)
	steppingClock(s, t0)
	mk := func(kind, target string, next time.Time) Callback {
		c := &Callback{Firm: "f", Caller: "1", TargetKind: kind, TargetID: target, NextAttempt: next}
		if err := s.AddCallback(c); err != nil {
			t.Fatal(err)
		}
		return *c
	}
	later := mk(TargetTeam, "sales", t0.Add(time.Hour)) // oldest, but not due yet
	first := mk(TargetTeam, "sales", time.Time{})
	second := mk(TargetTeam, "sales", t0)
	agent := mk(TargetAgent, "sales", time.Time{}) // same ID, other kind

	tests := []struct {
		name         string
		kind, target string
		now          time.Time
		want         string
	}{
		{"due entries FIFO", TargetTeam, "sales", t0, first.ID},
		{"deferred entry becomes first when due", TargetTeam, "sales", t0.Add(time.Hour), later.ID},
		{"kind is part of the target", TargetAgent, "sales", t0, agent.ID},
		{"any target", "", "", t0, first.ID},
		{"no match", TargetTeam, "support", t0.Add(time.Hour), ""},
	}
	for _, tt := range tests {
		got, err := s.OldestPending("f", tt.kind, tt.target, tt.now)
		if tt.want == "" {
			if !errors.Is(err, ErrNotFound) {
				t.Errorf("%s: got %v, %v; want ErrNotFound", tt.name, got.ID, err)
			}
			continue
		}
		if err != nil || got.ID != tt.want {
			t.Errorf("%s: got %s, %v; want %s", tt.name, got.ID, err, tt.want)
		}
	}

	// Claimed entries leave the queue; a retry puts them back at their
	// original (FIFO) position once due.
	if _, err := s.ClaimCallback("f", first.ID, "100"); err != nil {
		t.Fatal(err)
	}
	if got, err := s.OldestPending("f", TargetTeam, "sales", t0); err != nil || got.ID != second.ID {
		t.Fatalf("after claim: got %s, %v; want %s", got.ID, err, second.ID)
	}
	_, err := s.UpdateCallback("f", first.ID, func(c *Callback) error {
		c.State, c.ClaimedBy, c.NextAttempt = StatePending, "", t0.Add(time.Minute)
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if got, err := s.OldestPending("f", TargetTeam, "sales", t0); err != nil || got.ID != second.ID {
		t.Errorf("retry not yet due: got %s, %v; want %s", got.ID, err, second.ID)
	}
	if got, err := s.OldestPending("f", TargetTeam, "sales", t0.Add(time.Minute)); err != nil || got.ID != first.ID {
		t.Errorf("retry due: got %s, %v; want %s", got.ID, err, first.ID)
	}
}

func TestClaimCallbackRace(t *testing.T) {
	t.Parallel()
	s := openTest(t)
	c := addCallbacks(t, s, "f", 1)[0]
	const n = 20
	var (
		wg        sync.WaitGroup
		start     = make(chan struct{})
		errs      = make([]error, n)
		winnerRec Callback
	)
	for i := 0; i < n; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			<-start
			got, err := s.ClaimCallback("f", c.ID, fmt.Sprintf("agent-%d", i))
			errs[i] = err
			if err == nil {
				winnerRec = got
			}
		}()
	}
	close(start)
	wg.Wait()
	winners := 0
	for i, err := range errs {
		switch {
		case err == nil:
			winners++
		case !errors.Is(err, ErrConflict):
			t.Errorf("claimant %d: %v, want ErrConflict", i, err)
		}
	}
	if winners != 1 {
		t.Fatalf("%d claimants won, want exactly 1", winners)
	}
	stored, err := s.GetCallback("f", c.ID)
	if err != nil {
		t.Fatal(err)
	}
	if stored.State != StateDialing || stored.ClaimedBy != winnerRec.ClaimedBy || stored.Attempts != 1 {
		t.Errorf("stored after race = %+v, winner %q", stored, winnerRec.ClaimedBy)
	}
	if _, err := s.ClaimCallback("f", "0000000000000000deadbeef", "x"); !errors.Is(err, ErrNotFound) {
		t.Errorf("claim missing = %v, want ErrNotFound", err)
	}
}

func TestUpdateCallback(t *testing.T) {
	t.Parallel()
	s := openTest(t)
	steppingClock(s, t0)
	c := addCallbacks(t, s, "f", 1)[0]

	got, err := s.UpdateCallback("f", c.ID, func(cb *Callback) error {
		cb.State, cb.Note = StateCancelled, "customer called again"
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if got.State != StateCancelled || got.Note != "customer called again" || !got.Updated.After(c.Updated) {
		t.Errorf("UpdateCallback result = %+v", got)
	}
	if stored, _ := s.GetCallback("f", c.ID); !reflect.DeepEqual(norm(stored), norm(got)) {
		t.Errorf("stored %+v != returned %+v", stored, got)
	}
	if _, err := s.OldestPending("f", "", "", t0.Add(time.Hour)); !errors.Is(err, ErrNotFound) {
		t.Errorf("cancelled entry still offered: %v", err)
	}

	boom := errors.New("boom")
	failing := []struct {
		name string
		fn   func(*Callback) error
		want error
	}{
		{"fn error", func(cb *Callback) error { cb.Note = "lost"; return boom }, boom},
		{"change ID", func(cb *Callback) error { cb.ID = "x"; return nil }, ErrInvalid},
		{"change firm", func(cb *Callback) error { cb.Firm = "g"; return nil }, ErrInvalid},
		{"invalid state", func(cb *Callback) error { cb.State = "ringing"; return nil }, ErrInvalid},
	}
	for _, tt := range failing {
		if _, err := s.UpdateCallback("f", c.ID, tt.fn); !errors.Is(err, tt.want) {
			t.Errorf("%s: err = %v, want %v", tt.name, err, tt.want)
		}
	}
	if stored, _ := s.GetCallback("f", c.ID); !reflect.DeepEqual(norm(stored), norm(got)) {
		t.Errorf("failed updates changed the record: %+v", stored)
	}
	if _, err := s.UpdateCallback("f", "0000000000000000deadbeef", func(*Callback) error { return nil }); !errors.Is(err, ErrNotFound) {
		t.Errorf("update missing = %v", err)
	}
}

func TestCallbackIDsSurviveClockStepBack(t *testing.T) {
	t.Parallel()
	s := openTest(t)
	frozenClock(s, t0)
	a := addCallbacks(t, s, "f", 1)[0]
	frozenClock(s, t0.Add(-time.Hour)) // NTP stepped the clock back
	b := addCallbacks(t, s, "f", 1)[0]
	if b.ID <= a.ID {
		t.Fatalf("ID after clock step back %s sorts before %s", b.ID, a.ID)
	}
	if got, _ := s.OldestPending("f", "", "", t0); got.ID != a.ID {
		t.Errorf("FIFO broken by clock step: got %s, want %s", got.ID, a.ID)
	}
}
