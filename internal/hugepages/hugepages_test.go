package hugepages

import (
	"log/slog"
	"os"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"testing"
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

const maps = `00400000-00c4d000 r-xp 00000000 fd:01 1234                               /usr/bin/switchboard
0161e000-03664000 rw-p 00000000 00:00 0 
27cdcc000000-27cdcdc00000 ---p 00000000 00:00 0 
27cdcdc00000-27cde5400000 rw-p 00000000 00:00 0 
27cde5400000-27cde8000000 rw-p 00000000 00:00 0 
27cde8000000-27cde9000000 rw-p 00000000 00:00 0 
27cdea000000-27cdeb000000 rw-p 00000000 00:00 0 
7fea5e600000-7fea5ee00000 r--s 00000000 fd:01 99                         /data/switchboard.db
7fea5ee00000-7fea5ef00000 rw-p 00000000 00:00 0                          [stack]
garbage line
`

func TestHeapRun(t *testing.T) {
	t.Parallel()
	vmas := parseMaps([]byte(maps))
	if len(vmas) != 9 {
		t.Fatalf("parseMaps: %d mappings, want 9: %+v", len(vmas), vmas)
	}
	for _, tc := range []struct {
		name       string
		addr       uintptr
		start, end uintptr
		ok         bool
	}{
		// Three adjacent anonymous mappings, the heap grown twice; the
		// reservation below and the gap above end the run.
		{"middle of the run", 0x27cde5400010, 0x27cdcdc00000, 0x27cde9000000, true},
		{"first byte", 0x27cdcdc00000, 0x27cdcdc00000, 0x27cde9000000, true},
		{"last byte", 0x27cde8ffffff, 0x27cdcdc00000, 0x27cde9000000, true},
		{"after a gap", 0x27cdea000000, 0x27cdea000000, 0x27cdeb000000, true},
		{"inaccessible reservation", 0x27cdcc000000, 0, 0, false},
		{"file mapping", 0x7fea5e600000, 0, 0, false},
		{"named anonymous mapping", 0x7fea5ee00000, 0, 0, false},
		{"code", 0x400000, 0, 0, false},
		{"nothing mapped", 0x1000, 0, 0, false},
	} {
		start, end, ok := heapRun(vmas, tc.addr)
		if start != tc.start || end != tc.end || ok != tc.ok {
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
// mappings carry the advice (the "hg" flag of /proc/self/smaps).
func TestReserveIsAdvised(t *testing.T) {
	if runtime.GOOS != "linux" {
		t.Skip("Linux only")
	}
	if mode, err := readMode(); err != nil || mode != "madvise" {
		t.Skipf("transparent huge pages are %q here (%v): nothing to advise", mode, err)
	}
	a := &advisor{log: slog.New(slog.DiscardHandler), reserveBytes: 64 << 20}
	start, end := a.reserve()
	if a.failed || end-start < 64<<20 {
		t.Fatalf("reserve advised %#x-%#x (failed %v), want at least 64 MiB", start, end, a.failed)
	}
	b, err := os.ReadFile("/proc/self/smaps")
	if err != nil {
		t.Fatal(err)
	}
	advised := 0
	var cur uintptr
	for _, line := range strings.Split(string(b), "\n") {
		// A mapping's first line starts with its range; its VmFlags come last.
		if lo, _, ok := strings.Cut(line, "-"); ok {
			if v, err := strconv.ParseUint(lo, 16, 64); err == nil {
				cur = uintptr(v)
				continue
			}
		}
		if f, ok := strings.CutPrefix(line, "VmFlags:"); ok && cur >= start && cur < end {
			if !slices.Contains(strings.Fields(f), "hg") {
				t.Errorf("mapping at %#x in the advised run has no hg flag: %s", cur, f)
			}
			advised++
		}
	}
	if advised == 0 {
		t.Fatalf("no mapping of %#x-%#x in /proc/self/smaps", start, end)
	}
}

func FuzzHeapRun(f *testing.F) {
	f.Add([]byte(maps), uint64(0x27cde5400010))
	f.Add([]byte("0-1 rw-p 0 0 0\n"), uint64(0))
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
