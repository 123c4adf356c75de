// Package store is Switchboard's persistent state: registrations, agent
// status, the callback queue, the call log, the voicemail and call recording
// indexes and settings, all in one bbolt file.
//
// Every record kind lives in its own bucket. Keys start with the firm so that
// one firm's records are contiguous and never leak into another firm's lists,
// and list keys end in a time-sortable ID so pages are cheap cursor walks.
// Values are JSON with a "v" format version (see codec.go). Callers only see
// typed methods, so another backend can implement the same surface later.
//
// The callback entry's transitions after a claim (Unclaim, Unanswered, Close)
// live here, next to ClaimCallback, so that the API and the automatic dialer
// follow the same rules. Outcomes, directions and statuses are the types of
// package callinfo, the one package of ours that store imports.
package store

import (
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sync/atomic"
	"time"

	bolt "go.etcd.io/bbolt"
	bolterrors "go.etcd.io/bbolt/errors"
)

// ErrNotFound reports that the requested record does not exist.
var ErrNotFound = errors.New("store: not found")

// ErrConflict reports that a record was not in the state an operation needed,
// e.g. claiming a callback that is no longer pending.
var ErrConflict = errors.New("store: conflict")

// ErrLocked reports that the database file is held by another process (or
// another Store in this process).
var ErrLocked = errors.New("store: database locked")

// ErrInvalid reports a record or argument the store refuses to write.
var ErrInvalid = errors.New("store: invalid argument")

// ErrVersion reports a stored value written in a format version this build
// does not understand (typically by a newer Switchboard).
var ErrVersion = errors.New("store: unsupported record version")

// ErrCorrupt reports a stored value that cannot be decoded.
var ErrCorrupt = errors.New("store: corrupt record")

// lockTimeout bounds how long Open waits for the file lock; bbolt would
// otherwise block forever when a second PBX is started on the same data dir.
const lockTimeout = time.Second

// maxSegment caps one key component; bbolt keys are limited to 32 KiB and no
// SIP identifier legitimately comes close.
const maxSegment = 1024

var (
	bucketRegistrations = []byte("registrations")
	bucketAgentStatus   = []byte("agent_status")
	bucketCallbacks     = []byte("callbacks")
	bucketPending       = []byte("callbacks_pending") // index: firm|id -> nil, pending entries only
	bucketCalls         = []byte("calls")             // id -> record, global time order
	bucketCallsByFirm   = []byte("calls_by_firm")     // index: firm|id -> nil
	bucketVoicemail     = []byte("voicemail")
	bucketSettings      = []byte("settings")
	bucketRecordings    = []byte("recordings") // firm|id -> call recording
	bucketMeta          = []byte("meta")

	allBuckets = [][]byte{
		bucketRegistrations, bucketAgentStatus, bucketCallbacks, bucketPending,
		bucketCalls, bucketCallsByFirm, bucketVoicemail, bucketSettings, bucketMeta, bucketRecordings,
	}
)

// Store is an open Switchboard database. It is safe for concurrent use.
type Store struct {
	db   *bolt.DB
	path string
	// now is the clock; tests in this package replace it to force ID ties.
	now func() time.Time
	// afterClose counts operations tried on the closed database.
	afterClose atomic.Uint64
	calls      *callWriter
}

// Open opens (creating if needed) the database at path, creating missing
// parent directories. If another process holds the file, Open gives up after
// about a second with an error wrapping ErrLocked.
func Open(path string) (*Store, error) {
	if path == "" {
		return nil, fmt.Errorf("open database: empty path: %w", ErrInvalid)
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o750); err != nil {
		return nil, fmt.Errorf("open database %s: create directory: %w", path, err)
	}
	// 0600: the settings bucket holds secrets such as the admin token.
	db, err := bolt.Open(path, 0o600, &bolt.Options{Timeout: lockTimeout})
	if err != nil {
		if errors.Is(err, bolterrors.ErrTimeout) {
			return nil, fmt.Errorf("database %s is in use by another process: %w", path, ErrLocked)
		}
		return nil, fmt.Errorf("open database %s: %w", path, err)
	}
	// A commit costs two fdatasyncs whatever it carries, about 1 ms of CPU
	// here. Writes that go through Batch (new registrations) wait up to
	// batchDelay to share one: with bbolt's 10 ms, a tenth of a call's CPU at
	// 500 calls/s went to commits when call records went this way too
	// (bench/README.md). Each still returns only once it is on disk. Call
	// records have a writer of their own (callWriter).
	db.MaxBatchDelay = batchDelay
	err = db.Update(func(tx *bolt.Tx) error {
		for _, name := range allBuckets {
			if _, err := tx.CreateBucketIfNotExists(name); err != nil {
				return fmt.Errorf("create bucket %s: %w", name, err)
			}
		}
		return nil
	})
	if err != nil {
		_ = db.Close()
		return nil, fmt.Errorf("open database %s: %w", path, err)
	}
	s := &Store{db: db, path: path, now: time.Now}
	s.startCallWriter()
	return s, nil
}

