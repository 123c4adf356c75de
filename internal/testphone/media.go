package testphone

import (
	"context"
	"crypto/rand"
	"encoding/binary"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"sync"
	"sync/atomic"
	"time"

	"github.com/pion/rtp"
	"github.com/zaf/g711"

	"switchboard/internal/audio"
)

const (
	frameSamples  = 160 // 20 ms at 8 kHz
	frameInterval = 20 * time.Millisecond
	toneAmplitude = 8000
	// dtmfPackets is how many 20 ms update packets an event gets before its three
	// end packets: 100 ms of tone, enough for any detector.
	dtmfPackets    = 5
	dtmfEndPackets = 3
	dtmfVolume     = 10
)

// ErrCallEnded is returned when a call ends while an operation waits on it.
var ErrCallEnded = errors.New("testphone: call ended")

// codecFuncs holds the per-sample G.711 functions of one codec.
type codecFuncs struct {
	encode  func(int16) uint8
	decode  func(uint8) int16
	silence uint8
}

func codecFor(name string) codecFuncs {
	if name == "PCMA" {
		return codecFuncs{encode: g711.EncodeAlawFrame, decode: g711.DecodeAlawFrame, silence: 0xD5}
	}
	return codecFuncs{encode: g711.EncodeUlawFrame, decode: g711.DecodeUlawFrame, silence: 0xFF}
}

func staticPT(codec string) uint8 {
	if codec == "PCMA" {
		return ptPCMA
	}
	return ptPCMU
}

type dtmfJob struct {
	code uint8
	sent int
	ts   uint32
	done chan struct{}
}

// media is one call's RTP endpoint: one UDP socket used for both directions
// (symmetric RTP), a ticker-paced sender and a reader.
type media struct {
	log   *slog.Logger
	conn  *net.UDPConn
	local netip.AddrPort
	codec string
	cf    codecFuncs
	// recvPT is the payload type we decode: the one in our SDP.
	recvPT       uint8
	localEventPT uint8

	done     chan struct{}
	stopOnce sync.Once
	wg       sync.WaitGroup

	mu            sync.Mutex // sender state
	remote        netip.AddrPort
	sendPT        uint8
	remoteEventPT uint8
	localDir      string
	toneOn        bool
	toneFreq      float64
	phase         int
	ssrc          uint32
	seq           uint16
	ts            uint32
	dtmfQueue     []*dtmfJob

	src        atomic.Pointer[netip.AddrPort]
	packets    atomic.Uint64
	unexpected atomic.Uint64

	rxMu     sync.Mutex // receive buffer
	buf      []int16
	bufStart uint64 // absolute sample index of buf[0]
	total    uint64 // samples received since the call started
	waiters  int
	notify   chan struct{}

	dtmfCh    chan rune
	lastEndTS uint32
	haveEndTS bool
}

func newMedia(log *slog.Logger, codec string) (*media, error) {
	conn, err := net.ListenUDP("udp", net.UDPAddrFromAddrPort(netip.MustParseAddrPort("127.0.0.1:0")))
	if err != nil {
		return nil, fmt.Errorf("testphone: listen rtp: %w", err)
	}
	var r [10]byte
	if _, err := rand.Read(r[:]); err != nil {
		_ = conn.Close()
		return nil, fmt.Errorf("testphone: random rtp state: %w", err)
	}
	m := &media{
		log:           log,
		conn:          conn,
		local:         conn.LocalAddr().(*net.UDPAddr).AddrPort(),
		codec:         codec,
		cf:            codecFor(codec),
		recvPT:        staticPT(codec),
		localEventPT:  ptEventDefault,
		sendPT:        staticPT(codec),
		remoteEventPT: ptEventDefault,
		localDir:      dirSendRecv,
		ssrc:          binary.BigEndian.Uint32(r[0:]),
		seq:           binary.BigEndian.Uint16(r[4:]),
		ts:            binary.BigEndian.Uint32(r[6:]),
		done:          make(chan struct{}),
		notify:        make(chan struct{}),
		dtmfCh:        make(chan rune, 64),
	}
	return m, nil
}

