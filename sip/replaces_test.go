package sip

import (
	"errors"
	"strings"
	"testing"

	gosip "github.com/emiago/sipgo/sip"
)

func TestParseReplaces(t *testing.T) {
	t.Parallel()
	tests := []struct {
		in   string
		want Replaces
		err  bool
	}{
		{"abc@10.0.0.1;to-tag=t1;from-tag=f1", Replaces{CallID: "abc@10.0.0.1", ToTag: "t1", FromTag: "f1"}, false},
		{"abc;from-tag=f1;to-tag=t1;early-only", Replaces{CallID: "abc", ToTag: "t1", FromTag: "f1", EarlyOnly: true}, false},
		{" abc ; To-Tag = t1 ; FROM-TAG=f1 ; Early-Only ", Replaces{CallID: "abc", ToTag: "t1", FromTag: "f1", EarlyOnly: true}, false},
		{"abc;to-tag=t1;from-tag=f1;early-only=true;x-foo=bar;lr", Replaces{CallID: "abc", ToTag: "t1", FromTag: "f1", EarlyOnly: true}, false},
		{"425928@bobster.example.org;to-tag=7743;from-tag=6472", Replaces{CallID: "425928@bobster.example.org", ToTag: "7743", FromTag: "6472"}, false},
		{"", Replaces{}, true},
		{";to-tag=t1;from-tag=f1", Replaces{}, true},
		{"abc;to-tag=t1", Replaces{}, true},
		{"abc;from-tag=f1", Replaces{}, true},
		{"abc;to-tag=;from-tag=f1", Replaces{}, true},
		{"abc;to-tag;from-tag=f1", Replaces{}, true},
		{"abc;to-tag=t1;to-tag=t2;from-tag=f1", Replaces{}, true},
		{"abc;to-tag=t1;from-tag=f1;from-tag=f1", Replaces{}, true},
		{"a b;to-tag=t1;from-tag=f1", Replaces{}, true},
		{"abc;to-tag=t 1;from-tag=f1", Replaces{}, true},
		{"abc;to-tag=t1\r\nX: y;from-tag=f1", Replaces{}, true},
		{"abc,def;to-tag=t1;from-tag=f1", Replaces{}, true},
	}
	for _, tc := range tests {
		got, err := ParseReplaces(tc.in)
		if (err != nil) != tc.err || got != tc.want {
			t.Errorf("ParseReplaces(%q) = %+v, %v; want %+v, error %v", tc.in, got, err, tc.want, tc.err)
		}
		if err != nil && !errors.Is(err, ErrBadReplaces) {
			t.Errorf("ParseReplaces(%q) error %v does not wrap ErrBadReplaces", tc.in, err)
		}
	}
	r := Replaces{CallID: "c@h", ToTag: "t", FromTag: "f", EarlyOnly: true}
	if got := r.String(); got != "c@h;to-tag=t;from-tag=f;early-only" {
		t.Errorf("String = %q", got)
	}
}

func TestReplacesOf(t *testing.T) {
	t.Parallel()
	req := func(values ...string) *Request {
		r := gosip.NewRequest(gosip.INVITE, gosip.Uri{Scheme: "sip", User: "1002", Host: "127.0.0.1"})
		for _, v := range values {
			r.AppendHeader(gosip.NewHeader("Replaces", v))
		}
		return r
	}
	tests := []struct {
		name   string
		req    *Request
		want   Replaces
		ok     bool
		hasErr bool
	}{
		{"absent", req(), Replaces{}, false, false},
		{"one", req("c1;to-tag=a;from-tag=b"), Replaces{CallID: "c1", ToTag: "a", FromTag: "b"}, true, false},
		{"malformed", req("c1;to-tag=a"), Replaces{}, true, true},
		{"twice", req("c1;to-tag=a;from-tag=b", "c2;to-tag=a;from-tag=b"), Replaces{}, true, true},
	}
	for _, tc := range tests {
		got, ok, err := ReplacesOf(tc.req)
		if got != tc.want || ok != tc.ok || (err != nil) != tc.hasErr {
			t.Errorf("%s: ReplacesOf = %+v, %v, %v", tc.name, got, ok, err)
		}
	}
}

func FuzzParseReplaces(f *testing.F) {
	for _, s := range []string{
		"abc@10.0.0.1;to-tag=t1;from-tag=f1",
		"abc;from-tag=f1;to-tag=t1;early-only",
		" abc ; To-Tag = t1 ; FROM-TAG=f1 ; Early-Only=1 ",
		"abc;to-tag=t1", ";;;", "=;=;=", "a@b@c;to-tag=1;from-tag=2", "",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, v string) {
		r, err := ParseReplaces(v)
		if err != nil {
			return
		}
		if r.CallID == "" || r.ToTag == "" || r.FromTag == "" {
			t.Fatalf("ParseReplaces(%q) = %+v without error", v, r)
		}
		if strings.ContainsAny(r.String(), " \t\r\n,") {
			t.Fatalf("ParseReplaces(%q) = %+v, which formats as %q", v, r, r.String())
		}
		again, err := ParseReplaces(r.String())
		if err != nil || again != r {
			t.Fatalf("round trip of %q: %+v -> %q -> %+v, %v", v, r, r.String(), again, err)
		}
	})
}
