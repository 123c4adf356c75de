package pbx

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"switchboard/callinfo"
	"switchboard/dialplan"
	"switchboard/rtp"
	"switchboard/sip"
)

// MonitorMode is how a supervisor takes part in an agent's call.
type MonitorMode string

const (
	// Listen: the supervisor hears both parties; nobody hears the supervisor.
	Listen MonitorMode = "listen"
	// Whisper: the supervisor hears both; only the agent hears the supervisor.
	Whisper MonitorMode = "whisper"
	// Barge: everyone hears the two others.
	Barge MonitorMode = "barge"
)

// Valid reports whether m is one of the three modes.
func (m MonitorMode) Valid() bool { return m == Listen || m == Whisper || m == Barge }

// modeForDigit is the mode a supervisor's key picks during a session.
var modeForDigit = map[rune]MonitorMode{'4': Listen, '5': Whisper, '6': Barge}

// ErrNoPhone is returned by Monitor when the supervisor has nothing that could ring.
var ErrNoPhone = errors.New("no phone registered")

// Monitor rings the supervisor's phones (or browser) and, once they answer, joins
// them to the call in progress in mode. It returns at once; the supervisor may be
// an agent of a team the call's agent is a member of.
func (p *PBX) Monitor(firm, callID, supervisor string, mode MonitorMode) error {
	if !mode.Valid() {
		return fmt.Errorf("%w: mode %q (want listen, whisper or barge)", ErrBadTarget, mode)
	}
	p.mu.Lock()
	c := p.live[callID]
	p.mu.Unlock()
	if c == nil || (firm != "" && c.Firm.ID != firm) {
		return fmt.Errorf("%w: %s", ErrNoCall, callID)
	}
	sup := c.Firm.Agent(supervisor)
	if sup == nil {
		return fmt.Errorf("%w: %s", ErrUnknownAgent, supervisor)
	}
	if err := p.ctl.maySupervise(c, sup); err != nil {
		return err
	}
	if !c.talking() {
		return ErrNotAnswered
	}
	specs := p.ctl.agentTargets(c.Firm, sup, "", "Listen "+c.agentID())
	if len(specs) == 0 {
		return ErrNoPhone
	}
	// One supervisor at a time, refused before a second one's phone rings.
	if !c.monitored.CompareAndSwap(false, true) {
		return fmt.Errorf("%w: a supervisor is already in the call", ErrNotAnswered)
	}
	if !p.tasks.spawn(func(context.Context) { p.ctl.ringSupervisor(c, sup, specs, mode) }) {
		c.monitored.Store(false)
		return errors.New("pbx is shutting down")
	}
	return nil
}

// maySupervise checks that sup supervises the call: its team, or when it came
// through none, a team of its agent.
func (k *control) maySupervise(c *Call, sup *dialplan.Agent) error {
	c.mu.Lock()
	agent, team := c.rec.Agent, c.rec.Team
	c.mu.Unlock()
	if agent == "" || agent == sup.ID || !c.Firm.SupervisesCall(sup.ID, agent, team) {
		return ErrNotYourCall
	}
	return nil
}

// ringSupervisor rings the supervisor and joins the answered leg to c.
func (k *control) ringSupervisor(c *Call, sup *dialplan.Agent, specs []sip.DialSpec, mode MonitorMode) {
	p := k.p
	ctx, cancel := context.WithCancel(c.ctx)
	defer cancel()
	// The supervisor's leg rings on a call of its own making, so that a refusal
	// leaves c untouched; the answered session then moves to c.
	sub := &Call{ID: c.ID, Firm: c.Firm, p: p, ctx: ctx, cancel: cancel}
	r := k.ring(sub, specs, sup.RingTimeout)
	if r.outcome != callinfo.Answered {
		c.monitored.Store(false)
		p.log.Info("monitor: supervisor did not answer", "call", c.ID, "supervisor", sup.ID, "outcome", r.outcome)
		return
	}
	sp := agentParty(c.Firm, sup, r)
	sub.media.release(sp.sess)
	c.media.track(sp.sess)
	// Listening is work: queues and the dialer leave the supervisor alone meanwhile.
	k.adjustBusy(c.Firm.ID, sup.ID, 1, false)
	if err := c.command(func(br *bridging) error {
		if err := br.addMonitor(sp, mode); err != nil {
			return err
		}
		br.mon.busy = true
		return nil
	}); err != nil {
		c.monitored.Store(false)
		p.log.Info("monitor: call ended before the supervisor joined", "call", c.ID, "err", err)
		sp.leg.Hangup(context.Background())
		c.media.untrack(sp.sess)
		k.adjustBusy(c.Firm.ID, sup.ID, -1, true)
	}
}

