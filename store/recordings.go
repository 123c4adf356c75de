package store

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"time"

	bolt "go.etcd.io/bbolt"
)

// Recording is the index entry of one call recording; the audio is a stereo
// WAV file at File. ID is the call's id (one recording per call), so it sorts
// by the call's start.
type Recording struct {
	ID    string
	Firm  string
	Call  string // the call log entry's id
	Agent string // the agent who took the call (or placed an outbound one)
	// CallerAgent is the agent whose phone placed the call, if any: agents may
	// fetch the recordings of calls they took and of calls they placed.
	CallerAgent string
	Team        string
	Start       time.Time // when recording began
	Duration    time.Duration
	File        string
	Size        int64 // bytes of the file
}

// RecordingQuery filters and pages ListRecordings, newest first. Zero fields
// do not filter.
type RecordingQuery struct {
	// Limit caps the number of entries returned; 0 or less means no cap.
	Limit int
	// Before continues a listing below this ID (the last ID of the previous
	// page).
	Before      string
	Agent, Team string
	// After and Until select recordings with After <= Start < Until.
	After, Until time.Time
	// Allow, when set, keeps only the entries it accepts (the API's
	// authorization); Limit counts accepted entries.
	Allow func(Recording) bool
}

func recordingKey(firm, id string) []byte { return append(key(firm), id...) }

// AddRecording indexes a finished recording (committed with fsync). Write it
// after the file is complete and synced. Adding an ID again replaces the entry:
// a recovery at start may index a recording whose call had done so already.
func (s *Store) AddRecording(r *Recording) error {
	if r == nil {
		return fmt.Errorf("add recording: nil record: %w", ErrInvalid)
	}
	if err := checkSegs([]string{"firm", "file"}, r.Firm, r.File); err != nil {
		return fmt.Errorf("add recording: %w", err)
	}
	if !ValidID(r.ID) {
		return fmt.Errorf("add recording: malformed id %q: %w", r.ID, ErrInvalid)
	}
	v, err := encodeRecording(*r)
	if err != nil {
		return err
	}
	err = s.update(func(tx *bolt.Tx) error {
		return tx.Bucket(bucketRecordings).Put(recordingKey(r.Firm, r.ID), v)
	})
	if err != nil {
		return fmt.Errorf("add recording %s in %s: %w", r.ID, r.Firm, err)
	}
	return nil
}

// GetRecording returns one recording of firm, or ErrNotFound.
func (s *Store) GetRecording(firm, id string) (Recording, error) {
	if err := checkSegs([]string{"firm", "id"}, firm, id); err != nil {
		return Recording{}, fmt.Errorf("get recording: %w", err)
	}
	var r Recording
	err := s.view(func(tx *bolt.Tx) error {
		v := tx.Bucket(bucketRecordings).Get(recordingKey(firm, id))
		if v == nil {
			return ErrNotFound
		}
		var err error
		r, err = decodeRecording(v)
		return err
	})
	if err != nil {
		return Recording{}, fmt.Errorf("get recording %s in %s: %w", id, firm, err)
	}
	return r, nil
}

// ListRecordings returns recordings of firm, newest first.
func (s *Store) ListRecordings(firm string, q RecordingQuery) ([]Recording, error) {
	if err := checkSegs([]string{"firm"}, firm); err != nil {
		return nil, fmt.Errorf("list recordings: %w", err)
	}
	sp := span{hi: q.Before}
	if !q.Until.IsZero() {
		if u := timeBound(q.Until); sp.hi == "" || u < sp.hi {
			sp.hi = u
		}
	}
	var out []Recording
	err := s.view(func(tx *bolt.Tx) error {
		c := tx.Bucket(bucketRecordings).Cursor()
		return walk(c, key(firm), sp, false, func(_ string, _, v []byte) (bool, error) {
			r, err := decodeRecording(v)
			if err != nil {
				return false, err
			}
			switch {
			// IDs sort by the call's start, and a recording starts any time
			// after its call (a queued call: when answered): an earlier call
			// further down may still have been recorded after q.After, so
			// the walk cannot stop at the first recording before it.
			case !q.After.IsZero() && r.Start.Before(q.After),
				!q.Until.IsZero() && !r.Start.Before(q.Until),
				q.Agent != "" && r.Agent != q.Agent && r.CallerAgent != q.Agent,
				q.Team != "" && r.Team != q.Team,
				q.Allow != nil && !q.Allow(r):
				return false, nil
			}
			out = append(out, r)
			return q.Limit > 0 && len(out) >= q.Limit, nil
		})
	})
	if err != nil {
		return nil, fmt.Errorf("list recordings of %s: %w", firm, err)
	}
	return out, nil
}

// DeleteRecording removes an entry and returns it, so that the caller can
// remove its file; ErrNotFound when there is none.
func (s *Store) DeleteRecording(firm, id string) (Recording, error) {
	if err := checkSegs([]string{"firm", "id"}, firm, id); err != nil {
		return Recording{}, fmt.Errorf("delete recording: %w", err)
	}
	var r Recording
	err := s.update(func(tx *bolt.Tx) error {
		b := tx.Bucket(bucketRecordings)
		k := recordingKey(firm, id)
		v := b.Get(k)
		if v == nil {
			return ErrNotFound
		}
		var err error
		if r, err = decodeRecording(v); err != nil {
			return err
		}
		return b.Delete(k)
	})
	if err != nil {
		return Recording{}, fmt.Errorf("delete recording %s in %s: %w", id, firm, err)
	}
	return r, nil
}

// RecordingsBefore returns up to limit recordings of every firm that began
// before t (retention), oldest first within each firm.
func (s *Store) RecordingsBefore(t time.Time, limit int) ([]Recording, error) {
	bound := timeBound(t)
	var out []Recording
	err := s.view(func(tx *bolt.Tx) error {
		c := tx.Bucket(bucketRecordings).Cursor()
		k, v := c.First()
		for k != nil && (limit <= 0 || len(out) < limit) {
			l, n := binary.Uvarint(k)
			if n <= 0 || uint64(len(k)-n) < l {
				return fmt.Errorf("recording key %x: %w", k, ErrCorrupt)
			}
			prefix := k[:n+int(l)]
			if string(k[len(prefix):]) >= bound {
				// The rest of this firm is newer: on to the next firm.
				k, v = c.Seek(append(bytes.Clone(prefix), idEnd))
				continue
			}
			r, err := decodeRecording(v)
			if err != nil {
				return err
			}
			if r.Start.Before(t) {
				out = append(out, r)
			}
			k, v = c.Next()
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("recordings before %s: %w", t.Format(time.RFC3339), err)
	}
	return out, nil
}
