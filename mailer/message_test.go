package mailer

import (
	"bytes"
	"maps"
	"net/mail"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"switchboard/internal/smtptest"
)

// testWAV is a small but real WAV file: a 44-byte header and µ-law samples
// covering every byte value, so that an encoding slip changes it.
func testWAV() []byte {
	data := make([]byte, 0, 44+2048)
	data = append(data, "RIFF"...)
	data = append(data, 0x24, 0x08, 0, 0)
	data = append(data, "WAVEfmt "...)
	data = append(data, 18, 0, 0, 0, 7, 0, 1, 0, 0x40, 0x1f, 0, 0, 0x40, 0x1f, 0, 0, 1, 0, 8, 0, 0, 0)
	data = append(data, "data"...)
	data = append(data, 0, 8, 0, 0)
	for i := range 2048 {
		data = append(data, byte(i*7))
	}
	return data
}

func sampleVoicemail() Voicemail {
	return Voicemail{
		ID: "18eb21a57092ca8800000004", Firm: "pbx.example.com", Mailbox: "general",
		To: "Office <office@example.com>", Caller: "+15551230001", CallerName: "Alice Smith",
		Time:     time.Date(2026, 3, 14, 15, 9, 26, 0, time.FixedZone("CET", 3600)),
		Duration: 65*time.Second + 400*time.Millisecond,
		WAV:      testWAV(),
	}
}

// buildParsed builds the mail of v from from, checks its wire form and parses it.
func buildParsed(t *testing.T, from string, v Voicemail) (*smtptest.Parsed, []byte) {
	t.Helper()
	msg, err := BuildMessage(from, v)
	if err != nil {
		t.Fatal(err)
	}
	checkWire(t, msg)
	p, err := smtptest.Parse(msg)
	if err != nil {
		t.Fatalf("parse %q: %v", msg, err)
	}
	return p, msg
}

// checkWire checks what SMTP and MIME ask of the raw message: CRLF line ends,
// 7-bit bytes, lines of at most 998 characters (78 for the base64 body).
func checkWire(t *testing.T, msg []byte) {
	t.Helper()
	if !bytes.HasSuffix(msg, []byte("\r\n")) {
		t.Error("message does not end with CRLF")
	}
	for i, line := range bytes.Split(bytes.TrimSuffix(msg, []byte("\r\n")), []byte("\r\n")) {
		if len(line) > 998 {
			t.Errorf("line %d is %d characters long", i+1, len(line))
		}
		for _, c := range line {
			if c >= 0x80 || c == '\r' || c == '\n' || c == 0 {
				t.Fatalf("line %d holds byte %#x: %q", i+1, c, line)
			}
		}
	}
}

var messageIDRe = regexp.MustCompile(`^<[0-9a-f]{32}@example\.com>$`)

func TestBuildMessage(t *testing.T) {
	t.Parallel()
	v := sampleVoicemail()
	p, _ := buildParsed(t, "Switchboard <pbx@example.com>", v)
	for key, want := range map[string]string{
		"From":           `"Switchboard" <pbx@example.com>`,
		"To":             `"Office" <office@example.com>`,
		"Date":           "Sat, 14 Mar 2026 15:09:26 +0100",
		"Mime-Version":   "1.0",
		"Auto-Submitted": "auto-generated",
	} {
		if got := p.Header.Get(key); got != want {
			t.Errorf("%s = %q, want %q", key, got, want)
		}
	}
	if want := "Voicemail from Alice Smith <+15551230001> (1:05) for mailbox general"; p.Subject != want {
		t.Errorf("Subject = %q, want %q", p.Subject, want)
	}
	if id := p.Header.Get("Message-Id"); !messageIDRe.MatchString(id) {
		t.Errorf("Message-ID = %q", id)
	}
	if d, err := p.Header.Date(); err != nil || !d.Equal(v.Time) {
		t.Errorf("Date parses to %v, %v", d, err)
	}
	for _, want := range []string{
		"Mailbox:  general (pbx.example.com)", "Caller:   Alice Smith <+15551230001>",
		"Time:     Sat, 14 Mar 2026 15:09:26 +0100", "Duration: 1:05", "18eb21a57092ca8800000004.wav",
	} {
		if !strings.Contains(p.Text, want) {
			t.Errorf("text lacks %q:\n%s", want, p.Text)
		}
	}
	name := "18eb21a57092ca8800000004.wav"
	if len(p.Attachments) != 1 || !bytes.Equal(p.Attachments[name], v.WAV) {
		t.Fatalf("attachments %v: want %s with the WAV bytes", slices.Collect(maps.Keys(p.Attachments)), name)
	}
	if p.Types[name] != "audio/wav" {
		t.Errorf("attachment type %q", p.Types[name])
	}
	// Two mails never share a Message-ID.
	again, err := BuildMessage("pbx@example.com", v)
	if err != nil {
		t.Fatal(err)
	}
	p2, err := smtptest.Parse(again)
	if err != nil {
		t.Fatal(err)
	}
	if p2.Header.Get("Message-Id") == p.Header.Get("Message-Id") {
		t.Error("Message-ID repeated")
	}
}

func TestBuildMessageErrors(t *testing.T) {
	t.Parallel()
	v := sampleVoicemail()
	tests := []struct {
		name string
		from string
		edit func(*Voicemail)
		want string
	}{
		{"bad sender", "pbx at example", nil, "sender"},
		{"bad recipient", "pbx@example.com", func(v *Voicemail) { v.To = "office" }, "recipient"},
		{"two recipients", "pbx@example.com", func(v *Voicemail) { v.To = "a@example.com, b@example.com" }, "recipient"},
		{"no audio", "pbx@example.com", func(v *Voicemail) { v.WAV = nil }, "no audio"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			v := v
			if tc.edit != nil {
				tc.edit(&v)
			}
			if _, err := BuildMessage(tc.from, v); err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("err = %v, want %q", err, tc.want)
			}
		})
	}
}

