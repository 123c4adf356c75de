package main

import (
	"bytes"
	"encoding/json"
	"log/slog"
	"strings"
	"testing"
)

// Both formats escape terminal control bytes a SIP peer could send, and
// neither prints a secret-named attribute's value; json writes one object a
// line with time, level and msg.
func TestLogFormats(t *testing.T) {
	t.Parallel()
	const evil = "Mallory\x1b[31m\x1b]0;pwned\x07"
	for _, format := range []string{"text", "json"} {
		t.Run(format, func(t *testing.T) {
			t.Parallel()
			var buf bytes.Buffer
			log, err := newLogger(&buf, format, slog.LevelInfo)
			if err != nil {
				t.Fatal(err)
			}
			log.Info("call from "+evil, "caller", evil, "token", "s3cret-token", "password", "s3cret-pw",
				slog.Group("smtp", "smtp_password", "s3cret-mail"), "voicemail_pin", "1234")
			log.Debug("not shown at info")
			out := buf.String()
			if strings.ContainsAny(out, "\x1b\x07") {
				t.Errorf("raw control bytes in %s output: %q", format, out)
			}
			for _, secret := range []string{"s3cret", "1234"} {
				if strings.Contains(out, secret) {
					t.Errorf("%s output shows %q: %s", format, secret, out)
				}
			}
			lines := strings.Split(strings.TrimSpace(out), "\n")
			if len(lines) != 1 {
				t.Fatalf("%d lines, want 1: %q", len(lines), out)
			}
			if format == "text" {
				if !strings.Contains(out, "level=INFO") || !strings.Contains(out, "token="+redacted) {
					t.Errorf("text line: %s", out)
				}
				return
			}
			var rec map[string]any
			if err := json.Unmarshal([]byte(lines[0]), &rec); err != nil {
				t.Fatalf("not JSON: %v: %s", err, lines[0])
			}
			if rec["level"] != "INFO" || rec["caller"] != evil || rec["token"] != redacted || rec["time"] == nil ||
				!strings.HasPrefix(rec["msg"].(string), "call from Mallory") {
				t.Errorf("json record %v", rec)
			}
			if smtp, _ := rec["smtp"].(map[string]any); smtp["smtp_password"] != redacted {
				t.Errorf("nested secret: %v", rec["smtp"])
			}
		})
	}
}

func TestLogFormatFlag(t *testing.T) {
	t.Parallel()
	if _, err := newLogger(&bytes.Buffer{}, "xml", slog.LevelInfo); err == nil {
		t.Error("newLogger(xml) = nil error")
	}
	code, _, errOut := runCLI("serve", "-log-format", "xml")
	if code != 2 || !strings.Contains(errOut, `unknown log format "xml"`) {
		t.Errorf("serve -log-format xml: exit %d, stderr %q", code, errOut)
	}
}
