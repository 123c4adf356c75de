package pbx

import (
	"bytes"
	"fmt"
	"sync"
	"sync/atomic"

	"switchboard/rtp"
)

// callMedia owns a call's media sessions: the caller's, prepared once, and every
// session opened for the call, which the call's end closes. Its lock guards only
// these, not the call's record.
type callMedia struct {
	leg inLeg // the caller's leg; nil for calls the PBX places
	p   *PBX

	mu        sync.Mutex
	caller    *rtp.Session   // the caller's session, once prepared
	sessions  []*rtp.Session // every session open for the call
	lateOffer bool           // the caller's INVITE had no SDP: its answer is in the ACK
	// The caller's offer as checked last (checkOffer): the INVITE's SDP is read
	// when the call starts and again when the caller is answered.
	offerBody []byte
	offer     rtp.MediaDesc

	// callerSess is caller for the goroutine that injects SIP INFO digits,
	// read without mu.
	callerSess atomic.Pointer[rtp.Session]
}

// track registers a media session that the call's end must close.
func (m *callMedia) track(s *rtp.Session) {
	m.mu.Lock()
	m.sessions = append(m.sessions, s)
	m.mu.Unlock()
}

// untrack closes a session that the call no longer needs.
func (m *callMedia) untrack(s *rtp.Session) {
	m.mu.Lock()
	for i, x := range m.sessions {
		if x == s {
			m.sessions = append(m.sessions[:i], m.sessions[i+1:]...)
			break
		}
	}
	m.mu.Unlock()
	s.Close()
}

// release forgets a session without closing it: another call took it over.
func (m *callMedia) release(s *rtp.Session) {
	m.mu.Lock()
	defer m.mu.Unlock()
	for i, x := range m.sessions {
		if x == s {
			m.sessions = append(m.sessions[:i], m.sessions[i+1:]...)
			return
		}
	}
}

// list returns the sessions open for the call.
func (m *callMedia) list() []*rtp.Session {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.sessions
}

// late reports whether the caller's answer comes in the ACK (late offer).
func (m *callMedia) late() bool {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.lateOffer
}

// checkOffer is rtp.CheckOffer of the caller's SDP body, parsed once per body.
func (m *callMedia) checkOffer(body []byte) (rtp.MediaDesc, error) {
	m.mu.Lock()
	if m.offerBody != nil && bytes.Equal(m.offerBody, body) {
		md := m.offer
		m.mu.Unlock()
		return md, nil
	}
	m.mu.Unlock()
	md, err := rtp.CheckOffer(body)
	if err == nil {
		m.mu.Lock()
		m.offerBody, m.offer = body, md
		m.mu.Unlock()
	}
	return md, err
}

// callerMedia prepares the caller's side of the media: a session bound to one of our
// ports, the codec picked from the caller's offer, and the SDP answer to send.
func (m *callMedia) callerMedia() (*rtp.Session, []byte, error) {
	m.mu.Lock()
	if m.caller != nil {
		s := m.caller
		m.mu.Unlock()
		return s, m.leg.LastLocalSDP(), nil
	}
	m.mu.Unlock()
	if len(bytes.TrimSpace(m.leg.SDP())) == 0 {
		return m.lateOfferMedia()
	}
	offer, err := m.checkOffer(m.leg.SDP())
	if err != nil {
		return nil, nil, fmt.Errorf("caller SDP: %w", err)
	}
	var sess *rtp.Session
	var answer []byte
	if offer.WebRTC() {
		sess, answer, err = m.webrtcAnswer()
	} else {
		sess, answer, err = m.plainAnswer(offer)
	}
	if err != nil {
		return nil, nil, err
	}
	m.setCaller(sess, answer, false)
	return sess, answer, nil
}

// setCaller makes sess the caller's media, with local the SDP we send the caller.
func (m *callMedia) setCaller(sess *rtp.Session, local []byte, lateOffer bool) {
	m.leg.SetLocalSDP(local)
	m.leg.OnOffer(m.p.ctl.offerHandler(sess, nil))
	m.callerSess.Store(sess)
	m.mu.Lock()
	m.caller = sess
	m.lateOffer = lateOffer
	m.mu.Unlock()
}

// adopt makes leg and its answered session the caller's media (after a transfer).
func (m *callMedia) adopt(leg inLeg, sess *rtp.Session) {
	m.mu.Lock()
	m.leg = leg
	m.caller = sess
	m.lateOffer = false
	m.mu.Unlock()
	m.callerSess.Store(sess)
}

// plainAnswer opens an RTP session for the caller's plain offer and writes our
// answer.
func (m *callMedia) plainAnswer(offer rtp.MediaDesc) (*rtp.Session, []byte, error) {
	codec, ok := rtp.Negotiate(offer, rtp.Supported)
	if !ok {
		return nil, nil, errNoCodec
	}
	sess, err := m.p.pool.Open()
	if err != nil {
		return nil, nil, err
	}
	m.track(sess)
	sess.SetRemote(offer.AddrPort(), codec, offer.DTMFPT)
	answer, err := m.p.ctl.sdp(sess, []rtp.Codec{codec}, offer.DTMFPT, rtp.AnswerDirection(offer.Direction))
	if err != nil {
		return nil, nil, err
	}
	return sess, answer, nil
}

// webrtcAnswer opens a WebRTC session for a browser's offer and writes our
// answer (ICE-lite candidate, DTLS fingerprint, G.711).
func (m *callMedia) webrtcAnswer() (*rtp.Session, []byte, error) {
	sess, err := m.p.pool.OpenWebRTC(m.p.mediaIP)
	if err != nil {
		return nil, nil, err
	}
	m.track(sess)
	answer, err := sess.AnswerWebRTC(m.leg.SDP())
	if err != nil {
		return nil, nil, err
	}
	return sess, answer, nil
}

// lateOfferMedia prepares the caller's media when the INVITE had no SDP: our offer
// goes in the 200 and the caller's answer comes in the ACK (RFC 3261 13.2.1).
func (m *callMedia) lateOfferMedia() (*rtp.Session, []byte, error) {
	sess, err := m.p.pool.Open()
	if err != nil {
		return nil, nil, err
	}
	m.track(sess)
	offer, err := m.p.ctl.sdp(sess, rtp.Supported, rtp.DefaultDTMFPT, rtp.SendRecv)
	if err != nil {
		return nil, nil, err
	}
	m.setCaller(sess, offer, true)
	return sess, offer, nil
}
