package main

import (
	"fmt"
	"io"
	"log/slog"
	"os"
	"strings"
)

// Log formats of serve's -log-format.
const (
	logText = "text" // key=value lines, what a person reads in the journal
	logJSON = "json" // one JSON object a line, for log shippers
)

// redacted replaces the value of an attribute whose key names a secret.
const redacted = "[redacted]"

// newLogger builds serve's logger on w. Neither of slog's handlers writes
// colour: both quote or escape control characters (a caller name with an
// ESC byte in it comes out as \x1b or \u001b), so a SIP peer cannot put
// terminal escapes into the journal. Attributes that name secrets are
// redacted as a last line of defence: no code logs them on purpose.
func newLogger(w io.Writer, format string, level slog.Leveler) (*slog.Logger, error) {
	opts := &slog.HandlerOptions{Level: level, ReplaceAttr: redactSecrets}
	switch format {
	case logText, "":
		return slog.New(slog.NewTextHandler(w, opts)), nil
	case logJSON:
		return slog.New(slog.NewJSONHandler(w, opts)), nil
	}
	return nil, fmt.Errorf("unknown log format %q (want %s or %s)", format, logText, logJSON)
}

// redactSecrets is the handlers' ReplaceAttr.
func redactSecrets(_ []string, a slog.Attr) slog.Attr {
	if secretKey(a.Key) {
		return slog.String(a.Key, redacted)
	}
	return a
}

// secretKey reports whether an attribute key names a credential: the admin
// token, SIP and SMTP passwords, digest hashes, voicemail PINs, HTTP
// authorization headers and session cookies.
func secretKey(key string) bool {
	k := strings.ToLower(key)
	switch k {
	case "token", "password", "passwd", "secret", "authorization", "proxy-authorization",
		"cookie", "set-cookie", "ha1", "ha1_sha256", "pin", "voicemail_pin":
		return true
	}
	for _, suffix := range []string{"_token", "_password", "_secret", "_pin"} {
		if strings.HasSuffix(k, suffix) {
			return true
		}
	}
	return false
}

// logLevel is debug when SWITCHBOARD_DEBUG is set, else info.
func logLevel() slog.Level {
	if os.Getenv("SWITCHBOARD_DEBUG") != "" {
		return slog.LevelDebug
	}
	return slog.LevelInfo
}
