//go:build linux && (amd64 || arm64)

package udpsys

import (
	"encoding/binary"
	"fmt"
	"net"
	"net/netip"
	"os"
	"strconv"
	"syscall"
	"unsafe"
)

// Mmsghdr is the kernel's struct mmsghdr, one datagram of a recvmmsg or
// sendmmsg vector. The kernel reads and writes through its pointers, so a
// vector lives in the heap for as long as it is in use.
type Mmsghdr struct {
	Hdr syscall.Msghdr
	Len uint32 // bytes received or sent
}

// Conn is a UDP socket for a Writer or Reader.
type Conn struct {
	uc *net.UDPConn // nil once NewQuiet took the socket over
	rc syscall.RawConn
	v6 bool // an AF_INET6 socket: IPv4 peers take the mapped form

	quiet *quietRC // NewQuiet's
	laddr net.Addr
}

// New wraps uc. It asks the kernel for the socket's family once: a socket bound
// to 0.0.0.0 by "udp" is a dual-stack IPv6 one.
func New(uc *net.UDPConn) (*Conn, error) {
	rc, err := uc.SyscallConn()
	if err != nil {
		return nil, fmt.Errorf("udpsys: %w", err)
	}
	var sa syscall.Sockaddr
	var serr error
	if err := rc.Control(func(fd uintptr) { sa, serr = syscall.Getsockname(int(fd)) }); err != nil {
		return nil, fmt.Errorf("udpsys: %w", err)
	}
	if serr != nil {
		return nil, fmt.Errorf("udpsys: getsockname: %w", serr)
	}
	_, v6 := sa.(*syscall.SockaddrInet6)
	return &Conn{uc: uc, rc: rc, v6: v6}, nil
}

// UDPConn is the wrapped socket; nil for a Conn made by NewQuiet.
func (c *Conn) UDPConn() *net.UDPConn { return c.uc }

// sockaddr is a destination in the kernel's form; RawSockaddrInet6 has room
// for either family.
type sockaddr struct {
	raw syscall.RawSockaddrInet6
	len uint32
}

// fill writes to into sa for this socket's family. false means the net
// package must send it: no address or an IPv6 peer on an IPv4 socket (the
// errors are the net package's to give), or a zone, which needs an
// interface's index.
func (c *Conn) fill(to netip.AddrPort, sa *sockaddr) bool {
	a := to.Addr()
	if a.Is4In6() {
		a = a.WithZone("") // an IPv4 peer has no zone, whatever its mapped form carries
	}
	if !a.IsValid() || a.Zone() != "" {
		return false
	}
	sa.raw = syscall.RawSockaddrInet6{}
	if !c.v6 {
		a = a.Unmap()
		if !a.Is4() {
			return false
		}
		in := (*syscall.RawSockaddrInet4)(unsafe.Pointer(&sa.raw))
		in.Family = syscall.AF_INET
		binary.BigEndian.PutUint16((*[2]byte)(unsafe.Pointer(&in.Port))[:], to.Port())
		in.Addr = a.As4()
		sa.len = syscall.SizeofSockaddrInet4
		return true
	}
	sa.raw.Family = syscall.AF_INET6
	binary.BigEndian.PutUint16((*[2]byte)(unsafe.Pointer(&sa.raw.Port))[:], to.Port())
	sa.raw.Addr = a.As16() // an IPv4 address in its mapped form
	sa.len = syscall.SizeofSockaddrInet6
	return true
}

// Writer sends datagrams. It is not safe for concurrent use: give each
// sending goroutine its own, or take them from a sync.Pool. It does not
// allocate, which the media path needs.
type Writer struct {
	c     *Conn
	b     []byte
	sa    sockaddr
	n     int
	errno syscall.Errno
	fn    func(fd uintptr) bool // w.send, bound once
}

// NewWriter returns a Writer on c.
func (c *Conn) NewWriter() *Writer {
	w := &Writer{c: c}
	w.fn = w.send
	return w
}

// WriteTo sends b to to. A full socket buffer waits for room, as the net
// package's WriteTo does.
func (w *Writer) WriteTo(b []byte, to netip.AddrPort) (int, error) {
	if !w.c.fill(to, &w.sa) {
		if w.c.uc == nil {
			return w.writeSlow(b, to)
		}
		return w.c.uc.WriteToUDPAddrPort(b, to)
	}
	w.b = b
	err := w.c.rc.Write(w.fn)
	w.b = nil
	if err != nil {
		return 0, err
	}
	if w.errno != 0 {
		return 0, &net.OpError{Op: "write", Net: "udp", Source: w.c.LocalAddr(), Addr: net.UDPAddrFromAddrPort(to), Err: os.NewSyscallError("sendto", w.errno)}
	}
	return w.n, nil
}

