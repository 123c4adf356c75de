package store

import (
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"switchboard/callinfo"
	"sync/atomic"
	"testing"
	"time"

	bolt "go.etcd.io/bbolt"
)

// openTest opens a fresh store in a temp dir and closes it at test end.
func openTest(t testing.TB) *Store {
	t.Helper()
	s, err := Open(filepath.Join(t.TempDir(), "switchboard.db"))
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	t.Cleanup(func() {
		if err := s.Close(); err != nil {
			t.Errorf("Close: %v", err)
		}
	})
	return s
}

// reopen closes s and opens its file again, so that what the test reads next
// comes from the disk; the new Store closes at the end of the test.
func reopen(t testing.TB, s *Store, path string) *Store {
	t.Helper()
	if err := s.Close(); err != nil {
		t.Fatalf("close: %v", err)
	}
	s, err := Open(path)
	if err != nil {
		t.Fatalf("reopen: %v", err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

// frozenClock makes every s.now() return the same instant, the worst case
// for ID ordering.
func frozenClock(s *Store, at time.Time) { s.now = func() time.Time { return at } }

// steppingClock advances one microsecond per call, so records get distinct
// and increasing timestamps without sleeping.
func steppingClock(s *Store, start time.Time) {
	var n atomic.Int64
	s.now = func() time.Time { return start.Add(time.Duration(n.Add(1)) * time.Microsecond) }
}

// norm returns v with every time.Time field in UTC and without a monotonic
// reading, so records compare with reflect.DeepEqual after a JSON round trip.
func norm[T any](v T) T {
	rv := reflect.ValueOf(&v).Elem()
	for i := 0; i < rv.NumField(); i++ {
		if f, ok := rv.Field(i).Interface().(time.Time); ok {
			rv.Field(i).Set(reflect.ValueOf(f.UTC().Round(0)))
		}
	}
	return v
}

func normAll[T any](vs []T) []T {
	out := make([]T, len(vs))
	for i, v := range vs {
		out[i] = norm(v)
	}
	return out
}

func TestOpenCreatesDirectories(t *testing.T) {
	t.Parallel()
	path := filepath.Join(t.TempDir(), "a", "b", "c", "switchboard.db")
	s, err := Open(path)
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	defer s.Close()
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatalf("database file not created: %v", err)
	}
	if perm := fi.Mode().Perm(); perm&0o077 != 0 {
		t.Errorf("database file mode %v is readable by others; it holds secrets", perm)
	}
}

func TestOpenEmptyPath(t *testing.T) {
	t.Parallel()
	if _, err := Open(""); !errors.Is(err, ErrInvalid) {
		t.Fatalf("Open(\"\") = %v, want ErrInvalid", err)
	}
}

func TestSecondOpenIsLocked(t *testing.T) {
	t.Parallel()
	path := filepath.Join(t.TempDir(), "switchboard.db")
	s, err := Open(path)
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	defer s.Close()

	done := make(chan error, 1)
	go func() {
		s2, err := Open(path)
		if err == nil {
			s2.Close()
		}
		done <- err
	}()
	select {
	case err := <-done:
		if !errors.Is(err, ErrLocked) {
			t.Fatalf("second Open = %v, want error wrapping ErrLocked", err)
		}
		if want := "database " + path + " is in use by another process"; !strings.Contains(err.Error(), want) {
			t.Errorf("error %q does not say %q", err, want)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("second Open blocked instead of failing")
	}
}

func TestReopenKeepsEverything(t *testing.T) {
	t.Parallel()
	path := filepath.Join(t.TempDir(), "data", "switchboard.db")
	s, err := Open(path)
	if err != nil {
		t.Fatal(err)
	}
	exp := time.Now().Add(time.Hour)
	reg := Registration{Firm: "acme.example", User: "100", Contact: "sip:100@10.0.0.5:5060", Expires: exp}
	cb := &Callback{Firm: "acme.example", Caller: "+4930123", TargetKind: TargetTeam, TargetID: "sales"}
	call := &CallRecord{Firm: "acme.example", From: "+4930123", To: "100", Outcome: "answered"}
	vm := &Voicemail{Firm: "acme.example", Mailbox: "100", Caller: "+4930123", File: "/var/vm/1.wav"}
	steps := []error{
		s.PutRegistration(reg),
		s.SetAgentStatus("acme.example", "100", "away"),
		s.AddCallback(cb),
		s.AddCall(call),
		s.AddVoicemail(vm),
		s.PutSetting("admin_token", "s3cret"),
	}
	for i, err := range steps {
		if err != nil {
			t.Fatalf("write %d: %v", i, err)
		}
	}
	s = reopen(t, s, path)
	regs, err := s.ListRegistrations()
	if err != nil || len(regs) != 1 || !reflect.DeepEqual(norm(regs[0]), norm(reg)) {
		t.Errorf("registrations after reopen = %+v, %v", regs, err)
	}
	st, err := s.AgentStatuses("acme.example")
	if err != nil || st["100"] != "away" {
		t.Errorf("statuses after reopen = %v, %v", st, err)
	}
	if got, err := s.GetCallback("acme.example", cb.ID); err != nil || !reflect.DeepEqual(norm(got), norm(*cb)) {
		t.Errorf("callback after reopen = %+v, %v; want %+v", got, err, *cb)
	}
	if calls, err := s.ListCalls("acme.example", CallQuery{}); err != nil || len(calls) != 1 || !reflect.DeepEqual(norm(calls[0]), norm(*call)) {
		t.Errorf("calls after reopen = %+v, %v", calls, err)
	}
	if got, err := s.GetVoicemail("acme.example", "100", vm.ID); err != nil || !reflect.DeepEqual(norm(got), norm(*vm)) {
		t.Errorf("voicemail after reopen = %+v, %v", got, err)
	}
	if v, err := s.GetSetting("admin_token"); err != nil || v != "s3cret" {
		t.Errorf("setting after reopen = %q, %v", v, err)
	}
	// IDs keep increasing across a reopen: the sequence is persisted.
	cb2 := &Callback{Firm: "acme.example", Caller: "+4930999", TargetKind: TargetTeam, TargetID: "sales"}
	if err := s.AddCallback(cb2); err != nil {
		t.Fatal(err)
	}
	if cb2.ID <= cb.ID {
		t.Errorf("ID after reopen %s does not sort after %s", cb2.ID, cb.ID)
	}
}

// putRaw overwrites one value, bypassing the typed API, to simulate data
// written by another build or damaged on disk.
func putRaw(t *testing.T, s *Store, bucket, k, v []byte) {
	t.Helper()
	err := s.db.Update(func(tx *bolt.Tx) error { return tx.Bucket(bucket).Put(k, v) })
	if err != nil {
		t.Fatal(err)
	}
}

func TestFutureVersionIsRejected(t *testing.T) {
	t.Parallel()
	s := openTest(t)
	cb := &Callback{Firm: "f", Caller: "1", TargetKind: TargetAgent, TargetID: "a"}
	if err := s.AddCallback(cb); err != nil {
		t.Fatal(err)
	}
	vm := &Voicemail{Firm: "f", Mailbox: "m", File: "x.wav"}
	if err := s.AddVoicemail(vm); err != nil {
		t.Fatal(err)
	}
	future := []byte(`{"v":7,"id":"` + cb.ID + `","firm":"f","caller":"1","shiny":{"new":true}}`)
	putRaw(t, s, bucketCallbacks, callbackKey("f", cb.ID), future)
	putRaw(t, s, bucketVoicemail, voicemailKey("f", "m", vm.ID), []byte(`{"v":2}`))
	putRaw(t, s, bucketSettings, []byte("k"), []byte(`{"v":99,"value":"x"}`))

	checks := []struct {
		name string
		err  error
	}{
		{"GetCallback", func() error { _, err := s.GetCallback("f", cb.ID); return err }()},
		{"ListCallbacks", func() error { _, err := s.ListCallbacks("f", "", Page{}); return err }()},
		{"ClaimCallback", func() error { _, err := s.ClaimCallback("f", cb.ID, "a"); return err }()},
		{"GetVoicemail", func() error { _, err := s.GetVoicemail("f", "m", vm.ID); return err }()},
		{"VoicemailCounts", func() error { _, _, err := s.VoicemailCounts("f", "m"); return err }()},
		{"GetSetting", func() error { _, err := s.GetSetting("k"); return err }()},
	}
	for _, c := range checks {
		if !errors.Is(c.err, ErrVersion) {
			t.Errorf("%s = %v, want ErrVersion", c.name, c.err)
			continue
		}
		if !strings.Contains(c.err.Error(), "newer") {
			t.Errorf("%s error %q does not explain the version problem", c.name, c.err)
		}
	}
	// The rejected claim must not have rewritten the record in the old format.
	if _, err := s.GetCallback("f", cb.ID); !errors.Is(err, ErrVersion) {
		t.Errorf("record was overwritten by a failed claim: %v", err)
	}
}

func TestCorruptValueIsAnError(t *testing.T) {
	t.Parallel()
	s := openTest(t)
	for _, v := range []string{`not json`, `{"firm":"f"}`, `{"v":0}`, `{"v":1,"expires":"yesterday"}`} {
		putRaw(t, s, bucketRegistrations, key("f", "u", "c"), []byte(v))
		if _, err := s.ListRegistrations(); !errors.Is(err, ErrCorrupt) {
			t.Errorf("value %q: ListRegistrations = %v, want ErrCorrupt", v, err)
		}
	}
}

func TestFirmsAreIsolated(t *testing.T) {
	t.Parallel()
	s := openTest(t)
	// "a" is a byte prefix of "ab": the key encoding must still keep them apart.
	firms := []string{"a", "ab", "b.example"}
	for _, f := range firms {
		for i := 0; i < 3; i++ {
			if err := s.AddCallback(&Callback{Firm: f, Caller: f + "-caller", TargetKind: TargetAgent, TargetID: "100"}); err != nil {
				t.Fatal(err)
			}
			if err := s.AddCall(&CallRecord{Firm: f, From: f + "-caller", Agent: "100"}); err != nil {
				t.Fatal(err)
			}
			if err := s.AddVoicemail(&Voicemail{Firm: f, Mailbox: "100", Caller: f + "-caller", File: f + ".wav"}); err != nil {
				t.Fatal(err)
			}
		}
		if err := s.SetAgentStatus(f, "100", callinfo.Status("status-of-"+f)); err != nil {
			t.Fatal(err)
		}
	}
	for _, f := range firms {
		cbs, err := s.ListCallbacks(f, "", Page{})
		if err != nil || len(cbs) != 3 {
			t.Fatalf("ListCallbacks(%s) = %d, %v; want 3", f, len(cbs), err)
		}
		for _, c := range cbs {
			if c.Firm != f {
				t.Errorf("ListCallbacks(%s) returned %s's entry", f, c.Firm)
			}
			if _, err := s.GetCallback(otherFirm(firms, f), c.ID); !errors.Is(err, ErrNotFound) {
				t.Errorf("GetCallback with another firm found %s's entry: %v", f, err)
			}
			if _, err := s.ClaimCallback(otherFirm(firms, f), c.ID, "x"); !errors.Is(err, ErrNotFound) {
				t.Errorf("ClaimCallback with another firm: %v", err)
			}
		}
		if c, err := s.OldestPending(f, "", "", time.Now().Add(time.Hour)); err != nil || c.Firm != f {
			t.Errorf("OldestPending(%s) = %+v, %v", f, c, err)
		}
		calls, err := s.ListCalls(f, CallQuery{})
		if err != nil || len(calls) != 3 {
			t.Fatalf("ListCalls(%s) = %d, %v; want 3", f, len(calls), err)
		}
		for _, c := range calls {
			if c.Firm != f {
				t.Errorf("ListCalls(%s) returned %s's record", f, c.Firm)
			}
		}
		vms, err := s.ListVoicemail(f, "100")
		if err != nil || len(vms) != 3 {
			t.Fatalf("ListVoicemail(%s) = %d, %v; want 3", f, len(vms), err)
		}
		for _, v := range vms {
			if v.Firm != f {
				t.Errorf("ListVoicemail(%s) returned %s's message", f, v.Firm)
			}
		}
		st, err := s.AgentStatuses(f)
		if err != nil || len(st) != 1 || string(st["100"]) != "status-of-"+f {
			t.Errorf("AgentStatuses(%s) = %v, %v", f, st, err)
		}
	}
	if all, err := s.ListCalls("", CallQuery{}); err != nil || len(all) != 9 {
		t.Errorf("ListCalls(all firms) = %d, %v; want 9", len(all), err)
	}
}

func otherFirm(firms []string, f string) string {
	for _, o := range firms {
		if o != f {
			return o
		}
	}
	return "nobody"
}
