package store

import (
	"errors"
	"fmt"
	"reflect"
	"testing"
	"time"
)

func TestVoicemail(t *testing.T) {
	t.Parallel()
	s := openTest(t)
	frozenClock(s, t0) // same instant for all: order must come from the sequence
	var added []Voicemail
	for i := 0; i < 5; i++ {
		v := &Voicemail{
			Firm: "f", Mailbox: "100", Caller: fmt.Sprintf("+4930%d", i), Duration: time.Duration(i+1) * time.Second,
			File: fmt.Sprintf("/data/vm/%d.wav", i), Codec: "PCMU",
		}
		if err := s.AddVoicemail(v); err != nil {
			t.Fatal(err)
		}
		if v.ID == "" || !v.Time.Equal(t0) {
			t.Fatalf("AddVoicemail did not fill ID/Time: %+v", v)
		}
		added = append(added, *v)
	}
	if err := s.AddVoicemail(&Voicemail{Firm: "f", Mailbox: "101", File: "other.wav"}); err != nil {
		t.Fatal(err)
	}

	list, err := s.ListVoicemail("f", "100")
	if err != nil {
		t.Fatal(err)
	}
	want := make([]Voicemail, len(added))
	for i, v := range added {
		want[len(added)-1-i] = v
	}
	if !reflect.DeepEqual(normAll(list), normAll(want)) {
		t.Fatalf("ListVoicemail (newest first) = %+v\nwant %+v", list, want)
	}

	if err := s.MarkVoicemailRead("f", "100", added[1].ID, true); err != nil {
		t.Fatal(err)
	}
	if err := s.MarkVoicemailRead("f", "100", added[2].ID, true); err != nil {
		t.Fatal(err)
	}
	if err := s.MarkVoicemailRead("f", "100", added[2].ID, false); err != nil {
		t.Fatal(err)
	}
	if n, o, err := s.VoicemailCounts("f", "100"); err != nil || n != 4 || o != 1 {
		t.Errorf("VoicemailCounts = %d new, %d old, %v; want 4, 1", n, o, err)
	}
	if got, err := s.GetVoicemail("f", "100", added[1].ID); err != nil || !got.Read {
		t.Errorf("GetVoicemail after mark read = %+v, %v", got, err)
	}

	del, err := s.DeleteVoicemail("f", "100", added[0].ID)
	if err != nil || del.File != added[0].File {
		t.Fatalf("DeleteVoicemail = %+v, %v; want the removed entry", del, err)
	}
	notFound := []struct {
		name string
		err  error
	}{
		{"get deleted", func() error { _, err := s.GetVoicemail("f", "100", added[0].ID); return err }()},
		{"delete twice", func() error { _, err := s.DeleteVoicemail("f", "100", added[0].ID); return err }()},
		{"mark deleted", s.MarkVoicemailRead("f", "100", added[0].ID, true)},
		{"other mailbox", func() error { _, err := s.GetVoicemail("f", "101", added[1].ID); return err }()},
	}
	for _, c := range notFound {
		if !errors.Is(c.err, ErrNotFound) {
			t.Errorf("%s = %v, want ErrNotFound", c.name, c.err)
		}
	}
	if n, o, _ := s.VoicemailCounts("f", "100"); n != 3 || o != 1 {
		t.Errorf("counts after delete = %d, %d; want 3, 1", n, o)
	}
	if n, o, _ := s.VoicemailCounts("f", "empty"); n != 0 || o != 0 {
		t.Errorf("counts of empty mailbox = %d, %d", n, o)
	}
	if err := s.AddVoicemail(&Voicemail{Firm: "f", Mailbox: "100"}); !errors.Is(err, ErrInvalid) {
		t.Errorf("voicemail without file = %v, want ErrInvalid", err)
	}
}
