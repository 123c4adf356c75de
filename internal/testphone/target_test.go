package testphone

import (
	"strings"
	"testing"
)

func TestParseTarget(t *testing.T) {
	t.Parallel()
	tests := []struct {
		in      string
		want    string
		wantErr bool
	}{
		{in: "1002", want: "sip:1002@pbx.test"},
		{in: "+15550100", want: "sip:+15550100@pbx.test"},
		{in: "sip:bob@127.0.0.1:5070", want: "sip:bob@127.0.0.1:5070"},
		{in: "SIP:bob@example.com", want: "sip:bob@example.com"},
		{in: "", wantErr: true},
		{in: "bob@example.com", wantErr: true},
		{in: "10 02", wantErr: true},
		{in: "1002\r\nX-Evil: 1", wantErr: true},
		{in: "sip:", wantErr: true},
	}
	for _, tt := range tests {
		u, err := parseTarget(tt.in, "pbx.test")
		if tt.wantErr {
			if err == nil {
				t.Errorf("parseTarget(%q) = %v, want error", tt.in, u.String())
			}
			continue
		}
		if err != nil || u.Addr() != tt.want {
			t.Errorf("parseTarget(%q) = %q, %v; want %q", tt.in, u.Addr(), err, tt.want)
		}
	}
}

func FuzzParseTarget(f *testing.F) {
	for _, s := range []string{"1002", "sip:bob@127.0.0.1:5070;transport=tcp", "sip:@", "x\r\ny", "sip:a@b:99999"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		u, err := parseTarget(s, "pbx.test")
		if err != nil {
			return
		}
		if u.Host == "" {
			t.Fatalf("%q gave a URI without host", s)
		}
		if strings.ContainsAny(u.String(), "\r\n") {
			t.Fatalf("%q gave a URI with CR/LF: %q", s, u.String())
		}
	})
}
