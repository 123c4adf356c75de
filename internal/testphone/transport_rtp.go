package testphone

import (
	"errors"
	"fmt"
	"net"
	"net/netip"
	"sync"

	"github.com/pion/rtp"
)

// plainSDP is the negotiation both plain transports share: our address in
// the SDP we write, and the peer's from the SDP it wrote.
type plainSDP struct {
	local netip.AddrPort

	mu     sync.Mutex // guards remote (and the embedding transport's send state)
	remote netip.AddrPort
}

func (t *plainSDP) offer(o mediaOffer) ([]byte, error) { return buildSDP(o) }

func (t *plainSDP) answer(_ []byte, rm remoteMedia, o mediaOffer) ([]byte, error) {
	t.setRemote(rm)
	return buildSDP(o)
}

func (t *plainSDP) accept(_ []byte, rm remoteMedia) error {
	t.setRemote(rm)
	return nil
}

// abandon has nothing to undo: a plain offer changes nothing until answered.
func (t *plainSDP) abandon() {}

func (t *plainSDP) setRemote(rm remoteMedia) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.remote = rm.addr
}

func (t *plainSDP) localAddr() netip.AddrPort { return t.local }

func (t *plainSDP) remoteAddr() netip.AddrPort {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.remote
}

// rtpTransport is a plain SIP phone's media: one UDP socket on loopback used
// for both directions (symmetric RTP), sending where the peer's SDP says.
type rtpTransport struct {
	plainSDP
	conn *net.UDPConn
	buf  []byte // guarded by mu

	closeOnce sync.Once
	wg        sync.WaitGroup
}

func newRTPTransport() (*rtpTransport, error) {
	conn, err := net.ListenUDP("udp", net.UDPAddrFromAddrPort(netip.MustParseAddrPort("127.0.0.1:0")))
	if err != nil {
		return nil, fmt.Errorf("testphone: listen rtp: %w", err)
	}
	return &rtpTransport{plainSDP: plainSDP{local: conn.LocalAddr().(*net.UDPAddr).AddrPort()}, conn: conn}, nil
}

func (t *rtpTransport) ready() bool {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.remote.IsValid() && t.remote.Port() != 0
}

// send writes pkt to the peer's SDP address; a zero port (hold, RFC 3264
// section 8.4) or no answer yet sends nothing.
func (t *rtpTransport) send(pkt *rtp.Packet) error {
	t.mu.Lock()
	defer t.mu.Unlock()
	dst := t.remote
	if !dst.IsValid() || dst.Port() == 0 {
		return nil
	}
	n := pkt.MarshalSize()
	if cap(t.buf) < n {
		t.buf = make([]byte, n)
	}
	t.buf = t.buf[:n]
	if _, err := pkt.MarshalTo(t.buf); err != nil {
		return fmt.Errorf("marshal rtp: %w", err)
	}
	if _, err := t.conn.WriteToUDPAddrPort(t.buf, dst); err != nil {
		return fmt.Errorf("send rtp to %s: %w", dst, err)
	}
	return nil
}

func (t *rtpTransport) start(deliver func(*rtp.Packet, netip.AddrPort)) {
	t.wg.Add(1)
	go func() {
		defer t.wg.Done()
		buf := make([]byte, 1500)
		for {
			n, from, err := t.conn.ReadFromUDPAddrPort(buf)
			if err != nil {
				if errors.Is(err, net.ErrClosed) {
					return
				}
				continue
			}
			var pkt rtp.Packet
			if err := pkt.Unmarshal(buf[:n]); err != nil {
				continue
			}
			deliver(&pkt, from)
		}
	}()
}

func (t *rtpTransport) close() {
	t.closeOnce.Do(func() { _ = t.conn.Close() })
	t.wg.Wait()
}

// externalTransport is the media of a phone whose packets someone else moves
// (Config.ExternalMedia): it only negotiates, so the calls' SDP is real while
// no socket, reader or 20 ms sender runs per call.
type externalTransport struct{ plainSDP }

// ready is false: the phone itself never sends.
func (t *externalTransport) ready() bool { return false }

func (t *externalTransport) send(*rtp.Packet) error { return nil }

func (t *externalTransport) start(func(*rtp.Packet, netip.AddrPort)) {}

func (t *externalTransport) close() {}