// start launches the reader and the sender.
func (m *media) start() {
	m.wg.Add(2)
	go m.readLoop()
	go m.sendLoop()
}

// stop closes the socket and waits for both goroutines.
func (m *media) stop() {
	m.stopOnce.Do(func() {
		close(m.done)
		_ = m.conn.Close()
	})
	m.wg.Wait()
}

// setRemote applies the peer's SDP: where to send and which payload types it
// expects. localDir is the direction we announced in the same exchange.
func (m *media) setRemote(rm remoteMedia, localDir string) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.remote = rm.addr
	if pt, ok := rm.payloadTypeFor(m.codec); ok {
		m.sendPT = pt
	}
	if rm.eventPT >= 0 {
		m.remoteEventPT = uint8(rm.eventPT)
	}
	m.localDir = localDir
}

func (m *media) remoteAddr() netip.AddrPort {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.remote
}

func (m *media) direction() string {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.localDir
}

func (m *media) setTone(on bool, freq float64) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.toneOn, m.toneFreq = on, freq
}

func (m *media) sendLoop() {
	defer m.wg.Done()
	t := time.NewTicker(frameInterval)
	defer t.Stop()
	buf := make([]byte, 0, 1500)
	for {
		select {
		case <-m.done:
			m.mu.Lock()
			for _, j := range m.dtmfQueue {
				close(j.done)
			}
			m.dtmfQueue = nil
			m.mu.Unlock()
			return
		case <-t.C:
			buf = m.tick(buf[:0])
		}
	}
}

// tick sends at most one packet: a pending DTMF event takes the slot of the
// audio frame. The timestamp advances every tick so that the peer sees one
// continuous clock.
func (m *media) tick(buf []byte) []byte {
	m.mu.Lock()
	defer m.mu.Unlock()
	ts := m.ts
	m.ts += frameSamples
	dst := m.remote
	if !dst.IsValid() || dst.Port() == 0 {
		return buf
	}

	var pkt rtp.Packet
	pkt.Version = 2
	pkt.SSRC = m.ssrc

	switch {
	case len(m.dtmfQueue) > 0:
		j := m.dtmfQueue[0]
		if j.sent == 0 {
			j.ts = ts
			pkt.Marker = true
		}
		ev := dtmfEvent{event: j.code, volume: dtmfVolume}
		if j.sent < dtmfPackets {
			ev.duration = uint16((j.sent + 1) * frameSamples)
		} else {
			ev.duration = uint16(dtmfPackets * frameSamples)
			ev.end = true
		}
		pkt.PayloadType = m.remoteEventPT
		pkt.Timestamp = j.ts
		pkt.Payload = ev.marshal()
		j.sent++
		if j.sent == dtmfPackets+dtmfEndPackets {
			m.dtmfQueue = m.dtmfQueue[1:]
			close(j.done)
		}
	case m.toneOn && canSend(m.localDir):
		payload := make([]byte, frameSamples)
		if m.toneFreq > 0 {
			for i, s := range audio.Sine(m.toneFreq, toneAmplitude, m.phase, frameSamples) {
				payload[i] = m.cf.encode(s)
			}
		} else {
			for i := range payload {
				payload[i] = m.cf.silence
			}
		}
		m.phase += frameSamples
		pkt.PayloadType = m.sendPT
		pkt.Timestamp = ts
		pkt.Payload = payload
	default:
		return buf
	}
	pkt.SequenceNumber = m.seq
	m.seq++

	n := pkt.MarshalSize()
	if cap(buf) < n {
		buf = make([]byte, 0, n)
	}
	buf = buf[:n]
	if _, err := pkt.MarshalTo(buf); err != nil {
		m.log.Debug("marshal rtp", "error", err)
		return buf
	}
	if _, err := m.conn.WriteToUDPAddrPort(buf, dst); err != nil {
		m.log.Debug("send rtp", "to", dst, "error", err)
	}
	return buf
}

