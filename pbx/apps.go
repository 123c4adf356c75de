package pbx

import (
	"context"
	"errors"
	"time"

	"switchboard/callinfo"
	"switchboard/dialplan"
	"switchboard/rtp"
	"switchboard/store"
	"switchboard/voicemail"
)

// voicemailApp answers the caller and records a message in mailbox.
func (ap *apps) voicemailApp(c *Call, mailbox string) {
	p := ap.p
	sess, err := c.answerCaller()
	if err != nil {
		p.log.Warn("voicemail: answer", "call", c.ID, "err", err)
		return
	}
	c.setState(callinfo.StateVoicemail)
	c.outcome(callinfo.Voicemail, callinfo.Cause{})
	cfg := p.cfg.Load()
	// The mailbox's own greeting: the firm's sounds first (mailbox ids repeat
	// across firms), then sounds_dir; else the default one.
	var greeting []int16
	for _, path := range c.Firm.SoundPaths("greeting-" + mailbox + ".wav") {
		if pcm, err := p.sounds.Get(path); err == nil {
			greeting = pcm
			break
		}
	}
	if greeting == nil && len(p.cfg.Load().Firms) == 1 {
		greeting, _ = p.sounds.Get("greeting-" + mailbox)
	}
	vm, err := voicemail.Deposit(c.ctx, sess, p.store, p.sounds, voicemail.DepositOptions{
		Logger: p.log,
		Firm:   c.Firm.ID, Mailbox: mailbox, Caller: c.callerNumber(),
		Dir:            voicemail.MailboxDir(p.dataDir, c.Firm.ID, mailbox),
		Greeting:       greeting,
		SilenceTimeout: cfg.Voicemail.SilenceTimeout,
		MaxLength:      cfg.Voicemail.MaxLength,
	})
	switch {
	case errors.Is(err, voicemail.ErrTooShort):
		// The call still went to voicemail (its outcome); no message was left.
		p.log.Info("voicemail too short, discarded", "call", c.ID, "mailbox", mailbox)
	case errors.Is(err, context.Canceled):
		p.log.Info("caller hung up before the beep", "call", c.ID, "mailbox", mailbox)
	case err != nil:
		p.log.Error("voicemail", "call", c.ID, "mailbox", mailbox, "err", err)
	default:
		p.log.Info("voicemail saved", "call", c.ID, "mailbox", mailbox, "id", vm.ID, "duration", vm.Duration)
		p.VoicemailChanged(c.Firm.ID, mailbox, vm.ID, "new")
		p.apps.mailVoicemail(c, vm)
	}
}

// callbackApp stores a callback request (fsync) and then tells the caller so.
func (ap *apps) callbackApp(c *Call, kind, id string) {
	p := ap.p
	sess, err := c.answerCaller()
	if err != nil {
		p.log.Warn("callback: answer", "call", c.ID, "err", err)
		return
	}
	c.setState(callinfo.StateCallback)
	caller := c.callerNumber()
	if !validNumber(caller) {
		// Only dial-pad numbers are ever called back: the From of a call from a
		// trunk is the caller's to choose.
		p.log.Warn("callback: caller number not dialable", "call", c.ID, "from", caller)
		c.outcome(callinfo.Failed, callinfo.Cause{})
		p.apps.play(c.ctx, sess, "unavailable")
		return
	}
	cb := &store.Callback{
		Firm: c.Firm.ID, Caller: caller, TargetKind: kind, TargetID: id,
	}
	if c.In != nil {
		cb.CallerName = c.In.FromDisplay()
	}
	if err := p.store.AddCallback(cb); err != nil {
		p.log.Error("callback: store", "call", c.ID, "err", err)
		c.outcome(callinfo.Failed, callinfo.CauseServerInternalError)
		p.apps.play(c.ctx, sess, "goodbye")
		return
	}
	c.outcome(callinfo.Callback, callinfo.Cause{})
	if kind == store.TargetTeam {
		p.teamStats.callbackStored(cb.Firm, id, cb.Created)
		p.wall.touch(cb.Firm, id)
	}
	p.CallbackChanged(*cb)
	p.log.Info("callback queued", "call", c.ID, "id", cb.ID, "target", kind+":"+id, "caller", cb.Caller)
	p.apps.play(c.ctx, sess, "callback")
	p.dialer.queued(c.Firm.ID, kind, id)
}

