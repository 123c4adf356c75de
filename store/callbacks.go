package store

import (
	"errors"
	"fmt"
	"time"

	bolt "go.etcd.io/bbolt"
)

// Callback states.
const (
	StatePending   = "pending"   // waiting to be dialled
	StateDialing   = "dialing"   // claimed by an agent or the auto-dialler
	StateDone      = "done"      // the customer was reached
	StateFailed    = "failed"    // gave up (e.g. max_attempts reached)
	StateCancelled = "cancelled" // withdrawn by an agent or admin
)

// Callback target kinds.
const (
	TargetAgent = "agent"
	TargetTeam  = "team"
)

// Callback is one entry of the callback queue: a caller who asked (or was
// offered) to be called back by an agent or a team.
type Callback struct {
	ID          string // assigned by AddCallback; sorts by creation time
	Firm        string
	Caller      string // number to call back
	CallerName  string
	TargetKind  string // TargetAgent or TargetTeam
	TargetID    string
	Created     time.Time
	Updated     time.Time
	NextAttempt time.Time // not offered by OldestPending before this time
	Attempts    int
	State       string // one of the State constants
	Note        string
	ClaimedBy   string // agent (or dialler) that holds the entry while dialing
}

func validState(s string) bool {
	switch s {
	case StatePending, StateDialing, StateDone, StateFailed, StateCancelled:
		return true
	}
	return false
}

func (c *Callback) validate() error {
	if err := checkSegs([]string{"firm", "caller", "target id"}, c.Firm, c.Caller, c.TargetID); err != nil {
		return err
	}
	if c.TargetKind != TargetAgent && c.TargetKind != TargetTeam {
		return fmt.Errorf("target kind %q is not %q or %q: %w", c.TargetKind, TargetAgent, TargetTeam, ErrInvalid)
	}
	if !validState(c.State) {
		return fmt.Errorf("state %q is not a callback state: %w", c.State, ErrInvalid)
	}
	if c.Attempts < 0 {
		return fmt.Errorf("attempts %d is negative: %w", c.Attempts, ErrInvalid)
	}
	return nil
}

// putCallback writes c and keeps the pending index in step with its state,
// so OldestPending never scans finished entries.
func putCallback(tx *bolt.Tx, c Callback) error {
	v, err := encodeCallback(c)
	if err != nil {
		return err
	}
	k := key(c.Firm)
	k = append(k, c.ID...)
	if err := tx.Bucket(bucketCallbacks).Put(k, v); err != nil {
		return err
	}
	idx := tx.Bucket(bucketPending)
	if c.State == StatePending {
		return idx.Put(k, nil)
	}
	return idx.Delete(k)
}

func callbackKey(firm, id string) []byte { return append(key(firm), id...) }

func getCallback(tx *bolt.Tx, firm, id string) (Callback, error) {
	v := tx.Bucket(bucketCallbacks).Get(callbackKey(firm, id))
	if v == nil {
		return Callback{}, ErrNotFound
	}
	return decodeCallback(v)
}

// AddCallback stores a new entry, committed with fsync before it returns
// (the caller has been promised a call back). It always assigns a fresh ID
// and sets Updated; Created defaults to now and State to StatePending. On
// success *c holds the stored record.
func (s *Store) AddCallback(c *Callback) error {
	if c == nil {
		return fmt.Errorf("add callback: nil record: %w", ErrInvalid)
	}
	rec := *c
	now := s.now()
	if rec.Created.IsZero() {
		rec.Created = now
	}
	rec.Updated = now
	if rec.State == "" {
		rec.State = StatePending
	}
	if err := rec.validate(); err != nil {
		return fmt.Errorf("add callback: %w", err)
	}
	err := s.update(func(tx *bolt.Tx) error {
		id, err := nextID(tx, bucketCallbacks, now, true)
		if err != nil {
			return err
		}
		rec.ID = id
		return putCallback(tx, rec)
	})
	if err != nil {
		return fmt.Errorf("add callback for %s in %s: %w", rec.Caller, rec.Firm, err)
	}
	*c = rec
	return nil
}

