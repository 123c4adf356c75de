//go:build linux && (amd64 || arm64)

package rtp

import (
	"net"
	"syscall"
	"unsafe"
)

// drain discards datagrams waiting on a socket: at most what a socket buffer holds,
// so that a sender that never stops cannot keep Open (and the pool's lock) busy.
// It reads with non-blocking recvfrom calls (a read deadline in the past would
// make Go fail every read before even looking at the socket), raw ones as the
// read loop's: through the net package, each one woke the runtime's monitor
// thread of an idle server (internal/udpsys).
func drain(c *net.UDPConn) {
	rc, err := c.SyscallConn()
	if err != nil {
		return
	}
	var buf [maxPacket]byte
	_ = rc.Read(func(fd uintptr) bool {
		for range 1024 {
			_, _, errno := syscall.RawSyscall6(syscall.SYS_RECVFROM, fd, uintptr(unsafe.Pointer(&buf[0])), uintptr(len(buf)), syscall.MSG_DONTWAIT, 0, 0)
			if errno == syscall.EINTR {
				continue
			}
			if errno != 0 {
				break // EAGAIN: empty
			}
		}
		return true // never wait for more
	})
}
