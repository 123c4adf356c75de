package hugepages

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"syscall"
)

const modeFile = "/sys/kernel/mm/transparent_hugepage/enabled"

func readMode() (string, error) {
	b, err := os.ReadFile(modeFile)
	if err != nil {
		return "", fmt.Errorf("hugepages: %w", err)
	}
	return selectedMode(b), nil
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

// roomFor says whether the system can give the heap n more bytes of address
// space without a second thought: the kernel does not refuse mappings beyond
// RAM (vm.overcommit_memory is not 2, where a refusal would end the process)
// and n is a small share of the memory available.
func roomFor(n uint64) bool {
	b, err := os.ReadFile("/proc/sys/vm/overcommit_memory")
	if err != nil || string(bytes.TrimSpace(b)) == "2" {
		return false
	}
	b, err = os.ReadFile("/proc/meminfo")
	if err != nil {
		return false
	}
	kb, ok := memAvailableKB(b)
	return ok && kb*1024 >= 4*n
}
