// Package hugepages asks Linux to back the Go heap with transparent huge
// pages when the system leaves that choice to each program ("madvise", the
// default of Debian and Ubuntu). A PBX touches a little of many heap pages for
// every message: the SIP parser's headers, the transaction, the call, the
// media session. On a virtual machine each TLB miss walks two levels of page
// tables, and a page first touched faults into the kernel; with 2 MiB pages
// both become rare. bench/README.md has the measurements.
//
// The Go runtime itself does not advise its heap, and the advice only holds
// for pages not faulted in yet. So the package maps the heap's first
// reserveBytes up front, by allocating them once (the runtime does not touch
// fresh memory it hands out) and letting them go, and advises them with
// madvise(MADV_HUGEPAGE) before the heap grows into them. The mappings are
// found in /proc/self/maps by the address of an object of the heap's. Memory
// the heap maps later is advised when the package sees that the heap has
// grown; what was touched before that is left to khugepaged.
//
// The cost is memory the runtime does not see: where the scavenger gives back
// part of a 2 MiB page, khugepaged may fill it again (it does by default,
// max_ptes_none 511), so the resident size can stay near the heap's peak, as
// with "always". So the package stays out of the way where the operator has
// said something about memory: "never" and "always", GODEBUG=disablethp=1,
// GOMEMLIMIT, address space limits, strict overcommit, a small machine.
package hugepages

import (
	"bytes"
	"context"
	"fmt"
	"log/slog"
	"runtime"
	"runtime/metrics"
	"strconv"
	"strings"
	"time"
	"unsafe"
)

// reserveBytes is the heap mapped and advised at start: the heap of a
// server at 1000 calls/s (which keeps 32 s of transactions) fits. It is
// address space: the heap touches it only as it grows.
const reserveBytes = 1 << 30

// How often the heap's size is compared with what was advised: every second
// while it grows (under a new load the runtime maps tens of megabytes a
// second, each page of which would fault on its own), backing off to every
// ten seconds, so that an idle process wakes for this rarely.
const (
	minInterval = time.Second
	maxInterval = 10 * time.Second
)

