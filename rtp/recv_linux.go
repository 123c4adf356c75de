//go:build linux && (amd64 || arm64)

package rtp

import (
	"syscall"
	"unsafe"

	"switchboard/internal/udpsys"
)

// recvBatch is how many datagrams one recvmmsg takes. Two are enough: what
// matters is that fewer than asked for means the socket is empty.
const recvBatch = 2

// recvState is the read goroutine's recvmmsg vector; it lives in the heap
// with the session, since the kernel writes through its pointers.
type recvState struct {
	hdrs  [recvBatch]udpsys.Mmsghdr
	iov   [recvBatch]syscall.Iovec
	names [recvBatch]syscall.RawSockaddrAny
}

// readLoop reads the socket with recvmmsg from inside one RawConn.Read that
// lasts as long as the socket. A stream sends one packet per 20 ms, so with
// Go's ReadFrom every packet costs two reads: the one that gets it and one
// that finds the socket empty before the goroutine parks. Here a batch that
// comes back short shows the socket is empty, and the goroutine waits for the
// next packet without asking (the poller is edge-triggered and keeps an edge
// that comes while nobody waits, and the wait happens within the same Read, so
// nothing resets it): one system call per packet received instead of two.
func (s *Session) readLoop() {
	defer close(s.readDone)
	b := s.pool.takeRxBuf()
	s.rx.buf = b[:]
	defer func() { s.rx.release(); s.pool.putRxBuf(b) }()
	rc, err := s.conn.SyscallConn()
	if err != nil {
		s.readLoopPortable()
		return
	}
	mm := &s.rx.mm
	for i := range recvBatch {
		mm.iov[i].Base = &s.rx.buf[i*maxPacket]
		mm.iov[i].SetLen(maxPacket)
		mm.hdrs[i].Hdr.Iov = &mm.iov[i]
		mm.hdrs[i].Hdr.Iovlen = 1
		mm.hdrs[i].Hdr.Name = (*byte)(unsafe.Pointer(&mm.names[i]))
	}
	// Read returns when Close sets a deadline in the past (the pool keeps the
	// socket for a later session) or when the socket is closed.
	failures := 0
	_ = rc.Read(func(fd uintptr) bool {
		for {
			if s.closing.Load() {
				return true // however fast packets come, Close waits for this loop
			}
			for i := range recvBatch {
				mm.hdrs[i].Hdr.Namelen = syscall.SizeofSockaddrAny
				mm.hdrs[i].Hdr.Flags = 0
			}
			r, _, errno := syscall.RawSyscall6(syscall.SYS_RECVMMSG, fd, uintptr(unsafe.Pointer(&mm.hdrs[0])), recvBatch, syscall.MSG_DONTWAIT, 0, 0)
			switch {
			case errno == syscall.EAGAIN:
				return false // empty: wait for the next packet
			case errno == syscall.EINTR:
				continue
			case errno != 0:
				// Nothing else is expected on an unconnected UDP socket
				// (the read lock keeps the descriptor open); wait rather
				// than spin on an error that repeats.
				failures++
				if failures >= 3 {
					failures = 0
					return false
				}
				continue
			}
			failures = 0
			n := int(r)
			for i := range n {
				h := &mm.hdrs[i]
				if h.Hdr.Flags&syscall.MSG_TRUNC != 0 {
					s.dropped.Add(1) // larger than any RTP packet we take
					continue
				}
				off := i * maxPacket
				s.receive(s.rx.buf[off:off+int(h.Len):off+maxPacket], udpsys.SockaddrAddrPort(&mm.names[i]))
			}
			if n < recvBatch {
				return false
			}
		}
	})
}

// discardOne reads one waiting datagram into buf for drain; false when there
// was none. Raw, as the read loop's calls: through the net package each
// reused socket's drain woke the runtime's monitor thread of an idle server
// (internal/udpsys).
func discardOne(fd uintptr, buf []byte) bool {
	for {
		_, _, errno := syscall.RawSyscall6(syscall.SYS_RECVFROM, fd, uintptr(unsafe.Pointer(unsafe.SliceData(buf))), uintptr(len(buf)), syscall.MSG_DONTWAIT, 0, 0)
		if errno != syscall.EINTR {
			return errno == 0
		}
	}
}
