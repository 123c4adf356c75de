package sip

import (
	"strings"
	"testing"
	"time"

	gosip "github.com/emiago/sipgo/sip"
)

func TestParseDTMFRelay(t *testing.T) {
	t.Parallel()
	tests := []struct {
		body string
		want rune
		ok   bool
	}{
		{"Signal=5\r\nDuration=160\r\n", '5', true},
		{"signal = #\nDuration=100", '#', true},
		{"Signal=a", 'A', true},
		{"Signal=12", 0, false},
		{"Signal=x", 0, false},
		{"Duration=160", 0, false},
		{"", 0, false},
	}
	for _, tc := range tests {
		got, ok := parseDTMFRelay(tc.body)
		if got != tc.want || ok != tc.ok {
			t.Errorf("parseDTMFRelay(%q) = %q, %v; want %q, %v", tc.body, got, ok, tc.want, tc.ok)
		}
	}
}

func TestGrantedExpiry(t *testing.T) {
	t.Parallel()
	res := func(hdrs ...string) *gosip.Response {
		r := gosip.NewResponse(200, "OK")
		for i := 0; i+1 < len(hdrs); i += 2 {
			r.AppendHeader(gosip.NewHeader(hdrs[i], hdrs[i+1]))
		}
		return r
	}
	tests := []struct {
		name string
		res  *gosip.Response
		want time.Duration
	}{
		{"contact param", res("Contact", "<sip:acct@10.0.0.1:5060>;expires=120", "Expires", "3600"), 120 * time.Second},
		{"ours among several", res("Contact", "<sip:acct@192.0.2.9:5060>;expires=30", "Contact", "<sip:acct@10.0.0.1:5060>;expires=90"), 90 * time.Second},
		{"expires header", res("Expires", "300"), 300 * time.Second},
		{"nothing granted", res(), time.Hour},
		{"garbage", res("Expires", "soon"), time.Hour},
	}
	for _, tc := range tests {
		if got := grantedExpiry(tc.res, time.Hour, "10.0.0.1:5060"); got != tc.want {
			t.Errorf("%s: %v, want %v", tc.name, got, tc.want)
		}
	}
}

func TestSanitize(t *testing.T) {
	t.Parallel()
	if got := sanitize("Eve\r\nX-Evil: 1\"<>"); got != "EveX-Evil: 1" {
		t.Fatalf("sanitize = %q", got)
	}
}

// FuzzParseMessage feeds raw datagrams through sipgo's parser and the server's own
// per-message helpers: nothing may panic whatever a peer sends.
func FuzzParseMessage(f *testing.F) {
	f.Add([]byte("INVITE sip:1002@pbx SIP/2.0\r\nVia: SIP/2.0/UDP 10.0.0.1:5060;branch=z9hG4bK1\r\nFrom: <sip:1001@pbx>;tag=a\r\nTo: <sip:1002@pbx>\r\nCall-ID: x\r\nCSeq: 1 INVITE\r\nContent-Length: 0\r\n\r\n"))
	f.Add([]byte("INFO sip:pbx SIP/2.0\r\nVia: SIP/2.0/UDP h;branch=z9hG4bK2\r\nFrom: <sip:a@b>;tag=1\r\nTo: <sip:c@d>;tag=2\r\nCall-ID: y\r\nCSeq: 2 INFO\r\nContent-Type: application/dtmf-relay\r\nContent-Length: 10\r\n\r\nSignal=5\r\n"))
	f.Add([]byte("SIP/2.0 200 OK\r\nContact: <sip:a@b>;expires=60\r\nContent-Length: 0\r\n\r\n"))
	f.Add([]byte("garbage\r\n\r\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		msg, err := gosip.NewParser().ParseSIP(data)
		if err != nil {
			return
		}
		switch m := msg.(type) {
		case *gosip.Request:
			gosip.DialogIDFromRequestUAS(m)
			gosip.DialogIDFromRequestUAC(m)
			parseDTMFRelay(string(m.Body()))
			if f := m.From(); f != nil {
				sanitize(f.DisplayName)
			}
		case *gosip.Response:
			grantedExpiry(m, time.Minute, "10.0.0.1:5060")
		}
	})
}

func FuzzParseDTMFRelay(f *testing.F) {
	for _, s := range []string{"Signal=5\r\nDuration=160\r\n", "signal = #", "Signal=", "=\n=\n", "Signal=12"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, body string) {
		d, ok := parseDTMFRelay(body)
		if ok && !strings.ContainsRune("0123456789*#ABCD", d) {
			t.Fatalf("parseDTMFRelay(%q) = %q", body, d)
		}
	})
}

// FuzzRawChecks feeds raw messages through the checks the read filter runs
// before sipgo parses: nothing may panic, and a message whose Content-Length
// sipgo accepts must not be called bad.
func FuzzRawChecks(f *testing.F) {
	f.Add([]byte("OPTIONS sip:a@b SIP/2.0\r\nVia: SIP/2.0/UDP h;branch=z9hG4bK1\r\nContent-Length: -1\r\n\r\n"))
	f.Add([]byte("OPTIONS sip:a@b SIP/2.0\r\nl: 3\r\nContent-Length: 4\r\n\r\nabcd"))
	f.Add([]byte("SIP/2.0 200 OK\r\n\r\n"))
	f.Add([]byte(":\r\n:\r\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		startsRequest(data)
		keepAlive(data)
		contentLengths(data)
		badContentLength(data)
		excerpt(data)
	})
}
