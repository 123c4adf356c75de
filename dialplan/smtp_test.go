package dialplan

import (
	"testing"
)

// The smtp: block and the mailbox emails it serves: what is accepted, and one
// located problem for each mistake.
func TestSMTPSettings(t *testing.T) {
	t.Parallel()
	const acme = "domain: acme.example\nmailboxes: [{id: sales, email: sales@acme.example}]\n"
	tests := []struct {
		name    string
		main    string
		firm    string // dir/acme.yaml, listed under firms: when set
		want    SMTPSettings
		at, msg string // expected problem, if any
	}{
		{name: "absent", main: "domain: a.example\n"},
		{name: "null block", main: "smtp:\n"},
		{name: "empty email needs no server", main: "mailboxes: [{id: general, email: \"\"}]\n"},
		{name: "defaults", main: "smtp: {addr: \"mail.example.com:587\", from: pbx@example.com}\n",
			want: SMTPSettings{Addr: "mail.example.com:587", From: "pbx@example.com", TLS: SMTPStartTLS}},
		{name: "implicit tls", main: "smtp: {addr: \"mail.example.com:465\", from: pbx@example.com, tls: tls, insecure_skip_verify: true}\n",
			want: SMTPSettings{Addr: "mail.example.com:465", From: "pbx@example.com", TLS: SMTPImplicitTLS, InsecureSkipVerify: true}},
		{name: "password in clear to loopback", main: "smtp: {addr: \"127.0.0.1:25\", from: pbx@example.com, username: u, password: p, tls: none}\n",
			want: SMTPSettings{Addr: "127.0.0.1:25", From: "pbx@example.com", Username: "u", Password: "p", TLS: SMTPNoTLS}},
		{name: "password in clear to localhost", main: "smtp: {addr: \"localhost:25\", from: pbx@example.com, username: u, tls: none}\n",
			want: SMTPSettings{Addr: "localhost:25", From: "pbx@example.com", Username: "u", TLS: SMTPNoTLS}},
		{name: "ipv6", main: "smtp: {addr: \"[2001:db8::25]:587\", from: pbx@example.com}\n",
			want: SMTPSettings{Addr: "[2001:db8::25]:587", From: "pbx@example.com", TLS: SMTPStartTLS}},
		{name: "block without addr and no email is inert", main: "smtp: {from: pbx@example.com}\n",
			want: SMTPSettings{From: "pbx@example.com", TLS: SMTPStartTLS}},
		{name: "firm mailbox served by the main file's server", main: "smtp: {addr: \"mail.example.com:25\", from: pbx@example.com}\nfirms: [acme.yaml]\n",
			firm: acme, want: SMTPSettings{Addr: "mail.example.com:25", From: "pbx@example.com", TLS: SMTPStartTLS}},

		{name: "port 0", main: "smtp: {addr: \"mail.example.com:0\", from: pbx@example.com}\n",
			at: "dir/main.yaml:1", msg: `smtp.addr: invalid port "0"`},
		{name: "no host", main: "smtp: {addr: \":25\", from: pbx@example.com}\n",
			at: "dir/main.yaml:1", msg: `smtp.addr: invalid address ":25"`},
		{name: "bad host", main: "smtp: {addr: \"mail_example:25\", from: pbx@example.com}\n",
			at: "dir/main.yaml:1", msg: `smtp.addr: invalid host name "mail_example"`},
		{name: "empty from", main: "smtp:\n  addr: mail.example.com:25\n  from: \"\"\n",
			at: "dir/main.yaml:3", msg: `smtp.from: must not be empty`},
		{name: "two senders", main: "smtp: {addr: \"mail.example.com:25\", from: \"a@example.com, b@example.com\"}\n",
			at: "dir/main.yaml:1", msg: `smtp.from: invalid email address`},
		{name: "header injection in from", main: "smtp: {addr: \"mail.example.com:25\", from: \"a@example.com\\r\\nBcc: x@example.com\"}\n",
			at: "dir/main.yaml:1", msg: `smtp.from: "a@example.com\r\nBcc: x@example.com" contains a control character`},
		{name: "password without username", main: "smtp:\n  addr: mail.example.com:25\n  from: pbx@example.com\n  password: pw\n",
			at: "dir/main.yaml:4", msg: `smtp.password: needs smtp.username as well`},
		{name: "unknown key", main: "smtp:\n  host: mail.example.com\n  from: pbx@example.com\n",
			at: "dir/main.yaml:2", msg: `smtp: unknown key "host" (known keys: addr, from, insecure_skip_verify, password, tls, username)`},
		{name: "not a bool", main: "smtp: {addr: \"mail.example.com:25\", from: pbx@example.com, insecure_skip_verify: maybe}\n",
			at: "dir/main.yaml:1", msg: `smtp.insecure_skip_verify: expected true or false`},
		{name: "not a mapping", main: "smtp: mail.example.com:25\n",
			at: "dir/main.yaml:1", msg: `smtp: expected a mapping`},
		{name: "bad mailbox email", main: "smtp: {addr: \"mail.example.com:25\", from: pbx@example.com}\nmailboxes: [{id: general, email: \"@example.com\"}]\n",
			at: "dir/main.yaml:2", msg: `mailboxes[0].email: invalid email address "@example.com"`},
		{name: "firm email, server without addr", main: "smtp:\n  from: pbx@example.com\nfirms: [acme.yaml]\n", firm: acme,
			at: "dir/main.yaml:2", msg: `smtp: missing addr (needed to mail voicemail to sales@acme.example, dir/acme.yaml:2)`},
		{name: "smtp in a firm file", main: "firms: [acme.yaml]\n", firm: "domain: acme.example\nsmtp: {addr: \"mail.example.com:25\", from: pbx@example.com}\n",
			at: "dir/acme.yaml:2", msg: `smtp: only allowed in the main file (dir/main.yaml)`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			files := map[string]string{}
			if tc.firm != "" {
				files["dir/acme.yaml"] = tc.firm
			}
			cfg, err := parseWithFirms(tc.main, files)
			if tc.msg != "" {
				wantProblem(t, err, tc.at, tc.msg)
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if cfg.SMTP != tc.want {
				t.Errorf("SMTP = %+v, want %+v", cfg.SMTP, tc.want)
			}
			if got, want := cfg.SMTP.Enabled(), tc.want.Addr != ""; got != want {
				t.Errorf("Enabled() = %v, want %v", got, want)
			}
		})
	}
}

