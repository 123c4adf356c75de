package pbx

import (
	"context"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"switchboard/callinfo"
	"switchboard/dialplan"
	"switchboard/rtp"
	"switchboard/sip"
	"switchboard/store"
)

// Call is one call in progress, from the first INVITE (or API request) to its call log
// entry. Its goroutine is the only writer of rec until finish.
type Call struct {
	ID   string
	Firm *dialplan.Firm
	// In is the caller's leg (a *sip.InboundLeg); nil for calls the PBX places
	// (click-to-call, callbacks). After a transfer it is the party left in the call.
	// Only the call's goroutine changes it, under mu.
	In inLeg

	// callerAgent is the agent on whose behalf the call is routed (the one who
	// placed it, or who transferred it): their permissions and caller ID apply.
	callerAgent *dialplan.Agent
	// inAgent is the agent on the In leg, if any; trunk the carrier it came
	// from, if any.
	inAgent *dialplan.Agent
	trunk   *dialplan.Trunk
	// inSwapped is closed and replaced when In changes.
	inSwapped chan struct{}
	// cmds carries work for the call's bridge (bridge.go).
	cmds chan command
	// taps hears the parties of the call's bridges (taps.go).
	taps audioTaps
	// monitored: a supervisor is in the call or being rung for it (monitor.go).
	monitored atomic.Bool
	// recording is the call's recording, if any (record.go).
	recording callRecording

	p      *PBX
	ctx    context.Context
	cancel context.CancelFunc

	media callMedia // its media sessions (media.go)

	mu       sync.Mutex
	rec      store.CallRecord
	state    callinfo.CallState
	busy     []string // agents marked busy by this call
	bridged  time.Time
	held     atomic.Bool // a leg put the call on hold: no RTP is expected
	finished bool
	br       *bridging // the running bridge, if any
	// connecting: the callee answered and the bridge is about to start.
	connecting bool
	parties    [2]party        // the parties of the last bridge, for Replaces and transfers
	left       map[string]bool // agents who transferred the call away
	ringback   bool            // a transferee waits: ring plays them ringback
	// callerNum is the caller's number as agents' phones, voicemail and callbacks
	// see it: From, or after a transfer the transferee's number.
	callerNum string
	// teamAgents are the agents who took the call as members of a team (by
	// agent id: the team's id), who get the team's wrap-up when they leave it.
	teamAgents map[string]string

	// Live events (events.go).
	clickToCall atomic.Bool
	queuedAt    time.Time         // when the caller joined a team's queue
	rung        map[string]string // agents told their phone rings, with the click-to-call phase
	told        map[string]bool   // agents already told the call ended for them
}

// inLeg is what call control uses of the caller's leg (a *sip.InboundLeg), so that
// calls run in tests with a fake caller.
type inLeg interface {
	legControl
	CallID() string
	FromDisplay() string
	SDP() []byte          // the caller's offer; empty for a late offer
	AckSDP() []byte       // the caller's answer to a late offer
	LastLocalSDP() []byte // our last SDP on the leg
	SetLocalSDP(sdp []byte)
	InfoDTMF() <-chan rune // digits sent as SIP INFO
	Ring() error
	Progress(sdp []byte) error
	Answer(sdp []byte) error
	Answered() bool
	Reject(code int, reason string, hdrs ...sip.Header) error
}

// LiveCall is a snapshot of a call in progress for the API.
type LiveCall struct {
	ID        string             `json:"id"`
	Firm      string             `json:"firm"`
	Direction callinfo.Direction `json:"direction"`
	From      string             `json:"from"`
	To        string             `json:"to"`
	Agent     string             `json:"agent,omitempty"`
	Team      string             `json:"team,omitempty"`
	State     callinfo.CallState `json:"state"`
	Start     time.Time          `json:"start"`
	Answer    *time.Time         `json:"answer"` // null until answered, as in the call log
	// Recording: the call is being recorded now (record.go).
	Recording bool `json:"recording"`
}

