package testphone

import (
	"testing"
)

func TestDTMFCodes(t *testing.T) {
	t.Parallel()
	for _, d := range "0123456789*#ABCD" {
		code, err := dtmfCode(d)
		if err != nil {
			t.Fatalf("dtmfCode(%q): %v", d, err)
		}
		back, ok := dtmfDigit(code)
		if !ok || back != d {
			t.Errorf("digit %q -> %d -> %q", d, code, back)
		}
	}
	if c, err := dtmfCode('a'); err != nil || c != 12 {
		t.Errorf("lower-case a = %d, %v", c, err)
	}
	for _, bad := range "xE !" {
		if _, err := dtmfCode(bad); err == nil {
			t.Errorf("dtmfCode(%q) accepted", bad)
		}
	}
	if _, ok := dtmfDigit(16); ok {
		t.Error("event 16 (flash) reported as a digit")
	}
}

func TestDTMFEventRoundTrip(t *testing.T) {
	t.Parallel()
	tests := []dtmfEvent{
		{event: 5, volume: 10, duration: 160},
		{event: 11, end: true, volume: 63, duration: 65535},
		{event: 0},
	}
	for _, ev := range tests {
		got, err := parseDTMFEvent(ev.marshal())
		if err != nil || got != ev {
			t.Errorf("round trip %+v = %+v, %v", ev, got, err)
		}
	}
	if _, err := parseDTMFEvent([]byte{1, 2, 3}); err == nil {
		t.Error("3-byte payload accepted")
	}
}

func FuzzParseDTMFEvent(f *testing.F) {
	f.Add([]byte{1, 0x8a, 0x03, 0x20})
	f.Add([]byte{11, 0x0a, 0x00, 0xa0, 0xff})
	f.Add([]byte{})
	f.Fuzz(func(t *testing.T, b []byte) {
		ev, err := parseDTMFEvent(b)
		if err != nil {
			if len(b) >= dtmfEventSize {
				t.Fatalf("error on %d bytes: %v", len(b), err)
			}
			return
		}
		again, err := parseDTMFEvent(ev.marshal())
		if err != nil || again != ev {
			t.Fatalf("re-marshal %+v = %+v, %v", ev, again, err)
		}
	})
}
