package mailer

import (
	"bytes"
	"crypto/rand"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"mime"
	"mime/multipart"
	"mime/quotedprintable"
	"net/mail"
	"net/textproto"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"
)

// Voicemail is one new message to mail, with what the mail says about it.
type Voicemail struct {
	// ID is the message's id; the attachment is named ID.wav.
	ID string
	// Firm is the firm's domain and Mailbox the mailbox id.
	Firm, Mailbox string
	// To is the recipient, one address as net/mail parses it (a display name
	// is allowed: "Alice <alice@example.com>").
	To string
	// Caller is the caller's number or URI and CallerName the display name
	// the call came with. Both come from SIP, that is from anyone: they are
	// cleaned before they reach a header.
	Caller, CallerName string
	// Time is when the message was left; Duration its length.
	Time     time.Time
	Duration time.Duration
	// WAV is the recording. When nil, WAVPath is read as the mail is built,
	// on the Mailer's goroutine rather than the caller's.
	WAV     []byte
	WAVPath string
}

// Header text limits: a caller's display name is short in practice, and a
// bound keeps hostile ones from growing the Subject past line limits.
const (
	maxNameRunes   = 80
	maxNumberRunes = 80
)

// HeaderText cleans untrusted text for a mail header or body line: invalid
// UTF-8 becomes U+FFFD, control characters (CR and LF above all, which would
// start a new header) and bidirectional overrides become spaces, runs of
// spaces collapse, the result is trimmed and cut to max runes. "=?" is broken
// up so that the text cannot pose as an RFC 2047 encoded-word.
func HeaderText(s string, max int) string {
	s = strings.ToValidUTF8(s, "\uFFFD")
	var b strings.Builder
	space := false
	n := 0
	var last rune
	for _, r := range s {
		if unicode.IsControl(r) || unicode.IsSpace(r) || isBidiControl(r) {
			space = b.Len() > 0
			continue
		}
		if r == '?' && last == '=' && !space {
			space = true
		}
		if n >= max {
			break
		}
		if space {
			if n+1 >= max {
				break
			}
			b.WriteByte(' ')
			n++
			space = false
		}
		b.WriteRune(r)
		last = r
		n++
	}
	return b.String()
}

// isBidiControl reports the explicit direction controls, which can make a
// header read differently from what it holds.
func isBidiControl(r rune) bool {
	return (r >= 0x202A && r <= 0x202E) || (r >= 0x2066 && r <= 0x2069) || r == 0x200E || r == 0x200F || r == 0x061C
}

// encodeHeader writes text as a header value: unchanged when it is printable
// ASCII, else as RFC 2047 Q-encoded words.
func encodeHeader(text string) string {
	return mime.QEncoding.Encode("utf-8", text)
}

// CallerText is how the caller is shown: `Name <number>`, or whichever of the
// two is known, cleaned with HeaderText.
func CallerText(number, name string) string {
	number = HeaderText(number, maxNumberRunes)
	name = HeaderText(name, maxNameRunes)
	switch {
	case name != "" && number != "" && name != number:
		return name + " <" + number + ">"
	case number != "":
		return number
	case name != "":
		return name
	}
	return "unknown caller"
}

// FormatDuration writes d as voicemail systems do: m:ss, or h:mm:ss from an
// hour on, rounded to the second.
func FormatDuration(d time.Duration) string {
	if d < 0 {
		d = 0
	}
	s := int64(d.Round(time.Second) / time.Second)
	if s >= 3600 {
		return fmt.Sprintf("%d:%02d:%02d", s/3600, s/60%60, s%60)
	}
	return fmt.Sprintf("%d:%02d", s/60, s%60)
}

// Subject is the mail's subject line, before header encoding.
func Subject(v Voicemail) string {
	return fmt.Sprintf("Voicemail from %s (%s) for mailbox %s",
		CallerText(v.Caller, v.CallerName), FormatDuration(v.Duration), HeaderText(v.Mailbox, 64))
}

// attachmentName is ID.wav with the id reduced to characters every mail
// client keeps in a file name.
func attachmentName(v Voicemail) string {
	id := strings.Map(func(r rune) rune {
		if r < utf8.RuneSelf && (r == '-' || r == '_' || r == '.' || unicode.IsLetter(r) || unicode.IsDigit(r)) {
			return r
		}
		return -1
	}, v.ID)
	id = strings.TrimLeft(id, ".")
	if id == "" {
		id = "voicemail"
	}
	if len(id) > 64 {
		id = id[:64]
	}
	return id + ".wav"
}