// newCall registers a call; it returns nil once Shutdown has begun, so that no call
// starts after Shutdown stopped waiting for them.
func (k *control) newCall(firm *dialplan.Firm, in inLeg, direction callinfo.Direction, from, to string) *Call {
	p := k.p
	p.mu.Lock()
	if p.stopping.Load() {
		p.mu.Unlock()
		return nil
	}
	p.calls.Add(1)
	p.mu.Unlock()
	start := time.Now()
	c := &Call{
		// The call log record gets the same ID, so a live call (and the answer to
		// click-to-call) can be found in the log afterwards.
		ID:   store.CallID(start, uint32(p.seq.Add(1))),
		Firm: firm,
		In:   in,
		p:    p,
	}
	c.ctx, c.cancel = context.WithCancel(p.ctx)
	c.media = callMedia{leg: in, p: p}
	c.inSwapped = make(chan struct{})
	c.cmds = make(chan command, 8)
	p.tasks.spawn(func(context.Context) { c.followCaller() })
	c.rec = store.CallRecord{ID: c.ID, Firm: firm.ID, Start: start, Direction: direction, From: from, To: to}
	if in != nil {
		c.rec.CallID = in.CallID()
	}
	c.state = callinfo.StateRouting
	c.callerNum = from
	p.mu.Lock()
	p.live[c.ID] = c
	p.mu.Unlock()
	return c
}

// followCaller follows the caller's leg, whichever it is: its end cancels the call,
// and digits it sends as SIP INFO reach menus and voicemail.
func (c *Call) followCaller() {
	for {
		c.mu.Lock()
		in, swapped := c.In, c.inSwapped
		c.mu.Unlock()
		var done <-chan struct{}
		var dtmf <-chan rune
		if in != nil {
			done, dtmf = in.Done(), in.InfoDTMF()
		}
		select {
		case <-done:
			c.mu.Lock()
			same := c.In == in
			c.mu.Unlock()
			if same {
				c.cancel()
				return
			}
		case <-swapped:
		case <-c.ctx.Done():
			return
		case d := <-dtmf:
			if s := c.media.callerSess.Load(); s != nil {
				s.InjectDTMF(d)
			}
		}
	}
}

// setCaller makes leg (with its session and agent) the call's caller: the party
// left in the call after a transfer. nil leaves the call without caller (its
// party went to another call).
func (c *Call) setCaller(leg inLeg, sess *rtp.Session, agent *dialplan.Agent) {
	c.mu.Lock()
	c.In, c.inAgent = leg, agent
	close(c.inSwapped)
	c.inSwapped = make(chan struct{})
	c.mu.Unlock()
	c.media.adopt(leg, sess)
}

// callerNumber is the number of the party the call is for.
func (c *Call) callerNumber() string {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.callerNum
}

func (c *Call) setState(s callinfo.CallState) {
	c.mu.Lock()
	c.state = s
	c.mu.Unlock()
}

func (c *Call) setAgent(id string) {
	c.mu.Lock()
	c.rec.Agent = id
	delete(c.left, id) // transferred back to an agent who had passed it on
	c.mu.Unlock()
}

func (c *Call) setTeam(id string) {
	c.mu.Lock()
	c.rec.Team = id
	c.mu.Unlock()
}

func (c *Call) answered() {
	c.mu.Lock()
	if c.rec.Answer.IsZero() {
		c.rec.Answer = time.Now()
	}
	c.state = callinfo.StateTalking
	c.mu.Unlock()
}

// outcome sets the call log outcome and SIP cause (first writer wins for the cause).
func (c *Call) outcome(o callinfo.Outcome, cause callinfo.Cause) {
	c.mu.Lock()
	c.rec.Outcome = o
	if !cause.IsZero() {
		c.rec.Cause = cause.String()
	}
	c.mu.Unlock()
}

