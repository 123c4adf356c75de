//go:build !linux

package hugepages

import "errors"

func readMode() (string, error) { return "", errors.New("hugepages: Linux only") }

func readPMDSize() uint64 { return 0 }

func adviseAt(uintptr) (start, end uintptr, err error) {
	return 0, 0, errors.New("hugepages: Linux only")
}

func roomFor(uint64) bool { return false }
