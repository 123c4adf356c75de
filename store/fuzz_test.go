package store

import (
	"errors"
	"reflect"
	"testing"
)

// FuzzDecode feeds arbitrary bytes to every value decoder, as a damaged
// file or a newer build might present them. Decoders must return an error
// (never panic), and anything they accept must survive a re-encode.
func FuzzDecode(f *testing.F) {
	seeds := []string{
		`{"v":1,"firm":"f","user":"100","contact":"sip:100@h","expires":"2025-03-01T09:00:00Z","cseq":4}`,
		`{"v":1,"id":"0000000000000001000000001","firm":"f","caller":"+1","target_kind":"team","target_id":"s","state":"pending","created":"2025-03-01T09:00:00+01:00"}`,
		`{"v":1,"id":"x","firm":"f","start":"2025-03-01T09:00:00Z","queue_wait_ns":5000000000,"talk_time_ns":-1}`,
		`{"v":1,"id":"x","firm":"f","mailbox":"100","file":"a.wav","duration_ns":1,"read":true}`,
		`{"v":1,"firm":"f","agent":"a","status":"away","updated":"2025-03-01T09:00:00Z"}`,
		`{"v":1,"value":"token"}`,
		`{"v":2,"value":"from the future"}`,
		`{"v":-1}`, `{"v":1.5}`, `{"v":"1"}`, `{"v":null}`, `{}`, `[]`, `null`, ``, `{"v":1,"expires":"not a time"}`,
		"\xff\xfe", `{"v":1,"firm":"\u0000"}`, `{"v":99999999999999999999}`,
	}
	for _, s := range seeds {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		checkDecoder(t, data, decodeRegistration, encodeRegistration)
		checkDecoder(t, data, decodeCallback, encodeCallback)
		checkDecoder(t, data, decodeCall, encodeCall)
		checkDecoder(t, data, decodeVoicemail, encodeVoicemail)
		checkDecoder(t, data, decodeStatus, encodeStatus)
		checkDecoder(t, data, decodeSetting, encodeSetting)
	})
}

func checkDecoder[T any](t *testing.T, data []byte, dec func([]byte) (T, error), enc func(T) ([]byte, error)) {
	v, err := dec(data)
	if err != nil {
		if !errors.Is(err, ErrCorrupt) && !errors.Is(err, ErrVersion) {
			t.Fatalf("decode error %v wraps neither ErrCorrupt nor ErrVersion", err)
		}
		return
	}
	b, err := enc(v)
	if err != nil {
		// Accepted input can hold values JSON cannot write back (e.g. a
		// time whose year leaves 0..9999 in its zone); refusing to write
		// is fine, writing garbage is not.
		return
	}
	v2, err := dec(b)
	if err != nil {
		t.Fatalf("re-encoded value %s does not decode: %v", b, err)
	}
	if a, b := normAny(v), normAny(v2); !reflect.DeepEqual(a, b) {
		t.Fatalf("round trip changed the value:\n%+v\n%+v", a, b)
	}
}

// normAny applies norm to structs and leaves other values alone.
func normAny[T any](v T) any {
	if reflect.ValueOf(v).Kind() == reflect.Struct {
		return norm(v)
	}
	return v
}
