package sip

import (
	"errors"
	"fmt"
	"strings"
)

// Replaces names a dialog to take over (RFC 3891): the value of a Replaces header in
// an INVITE, or of the Replaces= header of a Refer-To URI (attended transfer).
// ToTag and FromTag are as the sender of the header sees the dialog; which one is
// ours depends on who sent it, so lookups try both orders (LegByReplaces).
type Replaces struct {
	CallID    string
	ToTag     string
	FromTag   string
	EarlyOnly bool
}

// ErrBadReplaces is wrapped by every ParseReplaces error.
var ErrBadReplaces = errors.New("sip: bad Replaces")

// ParseReplaces parses a Replaces header value:
//
//	callid;to-tag=X;from-tag=Y[;early-only]
//
// Parameter names are matched case-insensitively, in any order, with whitespace
// around them and around "=" ignored, and unknown parameters skipped, because phones
// differ in all of these. A missing or empty Call-ID, to-tag or from-tag, a tag given
// twice, or characters a Call-ID or tag cannot hold are errors: a Replaces we cannot
// pin to exactly one dialog must not take over any.
func ParseReplaces(v string) (Replaces, error) {
	parts := strings.Split(v, ";")
	var r Replaces
	r.CallID = strings.TrimSpace(parts[0])
	if r.CallID == "" {
		return Replaces{}, fmt.Errorf("%w: no Call-ID in %q", ErrBadReplaces, v)
	}
	if !validWord(r.CallID) {
		return Replaces{}, fmt.Errorf("%w: Call-ID %q", ErrBadReplaces, r.CallID)
	}
	var haveTo, haveFrom bool
	for _, p := range parts[1:] {
		name, value, hasValue := strings.Cut(p, "=")
		name = strings.ToLower(strings.TrimSpace(name))
		value = strings.TrimSpace(value)
		switch name {
		case "to-tag", "from-tag":
			if !hasValue || value == "" || !validToken(value) {
				return Replaces{}, fmt.Errorf("%w: %s %q", ErrBadReplaces, name, value)
			}
			if name == "to-tag" {
				if haveTo {
					return Replaces{}, fmt.Errorf("%w: to-tag given twice", ErrBadReplaces)
				}
				r.ToTag, haveTo = value, true
			} else {
				if haveFrom {
					return Replaces{}, fmt.Errorf("%w: from-tag given twice", ErrBadReplaces)
				}
				r.FromTag, haveFrom = value, true
			}
		case "early-only":
			// A flag; a value (early-only=true) from a sloppy phone still means it.
			r.EarlyOnly = true
		}
	}
	if !haveTo || !haveFrom {
		return Replaces{}, fmt.Errorf("%w: to-tag and from-tag required in %q", ErrBadReplaces, v)
	}
	return r, nil
}

// String formats r as a Replaces header value, the form ParseReplaces reads.
func (r Replaces) String() string {
	var b strings.Builder
	b.WriteString(r.CallID)
	b.WriteString(";to-tag=")
	b.WriteString(r.ToTag)
	b.WriteString(";from-tag=")
	b.WriteString(r.FromTag)
	if r.EarlyOnly {
		b.WriteString(";early-only")
	}
	return b.String()
}

// ReplacesOf reads the Replaces header of an INVITE: ok is false when there is none;
// err is set when it is malformed or given more than once (RFC 3891 section 3: 400).
func ReplacesOf(req *Request) (r Replaces, ok bool, err error) {
	hs := req.GetHeaders("replaces")
	switch len(hs) {
	case 0:
		return Replaces{}, false, nil
	case 1:
	default:
		return Replaces{}, true, fmt.Errorf("%w: %d Replaces headers", ErrBadReplaces, len(hs))
	}
	r, err = ParseReplaces(hs[0].Value())
	if err != nil {
		return Replaces{}, true, err
	}
	return r, true, nil
}

// validToken reports whether s is an RFC 3261 token (what a tag is).
func validToken(s string) bool {
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !isAlnum(c) && !strings.ContainsRune("-.!%*_+`'~", rune(c)) {
			return false
		}
	}
	return s != ""
}

// validWord reports whether s is a Call-ID: word ["@" word] of RFC 3261.
func validWord(s string) bool {
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !isAlnum(c) && !strings.ContainsRune("-.!%*_+`'~()<>:\\\"/[]?{}@", rune(c)) {
			return false
		}
	}
	return s != "" && strings.Count(s, "@") <= 1
}

func isAlnum(c byte) bool {
	return c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9'
}
