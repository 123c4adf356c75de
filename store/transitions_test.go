package store

import (
	"errors"
	"testing"
)

// The rules after a claim: a decline gives the attempt back, an unanswered
// attempt counts until max_attempts, only open entries close.
func TestCallbackTransitions(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name         string
		from         Callback
		move         func(*Callback) (bool, error)
		wantState    string
		wantAttempts int
		wantRetry    bool
		wantConflict bool
	}{
		{"decline gives the attempt back", Callback{State: StateDialing, ClaimedBy: "auto:alice", Attempts: 2},
			func(c *Callback) (bool, error) { return true, c.Unclaim() }, StatePending, 1, true, false},
		{"decline of the first attempt", Callback{State: StateDialing, ClaimedBy: "alice", Attempts: 0},
			func(c *Callback) (bool, error) { return true, c.Unclaim() }, StatePending, 0, true, false},
		{"decline of an unclaimed entry", Callback{State: StatePending, Attempts: 1},
			func(c *Callback) (bool, error) { return true, c.Unclaim() }, StatePending, 1, true, true},
		{"unanswered, attempts left", Callback{State: StateDialing, ClaimedBy: "auto:alice", Attempts: 2},
			func(c *Callback) (bool, error) { return c.Unanswered(3) }, StatePending, 2, true, false},
		{"unanswered, last attempt", Callback{State: StateDialing, ClaimedBy: "auto:alice", Attempts: 3},
			func(c *Callback) (bool, error) { return c.Unanswered(3) }, StateFailed, 3, false, false},
		{"unanswered, no limit", Callback{State: StateDialing, ClaimedBy: "auto:alice", Attempts: 50},
			func(c *Callback) (bool, error) { return c.Unanswered(0) }, StatePending, 50, true, false},
		{"unanswered after a cancel", Callback{State: StateCancelled, Attempts: 1},
			func(c *Callback) (bool, error) { return c.Unanswered(3) }, StateCancelled, 1, false, true},
		{"done while claimed", Callback{State: StateDialing, ClaimedBy: "alice", Attempts: 1},
			func(c *Callback) (bool, error) { return false, c.Close(StateDone) }, StateDone, 1, false, false},
		{"cancel while pending", Callback{State: StatePending},
			func(c *Callback) (bool, error) { return false, c.Close(StateCancelled) }, StateCancelled, 0, false, false},
		{"done twice", Callback{State: StateDone, Attempts: 1},
			func(c *Callback) (bool, error) { return false, c.Close(StateDone) }, StateDone, 1, false, true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			c := tc.from
			retry, err := tc.move(&c)
			if errors.Is(err, ErrConflict) != tc.wantConflict {
				t.Fatalf("err = %v, want conflict %v", err, tc.wantConflict)
			}
			if c.State != tc.wantState || c.Attempts != tc.wantAttempts || (err == nil && retry != tc.wantRetry) {
				t.Errorf("after: %s, %d attempts, retry %v; want %s, %d, %v", c.State, c.Attempts, retry, tc.wantState, tc.wantAttempts, tc.wantRetry)
			}
			if err == nil && c.State != StateDone && c.State != StateCancelled && c.ClaimedBy != "" {
				t.Errorf("still claimed by %q", c.ClaimedBy)
			}
		})
	}
}
