package hugepages

import (
	"log/slog"
	"os"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"testing"
	"unsafe"
)

func TestSelectedMode(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct{ in, want string }{
		{"always [madvise] never\n", "madvise"},
		{"[always] madvise never\n", "always"},
		{"always madvise [never]\n", "never"},
		{"always madvise never\n", ""},
		{"[madvise", ""},
		{"", ""},
	} {
		if got := selectedMode([]byte(tc.in)); got != tc.want {
			t.Errorf("selectedMode(%q) = %q, want %q", tc.in, got, tc.want)
		}
	}
}

func TestSkipReason(t *testing.T) {
	t.Parallel()
	const mib = 1 << 20
	for _, tc := range []struct {
		name string
		env  map[string]string
		mode string
		pmd  uint64
		skip bool
	}{
		{"madvise, 2 MiB pages", nil, "madvise", 2 * mib, false},
		{"other GODEBUG settings", map[string]string{"GODEBUG": "madvdontneed=1,disablethp=0"}, "madvise", 2 * mib, false},
		{"always: nothing to do", nil, "always", 2 * mib, true},
		{"never: the operator's choice", nil, "never", 2 * mib, true},
		{"mode unreadable", nil, "", 2 * mib, true},
		{"512 MiB huge pages", nil, "madvise", 512 * mib, true},
		{"huge page size unknown", nil, "madvise", 0, true},
		{"switched off", map[string]string{"SWITCHBOARD_HUGEPAGES": "off"}, "madvise", 2 * mib, true},
		{"memory limit", map[string]string{"GOMEMLIMIT": "2GiB"}, "madvise", 2 * mib, true},
		{"no memory limit", map[string]string{"GOMEMLIMIT": "off"}, "madvise", 2 * mib, false},
		{"runtime told not to", map[string]string{"GODEBUG": "gctrace=1,disablethp=1"}, "madvise", 2 * mib, true},
	} {
		getenv := func(k string) string { return tc.env[k] }
		why := skipReason(getenv, tc.mode, tc.pmd)
		if unsafe.Sizeof(uintptr(0)) < 8 {
			tc.skip = true
		}
		if (why != "") != tc.skip {
			t.Errorf("%s: skipReason = %q, want a reason: %v", tc.name, why, tc.skip)
		}
	}
}

const maps = `00400000-00c4d000 r-xp 00000000 fd:01 1234                               /usr/bin/switchboard
0161e000-03664000 rw-p 00000000 00:00 0 
27cdcc000000-27cdcdc00000 ---p 00000000 00:00 0 
27cdcdc00000-27cde5400000 rw-p 00000000 00:00 0 
27cde5400000-27cde8000000 rw-p 00000000 00:00 0                          [anon: Go: heap]
27cde8000000-27cde9000000 rw-p 00000000 00:00 0 
27cdea000000-27cdeb000000 rw-p 00000000 00:00 0 
27cdeb000000-27cdec000000 rw-p 00000000 00:00 0                          [anon: Go: scavenge index]
7fea5e600000-7fea5ee00000 r--s 00000000 fd:01 99                         /data/switchboard.db
7fea5ee00000-7fea5ef00000 rw-p 00000000 00:00 0                          [stack]
garbage line
`

func TestHeapRun(t *testing.T) {
	t.Parallel()
	if unsafe.Sizeof(uintptr(0)) < 8 {
		t.Skip("the example's addresses are 64-bit")
	}
	vmas := parseMaps([]byte(maps))
	if len(vmas) != 10 {
		t.Fatalf("parseMaps: %d mappings, want 10: %+v", len(vmas), vmas)
	}
	for _, tc := range []struct {
		name       string
		addr       uint64
		start, end uint64
		ok         bool
	}{
		// Three adjacent anonymous mappings (one named by the runtime), the
		// heap grown twice; the reservation below and the gap above end the run.
		{"middle of the run", 0x27cde5400010, 0x27cdcdc00000, 0x27cde9000000, true},
		{"first byte", 0x27cdcdc00000, 0x27cdcdc00000, 0x27cde9000000, true},
		{"last byte", 0x27cde8ffffff, 0x27cdcdc00000, 0x27cde9000000, true},
		{"after a gap, up to another kind of mapping", 0x27cdea000000, 0x27cdea000000, 0x27cdeb000000, true},
		{"the runtime's other mappings", 0x27cdeb000000, 0, 0, false},
		{"inaccessible reservation", 0x27cdcc000000, 0, 0, false},
		{"file mapping", 0x7fea5e600000, 0, 0, false},
		{"named anonymous mapping", 0x7fea5ee00000, 0, 0, false},
		{"code", 0x400000, 0, 0, false},
		{"nothing mapped", 0x1000, 0, 0, false},
	} {
		start, end, ok := heapRun(vmas, uintptr(tc.addr))
		if uint64(start) != tc.start || uint64(end) != tc.end || ok != tc.ok {
			t.Errorf("%s: heapRun(%#x) = %#x, %#x, %v; want %#x, %#x, %v", tc.name, tc.addr, start, end, ok, tc.start, tc.end, tc.ok)
		}
	}
}

