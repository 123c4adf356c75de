package store

import (
	"fmt"

	bolt "go.etcd.io/bbolt"
)

// GetSetting returns the value stored under key, or ErrNotFound. Settings
// are global (not per firm): the admin token and similar PBX-wide state.
func (s *Store) GetSetting(key string) (string, error) {
	if err := checkSegs([]string{"setting key"}, key); err != nil {
		return "", fmt.Errorf("get setting: %w", err)
	}
	var val string
	err := s.view(func(tx *bolt.Tx) error {
		v := tx.Bucket(bucketSettings).Get([]byte(key))
		if v == nil {
			return ErrNotFound
		}
		var err error
		val, err = decodeSetting(v)
		return err
	})
	if err != nil {
		return "", fmt.Errorf("get setting %q: %w", key, err)
	}
	return val, nil
}

// PutSetting stores value under key, committed with fsync.
func (s *Store) PutSetting(key, value string) error {
	if err := checkSegs([]string{"setting key"}, key); err != nil {
		return fmt.Errorf("put setting: %w", err)
	}
	v, err := encodeSetting(value)
	if err != nil {
		return fmt.Errorf("put setting %q: %w", key, err)
	}
	err = s.update(func(tx *bolt.Tx) error {
		return tx.Bucket(bucketSettings).Put([]byte(key), v)
	})
	if err != nil {
		return fmt.Errorf("put setting %q: %w", key, err)
	}
	return nil
}
