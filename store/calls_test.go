package store

import (
	"errors"
	"fmt"
	"path/filepath"
	"reflect"
	"strings"
	"switchboard/callinfo"
	"testing"
	"time"
)

func TestCallRoundTrip(t *testing.T) {
	t.Parallel()
	s := openTest(t)
	in := &CallRecord{
		Firm: "acme.example", Start: t0, Answer: t0.Add(5 * time.Second), End: t0.Add(65 * time.Second),
		Direction: "inbound", From: "+493012345", To: "200", Agent: "100", Team: "sales", Outcome: "answered",
		QueueWait: 5 * time.Second, TalkTime: time.Minute, Cause: "200 OK", CallID: "x@y",
	}
	if err := s.AddCall(in); err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(in.ID, fmt.Sprintf("%016x", t0.UnixNano())) {
		t.Errorf("ID %s does not encode Start", in.ID)
	}
	got, err := s.ListCalls("acme.example", CallQuery{})
	if err != nil || len(got) != 1 || !reflect.DeepEqual(norm(got[0]), norm(*in)) {
		t.Fatalf("ListCalls = %+v, %v\nwant %+v", got, err, *in)
	}
	// A preset ID (the live call's) is kept; one already taken is replaced.
	preset := &CallRecord{ID: CallID(t0.Add(time.Second), 7), Firm: "acme.example", Start: t0.Add(time.Second), CallerAgent: "101"}
	want := preset.ID
	if err := s.AddCall(preset); err != nil || preset.ID != want {
		t.Fatalf("AddCall with preset ID %s = %s, %v", want, preset.ID, err)
	}
	dup := &CallRecord{ID: want, Firm: "acme.example", Start: t0.Add(time.Second)}
	if err := s.AddCall(dup); err != nil || dup.ID == want || !ValidID(dup.ID) {
		t.Fatalf("AddCall with a taken ID = %s, %v", dup.ID, err)
	}
	bad := &CallRecord{ID: "not-an-id", Firm: "acme.example", Start: t0}
	if err := s.AddCall(bad); err != nil || !ValidID(bad.ID) {
		t.Fatalf("AddCall with a malformed ID = %s, %v", bad.ID, err)
	}
	// An agent's listing holds the calls they placed as well as those they took.
	mine, err := s.ListCalls("acme.example", CallQuery{Agent: "101"})
	if err != nil || len(mine) != 1 || mine[0].ID != want || mine[0].CallerAgent != "101" {
		t.Fatalf("calls of the placing agent = %+v, %v", mine, err)
	}
	noStart := &CallRecord{Firm: "acme.example"}
	if err := s.AddCall(noStart); err != nil || noStart.Start.IsZero() {
		t.Errorf("AddCall without Start = %+v, %v", noStart, err)
	}
	if err := s.AddCall(&CallRecord{}); !errors.Is(err, ErrInvalid) {
		t.Errorf("AddCall without firm = %v", err)
	}
	if err := s.AddCall(&CallRecord{Firm: "f", Start: time.Date(1960, 1, 1, 0, 0, 0, 0, time.UTC)}); !errors.Is(err, ErrInvalid) {
		t.Errorf("AddCall before 1970 = %v", err)
	}
}