// play plays a named prompt; a missing prompt is logged, not fatal.
func (ap *apps) play(ctx context.Context, sess *rtp.Session, name string) error {
	p := ap.p
	pcm, err := p.sounds.Get(name)
	if err != nil {
		p.log.Error("prompt", "name", name, "err", err)
		return err
	}
	return sess.Play(ctx, pcm)
}

// feature runs a feature code dialled from an agent's phone.
func (ap *apps) feature(c *Call, d dialplan.Decision) {
	p := ap.p
	if d.Feature == dialplan.FeatureListen {
		p.ctl.monitorByPhone(c, d)
		return
	}
	a := d.Agent
	if a == nil {
		a = c.callerAgent
	}
	c.setAgent(a.ID)
	sess, err := c.answerCaller()
	if err != nil {
		return
	}
	c.outcome(callinfo.Answered, callinfo.Cause{})
	switch d.Feature {
	case dialplan.FeatureOnline, dialplan.FeatureAway:
		status, prompt := callinfo.Online, "status-online"
		if d.Feature == dialplan.FeatureAway {
			status, prompt = callinfo.Away, "status-away"
		}
		if err := p.SetAgentStatus(c.Firm.ID, a.ID, status); err != nil {
			p.log.Error("feature status", "err", err)
			p.apps.play(c.ctx, sess, "goodbye")
			return
		}
		p.apps.play(c.ctx, sess, prompt)
	case dialplan.FeatureMyVoicemail:
		p.apps.retrieve(c, sess, a.ID, a.VoicemailPIN)
	case dialplan.FeatureVoicemail:
		p.apps.play(c.ctx, sess, "vm-mailbox")
		id, err := voicemail.CollectDigits(c.ctx, sess, 16, 8*time.Second)
		if err != nil || id == "" {
			p.apps.play(c.ctx, sess, "vm-goodbye")
			return
		}
		box := c.Firm.Mailbox(id)
		if box == nil {
			if ag := c.Firm.AgentByExtension(id); ag != nil {
				box = c.Firm.Mailbox(ag.ID)
			}
		}
		if box == nil {
			p.apps.play(c.ctx, sess, "vm-bad-pin")
			return
		}
		pin := box.PIN
		if pin == "" {
			// A mailbox without a PIN is not open to everyone: only its owner.
			if box.ID != a.ID {
				p.apps.play(c.ctx, sess, "vm-bad-pin")
				return
			}
		}
		p.apps.retrieve(c, sess, box.ID, pin)
	}
}

func (ap *apps) retrieve(c *Call, sess *rtp.Session, mailbox, pin string) {
	p := ap.p
	c.setState(callinfo.StateVoicemailMenu)
	err := voicemail.Retrieve(c.ctx, sess, p.store, p.sounds, voicemail.RetrieveOptions{
		Logger: p.log,
		Firm:   c.Firm.ID, Mailbox: mailbox, PIN: pin, DigitTimeout: 5 * time.Second,
		OnChange: func() { p.mwi.notify(c.Firm.ID, mailbox) },
	})
	if err != nil && !errors.Is(err, context.Canceled) {
		p.log.Info("voicemail menu", "call", c.ID, "mailbox", mailbox, "err", err)
	}
	p.mwi.notify(c.Firm.ID, mailbox)
}