// Close commits the call records still waiting for their commit, and
// releases the database file and its lock.
func (s *Store) Close() error {
	s.closeCallWriter()
	if err := s.db.Close(); err != nil {
		return fmt.Errorf("close database %s: %w", s.path, err)
	}
	return nil
}

// ClosedUses counts reads and writes tried after Close: each one is a caller that
// outlived the database (Shutdown order), which tests check stays zero.
func (s *Store) ClosedUses() uint64 { return s.afterClose.Load() }

// update, view and batch run a transaction and count the ones the closed database refused.
func (s *Store) update(fn func(*bolt.Tx) error) error { return s.counted(s.db.Update(fn)) }

func (s *Store) view(fn func(*bolt.Tx) error) error { return s.counted(s.db.View(fn)) }

// batchDelay is how long a Batch write waits for others to share its commit.
// A phone's first REGISTER is answered this late; twice that (a REGISTER
// arriving while the registrations' periodic flush waits for a batch) is still
// well inside SIP's T1 (500 ms), after which a phone would retransmit.
const batchDelay = 100 * time.Millisecond

func (s *Store) batch(fn func(*bolt.Tx) error) error { return s.counted(s.db.Batch(fn)) }

func (s *Store) counted(err error) error {
	if errors.Is(err, bolterrors.ErrDatabaseNotOpen) {
		s.afterClose.Add(1)
	}
	return err
}

// Path returns the database file path.
func (s *Store) Path() string { return s.path }

// appendSeg appends a length-prefixed key component. Length prefixes (rather
// than separators) keep keys unambiguous whatever bytes a SIP URI contains,
// and make "firm X" a prefix that no other firm's keys share.
func appendSeg(dst []byte, seg string) []byte {
	dst = binary.AppendUvarint(dst, uint64(len(seg)))
	return append(dst, seg...)
}

// key builds a composite key from components.
func key(segs ...string) []byte {
	n := 0
	for _, s := range segs {
		n += len(s) + binary.MaxVarintLen16
	}
	k := make([]byte, 0, n)
	for _, s := range segs {
		k = appendSeg(k, s)
	}
	return k
}

// checkSegs validates required key components.
func checkSegs(names []string, vals ...string) error {
	for i, v := range vals {
		if v == "" {
			return fmt.Errorf("%s is empty: %w", names[i], ErrInvalid)
		}
		if len(v) > maxSegment {
			return fmt.Errorf("%s is longer than %d bytes: %w", names[i], maxSegment, ErrInvalid)
		}
	}
	return nil
}

// idLen is the length of IDs made by makeID: 16 hex digits of big-endian
// unix nanoseconds, then the low 32 bits of a per-bucket sequence that
// breaks ties between records stamped in the same nanosecond (coarse clocks
// do that often). A wrap of those bits could only misorder two records with
// the same timestamp written four billion inserts apart.
const idLen = 24

// CallID makes the ID a call record will get, known while the call is still live
// (the API answers click-to-call with it): t is the call's start, n a number
// unique among calls starting in the same nanosecond.
func CallID(t time.Time, n uint32) string { return makeID(t.UnixNano(), uint64(n)) }

// ValidID reports whether id has the shape of the IDs the store gives (calls,
// callbacks, voicemail).
func ValidID(id string) bool {
	if len(id) != idLen {
		return false
	}
	for i := 0; i < len(id); i++ {
		// Lower-case only: IDs are compared as strings, and "A" sorts before "a".
		if c := id[i]; (c < '0' || c > '9') && (c < 'a' || c > 'f') {
			return false
		}
	}
	return true
}

// makeID formats a time-sortable ID. Hex keeps IDs printable for the CLI and
// URLs while sorting bytewise in time order.
func makeID(ns int64, seq uint64) string {
	var b [12]byte
	binary.BigEndian.PutUint64(b[:8], uint64(ns))
	binary.BigEndian.PutUint32(b[8:], uint32(seq))
	return hex.EncodeToString(b[:])
}

// nextID assigns a new ID from the sequence of bucket name at time t. With
// monotonic set, the timestamp never goes below the last one issued for that
// bucket, so a wall clock stepping backwards (NTP) cannot reorder the queue.
func nextID(tx *bolt.Tx, name []byte, t time.Time, monotonic bool) (string, error) {
	if t.Before(time.Unix(0, 0)) {
		return "", fmt.Errorf("timestamp %s is before 1970: %w", t, ErrInvalid)
	}
	ns := t.UnixNano()
	if monotonic {
		meta := tx.Bucket(bucketMeta)
		mk := append([]byte("last_ns/"), name...)
		if v := meta.Get(mk); len(v) == 8 {
			if last := int64(binary.BigEndian.Uint64(v)); last > ns {
				ns = last
			}
		}
		var v [8]byte
		binary.BigEndian.PutUint64(v[:], uint64(ns))
		if err := meta.Put(mk, v[:]); err != nil {
			return "", fmt.Errorf("record last timestamp: %w", err)
		}
	}
	seq, err := tx.Bucket(name).NextSequence()
	if err != nil {
		return "", fmt.Errorf("next sequence: %w", err)
	}
	return makeID(ns, seq), nil
}
