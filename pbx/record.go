package pbx

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"sync"
	"time"

	"switchboard/dialplan"
	"switchboard/recording"
	"switchboard/rtp"
	"switchboard/store"
)

// Call recording (SPEC section 7): a call is recorded when its firm (or the top
// level), its agent, its team or the inbound route it came by says so, or on
// demand (Record). The recorder hears the call's parties through the taps, so
// that it keeps recording into the same file across transfers; it starts at a
// bridge and ends at the call's finish, where it is indexed before the call log
// entry that names it is written.

// callRecording is a call's recording state, guarded by its own mutex: the API
// reads it while the call's goroutine changes it.
type callRecording struct {
	mu sync.Mutex
	// route: the inbound route the call came by records it.
	route bool
	// demand, when set, is the last on/off asked through Record: it wins over
	// the configuration for the rest of the call.
	demand *bool
	// noticed: the caller has heard the record_notice.
	noticed bool
	rec     *recording.Recorder
	remove  func() // unhooks the recorder from the taps
	meta    recording.Meta
}

// recordingsDir is where recordings live: DATA_DIR/recordings/FIRM/ID.wav.
func (p *PBX) recordingsDir() string { return filepath.Join(p.dataDir, "recordings") }

// defaultRecordingSweep is how often the retention sweeper runs.
const defaultRecordingSweep = 10 * time.Minute

// recordingSweepBatch bounds the entries one sweep removes, so that a first
// sweep over a large backlog does not hold the store for long.
const recordingSweepBatch = 500

// setRecordRoute remembers that the inbound route records the call.
func (c *Call) setRecordRoute(on bool) {
	c.recording.mu.Lock()
	c.recording.route = on
	c.recording.mu.Unlock()
}

// wantsRecording applies the policy: on demand first, else any of the firm,
// the call's agents, its team or its inbound route.
func (c *Call) wantsRecording() bool {
	c.recording.mu.Lock()
	demand, route := c.recording.demand, c.recording.route
	c.recording.mu.Unlock()
	if demand != nil {
		return *demand
	}
	if route || c.Firm.RecordsAll() {
		return true
	}
	c.mu.Lock()
	agent, caller, team := c.rec.Agent, c.rec.CallerAgent, c.rec.Team
	c.mu.Unlock()
	for _, id := range []string{agent, caller} {
		if a := c.Firm.Agent(id); a != nil && a.Record {
			return true
		}
	}
	t := c.Firm.Team(team)
	return t != nil && t.Record
}

// recordNotice plays the firm's record_notice to the caller's session once per
// call, before the bridge of a call that will be recorded. The callee waits
// meanwhile: the notice is short, and playing it before the ringing would be
// too early to know the answering agent's policy.
func (k *control) recordNotice(c *Call, sess *rtp.Session) {
	name := c.Firm.RecordNotice()
	if name == "" || sess == nil || !c.wantsRecording() {
		return
	}
	c.recording.mu.Lock()
	done := c.recording.noticed
	c.recording.noticed = true
	c.recording.mu.Unlock()
	if done {
		return
	}
	pcm, err := k.p.apps.prompt(c.Firm, name)
	if err != nil {
		k.p.log.Warn("record notice", "call", c.ID, "prompt", name, "err", err)
		return
	}
	if err := sess.Play(c.ctx, pcm); err != nil && !errors.Is(err, context.Canceled) {
		k.p.log.Warn("record notice", "call", c.ID, "err", err)
	}
}

// recordIfWanted starts the call's recording at a bridge when the policy says
// so and it is not running yet. Called by the call's goroutine.
func (k *control) recordIfWanted(c *Call) {
	if c.wantsRecording() {
		if err := k.startRecording(c); err != nil {
			k.p.log.Error("recording: start", "call", c.ID, "err", err)
		}
	}
}

// startRecording starts (or resumes) the call's recording. It runs on the
// call's goroutine (a bridge, or a command from Record), so never at the same
// time as the call's finish.
func (k *control) startRecording(c *Call) error {
	p := k.p
	cr := &c.recording
	cr.mu.Lock()
	defer cr.mu.Unlock()
	if cr.rec != nil {
		cr.rec.SetOn(true)
		return nil
	}
	c.mu.Lock()
	m := recording.Meta{ID: c.ID, Firm: c.Firm.ID, Call: c.ID, Agent: c.rec.Agent, CallerAgent: c.rec.CallerAgent,
		Team: c.rec.Team, Start: time.Now()}
	c.mu.Unlock()
	r, err := recording.Start(recording.Path(p.recordingsDir(), c.Firm.ID, c.ID), m, p.log)
	if err != nil {
		return err
	}
	cr.rec, cr.meta = r, m
	cr.remove = c.taps.add(func(who role, pcm []int16) {
		ch := recording.Left
		if who == roleAgent {
			ch = recording.Right
		}
		r.Feed(ch, pcm)
	})
	p.log.Info("recording started", "call", c.ID, "firm", c.Firm.ID)
	return nil
}

// recordingOn reports whether the call is being recorded now.
func (c *Call) recordingOn() bool {
	c.recording.mu.Lock()
	defer c.recording.mu.Unlock()
	return c.recording.rec != nil && c.recording.rec.On()
}