func TestMemAvailable(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		in   string
		want uint64
		ok   bool
	}{
		{"MemTotal:       24683560 kB\nMemFree:        22607252 kB\nMemAvailable:   24216364 kB\n", 24216364, true},
		{"MemTotal: 1 kB\n", 0, false},
		{"MemAvailable:\n", 0, false},
		{"MemAvailable: lots kB\n", 0, false},
	} {
		got, ok := memAvailableKB([]byte(tc.in))
		if got != tc.want || ok != tc.ok {
			t.Errorf("memAvailableKB(%q) = %d, %v; want %d, %v", tc.in, got, ok, tc.want, tc.ok)
		}
	}
}

// TestReserveIsAdvised checks on this machine's kernel that the reserve's
// mappings carry the advice (the "hg" flag of /proc/self/smaps) and that
// reserving did not touch the memory.
func TestReserveIsAdvised(t *testing.T) {
	const size = 64 << 20
	if runtime.GOOS != "linux" {
		t.Skip("Linux only")
	}
	mode, err := readMode()
	if why := skipReason(func(string) string { return "" }, mode, readPMDSize()); err != nil || why != "" {
		t.Skipf("nothing to advise here: %s (%v)", why, err)
	}
	if !roomFor(size) {
		t.Skip("no room for a reserve here")
	}
	a := &advisor{log: slog.New(slog.DiscardHandler), reserveBytes: size}
	start, end := a.reserve()
	if a.failed || end-start < size {
		t.Fatalf("reserve advised %#x-%#x (failed %v), want at least 64 MiB", start, end, a.failed)
	}
	b, err := os.ReadFile("/proc/self/smaps")
	if err != nil {
		t.Fatal(err)
	}
	advised, rssKB := 0, 0
	var cur uintptr
	for _, line := range strings.Split(string(b), "\n") {
		// A mapping's first line starts with its range; its VmFlags come last.
		if lo, _, ok := strings.Cut(line, "-"); ok {
			if v, err := strconv.ParseUint(lo, 16, 64); err == nil {
				cur = uintptr(v)
				continue
			}
		}
		if cur < start || cur >= end {
			continue
		}
		if f, ok := strings.CutPrefix(line, "Rss:"); ok {
			kb, _ := strconv.Atoi(strings.Fields(f)[0])
			rssKB += kb
		}
		if f, ok := strings.CutPrefix(line, "VmFlags:"); ok {
			if !slices.Contains(strings.Fields(f), "hg") {
				t.Errorf("mapping at %#x in the advised run has no hg flag: %s", cur, f)
			}
			advised++
		}
	}
	if advised == 0 {
		t.Fatalf("no mapping of %#x-%#x in /proc/self/smaps", start, end)
	}
	// The run holds this test's whole heap too, a few MiB.
	if rssKB*1024 >= size/2 {
		t.Errorf("the advised run has %d KiB resident: the reserve was touched", rssKB)
	}
}

func FuzzHeapRun(f *testing.F) {
	f.Add([]byte(maps), uint64(0x27cde5400010))
	f.Add([]byte("0-1 rw-p 0 00:00 0\n"), uint64(0))
	f.Add([]byte("10-20 rw-p 0 00:00 0 [anon: Go: heap]\n20-30 rw-p 0 00:00 0\n"), uint64(0x25))
	f.Fuzz(func(t *testing.T, b []byte, addr uint64) {
		vmas := parseMaps(b)
		for _, m := range vmas {
			if m.end <= m.start {
				t.Fatalf("mapping %#x-%#x is empty or reversed", m.start, m.end)
			}
		}
		start, end, ok := heapRun(vmas, uintptr(addr))
		if ok && (uintptr(addr) < start || uintptr(addr) >= end) {
			t.Fatalf("run %#x-%#x does not hold %#x", start, end, addr)
		}
		selectedMode(b)
		memAvailableKB(b)
	})
}
