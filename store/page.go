package store

import (
	"bytes"

	bolt "go.etcd.io/bbolt"
)

// Page selects a window of a time-ordered list. IDs sort by time, so an ID
// doubles as a stable cursor: records added later never shift a page.
type Page struct {
	// Limit caps the number of records returned; 0 or less means no cap.
	Limit int
	// Before returns only records with an ID below this one (newest first).
	// Pass the last ID of the previous page to continue; "" starts at the
	// newest record.
	Before string
	// After returns only records with an ID above this one and switches the
	// order to oldest first. Pass the last ID of the previous page to
	// continue.
	After string
	// OldestFirst lists oldest first even when After is "" (from the very
	// first record).
	OldestFirst bool
}

// span is an ID range [lo, hi) within one key prefix; "" means unbounded.
type span struct {
	lo, hi string
}

// pageSpan converts a Page's cursors to an ID range. After is exclusive, so
// its inclusive bound is the smallest string above it.
func pageSpan(p Page) span {
	sp := span{hi: p.Before}
	if p.After != "" {
		sp.lo = p.After + "\x00"
	}
	return sp
}

// idEnd is above every ID character, so prefix+idEnd bounds a prefix's IDs.
const idEnd = 0xff

// walk visits the keys under prefix whose ID suffix lies in sp, newest
// first unless oldestFirst, until visit returns stop.
func walk(c *bolt.Cursor, prefix []byte, sp span, oldestFirst bool, visit func(id string, k, v []byte) (stop bool, err error)) error {
	inRange := func(k []byte) (string, bool) {
		if k == nil || !bytes.HasPrefix(k, prefix) {
			return "", false
		}
		id := string(k[len(prefix):])
		if (sp.lo != "" && id < sp.lo) || (sp.hi != "" && id >= sp.hi) {
			return "", false
		}
		return id, true
	}
	var k, v []byte
	step := c.Next
	if oldestFirst {
		k, v = c.Seek(append(append([]byte(nil), prefix...), sp.lo...))
	} else {
		step = c.Prev
		bound := append([]byte(nil), prefix...)
		if sp.hi != "" {
			bound = append(bound, sp.hi...)
		} else {
			bound = append(bound, idEnd)
		}
		// Seek lands on the first key >= bound; the newest record in range
		// is the one just before it (or the bucket's last key).
		if k, _ = c.Seek(bound); k == nil {
			k, v = c.Last()
		} else {
			k, v = c.Prev()
		}
	}
	for ; ; k, v = step() {
		id, ok := inRange(k)
		if !ok {
			return nil
		}
		stop, err := visit(id, k, v)
		if err != nil || stop {
			return err
		}
	}
}