// finishRecording ends the call's recording, if any: the file is completed and
// fsynced, then indexed with the call's final agent and team. It returns the
// recording's id for the call log ("" when there is none).
func (c *Call) finishRecording(rec store.CallRecord) string {
	p := c.p
	cr := &c.recording
	cr.mu.Lock()
	r, remove, m := cr.rec, cr.remove, cr.meta
	cr.rec, cr.remove = nil, nil
	cr.mu.Unlock()
	if r == nil {
		return ""
	}
	remove()
	res, err := r.Close()
	if err != nil {
		// The sidecar stays: the next start repairs and indexes what is there.
		p.log.Error("recording: close", "call", c.ID, "err", err)
		return ""
	}
	entry := store.Recording{
		ID: m.ID, Firm: m.Firm, Call: m.Call, Agent: rec.Agent, CallerAgent: rec.CallerAgent, Team: rec.Team,
		Start: m.Start, Duration: res.Duration, File: res.File, Size: res.Size,
	}
	if err := p.store.AddRecording(&entry); err != nil {
		p.log.Error("recording: index", "call", c.ID, "err", err)
		return ""
	}
	if err := recording.Commit(res.File); err != nil {
		p.log.Warn("recording: commit", "call", c.ID, "err", err)
	}
	p.log.Info("recording saved", "call", c.ID, "id", entry.ID, "duration", res.Duration.Round(time.Millisecond), "bytes", res.Size)
	return entry.ID
}

// Record starts (on) or pauses (off) the recording of a live, answered call,
// for the rest of the call: byAgent is the agent who asks ("" for the admin),
// who must be in the call or supervise its agent or team. The errors are
// Transfer's: ErrNoCall, ErrNotYourCall, ErrNotAnswered.
func (p *PBX) Record(firm, callID, byAgent string, on bool) error {
	p.mu.Lock()
	c := p.live[callID]
	p.mu.Unlock()
	if c == nil || (firm != "" && c.Firm.ID != firm) {
		return fmt.Errorf("%w: %s", ErrNoCall, callID)
	}
	if byAgent != "" && !c.involves(byAgent) && !c.supervisedBy(byAgent) {
		return ErrNotYourCall
	}
	if !c.talking() {
		return ErrNotAnswered
	}
	return c.command(func(*bridging) error {
		c.recording.mu.Lock()
		c.recording.demand = &on
		r := c.recording.rec
		c.recording.mu.Unlock()
		who := byAgent
		if who == "" {
			who = "admin"
		}
		p.log.Info("recording on demand", "call", c.ID, "on", on, "by", who)
		if !on {
			if r != nil {
				r.SetOn(false)
			}
			return nil
		}
		return p.ctl.startRecording(c)
	})
}

// Recording reports whether a live call of firm is being recorded.
func (p *PBX) Recording(firm, callID string) (bool, error) {
	p.mu.Lock()
	c := p.live[callID]
	p.mu.Unlock()
	if c == nil || (firm != "" && c.Firm.ID != firm) {
		return false, fmt.Errorf("%w: %s", ErrNoCall, callID)
	}
	return c.recordingOn(), nil
}

// supervisedBy reports whether agent supervises the call's team or a team of
// its agent.
func (c *Call) supervisedBy(agent string) bool {
	c.mu.Lock()
	team, callAgent := c.rec.Team, c.rec.Agent
	c.mu.Unlock()
	return MaySeeRecording(c.Firm, agent, store.Recording{Agent: callAgent, Team: team})
}

// MaySeeRecording is the rule for an agent and a recording (or a call) of
// their firm: their own calls (taken or placed), and the calls of the teams
// they supervise, by the call's team or the team of its agent.
func MaySeeRecording(f *dialplan.Firm, agent string, r store.Recording) bool {
	if agent == "" {
		return false
	}
	return r.Agent == agent || r.CallerAgent == agent || SupervisesRecording(f, agent, r)
}

// SupervisesRecording reports whether agent supervises the team of a recording
// (or call): its own team, or a team of its agent.
func SupervisesRecording(f *dialplan.Firm, agent string, r store.Recording) bool {
	return agent != "" && f.SupervisesCall(agent, r.Agent, r.Team)
}

// DeleteRecording removes a recording of firm: its file first, then its entry,
// so that a failure in between leaves an entry that a retry (or the sweeper)
// removes, never a file nothing points at.
func (p *PBX) DeleteRecording(firm, id string) error {
	r, err := p.store.GetRecording(firm, id)
	if err != nil {
		return err
	}
	return p.removeRecording(r)
}

func (p *PBX) removeRecording(r store.Recording) error {
	if err := recording.Remove(r.File); err != nil {
		return err
	}
	if _, err := p.store.DeleteRecording(r.Firm, r.ID); err != nil && !errors.Is(err, store.ErrNotFound) {
		return err
	}
	return nil
}

// sweepRecordings removes the recordings older than recordings.keep.
func (p *PBX) sweepRecordings() {
	keep := p.cfg.Load().Recordings.Keep
	if keep <= 0 {
		return
	}
	old, err := p.store.RecordingsBefore(time.Now().Add(-keep), recordingSweepBatch)
	if err != nil {
		p.log.Error("recordings: retention", "err", err)
		return
	}
	for _, r := range old {
		if err := p.removeRecording(r); err != nil {
			p.log.Error("recordings: retention", "id", r.ID, "err", err)
			continue
		}
		p.log.Info("recording expired", "firm", r.Firm, "id", r.ID, "start", r.Start, "keep", keep)
	}
}

// recoverRecordings repairs and indexes the recordings a crash interrupted.
func (p *PBX) recoverRecordings() error {
	n, err := recording.Recover(p.recordingsDir(), p.log, func(m recording.Meta, res recording.Result) error {
		return p.store.AddRecording(&store.Recording{
			ID: m.ID, Firm: m.Firm, Call: m.Call, Agent: m.Agent, CallerAgent: m.CallerAgent, Team: m.Team,
			Start: m.Start, Duration: res.Duration, File: res.File, Size: res.Size,
		})
	})
	if n > 0 {
		p.log.Info("recordings recovered after a crash", "count", n)
	}
	return err
}