// GetCallback returns one entry of firm's queue, or ErrNotFound.
func (s *Store) GetCallback(firm, id string) (Callback, error) {
	if err := checkSegs([]string{"firm", "id"}, firm, id); err != nil {
		return Callback{}, fmt.Errorf("get callback: %w", err)
	}
	var c Callback
	err := s.view(func(tx *bolt.Tx) error {
		var err error
		c, err = getCallback(tx, firm, id)
		return err
	})
	if err != nil {
		return Callback{}, fmt.Errorf("get callback %s in %s: %w", id, firm, err)
	}
	return c, nil
}

// ListCallbacks lists firm's entries in state ("" for all states), newest
// first unless the page asks for oldest first. The limit counts matching
// entries only.
func (s *Store) ListCallbacks(firm, state string, p Page) ([]Callback, error) {
	if err := checkSegs([]string{"firm"}, firm); err != nil {
		return nil, fmt.Errorf("list callbacks: %w", err)
	}
	if state != "" && !validState(state) {
		return nil, fmt.Errorf("list callbacks: state %q is not a callback state: %w", state, ErrInvalid)
	}
	var out []Callback
	err := s.view(func(tx *bolt.Tx) error {
		// The pending index is small compared with the whole history, so
		// walk it when only pending entries are wanted.
		bucket, indexed := bucketCallbacks, false
		if state == StatePending {
			bucket, indexed = bucketPending, true
		}
		main := tx.Bucket(bucketCallbacks)
		c := tx.Bucket(bucket).Cursor()
		oldest := p.OldestFirst || p.After != ""
		return walk(c, key(firm), pageSpan(p), oldest, func(_ string, k, v []byte) (bool, error) {
			if indexed {
				if v = main.Get(k); v == nil {
					return false, fmt.Errorf("pending index points at missing callback: %w", ErrCorrupt)
				}
			}
			cb, err := decodeCallback(v)
			if err != nil {
				return false, err
			}
			if state != "" && cb.State != state {
				return false, nil
			}
			out = append(out, cb)
			return p.Limit > 0 && len(out) >= p.Limit, nil
		})
	})
	if err != nil {
		return nil, fmt.Errorf("list callbacks of %s: %w", firm, err)
	}
	return out, nil
}

// OldestPending returns the first-created pending entry for the target whose
// NextAttempt is not after now, or ErrNotFound. Empty targetKind and
// targetID match any target. It does not claim the entry: follow up with
// ClaimCallback, which fails with ErrConflict if someone was faster.
func (s *Store) OldestPending(firm, targetKind, targetID string, now time.Time) (Callback, error) {
	if err := checkSegs([]string{"firm"}, firm); err != nil {
		return Callback{}, fmt.Errorf("oldest pending callback: %w", err)
	}
	var found Callback
	err := s.view(func(tx *bolt.Tx) error {
		main := tx.Bucket(bucketCallbacks)
		c := tx.Bucket(bucketPending).Cursor()
		ok := false
		err := walk(c, key(firm), span{}, true, func(_ string, k, _ []byte) (bool, error) {
			v := main.Get(k)
			if v == nil {
				return false, fmt.Errorf("pending index points at missing callback: %w", ErrCorrupt)
			}
			cb, err := decodeCallback(v)
			if err != nil {
				return false, err
			}
			if (targetKind != "" && cb.TargetKind != targetKind) || (targetID != "" && cb.TargetID != targetID) ||
				cb.State != StatePending || cb.NextAttempt.After(now) {
				return false, nil
			}
			found, ok = cb, true
			return true, nil
		})
		if err == nil && !ok {
			err = ErrNotFound
		}
		return err
	})
	if err != nil {
		return Callback{}, fmt.Errorf("oldest pending callback for %s:%s in %s: %w", targetKind, targetID, firm, err)
	}
	return found, nil
}

