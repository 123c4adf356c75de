package auth

import (
	"errors"
	"testing"
)

func TestParseCredentials(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name    string
		in      string
		want    credentials
		wantErr bool
	}{
		{name: "sipp style", in: `Digest username="1001",realm="acme",uri="sip:127.0.0.1:5060",nonce="abc",response="0123",algorithm=MD5,cnonce="6b8b4567",qop=auth,nc=00000001`,
			want: credentials{username: "1001", realm: "acme", uri: "sip:127.0.0.1:5060", nonce: "abc", response: "0123", algorithm: "MD5", cnonce: "6b8b4567", qop: "auth", nc: 1, hasNC: true}},
		{name: "spaces, case, escapes", in: "digest  Username = \"a\\\"b\" ,\tREALM=\"r, with comma\", nc=ff, opaque=\"\"",
			want: credentials{username: `a"b`, realm: "r, with comma", nc: 255, hasNC: true}},
		{name: "empty list elements", in: `Digest ,username="u",,realm="r",`, want: credentials{username: "u", realm: "r"}},
		{name: "unknown params ignored", in: `Digest userhash=false, charset=UTF-8, username="u"`, want: credentials{username: "u"}},
		{name: "not digest", in: `Basic dXNlcjpwYXNz`, wantErr: true},
		{name: "scheme only", in: `Digest`, wantErr: true},
		{name: "prefix without space", in: `Digestusername="u"`, wantErr: true},
		{name: "duplicate param", in: `Digest username="a", username="b"`, wantErr: true},
		{name: "unterminated quote", in: `Digest username="a`, wantErr: true},
		{name: "missing value", in: `Digest username=, realm="r"`, wantErr: true},
		{name: "no equals", in: `Digest username "u"`, wantErr: true},
		{name: "junk after value", in: `Digest username="u" realm="r"`, wantErr: true},
		{name: "nc too long", in: `Digest nc=000000001`, wantErr: true},
		{name: "nc not hex", in: `Digest nc=0000000g`, wantErr: true},
		{name: "newline in quoted", in: "Digest username=\"a\nb\"", wantErr: true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			got, err := parseCredentials(tc.in)
			if (err != nil) != tc.wantErr {
				t.Fatalf("err = %v, wantErr %v", err, tc.wantErr)
			}
			if err == nil && got != tc.want {
				t.Fatalf("got %+v\nwant %+v", got, tc.want)
			}
		})
	}
	if _, err := parseCredentials("Basic x"); !errors.Is(err, errNotDigest) {
		t.Fatalf("Basic: err = %v, want errNotDigest", err)
	}
}

func FuzzParseCredentials(f *testing.F) {
	for _, s := range []string{
		`Digest username="1001",realm="acme",uri="sip:127.0.0.1:5060",nonce="abc",response="0123",algorithm=MD5,cnonce="6b8b4567",qop=auth,nc=00000001`,
		`Digest username="a\"b", realm="x, y", nc=ff`,
		`Digest ,,,`,
		`Digest username="`,
		`Basic abc`,
		`digest nc=ffffffff, response="` + "\\" + `"`,
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		c, err := parseCredentials(s)
		if err != nil {
			return
		}
		// Whatever parses must survive being re-rendered and parsed again unchanged.
		r := render(c)
		if len(r) > maxCredentialsLen {
			return
		}
		again, err := parseCredentials(r)
		if err != nil {
			t.Fatalf("re-parse of %q failed: %v", render(c), err)
		}
		if again != c {
			t.Fatalf("round trip changed %+v into %+v", c, again)
		}
	})
}

// render writes c back as a header, quoting every string value.
func render(c credentials) string {
	q := func(s string) string {
		out := []byte{'"'}
		for i := 0; i < len(s); i++ {
			if s[i] == '"' || s[i] == '\\' {
				out = append(out, '\\')
			}
			out = append(out, s[i])
		}
		return string(append(out, '"'))
	}
	s := "Digest username=" + q(c.username) + ", realm=" + q(c.realm) + ", nonce=" + q(c.nonce) + ", uri=" + q(c.uri) +
		", response=" + q(c.response) + ", algorithm=" + q(c.algorithm) + ", cnonce=" + q(c.cnonce) + ", qop=" + q(c.qop) +
		", opaque=" + q(c.opaque)
	if c.hasNC {
		s += ", nc=" + hexNC(c.nc)
	}
	return s
}

func hexNC(n uint32) string {
	const digits = "0123456789abcdef"
	b := make([]byte, 8)
	for i := 7; i >= 0; i-- {
		b[i] = digits[n&15]
		n >>= 4
	}
	return string(b)
}
