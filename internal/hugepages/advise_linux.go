package hugepages

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"strconv"
	"syscall"
)

const thpDir = "/sys/kernel/mm/transparent_hugepage/"

func readMode() (string, error) {
	b, err := os.ReadFile(thpDir + "enabled")
	if err != nil {
		return "", fmt.Errorf("hugepages: %w", err)
	}
	return selectedMode(b), nil
}

// readPMDSize is the size of a transparent huge page, 0 if unknown.
func readPMDSize() uint64 {
	b, err := os.ReadFile(thpDir + "hpage_pmd_size")
	if err != nil {
		return 0
	}
	n, err := strconv.ParseUint(string(bytes.TrimSpace(b)), 10, 64)
	if err != nil {
		return 0
	}
	return n
}

// adviseAt advises the run of heap mappings that holds addr.
func adviseAt(addr uintptr) (start, end uintptr, err error) {
	b, err := os.ReadFile("/proc/self/maps")
	if err != nil {
		return 0, 0, fmt.Errorf("hugepages: %w", err)
	}
	start, end, ok := heapRun(parseMaps(b), addr)
	if !ok {
		return 0, 0, errors.New("hugepages: no anonymous mapping holds the heap in /proc/self/maps")
	}
	if _, _, e := syscall.Syscall(syscall.SYS_MADVISE, start, end-start, syscall.MADV_HUGEPAGE); e != 0 {
		return 0, 0, fmt.Errorf("hugepages: madvise %#x+%d: %w", start, end-start, e)
	}
	return start, end, nil
}

// roomFor says whether the heap can map n more bytes without a second
// thought. The runtime cannot take no for an answer (a refused mapping ends
// the process), so: the kernel does not refuse mappings beyond RAM
// (vm.overcommit_memory is not 2), no address space or data limit is near,
// and n is a small share of the memory available.
func roomFor(n uint64) bool {
	b, err := os.ReadFile("/proc/sys/vm/overcommit_memory")
	if err != nil || string(bytes.TrimSpace(b)) == "2" {
		return false
	}
	for _, which := range []int{syscall.RLIMIT_AS, syscall.RLIMIT_DATA} {
		var l syscall.Rlimit
		if err := syscall.Getrlimit(which, &l); err != nil {
			return false
		}
		if l.Cur != ^uint64(0) && l.Cur < 4*n {
			return false
		}
	}
	b, err = os.ReadFile("/proc/meminfo")
	if err != nil {
		return false
	}
	kb, ok := memAvailableKB(b)
	return ok && kb*1024 >= 4*n
}