// BuildMessage writes the mail for v, sent by from (one address as net/mail
// parses it): headers, a short text part and the WAV attachment (audio/wav,
// base64). Lines end in CRLF and the whole message is 7-bit ASCII. v.WAV
// must hold the audio.
func BuildMessage(from string, v Voicemail) ([]byte, error) {
	fromAddr, err := mail.ParseAddress(from)
	if err != nil {
		return nil, fmt.Errorf("mailer: sender %q: %w", from, err)
	}
	toAddr, err := mail.ParseAddress(v.To)
	if err != nil {
		return nil, fmt.Errorf("mailer: recipient %q: %w", v.To, err)
	}
	if v.WAV == nil {
		return nil, errors.New("mailer: no audio to attach")
	}
	when := v.Time
	if when.IsZero() {
		when = time.Now()
	}
	msgID, err := messageID(fromAddr.Address)
	if err != nil {
		return nil, err
	}

	var buf bytes.Buffer
	mw := multipart.NewWriter(&buf)
	// Address.String encodes display names itself (RFC 2047), so a name
	// taken from the config file cannot break the header either.
	for _, h := range [][2]string{
		{"From", fromAddr.String()},
		{"To", toAddr.String()},
		{"Subject", encodeHeader(Subject(v))},
		{"Date", when.Format(time.RFC1123Z)},
		{"Message-ID", msgID},
		{"MIME-Version", "1.0"},
		{"Content-Type", mime.FormatMediaType("multipart/mixed", map[string]string{"boundary": mw.Boundary()})},
		// RFC 3834: machine-generated, so vacation responders stay quiet.
		{"Auto-Submitted", "auto-generated"},
	} {
		fmt.Fprintf(&buf, "%s: %s\r\n", h[0], h[1])
	}
	buf.WriteString("\r\n")

	text, err := mw.CreatePart(textproto.MIMEHeader{
		"Content-Type":              {"text/plain; charset=utf-8"},
		"Content-Transfer-Encoding": {"quoted-printable"},
	})
	if err != nil {
		return nil, fmt.Errorf("mailer: text part: %w", err)
	}
	qp := quotedprintable.NewWriter(text)
	if _, err := qp.Write([]byte(bodyText(v, when))); err != nil {
		return nil, fmt.Errorf("mailer: text part: %w", err)
	}
	if err := qp.Close(); err != nil {
		return nil, fmt.Errorf("mailer: text part: %w", err)
	}

	name := attachmentName(v)
	att, err := mw.CreatePart(textproto.MIMEHeader{
		"Content-Type":              {mime.FormatMediaType("audio/wav", map[string]string{"name": name})},
		"Content-Disposition":       {mime.FormatMediaType("attachment", map[string]string{"filename": name})},
		"Content-Transfer-Encoding": {"base64"},
	})
	if err != nil {
		return nil, fmt.Errorf("mailer: attachment: %w", err)
	}
	writeBase64Lines(att, v.WAV)
	if err := mw.Close(); err != nil {
		return nil, fmt.Errorf("mailer: %w", err)
	}
	return buf.Bytes(), nil
}

// bodyText is the text part: what a listener wants to know before opening
// the attachment.
func bodyText(v Voicemail, when time.Time) string {
	mailbox := HeaderText(v.Mailbox, 64)
	if f := HeaderText(v.Firm, 253); f != "" {
		mailbox += " (" + f + ")"
	}
	var b strings.Builder
	b.WriteString("You have a new voicemail.\r\n\r\n")
	fmt.Fprintf(&b, "Mailbox:  %s\r\n", mailbox)
	fmt.Fprintf(&b, "Caller:   %s\r\n", CallerText(v.Caller, v.CallerName))
	fmt.Fprintf(&b, "Time:     %s\r\n", when.Format("Mon, 02 Jan 2006 15:04:05 -0700"))
	fmt.Fprintf(&b, "Duration: %s\r\n\r\n", FormatDuration(v.Duration))
	fmt.Fprintf(&b, "The recording is attached as %s.\r\n", attachmentName(v))
	return b.String()
}

// writeBase64Lines writes data base64-encoded in lines of 76 characters, the
// MIME limit (RFC 2045 6.8).
func writeBase64Lines(w interface{ Write([]byte) (int, error) }, data []byte) {
	const perLine = 57 // bytes that encode to 76 characters
	line := make([]byte, base64.StdEncoding.EncodedLen(perLine)+2)
	for len(data) > 0 {
		n := min(perLine, len(data))
		m := base64.StdEncoding.EncodedLen(n)
		base64.StdEncoding.Encode(line, data[:n])
		line[m], line[m+1] = '\r', '\n'
		w.Write(line[:m+2])
		data = data[n:]
	}
}

// messageID makes a unique Message-ID in the sender's domain.
func messageID(sender string) (string, error) {
	var b [16]byte
	if _, err := rand.Read(b[:]); err != nil {
		return "", fmt.Errorf("mailer: message id: %w", err)
	}
	domain := "switchboard.invalid"
	if i := strings.LastIndexByte(sender, '@'); i >= 0 && validDomain(sender[i+1:]) {
		domain = sender[i+1:]
	}
	return "<" + hex.EncodeToString(b[:]) + "@" + domain + ">", nil
}

// validDomain accepts the dot-atom domains a Message-ID can carry as they are.
func validDomain(d string) bool {
	if d == "" || len(d) > 253 {
		return false
	}
	for i := 0; i < len(d); i++ {
		c := d[i]
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-' || c == '.') {
			return false
		}
	}
	return true
}

// checkAddresses fails for a sender or recipient that no attempt could use.
func checkAddresses(from, to string) error {
	if _, err := mail.ParseAddress(from); err != nil {
		return fmt.Errorf("mailer: sender %q: %w", from, err)
	}
	if _, err := mail.ParseAddress(to); err != nil {
		return fmt.Errorf("mailer: recipient %q: %w", to, err)
	}
	return nil
}
