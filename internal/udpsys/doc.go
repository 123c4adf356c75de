// Package udpsys sends and receives UDP datagrams on a *net.UDPConn with system
// calls the Go scheduler is not told about.
//
// A UDP socket in Go is non-blocking, so sendto and recvfrom return at once;
// yet the net package makes each one a "blocking" system call (entersyscall).
// When the process was idle, that call wakes the runtime's monitor thread
// (sysmon), which then polls every 20 us for a millisecond before it sleeps
// again. At a moderate SIP rate every message did that: at 100 calls/s sysmon's
// sleeps and wake-ups were more than half of the server's context switches
// (bench/README.md). The calls here go through RawConn, so
// the descriptor stays locked and the poller still waits for readiness, but
// the system call itself is raw. Datagram I/O on a non-blocking socket is short
// (a loopback send also delivers the datagram, a few microseconds), which is
// what a raw call may do.
//
// NewQuiet goes one step further for a socket whose reader can wait some tens
// of milliseconds, such as SIP's: it takes the socket out of the Go poller, so
// that datagrams arriving while the reader is busy or resting wake nobody, and
// they are read together (see NewQuiet).
//
// On systems other than Linux on amd64 and arm64 the same API uses the net
// package's calls.
package udpsys