// monitorByPhone runs *33 + extension: the supervisor's own call c joins the call
// in progress of the agent at that extension, in listen mode, and lasts as long.
func (k *control) monitorByPhone(c *Call, d dialplan.Decision) {
	p := k.p
	sup := c.callerAgent
	target := c.Firm.AgentByExtension(d.Number)
	refuse := func(cause callinfo.Cause, why string) {
		p.log.Info("*33 refused", "call", c.ID, "extension", d.Number, "why", why)
		c.outcome(callinfo.Failed, cause)
		c.In.Reject(cause.Code, cause.Reason)
	}
	forbidden := callinfo.Cause{Code: 403, Reason: "Forbidden"}
	// Who is not a supervisor of the agent learns nothing, not even whether
	// the agent is in a call.
	if sup == nil || target == nil || target.ID == sup.ID || !c.Firm.Supervises(sup.ID, target.ID) {
		refuse(forbidden, "not a supervisor of that agent")
		return
	}
	tc := p.agentCall(c.Firm.ID, target.ID, c)
	if tc == nil {
		refuse(callinfo.CauseUnavailable, "the agent is in no call")
		return
	}
	if err := k.maySupervise(tc, sup); err != nil {
		refuse(forbidden, "not a supervisor of the call's team")
		return
	}
	if !tc.monitored.CompareAndSwap(false, true) {
		refuse(callinfo.CauseBusyHere, "a supervisor is already in the call")
		return
	}
	c.setAgent(sup.ID)
	sess, err := c.answerCaller()
	if err != nil {
		return
	}
	c.outcome(callinfo.Answered, callinfo.CauseOK)
	sp := party{leg: c.In, sess: sess, agent: sup}
	if err := tc.command(func(br *bridging) error { return br.addMonitor(sp, Listen) }); err != nil {
		tc.monitored.Store(false)
		p.apps.play(c.ctx, sess, "unavailable")
		return
	}
	// The session is the monitored call's now; this call only waits for the
	// supervisor to hang up (or to be hung up when that call ends).
	select {
	case <-c.In.Done():
	case <-c.ctx.Done():
	}
}

// agentCall finds the bridged call an agent is talking in, other than skip.
func (p *PBX) agentCall(firm, agent string, skip *Call) *Call {
	p.mu.Lock()
	calls := make([]*Call, 0, len(p.live))
	for _, c := range p.live {
		if c != skip && c.Firm.ID == firm {
			calls = append(calls, c)
		}
	}
	p.mu.Unlock()
	for _, c := range calls {
		c.mu.Lock()
		bridged, sides := c.br != nil, c.parties
		c.mu.Unlock()
		if bridged && (sides[0].agentID() == agent || sides[1].agentID() == agent) {
			return c
		}
	}
	return nil
}

// monitor is a supervisor in a bridge: the relay between the two parties gives way
// to a mix of the three, made every 20 ms.
type monitor struct {
	sup     party
	busy    bool         // the supervisor's busy mark is the monitor's to release
	mode    atomic.Value // MonitorMode
	in      [3]mixInput  // by mixRole
	stop    func()       // stops the mixer and waits for it
	untap   func()
	infoDTM <-chan rune // digits the supervisor sends as SIP INFO, if the leg has them
}

// mixRole indexes a monitor's inputs and outputs.
type mixRole int

const (
	mixCustomer mixRole = iota
	mixAgent
	mixSupervisor
)

// mixInput holds the samples a party sent since the mixer last took a frame, in
// whatever packet sizes the phone uses (10, 20, 30 ms...). About 100 ms of slack
// absorbs jitter; older samples are dropped.
type mixInput struct {
	mu   sync.Mutex
	buf  [mixDepth * rtpFrame]int16
	head int // index of the oldest sample
	n    int // samples held
}

const (
	mixDepth = 5
	rtpFrame = 160 // 20 ms at 8 kHz
)

func (in *mixInput) push(pcm []int16) {
	in.mu.Lock()
	defer in.mu.Unlock()
	size := len(in.buf)
	if len(pcm) > size {
		pcm = pcm[len(pcm)-size:]
	}
	if over := in.n + len(pcm) - size; over > 0 {
		in.head = (in.head + over) % size
		in.n -= over
	}
	tail := (in.head + in.n) % size
	m := copy(in.buf[tail:], pcm)
	copy(in.buf[:], pcm[m:])
	in.n += len(pcm)
}

// pop takes the oldest 20 ms into out, padded with silence when the party sent
// less.
func (in *mixInput) pop(out *[rtpFrame]int16) {
	in.mu.Lock()
	defer in.mu.Unlock()
	take := min(in.n, rtpFrame)
	size := len(in.buf)
	m := copy(out[:take], in.buf[in.head:min(in.head+take, size)])
	copy(out[m:take], in.buf[:take-m])
	clear(out[take:])
	in.head = (in.head + take) % size
	in.n -= take
}

