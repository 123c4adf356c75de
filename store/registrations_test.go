package store

import (
	"errors"
	"fmt"
	"path/filepath"
	"reflect"
	"sort"
	"sync"
	"testing"
	"time"
)

func sortRegs(rs []Registration) []Registration {
	rs = normAll(rs)
	sort.Slice(rs, func(i, j int) bool {
		a, b := rs[i], rs[j]
		return a.Firm+"\x00"+a.User+"\x00"+a.Contact < b.Firm+"\x00"+b.User+"\x00"+b.Contact
	})
	return rs
}

func TestRegistrationRoundTrip(t *testing.T) {
	t.Parallel()
	s := openTest(t)
	regs := []Registration{
		{
			Firm: "acme.example", User: "100", Contact: `<sip:100@192.0.2.7:5060;transport=udp;ob>;+sip.instance="<urn:uuid:1>"`,
			Source: "192.0.2.7:5060", Transport: "udp", Expires: t0.Add(time.Hour), CallID: "abc@host", CSeq: 42,
			UserAgent: "baresip 1.0", Instance: "<urn:uuid:1>",
		},
		{Firm: "acme.example", User: "100", Contact: "sip:100@df7jal23ls0d.invalid;transport=ws", Transport: "ws", Expires: t0.Add(time.Minute)},
		{Firm: "other.example", User: "100", Contact: "sip:100@198.51.100.1", Expires: t0.Add(time.Minute)},
	}
	for _, r := range regs {
		if err := s.PutRegistration(r); err != nil {
			t.Fatal(err)
		}
	}
	got, err := s.ListRegistrations()
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(sortRegs(got), sortRegs(regs)) {
		t.Fatalf("ListRegistrations = %+v\nwant %+v", got, regs)
	}

	// A refresh replaces the binding instead of adding one.
	refreshed := regs[0]
	refreshed.Expires, refreshed.CSeq = t0.Add(2*time.Hour), 43
	if err := s.PutRegistration(refreshed); err != nil {
		t.Fatal(err)
	}
	got, _ = s.ListRegistrations()
	want := []Registration{refreshed, regs[1], regs[2]}
	if !reflect.DeepEqual(sortRegs(got), sortRegs(want)) {
		t.Fatalf("after refresh = %+v", got)
	}

	if err := s.DeleteRegistration("acme.example", "100", regs[1].Contact); err != nil {
		t.Fatal(err)
	}
	if err := s.DeleteRegistration("acme.example", "100", regs[1].Contact); !errors.Is(err, ErrNotFound) {
		t.Errorf("second delete = %v, want ErrNotFound", err)
	}
	got, _ = s.ListRegistrations()
	if !reflect.DeepEqual(sortRegs(got), sortRegs([]Registration{refreshed, regs[2]})) {
		t.Errorf("after delete = %+v", got)
	}

	for _, bad := range []Registration{{User: "1", Contact: "c"}, {Firm: "f", Contact: "c"}, {Firm: "f", User: "1"}} {
		if err := s.PutRegistration(bad); !errors.Is(err, ErrInvalid) {
			t.Errorf("PutRegistration(%+v) = %v, want ErrInvalid", bad, err)
		}
	}
}

func TestPurgeExpiredRegistrations(t *testing.T) {
	t.Parallel()
	s := openTest(t)
	var keep []Registration
	for i := 0; i < 20; i++ {
		r := Registration{Firm: "f", User: fmt.Sprint(i), Contact: "sip:x", Expires: t0.Add(time.Duration(i-10) * time.Second)}
		if err := s.PutRegistration(r); err != nil {
			t.Fatal(err)
		}
		if i > 10 {
			keep = append(keep, r)
		}
	}
	n, err := s.PurgeExpiredRegistrations(t0)
	if err != nil || n != 11 { // offsets -10..0: expiring exactly at now counts as expired
		t.Fatalf("purge = %d, %v; want 11", n, err)
	}
	got, _ := s.ListRegistrations()
	if !reflect.DeepEqual(sortRegs(got), sortRegs(keep)) {
		t.Errorf("left after purge: %d records", len(got))
	}
	if n, err := s.PurgeExpiredRegistrations(t0); err != nil || n != 0 {
		t.Errorf("second purge = %d, %v", n, err)
	}
}

func TestConcurrentRegistrationRefreshes(t *testing.T) {
	t.Parallel()
	s := openTest(t)
	const workers, each = 8, 25
	var wg sync.WaitGroup
	errs := make(chan error, workers*each)
	for w := 0; w < workers; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; i < each; i++ {
				r := Registration{Firm: "f", User: fmt.Sprint(w), Contact: fmt.Sprintf("sip:%d", i%5), Expires: t0, CSeq: uint32(i)}
				if err := s.PutRegistration(r); err != nil {
					errs <- err
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	got, err := s.ListRegistrations()
	if err != nil || len(got) != workers*5 {
		t.Fatalf("ListRegistrations = %d, %v; want %d", len(got), err, workers*5)
	}
	for _, r := range got {
		// The last write per contact (CSeq 20..24) must win.
		if r.CSeq < each-5 {
			t.Errorf("stale refresh kept: %+v", r)
		}
	}
}

func TestApplyRegistrations(t *testing.T) {
	t.Parallel()
	path := filepath.Join(t.TempDir(), "sb.db")
	s, err := Open(path)
	if err != nil {
		t.Fatal(err)
	}
	exp := time.Now().Add(time.Hour).Round(time.Second)
	a := Registration{Firm: "f", User: "1001", Contact: "sip:a@h", Expires: exp}
	b := Registration{Firm: "f", User: "1001", Contact: "sip:b@h", Expires: exp}
	if err := s.ApplyRegistrations([]Registration{a, b}, nil); err != nil {
		t.Fatal(err)
	}
	if err := s.ApplyRegistrations(nil, []RegistrationKey{{"f", "1001", "sip:a@h"}, {"f", "1001", "sip:none@h"}}); err != nil {
		t.Fatal(err)
	}
	s = reopen(t, s, path)
	got, err := s.ListRegistrations()
	if err != nil || len(got) != 1 || got[0].Contact != "sip:b@h" || !got[0].Expires.Equal(exp) {
		t.Fatalf("after apply and reopen: %+v %v", got, err)
	}
}
