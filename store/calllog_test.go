package store

import (
	"errors"
	"fmt"
	"path/filepath"
	"sync"
	"testing"
	"time"

	bolterrors "go.etcd.io/bbolt/errors"
)

// Calls that end together share commits, and each record is on disk, with an
// ID of its own, when its AddCall returns.
func TestCallRecordsShareCommits(t *testing.T) {
	t.Parallel()
	path := filepath.Join(t.TempDir(), "switchboard.db")
	s, err := Open(path)
	if err != nil {
		t.Fatal(err)
	}
	const n = 64
	recs := make([]*CallRecord, n)
	errs := make([]error, n)
	var wg sync.WaitGroup
	for i := range recs {
		recs[i] = &CallRecord{Firm: "f", From: fmt.Sprint(i), Start: t0.Add(time.Duration(i) * time.Second)}
		wg.Go(func() { errs[i] = s.AddCall(recs[i]) })
	}
	wg.Wait()
	ids := map[string]bool{}
	for i, r := range recs {
		if errs[i] != nil || !ValidID(r.ID) || ids[r.ID] {
			t.Fatalf("AddCall %d: ID %q, %v", i, r.ID, errs[i])
		}
		ids[r.ID] = true
	}
	// The first record finds no commit in the last callLogDelay and goes at
	// once; the others come within it and wait for the next one.
	if c := s.calls.commits.Load(); c >= n/2 {
		t.Errorf("%d records took %d commits", n, c)
	}
	s = reopen(t, s, path)
	got, err := s.ListCalls("f", CallQuery{})
	if err != nil || len(got) != n {
		t.Fatalf("after reopening: %d records, %v", len(got), err)
	}
	for _, r := range got {
		if !ids[r.ID] {
			t.Errorf("listed %s, which no AddCall returned", r.ID)
		}
	}
}

// Close commits the records still waiting, and a write after it fails as any
// write to a closed database does.
func TestCloseCommitsWaitingCalls(t *testing.T) {
	t.Parallel()
	path := filepath.Join(t.TempDir(), "switchboard.db")
	s, err := Open(path)
	if err != nil {
		t.Fatal(err)
	}
	if err := s.AddCall(&CallRecord{Firm: "f", From: "first"}); err != nil {
		t.Fatal(err)
	}
	// The second comes right after a commit: it waits for the next.
	second := make(chan error, 1)
	go func() { second <- s.AddCall(&CallRecord{Firm: "f", From: "second"}) }()
	for {
		s.calls.mu.Lock()
		queued := len(s.calls.pending)
		s.calls.mu.Unlock()
		if queued == 1 {
			break
		}
		select {
		case err := <-second:
			t.Skipf("the second record was committed before Close (a slow machine): %v", err)
		case <-time.After(time.Millisecond):
		}
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	if err := <-second; err != nil {
		t.Fatalf("AddCall waiting at Close: %v", err)
	}
	err = s.AddCall(&CallRecord{Firm: "f", From: "late"})
	if !errors.Is(err, bolterrors.ErrDatabaseNotOpen) || s.ClosedUses() != 1 {
		t.Errorf("AddCall after Close = %v, closed uses %d", err, s.ClosedUses())
	}
	s, err = Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	got, err := s.ListCalls("f", CallQuery{})
	if err != nil || len(got) != 2 || got[0].From != "second" || got[1].From != "first" {
		t.Fatalf("after reopening: %+v, %v", got, err)
	}
}

// A record the database refuses fails alone, not the records that shared its
// commit.
func TestBadCallRecordFailsAlone(t *testing.T) {
	t.Parallel()
	s := openTest(t)
	if err := s.AddCall(&CallRecord{Firm: "f", From: "first"}); err != nil {
		t.Fatal(err)
	}
	// These come within callLogDelay of the first commit: they share the next.
	recs := []*CallRecord{
		{Firm: "f", From: "a"}, {Firm: "f", From: "b"},
		{Firm: "f", From: "bad", Answer: time.Date(10000, 1, 1, 0, 0, 0, 0, time.UTC)}, // JSON has no year 10000
		{Firm: "f", From: "c"},
	}
	errs := make([]error, len(recs))
	var wg sync.WaitGroup
	for i := range recs {
		wg.Go(func() { errs[i] = s.AddCall(recs[i]) })
	}
	wg.Wait()
	for i, r := range recs {
		if (r.From == "bad") != (errs[i] != nil) {
			t.Errorf("AddCall %s = %v", r.From, errs[i])
		}
	}
	got, err := s.ListCalls("f", CallQuery{})
	if err != nil || len(got) != 4 {
		t.Fatalf("ListCalls = %d records, %v; want first, a, b, c", len(got), err)
	}
}