func TestListCalls(t *testing.T) {
	t.Parallel()
	s := openTest(t)
	// Written in end order, deliberately not start order; some share a Start.
	starts := []int{5, 1, 3, 3, 0, 9, 7, 3, 2, 8}
	var added []CallRecord
	for i, m := range starts {
		r := &CallRecord{
			Firm: []string{"a", "b"}[i%2], Start: t0.Add(time.Duration(m) * time.Minute),
			Agent: []string{"100", "101", "102"}[i%3], Outcome: []callinfo.Outcome{"answered", "busy"}[i%2*(m%2)],
		}
		if err := s.AddCall(r); err != nil {
			t.Fatal(err)
		}
		added = append(added, *r)
	}
	// expect returns the records matching keep, newest Start first; among
	// equal Starts the later-added one is newer.
	expect := func(keep func(CallRecord) bool) []string {
		var out []string
		for m := 9; m >= 0; m-- {
			for i := len(added) - 1; i >= 0; i-- {
				if starts[i] == m && keep(added[i]) {
					out = append(out, added[i].ID)
				}
			}
		}
		return out
	}
	callIDs := func(rs []CallRecord) []string {
		var out []string
		for _, r := range rs {
			out = append(out, r.ID)
		}
		return out
	}
	at := func(m int) time.Time { return t0.Add(time.Duration(m) * time.Minute) }
	tests := []struct {
		name string
		firm string
		q    CallQuery
		keep func(CallRecord) bool
	}{
		{"all firms", "", CallQuery{}, func(CallRecord) bool { return true }},
		{"one firm", "a", CallQuery{}, func(r CallRecord) bool { return r.Firm == "a" }},
		{"agent", "", CallQuery{Agent: "101"}, func(r CallRecord) bool { return r.Agent == "101" }},
		{"outcome in firm", "b", CallQuery{Outcome: "busy"}, func(r CallRecord) bool { return r.Firm == "b" && r.Outcome == "busy" }},
		{"since until", "", CallQuery{Since: at(3), Until: at(8)}, func(r CallRecord) bool {
			return !r.Start.Before(at(3)) && r.Start.Before(at(8))
		}},
		{"since until in firm", "b", CallQuery{Since: at(2), Until: at(9)}, func(r CallRecord) bool {
			return r.Firm == "b" && !r.Start.Before(at(2)) && r.Start.Before(at(9))
		}},
		{"unknown firm", "zzz", CallQuery{}, func(CallRecord) bool { return false }},
	}
	for _, tt := range tests {
		want := expect(tt.keep)
		got, err := s.ListCalls(tt.firm, tt.q)
		if err != nil {
			t.Fatal(err)
		}
		if !reflect.DeepEqual(callIDs(got), want) {
			t.Errorf("%s: got %v\nwant %v", tt.name, callIDs(got), want)
		}
		// The same listing, paged two at a time through Before.
		var paged []CallRecord
		q := tt.q
		q.Limit = 2
		for {
			page, err := s.ListCalls(tt.firm, q)
			if err != nil {
				t.Fatal(err)
			}
			if len(page) == 0 {
				break
			}
			paged = append(paged, page...)
			q.Before = page[len(page)-1].ID
		}
		if !reflect.DeepEqual(callIDs(paged), want) {
			t.Errorf("%s paged: got %v\nwant %v", tt.name, callIDs(paged), want)
		}
	}
}

// The wrap-up is filled in after the record is written; the rest of the
// record, transfers and hold time included, stays as it was, on disk.
func TestSetCallWrapUp(t *testing.T) {
	t.Parallel()
	path := filepath.Join(t.TempDir(), "switchboard.db")
	s, err := Open(path)
	if err != nil {
		t.Fatal(err)
	}
	in := &CallRecord{
		Firm: "acme.example", Start: t0, Answer: t0.Add(time.Second), End: t0.Add(time.Minute), Direction: "inbound",
		From: "+493012345", To: "2000", Agent: "bob", Team: "support", Outcome: "answered", HoldTime: 7 * time.Second,
		Transfers: []Transfer{{By: "alice", To: "1002", At: t0.Add(30 * time.Second)}},
	}
	if err := s.AddCall(in); err != nil {
		t.Fatal(err)
	}
	other := &CallRecord{Firm: "acme.example", Start: t0.Add(time.Hour)}
	if err := s.AddCall(other); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name string
		id   string
		d    time.Duration
		err  error
	}{
		{"set", in.ID, 30 * time.Second, nil},
		{"cut short (ready) overwrites", in.ID, 12 * time.Second, nil},
		{"unknown id", CallID(t0.Add(2*time.Hour), 1), time.Second, ErrNotFound},
		{"malformed id", "not-an-id", time.Second, ErrInvalid},
		{"negative", in.ID, -time.Second, ErrInvalid},
	}
	for _, tc := range tests {
		if err := s.SetCallWrapUp(tc.id, tc.d); !errors.Is(err, tc.err) || (tc.err == nil) != (err == nil) {
			t.Errorf("%s: SetCallWrapUp(%q, %v) = %v, want %v", tc.name, tc.id, tc.d, err, tc.err)
		}
	}
	s = reopen(t, s, path) // the change must be on disk, not only in a cache
	got, err := s.ListCalls("acme.example", CallQuery{})
	if err != nil || len(got) != 2 {
		t.Fatalf("ListCalls = %+v, %v", got, err)
	}
	want := *in
	want.WrapUp = 12 * time.Second
	if g := got[1]; !reflect.DeepEqual(norm(g), norm(want)) {
		t.Errorf("record after SetCallWrapUp = %+v\nwant %+v", g, want)
	}
	if got[0].WrapUp != 0 {
		t.Errorf("other record's WrapUp = %v", got[0].WrapUp)
	}
}