// markBusy records that an agent is in this call until it ends.
func (c *Call) markBusy(agent string) {
	c.p.ctl.adjustBusy(c.Firm.ID, agent, 1, true)
	c.mu.Lock()
	c.busy = append(c.busy, agent)
	c.mu.Unlock()
}

// finish closes media, hangs up the caller if still up, and writes the call log entry
// once.
func (c *Call) finish() {
	c.mu.Lock()
	if c.finished {
		c.mu.Unlock()
		return
	}
	c.finished = true
	sessions := c.media.list()
	busy := c.busy
	c.mu.Unlock()

	if c.In != nil {
		select {
		case <-c.In.Done():
		default:
			c.In.Hangup(context.Background())
		}
	}
	c.cancel()
	var relayed, lost uint64
	for _, s := range sessions {
		st := s.Stats()
		relayed += st.PacketsOut
		lost += st.Lost
		s.Close()
	}
	for _, a := range busy {
		// Wrap-up first: the agent must not look free to a queue in between.
		c.p.ctl.wrapUp(c, a, true)
		c.p.ctl.adjustBusy(c.Firm.ID, a, -1, true)
	}

	c.mu.Lock()
	rec := c.rec
	c.mu.Unlock()
	c.notifyEnded()
	rec.End = time.Now()
	if !c.bridged.IsZero() {
		// Talk time counts from the bridge: hold music, menus and ringing before it
		// are queue wait, not talk.
		rec.TalkTime = rec.End.Sub(c.bridged)
	}
	if rec.Outcome == "" {
		rec.Outcome = callinfo.Failed
	}
	// The recording is complete and indexed before the entry that names it.
	rec.Recording = c.finishRecording(rec)
	if err := c.p.callLog.AddCall(&rec); err != nil {
		c.p.log.Error("write call log", "call", c.ID, "err", err)
	} else {
		// An agent who said ready while the record waited for its shared
		// commit (Ready) shortened the wrap-up in c.rec, too late for rec.
		c.mu.Lock()
		took := c.rec.WrapUp
		c.mu.Unlock()
		if took != rec.WrapUp {
			if err := c.p.store.SetCallWrapUp(rec.ID, took); err != nil {
				c.p.log.Warn("wrap-up: update call log", "call", c.ID, "err", err)
			}
			rec.WrapUp = took
		}
	}
	c.p.log.Info("call ended", "call", c.ID, "firm", rec.Firm, "direction", rec.Direction, "from", rec.From, "to", rec.To,
		"agent", rec.Agent, "outcome", rec.Outcome, "cause", rec.Cause, "talk", rec.TalkTime.Round(time.Millisecond))
	// Counted and no longer live in one step, so that /metrics never sees the
	// call as both.
	c.p.mu.Lock()
	delete(c.p.live, c.ID)
	c.p.stats.callEnded(&rec, relayed, lost)
	c.p.mu.Unlock()
	if c.p.teamStats.callEnded(&rec) {
		c.p.wall.touch(rec.Firm, rec.Team)
	}
	c.p.calls.Done()
}

// LiveCalls lists calls in progress.
func (p *PBX) LiveCalls(firm string) []LiveCall {
	p.mu.Lock()
	calls := make([]*Call, 0, len(p.live))
	for _, c := range p.live {
		calls = append(calls, c)
	}
	p.mu.Unlock()
	out := make([]LiveCall, 0, len(calls))
	for _, c := range calls {
		if firm != "" && c.Firm.ID != firm {
			continue
		}
		recording := c.recordingOn() // not under c.mu: record.go takes the two locks the other way
		c.mu.Lock()
		out = append(out, LiveCall{
			ID: c.ID, Firm: c.Firm.ID, Direction: c.rec.Direction, From: c.rec.From, To: c.rec.To,
			Agent: c.rec.Agent, Team: c.rec.Team, State: c.state, Start: c.rec.Start, Answer: answeredAt(c.rec.Answer),
			Recording: recording,
		})
		c.mu.Unlock()
	}
	return out
}

