package pbx

import (
	"log/slog"
	"path/filepath"
	"testing"
	"time"

	"switchboard/store"
)

// The periodic flush runs every second. With nothing to write it must not
// wait for the writes in flight (each up to bbolt's batch delay): a REGISTER
// arriving meanwhile would queue behind it and wait for two batches. With
// something to write it waits for them, then commits.
func TestRegWriterFlush(t *testing.T) {
	t.Parallel()
	st, err := store.Open(filepath.Join(t.TempDir(), "db"))
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	w := &regWriter{st: st, log: slog.New(slog.DiscardHandler),
		pending: map[store.RegistrationKey]*store.Registration{}, known: map[store.RegistrationKey]string{}}

	w.wmu.RLock() // a new binding being written
	done := make(chan struct{})
	go func() {
		w.flush()
		close(done)
	}()
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		t.Fatal("a flush with nothing to write waited for a write in flight")
	}
	w.wmu.RUnlock()

	r := store.Registration{Firm: "f", User: "1001", Contact: "sip:1001@127.0.0.1:5060", Source: "127.0.0.1:5060",
		Transport: "udp", Expires: time.Now().Add(time.Hour)}
	w.pending[store.RegistrationKey{Firm: r.Firm, User: r.User, Contact: r.Contact}] = &r
	w.flush()
	regs, err := st.ListRegistrations()
	if err != nil {
		t.Fatal(err)
	}
	if len(regs) != 1 || regs[0].Contact != r.Contact || len(w.pending) != 0 {
		t.Fatalf("after a flush: stored %+v, pending %d", regs, len(w.pending))
	}
}
