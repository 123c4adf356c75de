package testphone

import (
	"context"
	"errors"
	"fmt"
	"math"
	"net/netip"
	"sync"
	"sync/atomic"
	"time"

	"github.com/emiago/sipgo"
	"github.com/emiago/sipgo/sip"

	"switchboard/internal/audio"
)

// Call is an established call of a Phone, either dialled (UAC) or answered (UAS).
type Call struct {
	p   *Phone
	key string
	// Exactly one of uac and uas is set.
	uac          *sipgo.DialogClientSession
	uas          *sipgo.DialogServerSession
	remoteTarget sip.Uri
	media        *media

	sigMu      sync.Mutex // one re-INVITE or BYE at a time from our side
	sdpVersion atomic.Uint64
	// ackOffer is our offer in the 200 to an offerless re-INVITE, until the
	// ACK brings the answer.
	ackOffer atomic.Pointer[pendingOffer]

	// refers are the REFERs of ours whose final NOTIFY is still to come.
	referMu sync.Mutex
	refers  []*ReferStatus

	done    chan struct{}
	endOnce sync.Once
}

func newCall(p *Phone, m *media, key string, target sip.Uri) *Call {
	c := &Call{p: p, media: m, key: key, remoteTarget: target, done: make(chan struct{})}
	c.sdpVersion.Store(1)
	return c
}

// RemoteTarget is where the peer asked to be reached inside the dialog: the
// Contact of its 200 for a call we dialled, of its INVITE for one we answered.
func (c *Call) RemoteTarget() sip.Uri { return *c.remoteTarget.Clone() }

// Codec returns the call's codec, "PCMU" or "PCMA".
func (c *Call) Codec() string { return c.media.codecName() }

// Done is closed when the call ends: remote BYE, our Hangup, or Phone.Close.
func (c *Call) Done() <-chan struct{} { return c.done }

// CallID returns the SIP Call-ID of the call's dialog.
func (c *Call) CallID() string {
	if c.uac != nil {
		return c.uac.InviteRequest.CallID().Value()
	}
	return c.uas.InviteRequest.CallID().Value()
}

// StartTone sends a continuous sine of freq Hz (amplitude 8000) as 20 ms RTP
// frames in the call codec until StopAudio or the end of the call. A freq of 0
// sends silence frames. Calling it again changes the frequency.
func (c *Call) StartTone(freq float64) { c.media.setTone(true, math.Max(freq, 0)) }

// StopAudio stops sending audio frames (DTMF can still be sent).
func (c *Call) StopAudio() { c.media.setTone(false, 0) }

// SendDTMF sends digit (0-9, *, #, A-D) as RFC 4733 events with the payload type
// from the peer's SDP (101 when it listed none): five update packets and three
// end packets, 20 ms apart. It returns once the last packet is sent.
func (c *Call) SendDTMF(digit rune) error {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := c.media.sendDTMF(ctx, digit); err != nil {
		return fmt.Errorf("send dtmf %q: %w", digit, err)
	}
	return nil
}

// DTMF delivers digits received as RFC 4733 events, one per event.
func (c *Call) DTMF() <-chan rune { return c.media.dtmfCh }

// Received waits until d of new audio (counted from this call) has arrived in
// the call codec and returns it decoded to 8 kHz samples.
func (c *Call) Received(ctx context.Context, d time.Duration) ([]int16, error) {
	n := int(d.Seconds()*8000 + 0.5)
	if n <= 0 {
		return nil, nil
	}
	s, err := c.media.received(ctx, n)
	if err != nil {
		return nil, fmt.Errorf("receive %v of audio: %w", d, err)
	}
	return s, nil
}

// ReceivedFrequency waits for d of new audio and returns its dominant frequency
// and RMS level.
func (c *Call) ReceivedFrequency(ctx context.Context, d time.Duration) (freq, rms float64, err error) {
	s, err := c.Received(ctx, d)
	if err != nil {
		return 0, 0, err
	}
	return audio.DominantFrequency(s), audio.RMS(s), nil
}

