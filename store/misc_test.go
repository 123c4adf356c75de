package store

import (
	"errors"
	"reflect"
	"switchboard/callinfo"
	"testing"
)

func TestAgentStatus(t *testing.T) {
	t.Parallel()
	s := openTest(t)
	if st, err := s.AgentStatuses("f"); err != nil || len(st) != 0 {
		t.Fatalf("empty statuses = %v, %v", st, err)
	}
	steps := []struct {
		agent  string
		status callinfo.Status
	}{
		{"100", "online"}, {"101", "away"}, {"100", "offline"}, {"102", "online"},
	}
	for _, st := range steps {
		if err := s.SetAgentStatus("f", st.agent, st.status); err != nil {
			t.Fatal(err)
		}
	}
	want := map[string]callinfo.Status{"100": "offline", "101": "away", "102": "online"}
	if got, err := s.AgentStatuses("f"); err != nil || !reflect.DeepEqual(got, want) {
		t.Errorf("AgentStatuses = %v, %v; want %v", got, err, want)
	}
	if err := s.SetAgentStatus("f", "100", ""); !errors.Is(err, ErrInvalid) {
		t.Errorf("empty status = %v, want ErrInvalid", err)
	}
}

func TestSettings(t *testing.T) {
	t.Parallel()
	s := openTest(t)
	if _, err := s.GetSetting("admin_token"); !errors.Is(err, ErrNotFound) {
		t.Fatalf("missing setting = %v, want ErrNotFound", err)
	}
	for _, v := range []string{"first", "", "line1\nline2 \x00 ünïcode"} {
		if err := s.PutSetting("admin_token", v); err != nil {
			t.Fatal(err)
		}
		if got, err := s.GetSetting("admin_token"); err != nil || got != v {
			t.Errorf("GetSetting = %q, %v; want %q", got, err, v)
		}
	}
	if err := s.PutSetting("", "x"); !errors.Is(err, ErrInvalid) {
		t.Errorf("empty key = %v, want ErrInvalid", err)
	}
}
