//go:build unix

package rtp

import "net"

// drain discards datagrams waiting on a socket: at most what a socket buffer holds,
// so that a sender that never stops cannot keep Open (and the pool's lock) busy.
// It reads with non-blocking recvfrom calls (discardOne): a read deadline in the
// past would make Go fail every read before even looking at the socket.
func drain(c *net.UDPConn) {
	rc, err := c.SyscallConn()
	if err != nil {
		return
	}
	var buf [maxPacket]byte
	_ = rc.Read(func(fd uintptr) bool {
		for range 1024 {
			if !discardOne(fd, buf[:]) {
				break // empty
			}
		}
		return true // never wait for more
	})
}
