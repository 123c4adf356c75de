//go:build linux && (amd64 || arm64)

package udpsys

import (
	"encoding/binary"
	"net/netip"
	"syscall"
	"testing"
	"unsafe"
)

// TestFill checks the kernel form of destinations without sending: an IPv6
// peer cannot be reached from the loopback addresses tests may bind.
func TestFill(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name   string
		v6     bool
		to     string
		ok     bool
		family uint16
		addr   []byte
	}{
		{"IPv4 on IPv4", false, "192.0.2.7:5060", true, syscall.AF_INET, []byte{192, 0, 2, 7}},
		{"mapped on IPv4", false, "[::ffff:192.0.2.7]:5060", true, syscall.AF_INET, []byte{192, 0, 2, 7}},
		{"IPv6 on IPv4", false, "[2001:db8::1]:5060", false, 0, nil},
		{"IPv4 on dual-stack", true, "192.0.2.7:5060", true, syscall.AF_INET6, netip.MustParseAddr("::ffff:192.0.2.7").AsSlice()},
		{"IPv6 on IPv6", true, "[2001:db8::1]:5060", true, syscall.AF_INET6, netip.MustParseAddr("2001:db8::1").AsSlice()},
		{"zone: the net package's", true, "[fe80::1%1]:5060", false, 0, nil},
		{"mapped with a zone on IPv4: no zone for IPv4", false, "[::ffff:192.0.2.7%1]:5060", true, syscall.AF_INET, []byte{192, 0, 2, 7}},
		{"mapped with a zone on dual-stack", true, "[::ffff:192.0.2.7%eth0]:5060", true, syscall.AF_INET6, netip.MustParseAddr("::ffff:192.0.2.7").AsSlice()},
		{"no address", true, "", false, 0, nil},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			var to netip.AddrPort
			if tc.to != "" {
				to = netip.MustParseAddrPort(tc.to)
			}
			c := &Conn{v6: tc.v6}
			var sa sockaddr
			if got := c.fill(to, &sa); got != tc.ok {
				t.Fatalf("fill = %v, want %v", got, tc.ok)
			}
			if !tc.ok {
				return
			}
			if sa.raw.Family != tc.family {
				t.Fatalf("family %d, want %d", sa.raw.Family, tc.family)
			}
			port := binary.BigEndian.Uint16((*[2]byte)(unsafe.Pointer(&sa.raw.Port))[:])
			if port != 5060 {
				t.Fatalf("port %d, want 5060 in network order", port)
			}
			var got []byte
			var wantLen uint32
			if tc.family == syscall.AF_INET {
				in := (*syscall.RawSockaddrInet4)(unsafe.Pointer(&sa.raw))
				got, wantLen = in.Addr[:], syscall.SizeofSockaddrInet4
			} else {
				got, wantLen = sa.raw.Addr[:], syscall.SizeofSockaddrInet6
			}
			if string(got) != string(tc.addr) || sa.len != wantLen {
				t.Fatalf("address % x (length %d), want % x (length %d)", got, sa.len, tc.addr, wantLen)
			}
		})
	}
}
