package store

import (
	"fmt"
	"time"

	bolt "go.etcd.io/bbolt"
)

// Voicemail is the index entry of one recorded message; the audio itself is
// a WAV file at File.
type Voicemail struct {
	ID       string // assigned by AddVoicemail; sorts by when it was stored
	Firm     string
	Mailbox  string
	Caller   string
	Time     time.Time // when the message was left
	Duration time.Duration
	File     string // path of the WAV file
	Codec    string // e.g. PCMU or PCMA
	Read     bool
}

func voicemailKey(firm, mailbox, id string) []byte { return append(key(firm, mailbox), id...) }

// AddVoicemail indexes a recorded message, committed with fsync before it
// returns. Write it after the WAV file has been renamed into place. It
// assigns v.ID and defaults v.Time to now.
func (s *Store) AddVoicemail(v *Voicemail) error {
	if v == nil {
		return fmt.Errorf("add voicemail: nil record: %w", ErrInvalid)
	}
	if err := checkSegs([]string{"firm", "mailbox", "file"}, v.Firm, v.Mailbox, v.File); err != nil {
		return fmt.Errorf("add voicemail: %w", err)
	}
	rec := *v
	now := s.now()
	if rec.Time.IsZero() {
		rec.Time = now
	}
	err := s.update(func(tx *bolt.Tx) error {
		id, err := nextID(tx, bucketVoicemail, now, true)
		if err != nil {
			return err
		}
		rec.ID = id
		val, err := encodeVoicemail(rec)
		if err != nil {
			return err
		}
		return tx.Bucket(bucketVoicemail).Put(voicemailKey(rec.Firm, rec.Mailbox, id), val)
	})
	if err != nil {
		return fmt.Errorf("add voicemail to %s@%s: %w", rec.Mailbox, rec.Firm, err)
	}
	*v = rec
	return nil
}

// ListVoicemail returns the messages of one mailbox, newest first.
func (s *Store) ListVoicemail(firm, mailbox string) ([]Voicemail, error) {
	if err := checkSegs([]string{"firm", "mailbox"}, firm, mailbox); err != nil {
		return nil, fmt.Errorf("list voicemail: %w", err)
	}
	var out []Voicemail
	err := s.view(func(tx *bolt.Tx) error {
		c := tx.Bucket(bucketVoicemail).Cursor()
		return walk(c, key(firm, mailbox), span{}, false, func(_ string, _, v []byte) (bool, error) {
			vm, err := decodeVoicemail(v)
			if err != nil {
				return false, err
			}
			out = append(out, vm)
			return false, nil
		})
	})
	if err != nil {
		return nil, fmt.Errorf("list voicemail of %s@%s: %w", mailbox, firm, err)
	}
	return out, nil
}

// GetVoicemail returns one message, or ErrNotFound.
func (s *Store) GetVoicemail(firm, mailbox, id string) (Voicemail, error) {
	if err := checkSegs([]string{"firm", "mailbox", "id"}, firm, mailbox, id); err != nil {
		return Voicemail{}, fmt.Errorf("get voicemail: %w", err)
	}
	var vm Voicemail
	err := s.view(func(tx *bolt.Tx) error {
		v := tx.Bucket(bucketVoicemail).Get(voicemailKey(firm, mailbox, id))
		if v == nil {
			return ErrNotFound
		}
		var err error
		vm, err = decodeVoicemail(v)
		return err
	})
	if err != nil {
		return Voicemail{}, fmt.Errorf("get voicemail %s in %s@%s: %w", id, mailbox, firm, err)
	}
	return vm, nil
}

// MarkVoicemailRead sets or clears a message's read flag (with fsync, since
// the message-waiting lamp follows it).
func (s *Store) MarkVoicemailRead(firm, mailbox, id string, read bool) error {
	if err := checkSegs([]string{"firm", "mailbox", "id"}, firm, mailbox, id); err != nil {
		return fmt.Errorf("mark voicemail: %w", err)
	}
	k := voicemailKey(firm, mailbox, id)
	err := s.update(func(tx *bolt.Tx) error {
		b := tx.Bucket(bucketVoicemail)
		v := b.Get(k)
		if v == nil {
			return ErrNotFound
		}
		vm, err := decodeVoicemail(v)
		if err != nil {
			return err
		}
		if vm.Read == read {
			return nil
		}
		vm.Read = read
		val, err := encodeVoicemail(vm)
		if err != nil {
			return err
		}
		return b.Put(k, val)
	})
	if err != nil {
		return fmt.Errorf("mark voicemail %s in %s@%s: %w", id, mailbox, firm, err)
	}
	return nil
}

// DeleteVoicemail removes a message from the index and returns the removed
// entry so the caller can delete its WAV file. Removing the index entry
// first means a crash in between leaves an orphan file, never an entry
// pointing at nothing.
func (s *Store) DeleteVoicemail(firm, mailbox, id string) (Voicemail, error) {
	if err := checkSegs([]string{"firm", "mailbox", "id"}, firm, mailbox, id); err != nil {
		return Voicemail{}, fmt.Errorf("delete voicemail: %w", err)
	}
	k := voicemailKey(firm, mailbox, id)
	var vm Voicemail
	err := s.update(func(tx *bolt.Tx) error {
		b := tx.Bucket(bucketVoicemail)
		v := b.Get(k)
		if v == nil {
			return ErrNotFound
		}
		var err error
		if vm, err = decodeVoicemail(v); err != nil {
			return err
		}
		return b.Delete(k)
	})
	if err != nil {
		return Voicemail{}, fmt.Errorf("delete voicemail %s in %s@%s: %w", id, mailbox, firm, err)
	}
	return vm, nil
}

// VoicemailCounts returns the numbers of unread (new) and read (old)
// messages in a mailbox, as MWI reports them.
func (s *Store) VoicemailCounts(firm, mailbox string) (newCount, oldCount int, err error) {
	list, err := s.ListVoicemail(firm, mailbox)
	if err != nil {
		return 0, 0, fmt.Errorf("voicemail counts: %w", err)
	}
	for _, vm := range list {
		if vm.Read {
			oldCount++
		} else {
			newCount++
		}
	}
	return newCount, oldCount, nil
}
