package pbx

import (
	"log/slog"
	"sync"
	"time"

	"switchboard/sip/registrar"
	"switchboard/store"
)

// regWriter persists registrations write-behind: the registrar's changes are
// coalesced in memory and committed together every flushEvery (DESIGN: a lost
// refresh is repaired by the phone's next REGISTER, so refreshes need not cost an
// fsync each). Close flushes what is pending, so a clean restart loses nothing.
type regWriter struct {
	st  *store.Store
	log *slog.Logger

	mu      sync.Mutex
	pending map[store.RegistrationKey]*store.Registration // nil value = delete
	kick    chan struct{}
	done    chan struct{}
	stopped chan struct{}
	once    sync.Once
}

const regFlushEvery = time.Second

func newRegWriter(st *store.Store, log *slog.Logger) *regWriter {
	w := &regWriter{
		st: st, log: log,
		pending: map[store.RegistrationKey]*store.Registration{},
		done:    make(chan struct{}),
		stopped: make(chan struct{}),
	}
	go w.loop()
	return w
}

// SaveBinding queues a binding to store.
func (w *regWriter) SaveBinding(b registrar.Binding) error {
	r := &store.Registration{
		Firm: b.Firm, User: b.User, Contact: b.Contact, Source: b.Source, Transport: b.Transport,
		Expires: b.Expires, CallID: b.CallID, CSeq: b.CSeq, UserAgent: b.UserAgent, Instance: b.Instance,
	}
	w.mu.Lock()
	w.pending[store.RegistrationKey{Firm: b.Firm, User: b.User, Contact: b.Contact}] = r
	w.mu.Unlock()
	return nil
}

// DeleteBinding queues a binding's removal.
func (w *regWriter) DeleteBinding(firm, user, contact string) error {
	w.mu.Lock()
	w.pending[store.RegistrationKey{Firm: firm, User: user, Contact: contact}] = nil
	w.mu.Unlock()
	return nil
}

func (w *regWriter) loop() {
	defer close(w.stopped)
	t := time.NewTicker(regFlushEvery)
	defer t.Stop()
	for {
		select {
		case <-t.C:
			w.flush()
		case <-w.done:
			w.flush()
			return
		}
	}
}

func (w *regWriter) flush() {
	w.mu.Lock()
	if len(w.pending) == 0 {
		w.mu.Unlock()
		return
	}
	batch := w.pending
	w.pending = map[store.RegistrationKey]*store.Registration{}
	w.mu.Unlock()
	var puts []store.Registration
	var dels []store.RegistrationKey
	for k, r := range batch {
		if r == nil {
			dels = append(dels, k)
		} else {
			puts = append(puts, *r)
		}
	}
	if err := w.st.ApplyRegistrations(puts, dels); err != nil {
		w.log.Error("save registrations", "count", len(batch), "err", err)
	}
}

// Close flushes and stops the writer.
func (w *regWriter) Close() {
	w.once.Do(func() { close(w.done) })
	<-w.stopped
}
