package testphone

import (
	"context"
	"crypto/rand"
	"encoding/binary"
	"errors"
	"fmt"
	"log/slog"
	"net/netip"
	"slices"
	"strings"
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

// transport carries one call's RTP packets and writes its half of the SDP
// exchange: a plain UDP socket (rtpTransport) for SIP phones, a WebRTC peer
// connection (webrtcTransport) for a phone that, like a browser, signals over
// WebSocket. The tone, DTMF and received-audio logic of media is the same for
// both.
type transport interface {
	// offer writes our SDP offer; o holds the state of a plain offer.
	offer(o mediaOffer) ([]byte, error)
	// answer applies the peer's offer (body, parsed as rm) and writes our answer.
	answer(body []byte, rm remoteMedia, o mediaOffer) ([]byte, error)
	// accept applies the peer's answer to our last offer.
	accept(body []byte, rm remoteMedia) error
	// abandon forgets our last offer when the peer refused it.
	abandon()
	// ready reports whether packets can reach the peer now: a plain peer's
	// address is known, a WebRTC peer's DTLS is up.
	ready() bool
	// send writes one packet to the peer, or drops it while there is no path.
	send(pkt *rtp.Packet) error
	// start starts reading: every packet received goes to deliver with its source.
	start(deliver func(pkt *rtp.Packet, from netip.AddrPort))
	// close stops the transport and waits for its readers.
	close()
	// localAddr and remoteAddr are the addresses the call's packets use.
	localAddr() netip.AddrPort
	remoteAddr() netip.AddrPort
}

// media is one call's media: a transport, a ticker-paced sender of tone and
// DTMF, and the analysis of what was received.
type media struct {
	log *slog.Logger
	tr  transport
	// codecs are those we offer, preferred first; plain phones offer one.
	codecs []string

	done     chan struct{}
	stopOnce sync.Once
	wg       sync.WaitGroup

	mu sync.Mutex // sender and negotiated state
	// codec, cf and recvPT (the payload type we decode: the one in our SDP)
	// are settled by the first exchange.
	codec         string
	cf            codecFuncs
	recvPT        uint8
	localEventPT  uint8
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
	sent       atomic.Uint64
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

// newMedia makes a call's media on tr; codecs are the codecs we offer,
// preferred first.
func newMedia(log *slog.Logger, tr transport, codecs []string) (*media, error) {
	var r [10]byte
	if _, err := rand.Read(r[:]); err != nil {
		tr.close()
		return nil, fmt.Errorf("testphone: random rtp state: %w", err)
	}
	m := &media{
		log:           log,
		tr:            tr,
		codecs:        codecs,
		codec:         codecs[0],
		cf:            codecFor(codecs[0]),
		recvPT:        staticPT(codecs[0]),
		localEventPT:  ptEventDefault,
		sendPT:        staticPT(codecs[0]),
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

// start launches the reader and the sender (none for external media, which
// nobody here sends).
func (m *media) start() {
	m.tr.start(m.deliver)
	if _, external := m.tr.(*externalTransport); external {
		return
	}
	m.wg.Add(1)
	go m.sendLoop()
}

// stop closes the transport and waits for the sender and the readers.
func (m *media) stop() {
	m.stopOnce.Do(func() {
		close(m.done)
		m.tr.close()
	})
	m.wg.Wait()
}

// offer writes our SDP offer announcing dir.
func (m *media) offer(dir string, version uint64) ([]byte, error) {
	m.mu.Lock()
	o := mediaOffer{
		addr: m.tr.localAddr(), codecPT: m.recvPT, codecName: m.codec,
		eventPT: int(m.localEventPT), direction: dir, version: version,
	}
	m.mu.Unlock()
	return m.tr.offer(o)
}

// answer answers the peer's offer (body, parsed as rm) announcing dir. The
// caller checked that rm lists a codec we take.
func (m *media) answer(body []byte, rm remoteMedia, dir string, version uint64) ([]byte, error) {
	m.mu.Lock()
	o := mediaOffer{addr: m.tr.localAddr(), codecPT: m.recvPT, codecName: m.codec, eventPT: rm.eventPT, direction: dir, version: version}
	if pt, ok := rm.payloadTypeFor(m.codec); ok {
		o.codecPT = pt // answer with the offerer's payload type for our codec
	}
	m.mu.Unlock()
	ans, err := m.tr.answer(body, rm, o)
	if err != nil {
		return nil, err
	}
	local, err := parseSDP(ans)
	if err != nil {
		return nil, fmt.Errorf("own answer: %w", err)
	}
	if err := m.negotiated(local, rm, local, dir); err != nil {
		return nil, err
	}
	return ans, nil
}

// accept applies the peer's answer (body, parsed as rm) to our offer local,
// which announced dir.
func (m *media) accept(local []byte, body []byte, rm remoteMedia, dir string) error {
	lm, err := parseSDP(local)
	if err != nil {
		return fmt.Errorf("own offer: %w", err)
	}
	if err := m.negotiated(lm, rm, rm, dir); err != nil {
		return err
	}
	return m.tr.accept(body, rm)
}

// negotiated takes the outcome of one offer/answer exchange: the codec is the
// first of the answer's that both sides listed (RFC 3264 section 6.1), each
// side's payload types are the ones its own SDP gave. A renegotiation whose
// answer names no codec (a stream put on hold by port 0) keeps the codec.
func (m *media) negotiated(local, remote, answer remoteMedia, dir string) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	codec := ""
	for _, c := range answer.order {
		_, ours := local.codecs[c]
		_, theirs := remote.codecs[c]
		if ours && theirs && slices.Contains(m.codecs, c) {
			codec = c
			break
		}
	}
	if codec == "" && remote.addr.Port() != 0 {
		return fmt.Errorf("answer lacks %s", strings.Join(m.codecs, " and "))
	}
	if codec != "" {
		m.codec, m.cf = codec, codecFor(codec)
		m.recvPT, m.sendPT = local.codecs[codec], remote.codecs[codec]
	}
	if local.eventPT >= 0 {
		m.localEventPT = uint8(local.eventPT)
	}
	if remote.eventPT >= 0 {
		m.remoteEventPT = uint8(remote.eventPT)
	}
	m.localDir = dir
	return nil
}

func (m *media) codecName() string {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.codec
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
			m.tick()
		}
	}
}

// tick sends at most one packet: a pending DTMF event takes the slot of the
// audio frame. The timestamp advances every tick so that the peer sees one
// continuous clock.
func (m *media) tick() {
	m.mu.Lock()
	defer m.mu.Unlock()
	ts := m.ts
	m.ts += frameSamples
	if !m.tr.ready() {
		// Nothing is lost before the path is up: a digit waits in the queue
		// and the tone starts when it can be heard.
		return
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
		return
	}
	pkt.SequenceNumber = m.seq
	m.seq++
	if err := m.tr.send(&pkt); err != nil {
		m.log.Debug("send rtp", "error", err)
		return
	}
	m.sent.Add(1)
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

// deliver takes one packet from the transport's reader.
func (m *media) deliver(pkt *rtp.Packet, from netip.AddrPort) {
	m.packets.Add(1)
	if from.IsValid() {
		from = netip.AddrPortFrom(from.Addr().Unmap(), from.Port())
		m.src.Store(&from)
	}
	m.mu.Lock()
	recvPT, localEvent, remoteEvent, cf := m.recvPT, m.localEventPT, m.remoteEventPT, m.cf
	m.mu.Unlock()
	switch pkt.PayloadType {
	case recvPT:
		m.appendAudio(pkt.Payload, cf)
	case localEvent, remoteEvent:
		m.handleEvent(pkt)
	default:
		m.unexpected.Add(1)
	}
}

func (m *media) appendAudio(payload []byte, cf codecFuncs) {
	m.rxMu.Lock()
	defer m.rxMu.Unlock()
	m.total += uint64(len(payload))
	if m.waiters == 0 {
		return // nobody asked for audio: "new audio" starts when someone asks
	}
	for _, b := range payload {
		m.buf = append(m.buf, cf.decode(b))
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
	// A WebRTC renegotiation may start a new track reader while the old one drains.
	m.rxMu.Lock()
	defer m.rxMu.Unlock()
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
