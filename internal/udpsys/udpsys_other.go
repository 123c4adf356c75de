//go:build !linux || !(amd64 || arm64)

package udpsys

import (
	"net"
	"net/netip"
	"time"
)

// Conn is a UDP socket for a Writer or Reader.
type Conn struct{ uc *net.UDPConn }

// New wraps uc.
func New(uc *net.UDPConn) (*Conn, error) { return &Conn{uc: uc}, nil }

// NewQuiet wraps uc like New: coalescing wake-ups needs Linux's epoll.
func NewQuiet(uc *net.UDPConn, _ time.Duration) (*Conn, error) { return New(uc) }

// UDPConn is the wrapped socket.
func (c *Conn) UDPConn() *net.UDPConn { return c.uc }

// LocalAddr is the socket's address.
func (c *Conn) LocalAddr() net.Addr { return c.uc.LocalAddr() }

// Close closes the socket.
func (c *Conn) Close() error { return c.uc.Close() }

// Writer sends datagrams; here with the net package's calls.
type Writer struct{ c *Conn }

// NewWriter returns a Writer on c.
func (c *Conn) NewWriter() *Writer { return &Writer{c: c} }

// WriteTo sends b to to.
func (w *Writer) WriteTo(b []byte, to netip.AddrPort) (int, error) {
	return w.c.uc.WriteToUDPAddrPort(b, to)
}

// Reader receives datagrams; here with the net package's calls.
type Reader struct{ c *Conn }

// NewReader returns a Reader on c.
func (c *Conn) NewReader() *Reader { return &Reader{c: c} }

// ReadFrom waits for a datagram and copies it into b.
func (r *Reader) ReadFrom(b []byte) (int, netip.AddrPort, error) {
	n, from, err := r.c.uc.ReadFromUDPAddrPort(b)
	return n, netip.AddrPortFrom(from.Addr().Unmap(), from.Port()), err
}
