package store

import (
	"bytes"
	"fmt"
	"switchboard/callinfo"

	bolt "go.etcd.io/bbolt"
)

// SetAgentStatus records an agent's status (online, away, offline, ...).
// The change is committed with fsync before it returns, because the agent
// is told it took effect and it must survive a restart.
func (s *Store) SetAgentStatus(firm, agent string, status callinfo.Status) error {
	if err := checkSegs([]string{"firm", "agent", "status"}, firm, agent, string(status)); err != nil {
		return fmt.Errorf("set agent status: %w", err)
	}
	v, err := encodeStatus(statusDisk{Firm: firm, Agent: agent, Status: string(status), Updated: s.now()})
	if err != nil {
		return fmt.Errorf("set agent status %s@%s: %w", agent, firm, err)
	}
	err = s.update(func(tx *bolt.Tx) error {
		return tx.Bucket(bucketAgentStatus).Put(key(firm, agent), v)
	})
	if err != nil {
		return fmt.Errorf("set agent status %s@%s: %w", agent, firm, err)
	}
	return nil
}

// AgentStatuses returns the stored status of every agent of firm that has
// one, keyed by agent ID. Agents never set keep their configured default,
// which the caller knows and the store does not.
func (s *Store) AgentStatuses(firm string) (map[string]callinfo.Status, error) {
	if err := checkSegs([]string{"firm"}, firm); err != nil {
		return nil, fmt.Errorf("agent statuses: %w", err)
	}
	out := make(map[string]callinfo.Status)
	prefix := key(firm)
	err := s.view(func(tx *bolt.Tx) error {
		c := tx.Bucket(bucketAgentStatus).Cursor()
		for k, v := c.Seek(prefix); k != nil && bytes.HasPrefix(k, prefix); k, v = c.Next() {
			d, err := decodeStatus(v)
			if err != nil {
				return err
			}
			out[d.Agent] = callinfo.Status(d.Status)
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("agent statuses of %s: %w", firm, err)
	}
	return out, nil
}
