package registrar

import (
	"strings"
	"testing"
	"time"

	"github.com/emiago/sipgo/sip"
)

// FuzzRegister feeds arbitrary Contact and Expires values through the REGISTER
// handling: it must answer with one of the statuses it documents, never panic,
// and every binding it grants must expire within the configured bounds.
func FuzzRegister(f *testing.F) {
	for _, seed := range [][2]string{
		{"<sip:1001@10.0.0.1:5060>", "3600"},
		{"<sip:1001@10.0.0.1:5060>;expires=30", ""},
		{"*", "0"},
		{"*", "60"},
		{"<sip:1001@10.0.0.1>;expires=99999999999999", ""},
		{"<sip:a@b>, <sip:c@d>;expires=0", "120"},
		{`"x" <sip:1001@h;transport=tcp>;+sip.instance="<urn:uuid:1>"`, " 70 "},
		{"<sip:1001@10.0.0.1>;expires=-1", "abc"},
	} {
		f.Add(seed[0], seed[1])
	}
	now := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	f.Fuzz(func(t *testing.T, contact, expires string) {
		if strings.ContainsAny(contact+expires, "\r\n") {
			return // one header each; line breaks would make other headers
		}
		raw := "REGISTER sip:acme.test SIP/2.0\r\n" +
			"Via: SIP/2.0/UDP 10.0.0.1:5060;branch=z9hG4bK-1\r\n" +
			"From: <sip:1001@acme.test>;tag=a\r\n" +
			"To: <sip:1001@acme.test>\r\n" +
			"Call-ID: fuzz\r\nCSeq: 1 REGISTER\r\nMax-Forwards: 70\r\n" +
			"Contact: " + contact + "\r\n"
		if expires != "" {
			raw += "Expires: " + expires + "\r\n"
		}
		raw += "Content-Length: 0\r\n\r\n"
		msg, err := sip.ParseMessage([]byte(raw))
		if err != nil {
			return
		}
		req, ok := msg.(*sip.Request)
		if !ok {
			return
		}
		r := New(Config{Now: func() time.Time { return now }}, newMemStore())
		res, _ := r.register(req, userKey{"acme", "1001"})
		switch res.StatusCode {
		case 200, 400, 423:
		default:
			t.Fatalf("status %d for Contact %q Expires %q", res.StatusCode, contact, expires)
		}
		for _, b := range r.Contacts("acme", "1001") {
			if d := b.Expires.Sub(now); d < r.cfg.MinExpires || d > r.cfg.MaxExpires {
				t.Fatalf("binding %+v expires in %v, outside [%v, %v]", b, d, r.cfg.MinExpires, r.cfg.MaxExpires)
			}
		}
	})
}
