package dialplan

import (
	"strings"
	"testing"
)

func TestPatternMatch(t *testing.T) {
	t.Parallel()
	tests := []struct {
		pattern string
		number  string
		want    bool
	}{
		{"+15550100", "+15550100", true},
		{"+15550100", "+155501000", false},
		{"+15550100", "15550100", false},
		{"1001", "1001", true},
		{"sales", "sales", true},
		{"_X", "5", true},
		{"_X", "55", false},
		{"_X", "", false},
		{"_X", "a", false},
		{"_Z", "0", false},
		{"_Z", "1", true},
		{"_N", "1", false},
		{"_N", "2", true},
		{"_n", "9", true},
		{"_xzn", "010", false},
		{"_xzn", "012", true},
		{"_1[5-7]X", "160", true},
		{"_1[5-7]X", "180", false},
		{"_1[135]X", "130", true},
		{"_1[135]X", "120", false},
		{"_[1-35-7]", "4", false},
		{"_[1-35-7]", "6", true},
		{"_[+0]X.", "+12", true},
		{"_+1555010X", "+15550107", true},
		{"_+1555010X", "15550107", false},
		{"_+X.", "+4420", true},
		{"_+X.", "+4", false}, // '.' needs at least one more character
		{"_9!", "9", true},    // '!' allows nothing more
		{"_9!", "9123", true},
		{"_9.", "9", false},
		{"_9.", "9x#", true},
		{"_*5X", "*50", true},
		{"_#", "#", true},
		{"_.", "anything", true},
		{"_!", "", true},
	}
	for _, tc := range tests {
		p, err := ParsePattern(tc.pattern)
		if err != nil {
			t.Errorf("ParsePattern(%q): %v", tc.pattern, err)
			continue
		}
		if got := p.Match(tc.number); got != tc.want {
			t.Errorf("%q.Match(%q) = %v, want %v", tc.pattern, tc.number, got, tc.want)
		}
		if p.String() != tc.pattern {
			t.Errorf("String() = %q, want %q", p.String(), tc.pattern)
		}
	}
}

func TestPatternParseErrors(t *testing.T) {
	t.Parallel()
	tests := []struct{ pattern, want string }{
		{"", "empty pattern"},
		{"_", "no elements"},
		{"_9.X", "must be the last"},
		{"_!X", "must be the last"},
		{"_1[5", "unclosed"},
		{"_1[]", "empty []"},
		{"_[9-1]", "reversed range"},
		{"_[a]", "invalid character"},
		{"_[5-]", "invalid character '-'"},
		{"_A", "invalid character 'A'"},
		{"_1 2", "invalid character ' '"},
		{"15 55", "invalid character ' '"},
		{"sip:x", "invalid character ':'"},
		{"_" + strings.Repeat("X", 70), "longer than"},
	}
	for _, tc := range tests {
		_, err := ParsePattern(tc.pattern)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("ParsePattern(%q) error = %v, want %q", tc.pattern, err, tc.want)
		}
	}
}

func TestPatternZeroMatchesNothing(t *testing.T) {
	t.Parallel()
	var p Pattern
	if p.Match("") || p.Match("1") || !p.IsZero() {
		t.Errorf("zero Pattern matched")
	}
}

func TestPatternMinLen(t *testing.T) {
	t.Parallel()
	for pat, want := range map[string]int{"1001": 4, "_XX": 2, "_9.": 2, "_9!": 1, "_[12]X": 2} {
		if got := mustPattern(t, pat).MinLen(); got != want {
			t.Errorf("%q.MinLen() = %d, want %d", pat, got, want)
		}
	}
}

func mustPattern(t testing.TB, s string) Pattern {
	t.Helper()
	p, err := ParsePattern(s)
	if err != nil {
		t.Fatal(err)
	}
	return p
}

func TestParseTarget(t *testing.T) {
	t.Parallel()
	for _, s := range []string{"agent:alice", "team:support", "ivr:main", "voicemail:general", "callback:sales", "callback"} {
		tg, err := ParseTarget(s)
		if err != nil || tg.String() != s {
			t.Errorf("ParseTarget(%q) = %v, %v", s, tg, err)
		}
	}
	for _, s := range []string{"", "alice", "queue:x", "agent:", "agent:a b", "agent:-x", ":x"} {
		if _, err := ParseTarget(s); err == nil {
			t.Errorf("ParseTarget(%q) succeeded", s)
		}
	}
}
