package callinfo

import "testing"

func TestCauseString(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		c    Cause
		want string
	}{
		{CauseBusyHere, "486 Busy Here"},
		{Cause{Reason: "RTP timeout"}, "RTP timeout"},
		{Cause{}, ""},
	} {
		if got := tc.c.String(); got != tc.want {
			t.Errorf("%#v.String() = %q, want %q", tc.c, got, tc.want)
		}
	}
}

func TestValid(t *testing.T) {
	t.Parallel()
	if !NoAnswer.Valid() || Outcome("ringing").Valid() {
		t.Error("Outcome.Valid")
	}
	if !Away.Valid() || Status("busy").Valid() {
		t.Error("Status.Valid")
	}
}
