package mailer

import (
	"bytes"
	"mime"
	"slices"
	"strings"
	"testing"
	"unicode"
	"unicode/utf8"
)

// FuzzHeaderText checks the cleaner's promises on any input: valid UTF-8,
// no control characters, no "=?", at most max runes, idempotent, and a
// header value that decodes back to the same text.
func FuzzHeaderText(f *testing.F) {
	for _, s := range []string{
		"", "Alice Smith", "Evil\r\nBcc: victim@example.com", "\u202Egnp.exe", "Zoë Ünal", "bad \xff utf8",
		"=?utf-8?q?x?=", "==??==", " \t\r\n ", strings.Repeat("ab ", 50), "a\u2028b\u0085c",
	} {
		f.Add(s, 80)
		f.Add(s, 3)
	}
	dec := new(mime.WordDecoder)
	f.Fuzz(func(t *testing.T, s string, max int) {
		max = max%200 + 1
		if max < 1 {
			max += 200
		}
		got := HeaderText(s, max)
		if !utf8.ValidString(got) {
			t.Fatalf("HeaderText(%q) = %q: invalid UTF-8", s, got)
		}
		if n := utf8.RuneCountInString(got); n > max {
			t.Fatalf("HeaderText(%q, %d) = %q: %d runes", s, max, got, n)
		}
		for _, r := range got {
			if unicode.IsControl(r) || isBidiControl(r) {
				t.Fatalf("HeaderText(%q) = %q keeps %U", s, got, r)
			}
		}
		if strings.Contains(got, "=?") || strings.HasPrefix(got, " ") || strings.HasSuffix(got, " ") || strings.Contains(got, "  ") {
			t.Fatalf("HeaderText(%q) = %q", s, got)
		}
		if again := HeaderText(got, max); again != got {
			t.Fatalf("not idempotent: %q -> %q -> %q", s, got, again)
		}
		enc := encodeHeader(got)
		if strings.ContainsAny(enc, "\r\n") {
			t.Fatalf("encoded %q holds a line break", enc)
		}
		if back, err := dec.DecodeHeader(enc); err != nil || back != got {
			t.Fatalf("encoded %q decodes to %q, %v; want %q", enc, back, err, got)
		}
	})
}

// FuzzBuildMessage gives the caller's number and name, the parts a caller
// controls, any value: the mail always parses, keeps exactly its headers,
// says the cleaned subject and carries the audio unchanged.
func FuzzBuildMessage(f *testing.F) {
	f.Add("+15551230001", "Alice Smith", []byte("RIFF...."))
	f.Add("1001\r\nBcc: x@example.com", "Evil\r\n\r\nbody", []byte{})
	f.Add("sip:anonymous@anonymous.invalid", "=?utf-8?q?=0D=0ABcc:_x?=", []byte("\r\n.\r\n"))
	f.Add("", "\xff\xfe", bytes.Repeat([]byte{0}, 200))
	want := []string{"Auto-Submitted", "Content-Type", "Date", "From", "Message-Id", "Mime-Version", "Subject", "To"}
	f.Fuzz(func(t *testing.T, number, name string, wav []byte) {
		v := sampleVoicemail()
		v.Caller, v.CallerName, v.WAV = number, name, wav
		p, _ := buildParsed(t, "Switchboard <pbx@example.com>", v)
		var got []string
		for k := range p.Header {
			got = append(got, k)
		}
		slices.Sort(got)
		if !slices.Equal(got, want) {
			t.Fatalf("headers %v, want %v", got, want)
		}
		if p.Subject != Subject(v) {
			t.Fatalf("Subject %q, want %q", p.Subject, Subject(v))
		}
		if !bytes.Equal(p.Attachments[v.ID+".wav"], wav) {
			t.Fatal("attachment changed")
		}
	})
}