// A mailboxes: entry named after an agent gives the agent's own mailbox an
// email; owner and PIN stay the agent's.
func TestAgentMailboxEmail(t *testing.T) {
	t.Parallel()
	cfg, err := parseWithFirms(`
smtp: {addr: "mail.example.com:587", from: pbx@example.com}
agents:
  - {id: alice, extension: "1001", password: pw, voicemail_pin: "1234"}
  - {id: bob, extension: "1002", password: pw}
mailboxes:
  - {id: alice, email: "Alice Smith <alice@example.com>"}
  - {id: general, email: office@example.com, pin: "0000"}
routes:
  inbound: [{match: "100", to: "voicemail:alice"}]
`, nil)
	if err != nil {
		t.Fatal(err)
	}
	f := cfg.DefaultFirm()
	tests := []struct {
		id   string
		want Mailbox
	}{
		{"alice", Mailbox{ID: "alice", Email: "Alice Smith <alice@example.com>", PIN: "1234", Agent: "alice"}},
		{"bob", Mailbox{ID: "bob", Agent: "bob"}},
		{"general", Mailbox{ID: "general", Email: "office@example.com", PIN: "0000"}},
	}
	for _, tc := range tests {
		if mb := f.Mailbox(tc.id); mb == nil || *mb != tc.want {
			t.Errorf("Mailbox(%q) = %+v, want %+v", tc.id, mb, tc.want)
		}
	}
	d := f.Inbound[0].To.Decide(f)
	if d.Kind != RouteVoicemail || d.Mailbox != "alice" || d.Agent == nil || d.Agent.ID != "alice" {
		t.Errorf("voicemail:alice decides %+v", d)
	}
}