// Start advises the heap now and whenever it has grown, until stop is called.
// getenv reads the process's environment (os.Getenv).
func Start(log *slog.Logger, getenv func(string) string) (stop func()) {
	mode, err := readMode()
	if err != nil {
		log.Debug("heap huge pages not advised", "err", err)
		return func() {}
	}
	if why := skipReason(getenv, mode, readPMDSize()); why != "" {
		log.Debug("heap huge pages not advised", "why", why)
		return func() {}
	}
	if !roomFor(reserveBytes) {
		// Where memory is short or limited, the resident size that huge pages
		// may keep after a peak matters most: small pages, as before.
		log.Debug("heap huge pages not advised", "why", "no room for the reserve")
		return func() {}
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	a := &advisor{log: log, reserveBytes: reserveBytes}
	a.reserve()
	a.check()
	go func() {
		defer close(done)
		wait := minInterval
		t := time.NewTimer(wait)
		defer t.Stop()
		for {
			select {
			case <-ctx.Done():
				return
			case <-t.C:
			}
			if a.check() {
				wait = minInterval
			} else {
				wait = min(2*wait, maxInterval)
			}
			t.Reset(wait)
		}
	}()
	return func() {
		cancel()
		<-done
	}
}

// skipReason says why the heap is not to be advised, or "" when it is: mode
// is the system's THP mode, pmdSize the size of a huge page (0: unknown).
func skipReason(getenv func(string) string, mode string, pmdSize uint64) string {
	switch {
	case getenv("SWITCHBOARD_HUGEPAGES") == "off":
		return "SWITCHBOARD_HUGEPAGES=off"
	case mode != "madvise":
		return fmt.Sprintf("the system's mode is %q", mode)
	case unsafe.Sizeof(uintptr(0)) < 8:
		return "32-bit address space"
	case pmdSize != 2<<20:
		// 64 KiB base pages make huge pages of 512 MiB: far too coarse.
		return fmt.Sprintf("huge pages of %d bytes", pmdSize)
	case getenv("GOMEMLIMIT") != "" && getenv("GOMEMLIMIT") != "off":
		return "GOMEMLIMIT is set"
	case strings.Contains(","+getenv("GODEBUG")+",", ",disablethp=1,"):
		return "GODEBUG has disablethp=1"
	}
	return ""
}

// advisor remembers how much memory the runtime had mapped when it last
// advised, so that a heap that did not grow costs one metrics read.
type advisor struct {
	log          *slog.Logger
	reserveBytes uint64
	mapped       uint64
	failed       bool
}

// reserve maps reserveBytes for the heap and advises them before anything
// touches them. The caller has checked roomFor. It returns the advised run of
// mappings (tests).
func (a *advisor) reserve() (start, end uintptr) {
	r := make([]byte, a.reserveBytes)
	start, end, err := adviseAt(uintptr(unsafe.Pointer(&r[0])))
	runtime.KeepAlive(r)
	// Whatever the advice did, the collector must not take the reserve for
	// live memory (with GOGC at 400 the next goal would be five times it):
	// this cycle finds it dead and sets the goal from the real heap.
	runtime.GC()
	if err != nil {
		a.failed = true
		a.log.Info("heap huge pages not advised", "err", err)
		return 0, 0
	}
	return start, end
}

// check advises the heap if the runtime mapped more memory since the last
// time, and says whether it did.
func (a *advisor) check() bool {
	if a.failed {
		return false
	}
	s := []metrics.Sample{{Name: "/memory/classes/total:bytes"}}
	metrics.Read(s)
	var total uint64
	if s[0].Value.Kind() == metrics.KindUint64 {
		total = s[0].Value.Uint64()
	}
	if total != 0 && total <= a.mapped {
		return false
	}
	// A goroutine's stack is carved from the heap's mappings like its objects.
	// Only the run of mappings next to it is advised: the runtime grows its
	// heap upward from where it began, and an arena it had to place elsewhere
	// (its address hint refused) stays on small pages.
	var probe [64]byte
	start, end, err := adviseAt(uintptr(unsafe.Pointer(&probe)))
	runtime.KeepAlive(&probe) // its address was looked up while it was in use
	if err != nil {
		// Not worth a warning: the server runs as before, on small pages.
		a.failed = true
		a.log.Info("heap huge pages not advised", "err", err)
		return false
	}
	a.mapped = total
	a.log.Debug("heap advised to use huge pages", "start", fmt.Sprintf("%#x", start), "bytes", end-start)
	return true
}

// selectedMode returns the bracketed word of a transparent_hugepage/enabled
// file ("always [madvise] never"), or "" when there is none.
func selectedMode(b []byte) string {
	i := bytes.IndexByte(b, '[')
	if i < 0 {
		return ""
	}
	j := bytes.IndexByte(b[i:], ']')
	if j < 0 {
		return ""
	}
	return string(b[i+1 : i+j])
}

// vma is one line of /proc/PID/maps.
type vma struct {
	start, end uintptr
	heap       bool // private, read-write, backed by no file: the Go heap's kind
}

// goHeapName is what the runtime names its heap mappings where the kernel
// lets it (CONFIG_ANON_VMA_NAME).
const goHeapName = "[anon: Go: heap]"

// parseMaps reads the lines of /proc/PID/maps, in their (ascending) order,
// skipping lines it cannot read.
func parseMaps(b []byte) []vma {
	var out []vma
	for len(b) > 0 {
		line := b
		if i := bytes.IndexByte(b, '\n'); i >= 0 {
			line, b = b[:i], b[i+1:]
		} else {
			b = nil
		}
		f := bytes.Fields(line)
		if len(f) < 5 {
			continue
		}
		lo, hi, ok := bytes.Cut(f[0], []byte{'-'})
		if !ok {
			continue
		}
		start, err1 := strconv.ParseUint(string(lo), 16, 64)
		end, err2 := strconv.ParseUint(string(hi), 16, 64)
		if err1 != nil || err2 != nil || end <= start || uint64(uintptr(end)) != end {
			continue
		}
		// Any other name ([stack], [heap], a file) is not the Go heap.
		name := ""
		if len(f) > 5 {
			name = string(bytes.Join(f[5:], []byte{' '}))
		}
		anon := string(f[3]) == "00:00" && string(f[4]) == "0" && (name == "" || name == goHeapName)
		out = append(out, vma{start: uintptr(start), end: uintptr(end), heap: anon && string(f[1]) == "rw-p"})
	}
	return out
}

// heapRun returns the run of adjacent heap mappings that holds addr: the
// runtime maps its heap piece by piece as it grows, and the kernel keeps a
// mapping already advised apart from its new neighbour.
func heapRun(maps []vma, addr uintptr) (start, end uintptr, ok bool) {
	for i, m := range maps {
		if addr < m.start || addr >= m.end {
			continue
		}
		if !m.heap {
			return 0, 0, false
		}
		lo, hi := i, i
		for lo > 0 && maps[lo-1].heap && maps[lo-1].end == maps[lo].start {
			lo--
		}
		for hi+1 < len(maps) && maps[hi+1].heap && maps[hi+1].start == maps[hi].end {
			hi++
		}
		return maps[lo].start, maps[hi].end, true
	}
	return 0, 0, false
}

// memAvailableKB reads MemAvailable from /proc/meminfo.
func memAvailableKB(b []byte) (uint64, bool) {
	for _, line := range bytes.Split(b, []byte{'\n'}) {
		rest, ok := bytes.CutPrefix(line, []byte("MemAvailable:"))
		if !ok {
			continue
		}
		f := bytes.Fields(rest)
		if len(f) == 0 {
			return 0, false
		}
		n, err := strconv.ParseUint(string(f[0]), 10, 64)
		return n, err == nil
	}
	return 0, false
}