// RemoteMedia returns where the call's RTP is sent, from the peer's latest SDP;
// for a WebRTC phone, the peer's side of the selected ICE candidate pair.
func (c *Call) RemoteMedia() netip.AddrPort { return c.media.tr.remoteAddr() }

// LocalMedia returns the call's own RTP address; for a WebRTC phone, our side
// of the selected ICE candidate pair (zero before ICE connected).
func (c *Call) LocalMedia() netip.AddrPort { return c.media.tr.localAddr() }

// RTPSource returns where the latest RTP packet came from (zero before any).
func (c *Call) RTPSource() netip.AddrPort {
	if a := c.media.src.Load(); a != nil {
		return *a
	}
	return netip.AddrPort{}
}

// PacketsReceived counts every RTP packet received (audio, events, others).
func (c *Call) PacketsReceived() uint64 { return c.media.packets.Load() }

// PacketsSent counts the RTP packets this phone sent. A phone on a busy machine
// sends fewer than one per 20 ms (its ticker skips beats), so loss is what the
// peer did not receive of these.
func (c *Call) PacketsSent() uint64 { return c.media.sent.Load() }

// UnexpectedPackets counts RTP packets whose payload type is neither the call
// codec nor telephone-event, such as PCMA arriving at a PCMU-only phone.
func (c *Call) UnexpectedPackets() uint64 { return c.media.unexpected.Load() }

// Direction returns the direction this phone announced last: "sendrecv",
// "sendonly" (we hold), "recvonly" (we are held) or "inactive".
func (c *Call) Direction() string { return c.media.direction() }

// Hangup sends BYE and ends the call. Hanging up an ended call does nothing.
func (c *Call) Hangup(ctx context.Context) error {
	c.sigMu.Lock()
	defer c.sigMu.Unlock()
	select {
	case <-c.done:
		return nil
	default:
	}
	defer c.end()

	bye := sip.NewRequest(sip.BYE, *c.remoteTarget.Clone())
	c.p.prepare(bye)
	var err error
	if c.uac != nil {
		err = c.uac.WriteBye(ctx, bye)
	} else {
		err = c.uas.WriteBye(ctx, bye)
	}
	var de sipgo.ErrDialogResponse
	if errors.As(err, &de) {
		err = &StatusError{Code: de.Res.StatusCode, Reason: de.Res.Reason}
	}
	if err != nil {
		return fmt.Errorf("hangup: %w", err)
	}
	return nil
}

// Hold puts the peer on hold with a re-INVITE carrying a=sendonly. Our audio
// (if any) keeps flowing, like music on hold.
func (c *Call) Hold(ctx context.Context) error { return c.reinvite(ctx, dirSendOnly) }

// Unhold resumes the call with a re-INVITE carrying a=sendrecv.
func (c *Call) Unhold(ctx context.Context) error { return c.reinvite(ctx, dirSendRecv) }

func (c *Call) reinvite(ctx context.Context, dir string) error {
	c.sigMu.Lock()
	defer c.sigMu.Unlock()
	select {
	case <-c.done:
		return ErrCallEnded
	default:
	}
	body, err := c.media.offer(dir, c.sdpVersion.Add(1))
	if err != nil {
		return err
	}
	accepted := false
	defer func() {
		if !accepted {
			c.media.tr.abandon()
		}
	}()

	var res *sip.Response
	for attempt := 0; ; attempt++ {
		req := sip.NewRequest(sip.INVITE, *c.remoteTarget.Clone())
		req.SetBody(body)
		req.AppendHeader(sip.NewHeader("Content-Type", "application/sdp"))
		if res != nil {
			if err := c.p.authorize(req, res); err != nil {
				return fmt.Errorf("re-invite: %w", err)
			}
		}
		c.p.prepare(req)
		if c.uac != nil {
			res, err = c.uac.Do(ctx, req)
		} else {
			res, err = c.uas.Do(ctx, req)
		}
		if err != nil {
			return fmt.Errorf("re-invite: %w", err)
		}
		if attempt == 0 && isChallenge(res) && c.p.cfg.Password != "" {
			continue
		}
		break
	}
	if !res.IsSuccess() {
		return fmt.Errorf("re-invite: %w", &StatusError{Code: res.StatusCode, Reason: res.Reason})
	}

	ack := sip.NewRequest(sip.ACK, *c.remoteTarget.Clone())
	c.p.prepare(ack)
	if c.uac != nil {
		err = c.uac.WriteRequest(ack)
	} else {
		err = c.uas.WriteRequest(ack)
	}
	if err != nil {
		return fmt.Errorf("re-invite ack: %w", err)
	}

	rm, err := parseSDP(res.Body())
	if err != nil {
		return fmt.Errorf("re-invite answer: %w", err)
	}
	accepted = true
	if err := c.media.accept(body, res.Body(), rm, dir); err != nil {
		return fmt.Errorf("re-invite answer: %w", err)
	}
	return nil
}

