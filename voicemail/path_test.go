package voicemail

import (
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

func TestPathPart(t *testing.T) {
	t.Parallel()
	tests := []struct{ in, want string }{
		{"1001", "1001"},
		{"sales-team_2", "sales-team_2"},
		{"alice@acme.example", "alice@acme.example"},
		{"", "%"},
		{".", "%2E"},
		{"..", "%2E."},
		{"../etc", "%2E.%2Fetc"},
		{".hidden", "%2Ehidden"},
		{`a\b`, "a%5Cb"},
		{"50%", "50%25"},
		{"a b", "a%20b"},
		{"ü", "%C3%BC"},
		{"nul\x00", "nul%00"},
	}
	for _, tt := range tests {
		if got := PathPart(tt.in); got != tt.want {
			t.Errorf("PathPart(%q) = %q, want %q", tt.in, got, tt.want)
		}
	}
}

func TestMessagePath(t *testing.T) {
	t.Parallel()
	got := MessagePath("/var/lib/sb", "acme", "../../root", "x/y")
	want := filepath.Join("/var/lib/sb", "voicemail", "acme", "%2E.%2F..%2Froot", "x%2Fy.wav")
	if got != want {
		t.Errorf("MessagePath = %q, want %q", got, want)
	}
	if dir := MailboxDir("/d", "acme", "1001"); filepath.Dir(MessagePath("/d", "acme", "1001", "m")) != dir {
		t.Errorf("MessagePath is not inside MailboxDir %s", dir)
	}
}

// unescapePart inverts PathPart, to check that it is one-to-one.
func unescapePart(s string) (string, bool) {
	if s == "%" {
		return "", true
	}
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] != '%' {
			b.WriteByte(s[i])
			continue
		}
		if i+2 >= len(s) {
			return "", false
		}
		v, err := strconv.ParseUint(s[i+1:i+3], 16, 8)
		if err != nil {
			return "", false
		}
		b.WriteByte(byte(v))
		i += 2
	}
	return b.String(), true
}

func FuzzPathPart(f *testing.F) {
	for _, s := range []string{"", "1001", ".", "..", "../x", "a/b", `a\b`, "%", "%25", "ü", "\x00", ".a.", "a..b"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, name string) {
		p := PathPart(name)
		if p == "" || p == "." || p == ".." || strings.HasPrefix(p, ".") {
			t.Fatalf("PathPart(%q) = %q: not a safe element", name, p)
		}
		if strings.ContainsAny(p, "/\\\x00") {
			t.Fatalf("PathPart(%q) = %q: contains a separator or NUL", name, p)
		}
		if back, ok := unescapePart(p); !ok || back != name {
			t.Fatalf("PathPart(%q) = %q does not decode back (%q, %v)", name, p, back, ok)
		}
		mp := MessagePath("/data", name, name, name)
		if rel, err := filepath.Rel("/data/voicemail", mp); err != nil || strings.HasPrefix(rel, "..") || strings.Count(rel, string(filepath.Separator)) != 2 {
			t.Fatalf("MessagePath escapes or has the wrong depth: %q", mp)
		}
	})
}