func TestHeaderText(t *testing.T) {
	t.Parallel()
	tests := []struct {
		in   string
		max  int
		want string
	}{
		{"Alice Smith", 80, "Alice Smith"},
		{"  Alice \t\t Smith  ", 80, "Alice Smith"},
		{"Evil\r\nBcc: victim@example.com", 80, "Evil Bcc: victim@example.com"},
		{"Evil\rX: y\nZ: w\x00\x7f\u0085end", 80, "Evil X: y Z: w end"},
		{"line\u2028sep\u2029para", 80, "line sep para"},
		{"\u202Egnp.exe", 80, "gnp.exe"},
		{"Zoë Ünal", 80, "Zoë Ünal"},
		{"bad \xff\xfe utf8", 80, "bad \uFFFD utf8"},
		{"=?utf-8?q?fake?=", 80, "= ?utf-8?q?fake?="},
		{"abcdef", 3, "abc"},
		{"ab cdef", 3, "ab"},
		{"äöüß", 2, "äö"},
		{"\r\n", 80, ""},
	}
	for _, tc := range tests {
		if got := HeaderText(tc.in, tc.max); got != tc.want {
			t.Errorf("HeaderText(%q, %d) = %q, want %q", tc.in, tc.max, got, tc.want)
		}
	}
}

func TestFormatDuration(t *testing.T) {
	t.Parallel()
	for d, want := range map[time.Duration]string{
		0: "0:00", 4600 * time.Millisecond: "0:05", 65 * time.Second: "1:05", time.Hour + 2*time.Minute + 3*time.Second: "1:02:03", -time.Second: "0:00",
	} {
		if got := FormatDuration(d); got != want {
			t.Errorf("FormatDuration(%v) = %q, want %q", d, got, want)
		}
	}
}

func TestCallerText(t *testing.T) {
	t.Parallel()
	tests := []struct{ number, name, want string }{
		{"1001", "Alice", "Alice <1001>"},
		{"1001", "", "1001"},
		{"", "Alice", "Alice"},
		{"1001", "1001", "1001"},
		{"", "", "unknown caller"},
		{"\r\n", "\r\n", "unknown caller"},
	}
	for _, tc := range tests {
		if got := CallerText(tc.number, tc.name); got != tc.want {
			t.Errorf("CallerText(%q, %q) = %q, want %q", tc.number, tc.name, got, tc.want)
		}
	}
}

// A caller picks the SIP display name and number: whatever they hold, the
// mail keeps exactly its own headers, and the Subject reads as the cleaned
// text.
func TestHeaderInjection(t *testing.T) {
	t.Parallel()
	tests := []struct{ name, number, subject string }{
		{"Evil\r\nBcc: victim@example.com", "1001", "Voicemail from Evil Bcc: victim@example.com <1001> (1:05) for mailbox general"},
		{"Evil", "1001\r\nX-Injected: 1\r\n\r\nbody", "Voicemail from Evil <1001 X-Injected: 1 body> (1:05) for mailbox general"},
		{"Evil\nContent-Type: text/html", "\n", "Voicemail from Evil Content-Type: text/html (1:05) for mailbox general"},
		{"Zoë \r\nÜnal", "+4930123", "Voicemail from Zoë Ünal <+4930123> (1:05) for mailbox general"},
		{"=?utf-8?b?QmNjOiB4QHkNCg==?=", "1", "Voicemail from = ?utf-8?b?QmNjOiB4QHkNCg== ?= <1> (1:05) for mailbox general"},
		{strings.Repeat("long name ", 100), "1", "Voicemail from " + strings.TrimSpace(strings.Repeat("long name ", 8)) + " <1> (1:05) for mailbox general"},
	}
	want := []string{"Auto-Submitted", "Content-Type", "Date", "From", "Message-Id", "Mime-Version", "Subject", "To"}
	for _, tc := range tests {
		v := sampleVoicemail()
		v.CallerName, v.Caller = tc.name, tc.number
		p, _ := buildParsed(t, "pbx@example.com", v)
		var got []string
		for k := range p.Header {
			got = append(got, k)
		}
		slices.Sort(got)
		if !slices.Equal(got, want) {
			t.Errorf("%q: headers %v, want %v", tc.name, got, want)
		}
		if p.Subject != tc.subject {
			t.Errorf("%q: Subject = %q, want %q", tc.name, p.Subject, tc.subject)
		}
		if _, err := mail.ParseAddress(p.Header.Get("To")); err != nil || len(p.Attachments) != 1 {
			t.Errorf("%q: To %q (%v), %d attachments", tc.name, p.Header.Get("To"), err, len(p.Attachments))
		}
	}
}

func TestAttachmentName(t *testing.T) {
	t.Parallel()
	for id, want := range map[string]string{
		"18eb21a57092ca8800000004": "18eb21a57092ca8800000004.wav",
		"../../etc/passwd":         "etcpasswd.wav",
		"a\"b\r\nc":                "abc.wav",
		"":                         "voicemail.wav",
		"ü":                        "voicemail.wav",
	} {
		if got := attachmentName(Voicemail{ID: id}); got != want {
			t.Errorf("attachmentName(%q) = %q, want %q", id, got, want)
		}
	}
}
