package rtp

import (
	"context"
	"encoding/binary"
	"math/rand/v2"
	"net/netip"
	"runtime"
	"sync/atomic"

	"github.com/pion/rtp"

	"switchboard/internal/udpsys"
)

// Owners of a session's outgoing stream.
const (
	ownFree   int32 = iota
	ownBridge       // one bridged packet is being written
	ownLocal        // Play, PlayLoop or SendDTMF holds the stream
)

// Timestamp jumps beyond these (in samples) within one incoming stream mean the
// sender restarted its clock, so the mapping is rebased.
const (
	maxTSJumpBack    = clockRate      // 1 s
	maxTSJumpForward = clockRate * 60 // a minute of silence suppression is fine
)

// outStream is a session's single outgoing RTP stream. Whoever wins the owner
// flag may touch the other fields: the bridge takes it per packet with a
// compare-and-swap and drops the packet when it is taken; local writers wait for
// it. The atomic flag gives the happens-before edges the plain fields need.
type outStream struct {
	owner atomic.Int32
	w     *udpsys.Writer // nil: the net package sends (udpsys did not take the socket)

	ssrc   uint32
	seq    uint16
	sent   bool
	lastTS uint32 // timestamp of the last packet sent
	// lastDur is how many samples the last packet covered; the next source
	// starts after it.
	lastDur  uint32
	lastWall int64 // nanotime of the last packet sent

	// Mapping of the current bridged source onto our timeline.
	src      *Session
	srcSSRC  uint32
	lastInTS uint32
	tsOffset uint32

	hdr rtp.Header
	buf []byte
}

func (o *outStream) init() {
	o.ssrc = rand.Uint32()
	o.seq = uint16(rand.Uint32())
	o.lastTS = rand.Uint32()
	o.buf = make([]byte, maxPacket)
}

// rebase returns the timestamp a new source (another bridged leg, a prompt, a
// DTMF event) starts at: after the last packet, and later still if wall-clock
// time passed, so that the far end's jitter buffer sees real time flow.
func (o *outStream) rebase(now int64) uint32 {
	if !o.sent {
		return o.lastTS
	}
	adv := o.lastDur
	if elapsed := (now - o.lastWall) / (1e9 / clockRate); elapsed > int64(adv) {
		adv = uint32(min(elapsed, maxTSJumpForward))
	}
	return o.lastTS + adv
}

// write sends o.buf[headerLen:headerLen+payloadLen] with a fresh header. The
// caller owns the stream.
func (s *Session) write(to netip.AddrPort, pt uint8, marker bool, ts uint32, payloadLen int, dur uint32, now int64) {
	o := &s.out
	o.hdr = rtp.Header{
		Version:        2,
		Marker:         marker,
		PayloadType:    pt,
		SequenceNumber: o.seq,
		Timestamp:      ts,
		SSRC:           o.ssrc,
	}
	o.lastTS, o.lastDur, o.lastWall, o.sent = ts, dur, now, true
	if !to.IsValid() {
		return // on hold or no SDP yet: time still runs on our timeline
	}
	var n int
	var err error
	if s.rtc != nil {
		n, err = s.rtc.track.writeRTP(&o.hdr, o.buf[headerLen:headerLen+payloadLen])
	} else {
		if _, err := o.hdr.MarshalTo(o.buf[:headerLen]); err != nil {
			return
		}
		if o.w != nil {
			n, err = o.w.WriteTo(o.buf[:headerLen+payloadLen], to)
		} else {
			n, err = s.conn.WriteToUDPAddrPort(o.buf[:headerLen+payloadLen], to)
		}
	}
	if err != nil {
		return // closed socket or ICMP error: the packet is lost, as on the wire
	}
	o.seq++
	s.pktOut.Add(1)
	s.bytesOut.Add(uint64(n))
}

// forward writes one packet received by src into s's outgoing stream: audio
// (inLaw != lawNone) transcoded to s's codec, or a telephone-event with s's DTMF
// payload type. It runs on src's read goroutine, never blocks and never
// allocates: if a prompt or DTMF owns the stream the packet is dropped. now is
// the packet's arrival (nanotime): reading the clock costs as much as a tenth
// of the relay's own work per packet, so it is read once.
func (s *Session) forward(src *Session, h *rtp.Header, payload []byte, inLaw law, now int64) {
	o := &s.out
	if !o.owner.CompareAndSwap(ownFree, ownBridge) {
		return
	}
	defer o.owner.Store(ownFree)

	cfg := s.remote.Load()
	var pt uint8
	var dur uint32
	marker := h.Marker
	if inLaw == lawNone {
		if cfg.dtmfPT < 0 || len(payload) < 4 {
			return // the peer cannot take RFC 4733; digits still reach DTMF()
		}
		pt = uint8(cfg.dtmfPT)
		dur = uint32(binary.BigEndian.Uint16(payload[2:4]))
	} else {
		if cfg.law == lawNone {
			return
		}
		pt = cfg.codec.PT
		dur = uint32(len(payload))
	}
	if len(payload) > len(o.buf)-headerLen {
		return
	}

	jump := int32(h.Timestamp - o.lastInTS)
	if o.src != src || o.srcSSRC != h.SSRC || jump < -maxTSJumpBack || jump > maxTSJumpForward {
		o.tsOffset = o.rebase(now) - h.Timestamp
		o.src, o.srcSSRC = src, h.SSRC
		if inLaw != lawNone {
			marker = true // a new talkspurt for the far end's jitter buffer
		}
	}
	o.lastInTS = h.Timestamp

	if inLaw == lawNone {
		copy(o.buf[headerLen:], payload)
	} else {
		transcodeInto(o.buf[headerLen:], payload, inLaw, cfg.law)
	}
	s.write(s.sendAddr(cfg), pt, marker, h.Timestamp+o.tsOffset, len(payload), dur, now)
}

// acquireLocal takes the outgoing stream for a local writer, waiting for other
// local writers and for a bridged packet in flight.
func (s *Session) acquireLocal(ctx context.Context) error {
	select {
	case s.localSem <- struct{}{}:
	case <-ctx.Done():
		return ctx.Err()
	case <-s.done:
		return ErrClosed
	}
	// The bridge holds the flag only while writing one packet.
	for !s.out.owner.CompareAndSwap(ownFree, ownLocal) {
		runtime.Gosched()
	}
	// Whatever the bridge sends next starts a new segment after ours.
	s.out.src = nil
	return nil
}

func (s *Session) releaseLocal() {
	s.out.owner.Store(ownFree)
	<-s.localSem
}
