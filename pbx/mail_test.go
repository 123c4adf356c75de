package pbx

import (
	"testing"
	"time"

	"switchboard/dialplan"
	"switchboard/mailer"
	"switchboard/store"
)

func TestVoicemailMail(t *testing.T) {
	t.Parallel()
	const body = `
domain: pbx.example.com
agents:
  - {id: alice, extension: "1001", password: pw}
  - {id: bob, extension: "1002", password: pw}
mailboxes:
  - {id: alice, email: "Alice <alice@example.com>"}
  - {id: general, email: office@example.com}
  - {id: quiet}
`
	const smtp = `smtp: {addr: "mail.example.com:587", username: u, password: p, from: pbx@example.com, tls: tls, insecure_skip_verify: true}
`
	withSMTP, err := dialplan.Parse("sb.yaml", []byte(body+smtp))
	if err != nil {
		t.Fatal(err)
	}
	// The same file after a reload that dropped smtp: (and the emails that
	// need it).
	without, err := dialplan.Parse("sb.yaml", []byte("domain: pbx.example.com\nagents: [{id: alice, extension: \"1001\", password: pw}]\n"))
	if err != nil {
		t.Fatal(err)
	}
	when := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	vm := func(mailbox string) store.Voicemail {
		return store.Voicemail{ID: "m1", Firm: "pbx.example.com", Mailbox: mailbox, Caller: "+15550001",
			Time: when, Duration: 3 * time.Second, File: "/data/voicemail/m1.wav"}
	}
	wantSrv := mailer.Server{Addr: "mail.example.com:587", Username: "u", Password: "p", From: "pbx@example.com", TLS: "tls", InsecureSkipVerify: true}
	tests := []struct {
		name   string
		cfg    *dialplan.Config
		vm     store.Voicemail
		wantTo string // "": no mail
	}{
		{"agent mailbox with email", withSMTP, vm("alice"), "Alice <alice@example.com>"},
		{"mailbox with email", withSMTP, vm("general"), "office@example.com"},
		{"mailbox without email", withSMTP, vm("quiet"), ""},
		{"agent without email", withSMTP, vm("bob"), ""},
		{"unknown mailbox", withSMTP, vm("gone"), ""},
		{"smtp removed by a reload", without, vm("alice"), ""},
	}
	for _, tc := range tests {
		srv, msg, ok := voicemailMail(tc.cfg, withSMTP.DefaultFirm(), tc.vm, "Caller Name")
		if ok != (tc.wantTo != "") {
			t.Errorf("%s: mailed = %v", tc.name, ok)
			continue
		}
		if !ok {
			continue
		}
		want := mailer.Voicemail{ID: "m1", Firm: "pbx.example.com", Mailbox: tc.vm.Mailbox, To: tc.wantTo,
			Caller: "+15550001", CallerName: "Caller Name", Time: when, Duration: 3 * time.Second, WAVPath: "/data/voicemail/m1.wav"}
		if srv != wantSrv {
			t.Errorf("%s: server %+v, want %+v", tc.name, srv, wantSrv)
		}
		if msg.WAV != nil || msg.ID != want.ID || msg.Firm != want.Firm || msg.Mailbox != want.Mailbox || msg.To != want.To ||
			msg.Caller != want.Caller || msg.CallerName != want.CallerName || !msg.Time.Equal(want.Time) ||
			msg.Duration != want.Duration || msg.WAVPath != want.WAVPath {
			t.Errorf("%s: mail %+v, want %+v", tc.name, msg, want)
		}
	}
}
