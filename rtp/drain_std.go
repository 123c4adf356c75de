//go:build unix && !(linux && (amd64 || arm64))

package rtp

import "syscall"

// discardOne reads one waiting datagram into buf; false when there was none.
func discardOne(fd uintptr, buf []byte) bool {
	_, _, err := syscall.Recvfrom(int(fd), buf, syscall.MSG_DONTWAIT)
	return err == nil
}
