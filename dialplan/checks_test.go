package dialplan

import (
	"errors"
	"io/fs"
	"strings"
	"testing"
)

func TestValueChecks(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name  string
		check func(string) error
		good  []string
		bad   []string
	}{
		{"sip uri", checkSIPURI,
			[]string{"sip:sip.carrier.example", "sip:carrier.example:5060", "SIPS:acct@carrier.example;transport=tls", "sip:[2001:db8::1]:5060", "sip:192.0.2.1"},
			[]string{"", "http://x", "sip:", "sip:@host", "sip:host:", "sip:host:99999", "sip:[::1", "sip:[bad]", "sip:ho st", "sip:a\r\nb", "sip:[::1]x"}},
		{"host:port", checkHostPort,
			[]string{"127.0.0.1:8080", ":8080", "[::1]:0", "pbx.example.com:443"},
			[]string{"", "8080", "127.0.0.1", "127.0.0.1:http", "127.0.0.1:70000", "bad_host:80"}},
		{"listen url", func(s string) error { _, _, err := parseListenURL(s); return err },
			[]string{"udp://127.0.0.1:5060", "TLS://0.0.0.0:5061", "wss://[::]:8089"},
			[]string{"127.0.0.1:5060", "sctp://1.2.3.4:5060", "udp://1.2.3.4", "udp://1.2.3.4:5060/path"}},
		{"prefix", func(s string) error { _, err := parsePrefix(s); return err },
			[]string{"203.0.113.0/24", "203.0.113.7/24", "192.0.2.1", "2001:db8::/32", "::ffff:192.0.2.1"},
			[]string{"", "10.0.0.0/33", "example.com", "fe80::1%eth0"}},
		{"number", checkNumber, []string{"+15550100", "0612345678"}, []string{"", "+", "1", "+1 555", "12a", "+" + strings.Repeat("1", 21)}},
		{"pin", checkPIN, []string{"0", "1234"}, []string{"", "12a4", strings.Repeat("1", 17)}},
		{"prepend", checkPrepend, []string{"", "+", "00", "*#9"}, []string{"a", "+ 1"}},
		{"email", checkEmail, []string{"office@example.com", "Office <office@example.com>"}, []string{"office", "a@b\r\nBcc: x@y"}},
		{"text", checkText, []string{"Alice Smith", "Zoë"}, []string{"a\nb", "\xff", strings.Repeat("x", 201)}},
		{"extension", checkExtension, []string{"1", "1001", "0001"}, []string{"", "*50", "*1", "10a", strings.Repeat("1", 17)}},
		{"id", checkID, []string{"alice", "a-b_c.d", "1st"}, []string{"", "-a", "a b", "a:b", strings.Repeat("a", 65)}},
		{"host", checkHost, []string{"localhost", "pbx.example.com.", "10.0.0.1"}, []string{"", "a..b", "-a.com", "a_b.com"}},
	}
	for _, tc := range tests {
		for _, s := range tc.good {
			if err := tc.check(s); err != nil {
				t.Errorf("%s: %q rejected: %v", tc.name, s, err)
			}
		}
		for _, s := range tc.bad {
			if err := tc.check(s); err == nil {
				t.Errorf("%s: %q accepted", tc.name, s)
			}
		}
	}
}

func TestParseFirmFileProblems(t *testing.T) {
	t.Parallel()
	files := map[string]string{
		"dir/empty.yaml":  "",
		"dir/broken.yaml": "domain: [x\n",
		"dir/dup.yaml":    "domain: dup.example\n",
	}
	read := func(p string) ([]byte, error) {
		if s, ok := files[p]; ok {
			return []byte(s), nil
		}
		return nil, fs.ErrNotExist
	}
	_, err := parse("dir/main.yaml", []byte("firms:\n  - empty.yaml\n  - broken.yaml\n  - dup.yaml\n  - ./dup.yaml\n  - 7: x\n"), read)
	var verr *ValidationError
	if !errors.As(err, &verr) {
		t.Fatalf("err = %v", err)
	}
	want := []string{
		`dir/main.yaml:5: firms[3]: firm file "./dup.yaml" listed twice (first at line 4)`,
		`dir/main.yaml:6: firms[4]: expected a string, got a mapping`,
		`dir/empty.yaml: empty firm file (domain is required)`,
		`dir/broken.yaml:1: YAML syntax error:`,
	}
	if len(verr.Problems) != len(want) {
		t.Fatalf("got %d problems, want %d:\n%v", len(verr.Problems), len(want), err)
	}
	for i, w := range want {
		if got := verr.Problems[i].String(); !strings.HasPrefix(got, w) {
			t.Errorf("problem %d = %q, want prefix %q", i, got, w)
		}
	}
}
