//go:build !unix

package rtp

import (
	"net"
	"time"
)

// drain discards datagrams waiting on a socket, reading until a short deadline
// passes (a deadline already in the past would fail every read at once).
func drain(c *net.UDPConn) {
	c.SetReadDeadline(time.Now().Add(time.Millisecond))
	defer c.SetReadDeadline(time.Time{})
	var buf [maxPacket]byte
	for range 1024 {
		if _, _, err := c.ReadFromUDPAddrPort(buf[:]); err != nil {
			return
		}
	}
}