// runIVR plays a menu, reads one digit and goes where the option says; the default
// applies on timeout or after an invalid digit has been answered once.
func (ap *apps) runIVR(c *Call, ivr *dialplan.IVR) {
	p := ap.p
	sess, err := c.answerCaller()
	if err != nil {
		return
	}
	c.setState(callinfo.StateIVR)
	prompt, err := p.apps.ivrPrompt(c.Firm, ivr)
	if err != nil {
		p.log.Error("ivr prompt", "ivr", ivr.ID, "err", err)
	}
	for attempt := 0; attempt < 2; attempt++ {
		digit, ok := p.apps.promptDigit(c.ctx, sess, prompt, ivr.Timeout)
		if c.ctx.Err() != nil {
			c.outcome(callinfo.Abandoned, callinfo.Cause{})
			return
		}
		if !ok {
			break
		}
		if t, found := ivr.Options[string(digit)]; found {
			p.log.Info("ivr option", "call", c.ID, "ivr", ivr.ID, "digit", string(digit), "to", t.String())
			p.apps.runAnswered(c, t.Decide(c.Firm))
			return
		}
		p.apps.play(c.ctx, sess, "invalid")
	}
	if ivr.Default.IsZero() {
		p.apps.play(c.ctx, sess, "goodbye")
		c.outcome(callinfo.Failed, callinfo.Cause{})
		return
	}
	p.apps.runAnswered(c, ivr.Default.Decide(c.Firm))
}

// runAnswered runs a decision for a caller who is already answered (IVR options,
// queue timeouts): the same as run, with the leg already up.
func (ap *apps) runAnswered(c *Call, d dialplan.Decision) {
	p := ap.p
	p.ctl.run(c, d)
}

// ivrPrompt finds an IVR's prompt.
func (ap *apps) ivrPrompt(f *dialplan.Firm, ivr *dialplan.IVR) ([]int16, error) {
	if ivr.Prompt == "" {
		return ap.p.sounds.Get("main-menu")
	}
	return ap.prompt(f, ivr.Prompt)
}

// holdMusic is what a held or queued caller hears: the hold_music of the call's
// team, else of its firm or the top level, else the built-in hold prompt.
func (ap *apps) holdMusic(c *Call) ([]int16, error) {
	c.mu.Lock()
	team := c.Firm.Team(c.rec.Team)
	c.mu.Unlock()
	return ap.prompt(c.Firm, c.Firm.HoldMusic(team))
}

// prompt finds a prompt the admin named: sounds_dir, next to the config file,
// absolute, then the main sounds_dir and the built-in prompts.
func (ap *apps) prompt(f *dialplan.Firm, name string) ([]int16, error) {
	p := ap.p
	for _, path := range f.SoundPaths(name) {
		if pcm, err := p.sounds.Get(path); err == nil {
			return pcm, nil
		}
	}
	return p.sounds.Get(name)
}

// promptDigit plays pcm and waits up to timeout after it for one digit; a digit
// pressed during the prompt stops it (barge-in).
func (ap *apps) promptDigit(ctx context.Context, sess *rtp.Session, pcm []int16, timeout time.Duration) (rune, bool) {
	p := ap.p
	pctx, cancel := context.WithCancel(ctx)
	defer cancel()
	played := make(chan struct{})
	p.tasks.spawn(func(context.Context) {
		if pcm != nil {
			sess.Play(pctx, pcm)
		}
		close(played)
	})
	for {
		select {
		case d := <-sess.DTMF():
			cancel()
			<-played
			return d, true
		case <-ctx.Done():
			<-played
			return 0, false
		case <-played:
			t := time.NewTimer(timeout)
			defer t.Stop()
			select {
			case d := <-sess.DTMF():
				return d, true
			case <-t.C:
				return 0, false
			case <-ctx.Done():
				return 0, false
			}
		}
	}
}

// apps are what a call can be answered with besides another phone: voicemail,
// the callback offer, IVR menus and the star-code features.
type apps struct{ p *PBX }
