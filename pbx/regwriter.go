package pbx

import (
	"context"
	"errors"
	"log/slog"
	"sync"
	"time"

	"switchboard/sip/registrar"
	"switchboard/store"
)

// regWriter persists registrations. A new binding (or one that moved to another
// address or transport) and a removal are committed before the REGISTER is answered,
// so that a phone told it is registered stays registered through a kill -9. A
// refresh that only extends the expiry is written behind: coalesced in memory and
// committed with the others every regFlushEvery (DESIGN: a lost refresh is repaired
// by the phone's next REGISTER). Close flushes what is pending.
type regWriter struct {
	st  *store.Store
	log *slog.Logger

	// wmu orders the flush against immediate writes: a flush never revives a
	// deleted binding nor overwrites a newer one. Immediate writes share it (read
	// lock), so that concurrent REGISTERs still share bbolt batches.
	wmu     sync.RWMutex
	mu      sync.Mutex
	known   map[store.RegistrationKey]string              // stored bindings: source+transport
	pending map[store.RegistrationKey]*store.Registration // nil value = delete
	done    chan struct{}
	stopped chan struct{}
	once    sync.Once
}

const regFlushEvery = time.Second

func newRegWriter(st *store.Store, log *slog.Logger, spawn func(func(context.Context)) bool) *regWriter {
	w := &regWriter{
		st: st, log: log,
		pending: map[store.RegistrationKey]*store.Registration{},
		known:   map[store.RegistrationKey]string{},
		done:    make(chan struct{}),
		stopped: make(chan struct{}),
	}
	if !spawn(func(context.Context) { w.loop() }) {
		close(w.stopped)
	}
	return w
}

// loaded marks bindings read from the store at start as stored.
func (w *regWriter) loaded(regs []store.Registration) {
	w.mu.Lock()
	defer w.mu.Unlock()
	for _, r := range regs {
		w.known[store.RegistrationKey{Firm: r.Firm, User: r.User, Contact: r.Contact}] = r.Source + " " + r.Transport
	}
}

// SaveBinding stores a new or moved binding now, and queues a plain refresh.
func (w *regWriter) SaveBinding(b registrar.Binding) error {
	r := &store.Registration{
		Firm: b.Firm, User: b.User, Contact: b.Contact, Source: b.Source, Transport: b.Transport,
		Expires: b.Expires, CallID: b.CallID, CSeq: b.CSeq, UserAgent: b.UserAgent, Instance: b.Instance,
	}
	k := store.RegistrationKey{Firm: b.Firm, User: b.User, Contact: b.Contact}
	where := b.Source + " " + b.Transport
	w.mu.Lock()
	if w.known[k] == where {
		w.pending[k] = r
		w.mu.Unlock()
		return nil
	}
	delete(w.pending, k) // this write supersedes a queued one
	w.mu.Unlock()
	w.wmu.RLock()
	defer w.wmu.RUnlock()
	if err := w.st.PutRegistration(*r); err != nil {
		return err
	}
	w.mu.Lock()
	w.known[k] = where
	w.mu.Unlock()
	return nil
}

// DeleteBinding removes a binding now (an un-REGISTER or an expiry).
func (w *regWriter) DeleteBinding(firm, user, contact string) error {
	k := store.RegistrationKey{Firm: firm, User: user, Contact: contact}
	w.wmu.RLock()
	defer w.wmu.RUnlock()
	w.mu.Lock()
	delete(w.pending, k)
	delete(w.known, k)
	w.mu.Unlock()
	if err := w.st.DeleteRegistration(firm, user, contact); err != nil && !errors.Is(err, store.ErrNotFound) {
		return err
	}
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
	// Most seconds have nothing to write. Taking wmu then anyway would make
	// the REGISTERs that arrive meanwhile wait for the writes in flight
	// (bbolt's batch delay) before their own.
	w.mu.Lock()
	idle := len(w.pending) == 0
	w.mu.Unlock()
	if idle {
		return
	}
	w.wmu.Lock()
	defer w.wmu.Unlock()
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