// handleReInvite answers a re-INVITE from the peer (hold, resume, media move)
// with our SDP. Without an offer (RFC 3264 section 5: offer in our 200, answer
// in the ACK) we offer our current direction and onAck applies the answer.
func (c *Call) handleReInvite(req *sip.Request, tx sip.ServerTransaction) {
	var body []byte
	var err error
	if len(req.Body()) > 0 {
		rm, perr := parseSDP(req.Body())
		if perr != nil || !c.p.canAnswer(rm) {
			c.p.respond(req, tx, sip.StatusNotAcceptableHere, "Not Acceptable Here")
			return
		}
		body, err = c.media.answer(req.Body(), rm, answerDirection(rm.direction), c.sdpVersion.Add(1))
		if err != nil {
			c.p.log.Debug("answer re-INVITE", "error", err)
			c.p.respond(req, tx, sip.StatusNotAcceptableHere, "Not Acceptable Here")
			return
		}
	} else {
		dir := c.media.direction()
		if body, err = c.media.offer(dir, c.sdpVersion.Add(1)); err != nil {
			c.p.respond(req, tx, sip.StatusInternalServerError, "Server Internal Error")
			return
		}
		c.ackOffer.Store(&pendingOffer{body: body, dir: dir})
	}
	res := sip.NewSDPResponseFromRequest(req, body)
	res.AppendHeader(sip.HeaderClone(&c.p.contact))
	// The ACK reaches onAck, which needs no answer from this handler.
	if err := tx.Respond(res); err != nil {
		c.p.log.Debug("respond re-INVITE", "error", err)
	}
}

// pendingOffer is the offer we put in the 200 to an offerless re-INVITE.
type pendingOffer struct {
	body []byte
	dir  string
}

// ackAnswer applies the answer an ACK carries to the offer of our last 200 to
// an offerless re-INVITE; an ACK without one abandons that offer.
func (c *Call) ackAnswer(req *sip.Request) {
	po := c.ackOffer.Swap(nil)
	if po == nil {
		return
	}
	rm, err := parseSDP(req.Body())
	if err == nil {
		err = c.media.accept(po.body, req.Body(), rm, po.dir)
	} else {
		c.media.tr.abandon()
	}
	if err != nil {
		c.p.log.Debug("answer in ACK", "error", err)
	}
}

// remoteBye answers the peer's BYE and ends the call.
func (c *Call) remoteBye(req *sip.Request, tx sip.ServerTransaction) {
	var err error
	if c.uac != nil {
		err = c.uac.ReadBye(req, tx)
	} else {
		err = c.uas.ReadBye(req, tx)
		if errors.Is(err, sipgo.ErrDialogInvalidCseq) {
			c.p.respond(req, tx, sip.StatusOK, "OK")
		}
	}
	if err != nil {
		c.p.log.Debug("read BYE", "error", err)
	}
	c.end()
}

// end stops media and forgets the dialog; it runs once.
func (c *Call) end() {
	c.endOnce.Do(func() {
		c.p.removeCall(c)
		c.media.stop()
		c.closeRefers()
		close(c.done)
	})
}
