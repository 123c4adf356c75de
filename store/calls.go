package store

import (
	"fmt"
	"switchboard/callinfo"
	"time"

	bolt "go.etcd.io/bbolt"
)

// CallRecord is one call detail record of the call log.
type CallRecord struct {
	ID        string // from CallID, or assigned by AddCall when empty or taken; sorts by Start
	Firm      string
	Start     time.Time
	Answer    time.Time // zero if never answered
	End       time.Time
	Direction callinfo.Direction
	From      string
	To        string
	Agent     string // the agent who took the call (or made it, for outbound calls)
	// CallerAgent is the agent whose phone placed the call (internal and outbound
	// calls); agents see the calls they took and the calls they placed.
	CallerAgent string
	Team        string
	Outcome     callinfo.Outcome
	QueueWait   time.Duration
	TalkTime    time.Duration
	Cause       string // SIP cause as callinfo.Cause writes it, e.g. "486 Busy Here"
	CallID      string
	// Transfers is the call's chain of transfers, oldest first; Agent is then the
	// agent who finished the call.
	Transfers []Transfer
	// HoldTime is how long the call was on hold in all.
	HoldTime time.Duration
	// WrapUp is the wrap-up time the agent got after the call (a team's wrap_up,
	// cut short when the agent said ready).
	WrapUp time.Duration
	// Recording is the id of the call's recording, "" when it has none.
	Recording string
}

// Transfer is one hand-over of a call: By (an agent id, or "admin") sent it To a
// target (an agent id, "team:ID", "ivr:ID" or a number) At a time.
type Transfer struct {
	By string
	To string
	At time.Time
}

// CallQuery filters and pages ListCalls. Zero fields do not filter.
type CallQuery struct {
	// Limit caps the number of records returned; 0 or less means no cap.
	Limit int
	// Before continues a listing below this ID (the last ID of the
	// previous page).
	Before  string
	Agent   string
	Outcome callinfo.Outcome
	// Since and Until select calls with Since <= Start < Until.
	Since, Until time.Time
}

// AddCall appends r to the call log and assigns r.ID, which sorts by
// r.Start (now if zero), so the log reads in the order calls began even
// though records are written when they end. Records share commits (see
// callWriter); each AddCall returns only once its record is on disk.
func (s *Store) AddCall(r *CallRecord) error {
	if r == nil {
		return fmt.Errorf("add call: nil record: %w", ErrInvalid)
	}
	if err := checkSegs([]string{"firm"}, r.Firm); err != nil {
		return fmt.Errorf("add call: %w", err)
	}
	p := &pendingCall{want: r.ID, rec: *r, done: make(chan error, 1)}
	if p.rec.Start.IsZero() {
		p.rec.Start = s.now()
	}
	if !s.calls.queue(p) {
		return fmt.Errorf("add call record in %s: %w", p.rec.Firm, s.counted(errClosed))
	}
	if err := <-p.done; err != nil {
		return fmt.Errorf("add call record in %s: %w", p.rec.Firm, err)
	}
	*r = p.rec
	return nil
}

// timeBound is the smallest ID a record starting at t can get.
func timeBound(t time.Time) string {
	if t.Before(time.Unix(0, 0)) {
		return makeID(0, 0)
	}
	return makeID(t.UnixNano(), 0)
}

// ListCalls returns call records of firm ("" for all firms), newest first.
func (s *Store) ListCalls(firm string, q CallQuery) ([]CallRecord, error) {
	if len(firm) > maxSegment {
		return nil, fmt.Errorf("list calls: firm is longer than %d bytes: %w", maxSegment, ErrInvalid)
	}
	sp := span{hi: q.Before}
	if !q.Until.IsZero() {
		if u := timeBound(q.Until); sp.hi == "" || u < sp.hi {
			sp.hi = u
		}
	}
	if !q.Since.IsZero() {
		sp.lo = timeBound(q.Since)
	}
	var out []CallRecord
	err := s.view(func(tx *bolt.Tx) error {
		main := tx.Bucket(bucketCalls)
		cur, prefix := main.Cursor(), []byte(nil)
		if firm != "" {
			cur, prefix = tx.Bucket(bucketCallsByFirm).Cursor(), key(firm)
		}
		return walk(cur, prefix, sp, false, func(id string, _, v []byte) (bool, error) {
			if firm != "" {
				if v = main.Get([]byte(id)); v == nil {
					return false, fmt.Errorf("firm index points at missing call %s: %w", id, ErrCorrupt)
				}
			}
			r, err := decodeCall(v)
			if err != nil {
				return false, err
			}
			if (q.Agent != "" && r.Agent != q.Agent && r.CallerAgent != q.Agent) || (q.Outcome != "" && r.Outcome != q.Outcome) {
				return false, nil
			}
			out = append(out, r)
			return q.Limit > 0 && len(out) >= q.Limit, nil
		})
	})
	if err != nil {
		return nil, fmt.Errorf("list calls of firm %q: %w", firm, err)
	}
	return out, nil
}

// SetCallWrapUp records the wrap-up d an agent got after call id. The record
// is written when the call ends, but the wrap-up ends later (its full length,
// or earlier when the agent says ready), so it is filled in afterwards. An
// unknown id gives ErrNotFound; a malformed id or a negative d, ErrInvalid.
func (s *Store) SetCallWrapUp(id string, d time.Duration) error {
	if !ValidID(id) {
		return fmt.Errorf("set wrap-up of call %q: malformed id: %w", id, ErrInvalid)
	}
	if d < 0 {
		return fmt.Errorf("set wrap-up of call %s to %v: %w", id, d, ErrInvalid)
	}
	err := s.update(func(tx *bolt.Tx) error {
		b := tx.Bucket(bucketCalls)
		v := b.Get([]byte(id))
		if v == nil {
			return ErrNotFound
		}
		r, err := decodeCall(v)
		if err != nil {
			return err
		}
		r.WrapUp = d
		if v, err = encodeCall(r); err != nil {
			return err
		}
		return b.Put([]byte(id), v)
	})
	if err != nil {
		return fmt.Errorf("set wrap-up of call %s: %w", id, err)
	}
	return nil
}