// addMonitor joins a supervisor to the bridge. Only one at a time.
func (br *bridging) addMonitor(sup party, mode MonitorMode) error {
	if br.mon != nil {
		return fmt.Errorf("%w: a supervisor is already in the call", ErrNotAnswered)
	}
	k, c := br.k, br.c
	m := &monitor{sup: sup}
	m.mode.Store(mode)
	if l, ok := sup.leg.(interface{ InfoDTMF() <-chan rune }); ok {
		m.infoDTM = l.InfoDTMF()
	}
	agentSide := c.agentSide(br.sides)
	sess := [3]*rtp.Session{br.sides[1-agentSide].sess, br.sides[agentSide].sess, sup.sess}
	m.untap = c.taps.add(func(r role, pcm []int16) {
		if r == roleAgent {
			m.in[mixAgent].push(pcm)
		} else {
			m.in[mixCustomer].push(pcm)
		}
	})
	sup.sess.OnAudio(func(pcm []int16) { m.in[mixSupervisor].push(pcm) })
	if br.relay != nil {
		br.relay() // the mixer speaks to both parties now
		br.relay = nil
	}
	ctx, cancel := context.WithCancel(c.ctx)
	done := make(chan struct{})
	if !k.p.tasks.spawn(func(context.Context) {
		defer close(done)
		runMixer(ctx, m, sess)
	}) {
		cancel()
		close(done)
	}
	m.stop = func() { cancel(); <-done }
	br.mon = m
	sup.leg.OnOffer(k.offerHandler(sup.sess, nil))
	k.p.log.Info("supervisor joined", "call", c.ID, "supervisor", sup.agentID(), "mode", mode)
	return nil
}

// setMode switches the supervisor's mode.
func (br *bridging) setMode(mode MonitorMode) {
	if br.mon == nil || br.mon.mode.Load() == mode {
		return
	}
	br.mon.mode.Store(mode)
	br.k.p.log.Info("supervisor mode", "call", br.c.ID, "supervisor", br.mon.sup.agentID(), "mode", mode)
}

// endMonitor takes the supervisor out (hanging up their leg when hangup) and,
// when relay, gives the two parties their direct relay back.
func (br *bridging) endMonitor(hangup, relay bool) {
	m := br.mon
	if m == nil {
		return
	}
	br.mon = nil
	m.stop()
	m.untap()
	m.sup.sess.OnAudio(nil)
	if hangup {
		m.sup.leg.Hangup(context.Background())
	}
	br.c.media.untrack(m.sup.sess)
	if m.busy {
		br.k.adjustBusy(br.c.Firm.ID, m.sup.agentID(), -1, true)
	}
	br.c.monitored.Store(false)
	if relay && br.relay == nil {
		br.relay = rtp.Bridge(br.sides[0].sess, br.sides[1].sess)
	}
	br.k.p.log.Info("supervisor left", "call", br.c.ID, "supervisor", m.sup.agentID())
}

// runMixer makes the three parties' mixes every 20 ms until ctx ends: each hears
// the sum of what the mode lets it hear of the two others, never itself.
func runMixer(ctx context.Context, m *monitor, sess [3]*rtp.Session) {
	var feeds [3]*rtp.Feed
	for i, s := range sess {
		f, err := s.OpenFeed(ctx)
		if err != nil {
			for _, f := range feeds[:i] {
				f.Close()
			}
			return
		}
		feeds[i] = f
	}
	defer func() {
		for _, f := range feeds {
			f.Close()
		}
	}()
	tick := time.NewTicker(20 * time.Millisecond)
	defer tick.Stop()
	var in [3][rtpFrame]int16
	var out [rtpFrame]int16
	for {
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
		for i := range in {
			m.in[i].pop(&in[i])
		}
		mode := m.mode.Load().(MonitorMode)
		for to := range feeds {
			var gains [3]bool
			switch mixRole(to) {
			case mixCustomer:
				gains = [3]bool{false, true, mode == Barge}
			case mixAgent:
				gains = [3]bool{true, false, mode != Listen}
			case mixSupervisor:
				gains = [3]bool{true, true, false}
			}
			mixInto(&out, &in, gains)
			// A closed session (its party hung up) is the bridge's to notice.
			_ = feeds[to].Write(out[:])
		}
	}
}

// mixInto sums the inputs picked by use in linear PCM, clipped to 16 bits.
func mixInto(out *[rtpFrame]int16, in *[3][rtpFrame]int16, use [3]bool) {
	for i := range out {
		var sum int32
		for j := range in {
			if use[j] {
				sum += int32(in[j][i])
			}
		}
		out[i] = int16(max(min(sum, 32767), -32768))
	}
}
