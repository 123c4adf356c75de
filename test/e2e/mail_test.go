package e2e

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"regexp"
	"strings"
	"testing"
	"time"

	"switchboard/dialplan"
	"switchboard/internal/smtptest"
)

// mailConfig is a server whose agent bob is away and whose mailbox emails go
// through smtp (a YAML flow mapping).
func mailConfig(rtp, prompts, smtp string) string {
	return fmt.Sprintf(baseConfig, rtp) + fmt.Sprintf(`
sounds_dir: %s
smtp: %s
agents:
  - {id: alice, extension: "1001", password: alice-pw}
  - {id: bob, extension: "1002", password: bob-pw, status: away}
mailboxes:
  - {id: bob, email: "Bob <bob@example.com>"}
`, prompts, smtp)
}

// A voicemail left for an agent whose mailbox has an email reaches the mail
// server (STARTTLS, AUTH PLAIN) with the WAV attached, byte for byte the file
// on disk; after a reload that points smtp: elsewhere, the next message goes
// to the new server.
func TestVoicemailToEmail(t *testing.T) {
	t.Parallel()
	serverTLS, _ := smtptest.SelfSigned(t)
	first := smtptest.Start(t, smtptest.Options{TLS: serverTLS, Username: "pbx", Password: "mail-pw"})
	second := smtptest.Start(t, smtptest.Options{})
	prompts, rtp, data := shortPrompts(t), rtpRange(), t.TempDir()
	s := startRaw(t, mailConfig(rtp, prompts, fmt.Sprintf(
		`{addr: "%s", from: "Switchboard <pbx@test.local>", username: pbx, password: mail-pw, tls: starttls, insecure_skip_verify: true}`,
		first.Addr)), data)
	alice := s.phone("1001", "alice-pw", "PCMU")

	leave := func(d time.Duration) {
		t.Helper()
		c, err := alice.Dial(ctxT(t, 20*time.Second), "1002")
		if err != nil {
			t.Fatalf("dial: %v", err)
		}
		leaveMessage(t, c, d)
	}
	check := func(sink *smtptest.Server, n int, wantFrom string, wantTLS bool) {
		t.Helper()
		got, err := sink.Next(ctxT(t, 20*time.Second))
		if err != nil {
			t.Fatal(err)
		}
		if got.From != wantFrom || len(got.To) != 1 || got.To[0] != "bob@example.com" || got.TLS != wantTLS {
			t.Errorf("envelope %q -> %q, TLS %v", got.From, got.To, got.TLS)
		}
		msgs, err := s.Store.ListVoicemail("test.local", "bob")
		if err != nil || len(msgs) != n {
			t.Fatalf("stored messages: %d, %v; want %d", len(msgs), err, n)
		}
		vm := msgs[0]
		for _, m := range msgs {
			if m.Time.After(vm.Time) {
				vm = m
			}
		}
		wav, err := os.ReadFile(vm.File)
		if err != nil {
			t.Fatal(err)
		}
		p, err := smtptest.Parse(got.Data)
		if err != nil {
			t.Fatal(err)
		}
		if att := p.Attachments[vm.ID+".wav"]; !bytes.Equal(att, wav) || p.Types[vm.ID+".wav"] != "audio/wav" {
			t.Errorf("attachment %s: %d bytes (%s), file %d bytes; attachments %d",
				vm.ID+".wav", len(att), p.Types[vm.ID+".wav"], len(wav), len(p.Attachments))
		}
		subject := regexp.MustCompile(`^Voicemail from (.+ )?<?1001>? \(0:0\d\) for mailbox bob$`)
		if !subject.MatchString(p.Subject) {
			t.Errorf("Subject = %q", p.Subject)
		}
		if to := p.Header.Get("To"); to != `"Bob" <bob@example.com>` {
			t.Errorf("To = %q", to)
		}
		if !strings.Contains(p.Text, "Mailbox:  bob (test.local)") || !strings.Contains(p.Text, "1001") {
			t.Errorf("text:\n%s", p.Text)
		}
	}

	leave(2 * time.Second)
	check(first, 1, "pbx@test.local", true)

	cfg, err := dialplan.Parse(data+"/switchboard.yaml", []byte(mailConfig(rtp, prompts, fmt.Sprintf(
		`{addr: "%s", from: "Voicemail <voicemail@test.local>", tls: none}`, second.Addr))))
	if err != nil {
		t.Fatal(err)
	}
	s.Reload(cfg)
	leave(2500 * time.Millisecond) // over the 1 s minimum even when a loaded machine drops a third of the frames
	check(second, 2, "voicemail@test.local", false)

	// Stop delivers what is queued and ends the mailer; each server got
	// exactly its one mail.
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	if err := s.Stop(ctx); err != nil {
		t.Fatalf("stop: %v", err)
	}
	if a, b := len(first.Received()), len(second.Received()); a != 1 || b != 1 {
		t.Errorf("mails received: %d and %d, want 1 and 1", a, b)
	}
}