var errNoCodec = fmt.Errorf("no common codec (PCMU, PCMA)")

// answerCaller answers the inbound leg with our media (used by voicemail, IVR,
// callback prompts and bridges).
func (c *Call) answerCaller() (*rtp.Session, error) {
	sess, answer, err := c.media.callerMedia()
	if err != nil {
		c.In.Reject(488, "Not Acceptable Here")
		c.outcome(callinfo.Failed, callinfo.CauseNotAcceptableHere)
		return nil, err
	}
	if c.In.Answered() {
		return sess, nil
	}
	if err := c.In.Answer(answer); err != nil {
		return nil, err
	}
	c.answered()
	if c.media.late() {
		if err := applyRemote(sess, c.In.AckSDP()); err != nil {
			c.outcome(callinfo.Failed, callinfo.CauseNotAcceptableHere)
			c.In.Hangup(context.Background())
			return nil, fmt.Errorf("caller's answer in ACK: %w", err)
		}
	}
	// A browser hears nothing before its ICE and DTLS are up: what the caller
	// is played next (a menu, a greeting, the beep) waits for them.
	wctx, cancel := context.WithTimeout(c.ctx, 10*time.Second)
	defer cancel()
	if err := sess.WaitMedia(wctx); err != nil && c.ctx.Err() == nil {
		c.p.log.Warn("caller media not connected", "call", c.ID, "err", err)
	}
	return sess, nil
}

// sdp writes our SDP for a session.
func (k *control) sdp(sess *rtp.Session, codecs []rtp.Codec, dtmfPT int, direction string) ([]byte, error) {
	p := k.p
	if dtmfPT < 0 {
		dtmfPT = rtp.DefaultDTMFPT
	}
	port := sess.LocalAddr().Port()
	return rtp.BuildSDP(rtp.SDPParams{
		SessionID: uint64(time.Now().UnixNano() & 0x7fffffff), Version: 1,
		Addr: p.mediaIP, Port: int(port), Codecs: codecs, DTMFPT: dtmfPT, Direction: direction,
	})
}

// offerHandler answers a mid-call offer on one leg (hold, resume, new address or
// codec) and re-points the leg's media; onHold, when set, hears whether the leg
// now holds the call. The other leg is not re-offered: it hears hold music.
func (k *control) offerHandler(sess *rtp.Session, onHold func(held bool)) sip.OfferHandler {
	return func(body []byte) ([]byte, error) {
		offer, err := rtp.ParseSDP(body)
		if err != nil {
			return nil, err
		}
		var answer []byte
		if sess.IsWebRTC() {
			// A browser's renegotiation (hold, resume) keeps its ICE and DTLS.
			answer, err = sess.AnswerWebRTC(body)
		} else {
			codec, ok := rtp.Negotiate(offer, rtp.Supported)
			if !ok {
				return nil, errNoCodec
			}
			sess.SetRemote(offer.AddrPort(), codec, offer.DTMFPT)
			answer, err = k.sdp(sess, []rtp.Codec{codec}, offer.DTMFPT, rtp.AnswerDirection(offer.Direction))
		}
		if err != nil {
			return nil, err
		}
		if onHold != nil {
			onHold(offer.OnHold())
		}
		return answer, nil
	}
}

// applyRemote points a session at the peer's SDP answer.
func applyRemote(sess *rtp.Session, answer []byte) error {
	md, err := rtp.ParseSDP(answer)
	if err != nil {
		return err
	}
	codec, ok := rtp.Negotiate(md, rtp.Supported)
	if !ok {
		return errNoCodec
	}
	sess.SetRemote(md.AddrPort(), codec, md.DTMFPT)
	return nil
}

// answeredAt is nil for a call not answered yet.
func answeredAt(t time.Time) *time.Time {
	if t.IsZero() {
		return nil
	}
	return &t
}