// ClaimCallback atomically moves a pending entry to StateDialing, records
// who holds it and counts the attempt. If the entry is not pending (another
// agent or the dialler got it first, or it was finished) it returns an error
// wrapping ErrConflict; if it does not exist, ErrNotFound.
func (s *Store) ClaimCallback(firm, id, by string) (Callback, error) {
	if err := checkSegs([]string{"firm", "id", "claimant"}, firm, id, by); err != nil {
		return Callback{}, fmt.Errorf("claim callback: %w", err)
	}
	var c Callback
	err := s.update(func(tx *bolt.Tx) error {
		var err error
		if c, err = getCallback(tx, firm, id); err != nil {
			return err
		}
		if c.State != StatePending {
			return fmt.Errorf("callback is %s (claimed by %q), not pending: %w", c.State, c.ClaimedBy, ErrConflict)
		}
		c.State = StateDialing
		c.ClaimedBy = by
		c.Attempts++
		c.Updated = s.now()
		return putCallback(tx, c)
	})
	if err != nil {
		return Callback{}, fmt.Errorf("claim callback %s in %s for %s: %w", id, firm, by, err)
	}
	return c, nil
}

// The transitions below are the one home of the rules for moving an entry after
// its claim (ClaimCallback), shared by the API (agents and admins) and the
// automatic dialer. Each checks the entry's state and returns an error wrapping
// ErrConflict when it does not allow the move; use them inside UpdateCallback.

// Unclaim gives a claimed entry back: pending again, and the claim's attempt is
// not counted (the customer was not called).
func (c *Callback) Unclaim() error {
	if c.State != StateDialing {
		return fmt.Errorf("callback is %s, not claimed: %w", c.State, ErrConflict)
	}
	c.State = StatePending
	c.ClaimedBy = ""
	c.Attempts = max(0, c.Attempts-1)
	return nil
}

// Unanswered ends a claimed attempt on which the customer did not answer: the
// attempt counts, and the entry fails once maxAttempts (if > 0) attempts were
// made, otherwise it is pending again. It reports whether the entry will be
// tried again.
func (c *Callback) Unanswered(maxAttempts int) (retry bool, err error) {
	if c.State != StateDialing {
		return false, fmt.Errorf("callback is %s, not claimed: %w", c.State, ErrConflict)
	}
	c.ClaimedBy = ""
	if maxAttempts > 0 && c.Attempts >= maxAttempts {
		c.State = StateFailed
		return false, nil
	}
	c.State = StatePending
	return true, nil
}

// Close ends an open entry (pending or claimed) as StateDone, StateFailed or
// StateCancelled.
func (c *Callback) Close(state string) error {
	if c.State != StatePending && c.State != StateDialing {
		return fmt.Errorf("callback is already %s: %w", c.State, ErrConflict)
	}
	c.State = state
	return nil
}

// errImmutable is returned when an update function changes a key field.
var errImmutable = errors.New("ID and Firm cannot be changed")

// UpdateCallback applies fn to the stored entry and writes the result in the
// same transaction (with fsync), so concurrent updates cannot lose each
// other's changes. If fn returns an error nothing is written and that error
// is returned wrapped. Updated is set automatically. fn runs inside the write
// transaction: it must be quick and must not call other Store methods.
func (s *Store) UpdateCallback(firm, id string, fn func(*Callback) error) (Callback, error) {
	if err := checkSegs([]string{"firm", "id"}, firm, id); err != nil {
		return Callback{}, fmt.Errorf("update callback: %w", err)
	}
	if fn == nil {
		return Callback{}, fmt.Errorf("update callback: nil function: %w", ErrInvalid)
	}
	var c Callback
	err := s.update(func(tx *bolt.Tx) error {
		var err error
		if c, err = getCallback(tx, firm, id); err != nil {
			return err
		}
		if err := fn(&c); err != nil {
			return err
		}
		if c.ID != id || c.Firm != firm {
			return fmt.Errorf("%w: %w", errImmutable, ErrInvalid)
		}
		if err := c.validate(); err != nil {
			return err
		}
		c.Updated = s.now()
		return putCallback(tx, c)
	})
	if err != nil {
		return Callback{}, fmt.Errorf("update callback %s in %s: %w", id, firm, err)
	}
	return c, nil
}