func (m *media) sendDTMF(ctx context.Context, digit rune) error {
	code, err := dtmfCode(digit)
	if err != nil {
		return err
	}
	j := &dtmfJob{code: code, done: make(chan struct{})}
	m.mu.Lock()
	m.dtmfQueue = append(m.dtmfQueue, j)
	m.mu.Unlock()
	select {
	case <-j.done:
		if j.sent < dtmfPackets+dtmfEndPackets {
			return ErrCallEnded
		}
		return nil
	case <-m.done:
		return ErrCallEnded
	case <-ctx.Done():
		return ctx.Err()
	}
}

func (m *media) readLoop() {
	defer m.wg.Done()
	buf := make([]byte, 1500)
	var pkt rtp.Packet
	for {
		n, from, err := m.conn.ReadFromUDPAddrPort(buf)
		if err != nil {
			select {
			case <-m.done:
				return
			default:
			}
			if errors.Is(err, net.ErrClosed) {
				return
			}
			continue
		}
		if err := pkt.Unmarshal(buf[:n]); err != nil {
			continue
		}
		m.packets.Add(1)
		from = netip.AddrPortFrom(from.Addr().Unmap(), from.Port())
		m.src.Store(&from)

		m.mu.Lock()
		remoteEvent := m.remoteEventPT
		m.mu.Unlock()
		switch pkt.PayloadType {
		case m.recvPT:
			m.appendAudio(pkt.Payload)
		case m.localEventPT, remoteEvent:
			m.handleEvent(&pkt)
		default:
			m.unexpected.Add(1)
		}
	}
}

func (m *media) appendAudio(payload []byte) {
	m.rxMu.Lock()
	defer m.rxMu.Unlock()
	m.total += uint64(len(payload))
	if m.waiters == 0 {
		return // nobody asked for audio: "new audio" starts when someone asks
	}
	for _, b := range payload {
		m.buf = append(m.buf, m.cf.decode(b))
	}
	close(m.notify)
	m.notify = make(chan struct{})
}

// handleEvent reports a digit once, on the first end packet of each event
// (the end packet is sent three times).
func (m *media) handleEvent(pkt *rtp.Packet) {
	ev, err := parseDTMFEvent(pkt.Payload)
	if err != nil || !ev.end {
		return
	}
	if m.haveEndTS && m.lastEndTS == pkt.Timestamp {
		return
	}
	m.haveEndTS, m.lastEndTS = true, pkt.Timestamp
	d, ok := dtmfDigit(ev.event)
	if !ok {
		return
	}
	select {
	case m.dtmfCh <- d:
	default:
		m.log.Debug("dtmf channel full, digit dropped", "digit", string(d))
	}
}

// received waits until n new samples have arrived after the call and returns them.
func (m *media) received(ctx context.Context, n int) ([]int16, error) {
	m.rxMu.Lock()
	if m.waiters == 0 {
		m.buf = m.buf[:0]
		m.bufStart = m.total
	}
	m.waiters++
	start := m.total
	m.rxMu.Unlock()

	defer func() {
		m.rxMu.Lock()
		m.waiters--
		if m.waiters == 0 {
			m.buf = nil
			m.bufStart = m.total
		}
		m.rxMu.Unlock()
	}()

	for {
		m.rxMu.Lock()
		if m.total >= start+uint64(n) {
			off := int(start - m.bufStart)
			out := make([]int16, n)
			copy(out, m.buf[off:off+n])
			m.rxMu.Unlock()
			return out, nil
		}
		ch := m.notify
		m.rxMu.Unlock()
		select {
		case <-ch:
		case <-m.done:
			return nil, ErrCallEnded
		case <-ctx.Done():
			return nil, ctx.Err()
		}
	}
}
