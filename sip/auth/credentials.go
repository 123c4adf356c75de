package auth

import (
	"errors"
	"fmt"
	"strconv"
	"strings"
)

// maxCredentialsLen bounds the work spent on one header; real ones are a few hundred bytes.
const maxCredentialsLen = 4096

// credentials is a parsed Digest Authorization / Proxy-Authorization header value.
type credentials struct {
	username  string
	realm     string
	nonce     string
	uri       string
	response  string
	algorithm string // as sent; empty means MD5 (RFC 2617 3.2.2)
	cnonce    string
	qop       string
	nc        uint32
	hasNC     bool
	opaque    string
}

var (
	errNotDigest = errors.New("auth: not a Digest credentials header")
	errSyntax    = errors.New("auth: malformed credentials")
)

// parseCredentials parses `Digest k=v, k="quoted", ...` (RFC 7235 auth-param list).
// It rejects duplicate parameters: a header carrying two usernames or two responses
// is ambiguous, and which one wins must not depend on the parser.
func parseCredentials(s string) (credentials, error) {
	var c credentials
	if len(s) > maxCredentialsLen {
		return c, fmt.Errorf("%w: header longer than %d bytes", errSyntax, maxCredentialsLen)
	}
	s = strings.TrimLeft(s, " \t")
	const scheme = "digest"
	if len(s) <= len(scheme) || !strings.EqualFold(s[:len(scheme)], scheme) || (s[len(scheme)] != ' ' && s[len(scheme)] != '\t') {
		return c, errNotDigest
	}
	rest := s[len(scheme):]
	seen := make(map[string]bool, 10)
	for {
		rest = skipSpaceAndCommas(rest)
		if rest == "" {
			break
		}
		var key, val string
		var err error
		key, rest, err = readToken(rest)
		if err != nil {
			return c, err
		}
		rest = strings.TrimLeft(rest, " \t")
		if rest == "" || rest[0] != '=' {
			return c, fmt.Errorf("%w: parameter %q without value", errSyntax, key)
		}
		rest = strings.TrimLeft(rest[1:], " \t")
		if rest != "" && rest[0] == '"' {
			val, rest, err = readQuoted(rest)
		} else {
			val, rest, err = readToken(rest)
		}
		if err != nil {
			return c, fmt.Errorf("parameter %q: %w", key, err)
		}
		rest = strings.TrimLeft(rest, " \t")
		if rest != "" && rest[0] != ',' {
			return c, fmt.Errorf("%w: expected ',' after parameter %q", errSyntax, key)
		}
		key = strings.ToLower(key)
		if seen[key] {
			return c, fmt.Errorf("%w: duplicate parameter %q", errSyntax, key)
		}
		seen[key] = true
		if err := c.set(key, val); err != nil {
			return c, err
		}
	}
	return c, nil
}

func (c *credentials) set(key, val string) error {
	switch key {
	case "username":
		c.username = val
	case "realm":
		c.realm = val
	case "nonce":
		c.nonce = val
	case "uri":
		c.uri = val
	case "response":
		c.response = val
	case "algorithm":
		c.algorithm = val
	case "cnonce":
		c.cnonce = val
	case "qop":
		c.qop = val
	case "opaque":
		c.opaque = val
	case "nc":
		// RFC 2617: nc-value = 8LHEX. Accept shorter forms, never more than 32 bits.
		if val == "" || len(val) > 8 {
			return fmt.Errorf("%w: bad nc %q", errSyntax, val)
		}
		n, err := strconv.ParseUint(val, 16, 32)
		if err != nil {
			return fmt.Errorf("%w: bad nc %q", errSyntax, val)
		}
		c.nc, c.hasNC = uint32(n), true
	}
	// Unknown parameters (userhash, charset, extensions) are ignored as RFC 7616 asks.
	return nil
}

func skipSpaceAndCommas(s string) string {
	for s != "" && (s[0] == ' ' || s[0] == '\t' || s[0] == ',') {
		s = s[1:]
	}
	return s
}

// isTokenChar reports whether b may appear in an RFC 7230 token.
func isTokenChar(b byte) bool {
	if b >= 'a' && b <= 'z' || b >= 'A' && b <= 'Z' || b >= '0' && b <= '9' {
		return true
	}
	return strings.IndexByte("!#$%&'*+-.^_`|~", b) >= 0
}

func readToken(s string) (tok, rest string, err error) {
	i := 0
	for i < len(s) && isTokenChar(s[i]) {
		i++
	}
	if i == 0 {
		return "", s, fmt.Errorf("%w: expected token", errSyntax)
	}
	return s[:i], s[i:], nil
}

// readQuoted reads a quoted-string starting at s[0]=='"', undoing backslash escapes.
func readQuoted(s string) (val, rest string, err error) {
	var b strings.Builder
	for i := 1; i < len(s); i++ {
		switch ch := s[i]; ch {
		case '"':
			return b.String(), s[i+1:], nil
		case '\\':
			if i+1 >= len(s) {
				return "", "", fmt.Errorf("%w: dangling escape", errSyntax)
			}
			i++
			if s[i] == '\r' || s[i] == '\n' || s[i] == 0 {
				return "", "", fmt.Errorf("%w: control character in quoted string", errSyntax)
			}
			b.WriteByte(s[i])
		case '\r', '\n', 0:
			return "", "", fmt.Errorf("%w: control character in quoted string", errSyntax)
		default:
			b.WriteByte(ch)
		}
	}
	return "", "", fmt.Errorf("%w: unterminated quoted string", errSyntax)
}
