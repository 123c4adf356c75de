package store

import (
	"fmt"
	"time"

	bolt "go.etcd.io/bbolt"
)

// Registration is one SIP contact binding of a user (agent phone).
type Registration struct {
	Firm      string
	User      string
	Contact   string // contact URI exactly as registered
	Source    string // ip:port the REGISTER came from
	Transport string
	Expires   time.Time
	CallID    string
	CSeq      uint32
	UserAgent string
	Instance  string // +sip.instance, if the phone sent one
}

func regKey(firm, user, contact string) []byte { return key(firm, user, contact) }

// PutRegistration creates or replaces the binding keyed by firm, user and
// contact. Refreshes are frequent and a lost one is repaired by the phone's
// next REGISTER, so concurrent calls share one commit (bbolt Batch) instead
// of paying an fsync each; PutRegistration still returns only once the
// batch is on disk.
func (s *Store) PutRegistration(r Registration) error {
	if err := checkSegs([]string{"firm", "user", "contact"}, r.Firm, r.User, r.Contact); err != nil {
		return fmt.Errorf("put registration: %w", err)
	}
	v, err := encodeRegistration(r)
	if err != nil {
		return fmt.Errorf("put registration %s@%s %s: %w", r.User, r.Firm, r.Contact, err)
	}
	k := regKey(r.Firm, r.User, r.Contact)
	err = s.batch(func(tx *bolt.Tx) error {
		return tx.Bucket(bucketRegistrations).Put(k, v)
	})
	if err != nil {
		return fmt.Errorf("put registration %s@%s %s: %w", r.User, r.Firm, r.Contact, err)
	}
	return nil
}

// DeleteRegistration removes one binding. It returns ErrNotFound if there
// was none, which callers handling an un-REGISTER may ignore.
func (s *Store) DeleteRegistration(firm, user, contact string) error {
	if err := checkSegs([]string{"firm", "user", "contact"}, firm, user, contact); err != nil {
		return fmt.Errorf("delete registration: %w", err)
	}
	k := regKey(firm, user, contact)
	err := s.update(func(tx *bolt.Tx) error {
		b := tx.Bucket(bucketRegistrations)
		if b.Get(k) == nil {
			return ErrNotFound
		}
		return b.Delete(k)
	})
	if err != nil {
		return fmt.Errorf("delete registration %s@%s %s: %w", user, firm, contact, err)
	}
	return nil
}

// ListRegistrations returns every stored binding of every firm, including
// expired ones not yet purged; callers compare Expires themselves.
func (s *Store) ListRegistrations() ([]Registration, error) {
	var out []Registration
	err := s.view(func(tx *bolt.Tx) error {
		return tx.Bucket(bucketRegistrations).ForEach(func(_, v []byte) error {
			r, err := decodeRegistration(v)
			if err != nil {
				return err
			}
			out = append(out, r)
			return nil
		})
	})
	if err != nil {
		return nil, fmt.Errorf("list registrations: %w", err)
	}
	return out, nil
}

// PurgeExpiredRegistrations deletes bindings whose Expires is not after now
// and reports how many it removed.
func (s *Store) PurgeExpiredRegistrations(now time.Time) (int, error) {
	n := 0
	err := s.update(func(tx *bolt.Tx) error {
		b := tx.Bucket(bucketRegistrations)
		// Deleting while a cursor walks the bucket can skip items in bbolt,
		// so collect the keys first (copied: they point into the mmap).
		var expired [][]byte
		err := b.ForEach(func(k, v []byte) error {
			r, err := decodeRegistration(v)
			if err != nil {
				return err
			}
			if !r.Expires.After(now) {
				expired = append(expired, append([]byte(nil), k...))
			}
			return nil
		})
		if err != nil {
			return err
		}
		for _, k := range expired {
			if err := b.Delete(k); err != nil {
				return err
			}
		}
		n = len(expired)
		return nil
	})
	if err != nil {
		return 0, fmt.Errorf("purge expired registrations: %w", err)
	}
	return n, nil
}

// RegistrationKey names one binding for ApplyRegistrations.
type RegistrationKey struct{ Firm, User, Contact string }

// ApplyRegistrations writes many binding changes in one commit: the registrar's
// write-behind flush. Deletes of bindings that are not stored are ignored.
func (s *Store) ApplyRegistrations(puts []Registration, deletes []RegistrationKey) error {
	type kv struct{ k, v []byte }
	enc := make([]kv, 0, len(puts))
	for _, r := range puts {
		if err := checkSegs([]string{"firm", "user", "contact"}, r.Firm, r.User, r.Contact); err != nil {
			return fmt.Errorf("apply registrations: %w", err)
		}
		v, err := encodeRegistration(r)
		if err != nil {
			return fmt.Errorf("apply registrations: %s@%s %s: %w", r.User, r.Firm, r.Contact, err)
		}
		enc = append(enc, kv{regKey(r.Firm, r.User, r.Contact), v})
	}
	for _, d := range deletes {
		if err := checkSegs([]string{"firm", "user", "contact"}, d.Firm, d.User, d.Contact); err != nil {
			return fmt.Errorf("apply registrations: %w", err)
		}
	}
	err := s.update(func(tx *bolt.Tx) error {
		b := tx.Bucket(bucketRegistrations)
		for _, d := range deletes {
			if err := b.Delete(regKey(d.Firm, d.User, d.Contact)); err != nil {
				return err
			}
		}
		for _, e := range enc {
			if err := b.Put(e.k, e.v); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("apply registrations: %w", err)
	}
	return nil
}
