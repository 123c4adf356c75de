package dialplan

import (
	"errors"
	"fmt"
	"strings"
)

// Pattern matches dialled numbers. A pattern without a leading "_" matches
// exactly that string. A pattern with a leading "_" is Asterisk style, one
// element per character of the number:
//
//	X       any digit 0-9
//	Z       any digit 1-9
//	N       any digit 2-9
//	[1-5]   one character from the set (digits, ranges of digits, + * #)
//	.       one or more characters of any kind (only as the last element)
//	!       zero or more characters of any kind (only as the last element)
//	0-9 + * #  that character
//
// X, Z and N may be written in lower case. Patterns are compared in the order
// they appear in the file and the first match wins; there is no "most
// specific pattern" ordering, so list narrow patterns before broad ones.
//
// The zero Pattern matches nothing.
type Pattern struct {
	src   string
	exact bool
	elems []charSet
	// tail is 0 (none), '.' (one or more) or '!' (zero or more).
	tail byte
}

// charSet is a set of bytes as a 256-bit bitmap.
type charSet [4]uint64

func (s *charSet) add(c byte)      { s[c>>6] |= 1 << (c & 63) }
func (s *charSet) has(c byte) bool { return s[c>>6]&(1<<(c&63)) != 0 }
func (s *charSet) addRange(lo, hi byte) {
	for c := int(lo); c <= int(hi); c++ {
		s.add(byte(c))
	}
}

// ErrEmptyPattern is returned by ParsePattern for an empty string.
var ErrEmptyPattern = errors.New("empty pattern")

// maxPatternLen bounds a pattern; phone numbers are at most 15 digits (E.164),
// dial strings a little longer.
const maxPatternLen = 64

// ParsePattern parses an exact number or an Asterisk-style "_" pattern.
func ParsePattern(s string) (Pattern, error) {
	if s == "" {
		return Pattern{}, ErrEmptyPattern
	}
	if len(s) > maxPatternLen {
		return Pattern{}, fmt.Errorf("pattern longer than %d characters", maxPatternLen)
	}
	if s[0] != '_' {
		for i := 0; i < len(s); i++ {
			if !isDialChar(s[i]) {
				return Pattern{}, fmt.Errorf("invalid character %q in number %q (use digits, letters, + * # or a _pattern)", s[i], s)
			}
		}
		return Pattern{src: s, exact: true}, nil
	}
	p := Pattern{src: s}
	body := s[1:]
	if body == "" {
		return Pattern{}, errors.New(`pattern "_" has no elements`)
	}
	for i := 0; i < len(body); i++ {
		c := body[i]
		var set charSet
		switch {
		case c == '.' || c == '!':
			if i != len(body)-1 {
				return Pattern{}, fmt.Errorf("%q in pattern %q must be the last character", c, s)
			}
			p.tail = c
			continue
		case c == 'X' || c == 'x':
			set.addRange('0', '9')
		case c == 'Z' || c == 'z':
			set.addRange('1', '9')
		case c == 'N' || c == 'n':
			set.addRange('2', '9')
		case c == '[':
			end := strings.IndexByte(body[i+1:], ']')
			if end < 0 {
				return Pattern{}, fmt.Errorf("unclosed '[' in pattern %q", s)
			}
			cls := body[i+1 : i+1+end]
			if err := parseClass(cls, &set); err != nil {
				return Pattern{}, fmt.Errorf("pattern %q: %w", s, err)
			}
			i += end + 1
		case isDigit(c) || c == '+' || c == '*' || c == '#':
			set.add(c)
		default:
			return Pattern{}, fmt.Errorf("invalid character %q in pattern %q", c, s)
		}
		p.elems = append(p.elems, set)
	}
	return p, nil
}

// parseClass parses the inside of [...]: digits, ranges like 1-5, and + * #.
func parseClass(cls string, set *charSet) error {
	if cls == "" {
		return errors.New("empty []")
	}
	for i := 0; i < len(cls); i++ {
		c := cls[i]
		if !isDigit(c) && c != '+' && c != '*' && c != '#' {
			return fmt.Errorf("invalid character %q in [%s]", c, cls)
		}
		if i+2 < len(cls) && cls[i+1] == '-' {
			hi := cls[i+2]
			if !isDigit(c) || !isDigit(hi) {
				return fmt.Errorf("range %q in [%s] must be between digits", cls[i:i+3], cls)
			}
			if hi < c {
				return fmt.Errorf("reversed range %q in [%s]", cls[i:i+3], cls)
			}
			set.addRange(c, hi)
			i += 2
			continue
		}
		set.add(c)
	}
	return nil
}

func isDigit(c byte) bool { return c >= '0' && c <= '9' }

// isDialChar reports whether c may appear in an exact number or extension
// match: digits, letters (SIP user names), + * # and - . _ are allowed,
// nothing that needs escaping in a SIP URI.
func isDialChar(c byte) bool {
	return isDigit(c) || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
		c == '+' || c == '*' || c == '#' || c == '-' || c == '.' || c == '_'
}

// Match reports whether number matches the pattern.
func (p Pattern) Match(number string) bool {
	if p.src == "" {
		return false
	}
	if p.exact {
		return number == p.src
	}
	n := len(p.elems)
	switch p.tail {
	case 0:
		if len(number) != n {
			return false
		}
	case '.':
		if len(number) < n+1 {
			return false
		}
	default: // '!'
		if len(number) < n {
			return false
		}
	}
	for i := range p.elems {
		if !p.elems[i].has(number[i]) {
			return false
		}
	}
	return true
}

// MinLen returns the length of the shortest number the pattern matches.
func (p Pattern) MinLen() int {
	if p.exact {
		return len(p.src)
	}
	if p.tail == '.' {
		return len(p.elems) + 1
	}
	return len(p.elems)
}

// IsZero reports whether p is the zero Pattern, which matches nothing.
func (p Pattern) IsZero() bool { return p.src == "" }

// String returns the pattern as written.
func (p Pattern) String() string { return p.src }
