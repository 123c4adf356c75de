package pbx

import (
	"switchboard/dialplan"
	"switchboard/mailer"
	"switchboard/store"
)

// SetMailer hands the PBX the queue that mails new voicemail (nil: none).
// internal/app sets it when smtp: is configured, at start or on a reload.
func (p *PBX) SetMailer(m *mailer.Mailer) { p.mail.Store(m) }

// mailVoicemail queues a saved message for its mailbox's email address. It
// runs in the call's goroutine, so it only queues: reading the WAV file and
// talking to the mail server happen on the Mailer's goroutine, and a failure
// is logged, never passed on to the call.
func (ap *apps) mailVoicemail(c *Call, vm store.Voicemail) {
	p := ap.p
	callerName := ""
	if c.In != nil {
		callerName = c.In.FromDisplay()
	}
	// The config in force now, not the one the call started with: a reload
	// that changed smtp: or the mailbox's email applies to this message.
	srv, msg, ok := voicemailMail(p.cfg.Load(), c.Firm, vm, callerName)
	if !ok {
		return
	}
	m := p.mail.Load()
	if m == nil {
		p.log.Warn("voicemail mail: no mailer running", "call", c.ID, "mailbox", vm.Mailbox)
		return
	}
	if err := m.Send(srv, msg); err != nil {
		p.log.Error("voicemail mail not queued", "call", c.ID, "mailbox", vm.Mailbox, "to", msg.To, "err", err)
		return
	}
	p.log.Info("voicemail mail queued", "call", c.ID, "mailbox", vm.Mailbox, "id", vm.ID, "to", msg.To)
}

// voicemailMail decides whether a saved message is mailed and with what:
// only when smtp: is configured and the mailbox has an email address. The
// firm is looked up by id in cfg (callFirm, from the call's start, stands in
// when a reload removed it).
func voicemailMail(cfg *dialplan.Config, callFirm *dialplan.Firm, vm store.Voicemail, callerName string) (mailer.Server, mailer.Voicemail, bool) {
	if cfg == nil || !cfg.SMTP.Enabled() {
		return mailer.Server{}, mailer.Voicemail{}, false
	}
	f := cfg.Firm(vm.Firm)
	if f == nil {
		f = callFirm
	}
	var box *dialplan.Mailbox
	if f != nil {
		box = f.Mailbox(vm.Mailbox)
	}
	if box == nil || box.Email == "" {
		return mailer.Server{}, mailer.Voicemail{}, false
	}
	s := cfg.SMTP
	srv := mailer.Server{
		Addr: s.Addr, Username: s.Username, Password: s.Password, From: s.From,
		TLS: s.TLS, InsecureSkipVerify: s.InsecureSkipVerify,
	}
	msg := mailer.Voicemail{
		ID: vm.ID, Firm: vm.Firm, Mailbox: vm.Mailbox, To: box.Email,
		Caller: vm.Caller, CallerName: callerName,
		Time: vm.Time, Duration: vm.Duration, WAVPath: vm.File,
	}
	return srv, msg, true
}
