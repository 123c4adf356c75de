package dialplan

import (
	"fmt"
	"strings"
)

// Problem is one validation finding, located at a line of a file.
type Problem struct {
	File string
	// Line is 1-based; 0 means the problem concerns the file as a whole.
	Line int
	Msg  string
}

// String formats the problem as "file:line: message" (or "file: message"
// when no line applies), the form editors and CI tools jump to.
func (p Problem) String() string {
	if p.Line <= 0 {
		return fmt.Sprintf("%s: %s", p.File, p.Msg)
	}
	return fmt.Sprintf("%s:%d: %s", p.File, p.Line, p.Msg)
}

// ValidationError lists every problem found in a configuration.
type ValidationError struct {
	Problems []Problem
}

// Error returns the problems, one "file:line: message" per line.
func (e *ValidationError) Error() string {
	lines := make([]string, len(e.Problems))
	for i, p := range e.Problems {
		lines[i] = p.String()
	}
	return strings.Join(lines, "\n")
}
