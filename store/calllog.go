package store

import (
	"sync"
	"sync/atomic"
	"time"

	bolt "go.etcd.io/bbolt"
	bolterrors "go.etcd.io/bbolt/errors"
)

// callLogDelay is the least time between two commits of the call log. A
// commit costs about a millisecond of CPU whatever it carries (two
// fdatasyncs, and the wake-ups around them), which at 100 calls/s with the
// shared 100 ms batch of registrations came to a tenth of a call's CPU
// (bench/README.md). A call's record is not something a phone waits for, so
// it can wait longer for others to share its commit: the end of a call reaches
// the call log, the live list and the event stream at most this late while
// calls end more often than this, and at once when they end less often.
const callLogDelay = 500 * time.Millisecond

// maxCallBatch commits at once when this many records wait, so that a burst
// of call ends does not make one large transaction.
const maxCallBatch = 1024

// callWriter groups call records into shared commits: a record that comes
// when the last commit began more than callLogDelay ago is committed at once,
// and the ones that come sooner wait for the next commit, callLogDelay after
// that one. Each AddCall still returns only once its record is on disk.
type callWriter struct {
	mu      sync.Mutex
	pending []*pendingCall
	closed  bool

	commits atomic.Uint64 // transactions, for tests

	kick    chan struct{} // the first pending record
	full    chan struct{} // maxCallBatch pending records
	stop    chan struct{} // closed by Close
	stopped chan struct{} // closed when run has returned
}

// pendingCall is one AddCall waiting for its commit.
type pendingCall struct {
	want string     // the ID the caller asked for (CallRecord.ID as given)
	rec  CallRecord // as written, with the ID it got
	done chan error
}

func (s *Store) startCallWriter() {
	s.calls = &callWriter{
		kick:    make(chan struct{}, 1),
		full:    make(chan struct{}, 1),
		stop:    make(chan struct{}),
		stopped: make(chan struct{}),
	}
	go s.runCallWriter()
}

// queueCall adds p to the next commit; false once the store is closed.
func (w *callWriter) queue(p *pendingCall) bool {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.closed {
		return false
	}
	w.pending = append(w.pending, p)
	switch len(w.pending) {
	case 1:
		signal(w.kick)
	case maxCallBatch:
		signal(w.full)
	}
	return true
}

func signal(c chan struct{}) {
	select {
	case c <- struct{}{}:
	default:
	}
}

// take takes up to maxCallBatch records from the queue; the rest go in the
// next commit.
func (w *callWriter) take() []*pendingCall {
	w.mu.Lock()
	defer w.mu.Unlock()
	n := min(len(w.pending), maxCallBatch)
	batch := w.pending[:n:n]
	w.pending = w.pending[n:]
	select { // a full batch being taken now needs no early commit of its own
	case <-w.full:
	default:
	}
	if len(w.pending) >= maxCallBatch { // a commit stalled: the next goes at once
		signal(w.full)
	}
	if len(w.pending) > 0 {
		signal(w.kick)
	}
	return batch
}

// runCallWriter commits the queued records, callLogDelay apart at most. Close
// stops it after a last commit of what is queued.
func (s *Store) runCallWriter() {
	w := s.calls
	defer close(w.stopped)
	t := time.NewTimer(callLogDelay)
	t.Stop()
	var last time.Time // when the last commit began
	for {
		select {
		case <-w.stop:
			s.commitCalls(w.take())
			return
		case <-w.kick:
		}
		if wait := callLogDelay - time.Since(last); wait > 0 {
			t.Reset(wait)
			select {
			case <-w.stop:
				t.Stop()
				s.commitCalls(w.take())
				return
			case <-w.full:
				t.Stop()
			case <-t.C:
			}
		}
		last = time.Now()
		s.commitCalls(w.take())
	}
}

// commitCalls writes batch in one transaction. When that fails, each record
// is tried alone, as bbolt's Batch does, so that one the database refuses
// (say, a time JSON cannot hold) does not fail the others.
func (s *Store) commitCalls(batch []*pendingCall) {
	if len(batch) == 0 {
		return
	}
	s.calls.commits.Add(1)
	err := s.update(func(tx *bolt.Tx) error {
		for _, p := range batch {
			if err := putCall(tx, p); err != nil {
				return err
			}
		}
		return nil
	})
	if err == nil || len(batch) == 1 {
		for _, p := range batch {
			p.done <- err
		}
		return
	}
	for _, p := range batch {
		s.calls.commits.Add(1)
		p.done <- s.update(func(tx *bolt.Tx) error { return putCall(tx, p) })
	}
}

// putCall writes one record. It runs again, alone, after a shared commit
// failed; every value is recomputed, so that is harmless.
func putCall(tx *bolt.Tx, p *pendingCall) error {
	id := p.want
	if !ValidID(id) || tx.Bucket(bucketCalls).Get([]byte(id)) != nil {
		var err error
		if id, err = nextID(tx, bucketCalls, p.rec.Start, false); err != nil {
			return err
		}
	}
	p.rec.ID = id
	v, err := encodeCall(p.rec)
	if err != nil {
		return err
	}
	if err := tx.Bucket(bucketCalls).Put([]byte(id), v); err != nil {
		return err
	}
	return tx.Bucket(bucketCallsByFirm).Put(append(key(p.rec.Firm), id...), nil)
}

// closeCallWriter commits what is queued and stops the writer: AddCall fails
// from then on, as any write to a closed database does.
func (s *Store) closeCallWriter() {
	w := s.calls
	w.mu.Lock()
	already := w.closed
	w.closed = true
	w.mu.Unlock()
	if !already {
		close(w.stop)
	}
	<-w.stopped
}

// errClosed is what a write after Close gets, from bbolt or from the call writer.
var errClosed = bolterrors.ErrDatabaseNotOpen