// send and recv pass MSG_DONTWAIT although Go's sockets are non-blocking: a
// raw call that blocked would hold its processor, and stop the world with it.
func (w *Writer) send(fd uintptr) bool {
	for {
		r, _, e := syscall.RawSyscall6(syscall.SYS_SENDTO, fd, uintptr(unsafe.Pointer(unsafe.SliceData(w.b))), uintptr(len(w.b)), syscall.MSG_DONTWAIT,
			uintptr(unsafe.Pointer(&w.sa.raw)), uintptr(w.sa.len))
		switch e {
		case 0:
			w.n, w.errno = int(r), 0
			return true
		case syscall.EINTR:
			continue
		case syscall.EAGAIN:
			return false // wait until the socket takes more
		default:
			w.n, w.errno = 0, e
			return true
		}
	}
}

// Reader receives datagrams. Like Writer, it belongs to one goroutine.
type Reader struct {
	c     *Conn
	b     []byte
	from  syscall.RawSockaddrAny
	flen  uint32
	n     int
	errno syscall.Errno
	fn    func(fd uintptr) bool
}

// NewReader returns a Reader on c.
func (c *Conn) NewReader() *Reader {
	r := &Reader{c: c}
	r.fn = r.recv
	return r
}

// ReadFrom waits for a datagram and copies it into b; a longer one is cut to
// len(b), as with the net package.
func (r *Reader) ReadFrom(b []byte) (int, netip.AddrPort, error) {
	r.b = b
	err := r.c.rc.Read(r.fn)
	r.b = nil
	if err != nil {
		return 0, netip.AddrPort{}, err
	}
	if r.errno != 0 {
		return 0, netip.AddrPort{}, &net.OpError{Op: "read", Net: "udp", Source: r.c.LocalAddr(), Err: os.NewSyscallError("recvfrom", r.errno)}
	}
	return r.n, SockaddrAddrPort(&r.from), nil
}

func (r *Reader) recv(fd uintptr) bool {
	for {
		r.flen = syscall.SizeofSockaddrAny
		n, _, e := syscall.RawSyscall6(syscall.SYS_RECVFROM, fd, uintptr(unsafe.Pointer(unsafe.SliceData(r.b))), uintptr(len(r.b)), syscall.MSG_DONTWAIT,
			uintptr(unsafe.Pointer(&r.from)), uintptr(unsafe.Pointer(&r.flen)))
		switch e {
		case 0:
			r.n, r.errno = int(n), 0
			return true
		case syscall.EINTR:
			continue
		case syscall.EAGAIN:
			return false // empty: wait for the poller
		default:
			r.n, r.errno = 0, e
			return true
		}
	}
}

// SockaddrAddrPort converts a source address the kernel wrote. An IPv4 peer
// of a dual-stack socket comes back as IPv4; a link-local IPv6 peer keeps its
// interface as its zone, so that the answer leaves by the same one: by name,
// as the net package gives it, or by number when the interface is gone.
func SockaddrAddrPort(sa *syscall.RawSockaddrAny) netip.AddrPort {
	switch sa.Addr.Family {
	case syscall.AF_INET:
		in := (*syscall.RawSockaddrInet4)(unsafe.Pointer(sa))
		port := binary.BigEndian.Uint16((*[2]byte)(unsafe.Pointer(&in.Port))[:])
		return netip.AddrPortFrom(netip.AddrFrom4(in.Addr), port)
	case syscall.AF_INET6:
		in := (*syscall.RawSockaddrInet6)(unsafe.Pointer(sa))
		port := binary.BigEndian.Uint16((*[2]byte)(unsafe.Pointer(&in.Port))[:])
		addr := netip.AddrFrom16(in.Addr).Unmap()
		if in.Scope_id != 0 && addr.Is6() {
			addr = addr.WithZone(zoneName(in.Scope_id))
		}
		return netip.AddrPortFrom(addr, port)
	}
	return netip.AddrPort{}
}

// zoneName is an interface's name for a zone, as the net package writes it.
// Only link-local peers have one, so the lookup is rare.
func zoneName(index uint32) string {
	if ifi, err := net.InterfaceByIndex(int(index)); err == nil {
		return ifi.Name
	}
	return strconv.FormatUint(uint64(index), 10)
}
