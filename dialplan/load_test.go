package dialplan

import (
	"errors"
	"io/fs"
	"net/netip"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"
)

func TestLoadBad(t *testing.T) {
	t.Parallel()
	tests := []struct {
		file string // under testdata/bad
		at   string // "file:line" of the problem, file relative to testdata/bad
		msg  string // substring of the message
	}{
		{"syntax.yaml", "syntax.yaml:4", "YAML syntax error: did not find expected ',' or ']'"},
		{"two_documents.yaml", "two_documents.yaml:3", "only one YAML document"},
		{"not_a_mapping.yaml", "not_a_mapping.yaml:1", "must be a mapping"},
		{"unknown_key.yaml", "unknown_key.yaml:4", `agents[0]: unknown key "pasword"`},
		{"unknown_top_key.yaml", "unknown_top_key.yaml:2", `unknown key "agent"`},
		{"duplicate_key.yaml", "duplicate_key.yaml:5", `agents[0]: duplicate key "extension" (first at line 3)`},
		{"wrong_type.yaml", "wrong_type.yaml:7", `teams[0].members: expected a list, got "alice"`},
		{"wrong_type_bool.yaml", "wrong_type_bool.yaml:5", `agents[0].auto_callback: expected true or false`},
		{"dup_agent_id.yaml", "dup_agent_id.yaml:5", `agents[1].id: duplicate agent id "alice" (first at line 2)`},
		{"dup_team_id.yaml", "dup_team_id.yaml:5", `teams[1].id: duplicate team id "support"`},
		{"dup_ivr_id.yaml", "dup_ivr_id.yaml:4", `ivrs[1].id: duplicate ivr id "main"`},
		{"dup_trunk_id.yaml", "dup_trunk_id.yaml:3", `trunks[1].id: duplicate trunk id "carrier"`},
		{"dup_mailbox_id.yaml", "dup_mailbox_id.yaml:3", `mailboxes[1].id: duplicate mailbox id "general"`},
		{"agent_mailbox_pin.yaml", "agent_mailbox_pin.yaml:5", `mailboxes[0].pin: mailbox "alice" is agent alice's own mailbox: set its PIN as the agent's voicemail_pin`},
		{"bad_email.yaml", "bad_email.yaml:4", `mailboxes[0].email: invalid email address "office at example.com"`},
		{"smtp_without_addr.yaml", "smtp_without_addr.yaml:2", `smtp: missing addr (needed to mail voicemail to office@example.com, testdata/bad/smtp_without_addr.yaml:3)`},
		{"smtp_bad_addr.yaml", "smtp_bad_addr.yaml:2", `smtp.addr: invalid address "mail.example.com" (want host:port`},
		{"smtp_without_from.yaml", "smtp_without_from.yaml:2", `smtp: missing from`},
		{"smtp_bad_from.yaml", "smtp_bad_from.yaml:3", `smtp.from: invalid email address "Switchboard <pbx@>"`},
		{"smtp_bad_tls.yaml", "smtp_bad_tls.yaml:4", `smtp.tls: invalid value "ssl" (want starttls, tls, none)`},
		{"smtp_password_in_clear.yaml", "smtp_password_in_clear.yaml:6", `smtp.tls: none would send the password in clear to mail.example.com:25`},
		{"firm_file_smtp.yaml", "firms/with-smtp.yaml:3", `smtp: only allowed in the main file`},
		{"dup_extension.yaml", "dup_extension.yaml:7", `teams[0].extension: extension "1001" is already used by agent alice (line 3)`},
		{"feature_code_extension.yaml", "feature_code_extension.yaml:3", `agents[0].extension: extension "*97" conflicts with feature code *97`},
		{"bad_extension.yaml", "bad_extension.yaml:3", `invalid extension "10a1"`},
		{"unknown_member.yaml", "unknown_member.yaml:7", `teams[0].members[1]: unknown agent "carol"`},
		{"empty_team.yaml", "empty_team.yaml:2", `teams[0].members: a team needs at least one member`},
		{"unknown_ivr_option.yaml", "unknown_ivr_option.yaml:8", `ivrs[0].options.2: unknown team "sales"`},
		{"bad_ivr_option_key.yaml", "bad_ivr_option_key.yaml:7", `ivrs[0].options: invalid key "12"`},
		{"unknown_ivr_default.yaml", "unknown_ivr_default.yaml:4", `ivrs[0].default: unknown mailbox "nobody"`},
		{"unknown_route_target.yaml", "unknown_route_target.yaml:5", `routes.inbound[0].to: unknown ivr "main"`},
		{"bad_target.yaml", "bad_target.yaml:3", `routes.inbound[0].to: invalid target kind "queue"`},
		{"callback_plain_in_route.yaml", "callback_plain_in_route.yaml:3", `plain callback is only allowed as a team's on_timeout`},
		{"unknown_route_trunk.yaml", "unknown_route_trunk.yaml:3", `routes.outbound[0].trunk: unknown trunk "carrier"`},
		{"unknown_on_timeout.yaml", "unknown_on_timeout.yaml:6", `teams[0].on_timeout: unknown mailbox "support"`},
		{"team_overflow_self.yaml", "team_overflow_self.yaml:6", `teams[0].on_timeout: a team cannot overflow to itself`},
		{"ambiguous_callback.yaml", "ambiguous_callback.yaml:8", `callback:help is ambiguous`},
		{"bad_duration.yaml", "bad_duration.yaml:9", `agents[1].ring_timeout: invalid duration "20x"`},
		{"negative_duration.yaml", "negative_duration.yaml:4", `teams[0].max_wait: duration "-5m" out of range`},
		{"bad_wrap_up.yaml", "bad_wrap_up.yaml:6", `teams[0].wrap_up: invalid duration "30 seconds"`},
		{"negative_wrap_up.yaml", "negative_wrap_up.yaml:6", `teams[0].wrap_up: duration "-3s" out of range (0s to 1h0m0s)`},
		{"bad_hold_music.yaml", "bad_hold_music.yaml:2", `hold_music: expected a string, got a list`},
		{"bad_team_hold_music.yaml", "bad_team_hold_music.yaml:6", `teams[0].hold_music: "jazz\a.wav" contains a control character`},
		{"bad_cidr.yaml", "bad_cidr.yaml:6", `trunks[0].allow_from[1]: invalid CIDR "10.0.0.0/33"`},
		{"bad_pattern.yaml", "bad_pattern.yaml:5", `routes.outbound[0].match: invalid pattern`},
		{"bad_pattern_wildcard.yaml", "bad_pattern_wildcard.yaml:5", `must be the last character`},
		{"bad_strip.yaml", "bad_strip.yaml:5", `routes.outbound[0].strip: strip 3 leaves nothing to dial`},
		{"bad_routing.yaml", "bad_routing.yaml:5", `agents[0].routing: invalid value "desk" (want computer, mobile)`},
		{"bad_status.yaml", "bad_status.yaml:5", `agents[0].status: invalid value "busy"`},
		{"bad_no_answer.yaml", "bad_no_answer.yaml:5", `agents[0].no_answer: invalid value "hangup"`},
		{"bad_away.yaml", "bad_away.yaml:5", `agents[0].away: invalid value "ignore"`},
		{"bad_strategy.yaml", "bad_strategy.yaml:6", `teams[0].strategy: invalid value "random"`},
		{"mobile_without_number.yaml", "mobile_without_number.yaml:5", `agents[0].routing: mobile routing needs a mobile number`},
		{"mobile_unroutable.yaml", "mobile_unroutable.yaml:6", `agents[0].mobile: no routes.outbound entry matches "+15551230001"`},
		{"no_password.yaml", "no_password.yaml:2", `agents[0]: missing password (or ha1)`},
		{"bad_ha1.yaml", "bad_ha1.yaml:4", `agents[0].ha1: want 32 hex digits`},
		{"sha256_needs_password.yaml", "sha256_needs_password.yaml:3", `set password or ha1_sha256`},
		{"bad_digest_algorithm.yaml", "bad_digest_algorithm.yaml:3", `digest_algorithms[1]: unknown algorithm "SHA-1"`},
		{"trunk_without_uri.yaml", "trunk_without_uri.yaml:2", `trunks[0]: missing uri`},
		{"trunk_bad_uri.yaml", "trunk_bad_uri.yaml:3", `trunks[0].uri: invalid SIP URI "http://sip.carrier.example"`},
		{"register_without_username.yaml", "register_without_username.yaml:4", `trunks[0].register: registration needs a username`},
		{"bad_rtp_ports.yaml", "bad_rtp_ports.yaml:2", `listen.rtp_ports: port range "10001-20000" must start at an even port`},
		{"bad_rtp_ports_order.yaml", "bad_rtp_ports_order.yaml:2", `first port must be below last port`},
		{"bad_sip_listen.yaml", "bad_sip_listen.yaml:4", `listen.sip[1]: unknown transport "sctp"`},
		{"tls_without_cert.yaml", "tls_without_cert.yaml:4", `listen.sip[1]: tls://127.0.0.1:5061 needs listen.tls_cert and listen.tls_key`},
		{"https_without_cert.yaml", "https_without_cert.yaml:3", `listen.https: needs listen.tls_cert and listen.tls_key`},
		{"bad_public_ip.yaml", "bad_public_ip.yaml:2", `listen.public_ip: invalid IP address`},
		{"bad_domain.yaml", "bad_domain.yaml:1", `domain: invalid host name`},
		{"voicemail_limit_twice.yaml", "voicemail_limit_twice.yaml:2", `silence_timeout: set either here or as voicemail.silence_timeout (line 4), not both`},
		{"missing_firm_file.yaml", "missing_firm_file.yaml:2", `firms[1]: cannot read firm file "firms/does-not-exist.yaml": file does not exist`},
		{"dup_firm_domain.yaml", "firms/acme.yaml:1", `domain: domain "acme.example" is already used by`},
		{"firm_file_listen.yaml", "firms/with-listen.yaml:3", `listen: only allowed in the main file`},
		{"firm_without_domain.yaml", "firms/no-domain.yaml:1", `domain is required in a firm file`},
		{"overlapping_trunks.yaml", "firms/overlap.yaml:6", `trunks[0].allow_from[0]: 203.0.113.128/25 overlaps allow_from 203.0.113.0/24 of trunk "carrier"`},
	}
	files, err := filepath.Glob(filepath.Join("testdata", "bad", "*.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range files {
		name := filepath.Base(f)
		if !slices.ContainsFunc(tests, func(tc struct{ file, at, msg string }) bool { return tc.file == name }) {
			t.Errorf("testdata/bad/%s has no test case", name)
		}
	}
	for _, tc := range tests {
		t.Run(tc.file, func(t *testing.T) {
			t.Parallel()
			cfg, err := Load(filepath.Join("testdata", "bad", tc.file))
			if cfg != nil {
				t.Errorf("Load returned a config with the error")
			}
			var verr *ValidationError
			if !errors.As(err, &verr) {
				t.Fatalf("Load error = %v (%T), want *ValidationError", err, err)
			}
			// Each bad file holds one mistake, and one mistake gives one message:
			// follow-on messages would bury the real one.
			if len(verr.Problems) != 1 {
				t.Errorf("got %d problems, want 1:\n%v", len(verr.Problems), err)
			}
			p := verr.Problems[0]
			prefix := filepath.Join("testdata", "bad", tc.at) + ": "
			if got := p.String(); !strings.HasPrefix(got, prefix) || !strings.Contains(p.Msg, tc.msg) {
				t.Errorf("problem = %q\nwant prefix %q and message containing %q", got, prefix, tc.msg)
			}
			if !strings.Contains(err.Error(), p.String()) {
				t.Errorf("Error() = %q does not contain %q", err.Error(), p.String())
			}
		})
	}
}

// TestLoadCollectsAllProblems checks that validation does not stop at the
// first problem and orders problems by file and line.
func TestLoadCollectsAllProblems(t *testing.T) {
	t.Parallel()
	data := []byte(`agents:
  - id: alice
    extension: "1001"
    password: pw
    ring_timeout: 20x
    status: busy
teams:
  - id: support
    members: [alice, carol]
    strategy: random
bogus: 1
`)
	_, err := Parse("sb.yaml", data)
	var verr *ValidationError
	if !errors.As(err, &verr) {
		t.Fatalf("err = %v, want *ValidationError", err)
	}
	want := []string{
		`sb.yaml:5: agents[0].ring_timeout: invalid duration "20x" (use e.g. 20s, 5m, 1h)`,
		`sb.yaml:6: agents[0].status: invalid value "busy" (want online, away, offline)`,
		`sb.yaml:9: teams[0].members[1]: unknown agent "carol"`,
		`sb.yaml:10: teams[0].strategy: invalid value "random" (want ring-all, round-robin, longest-idle, linear)`,
		`sb.yaml:11: unknown key "bogus"`,
	}
	if len(verr.Problems) != len(want) {
		t.Fatalf("got %d problems, want %d:\n%v", len(verr.Problems), len(want), err)
	}
	for i, w := range want {
		if got := verr.Problems[i].String(); !strings.HasPrefix(got, w) {
			t.Errorf("problem %d = %q, want prefix %q", i, got, w)
		}
	}
}

func TestLoadSyntaxErrorsWithoutLine(t *testing.T) {
	t.Parallel()
	tests := []struct {
		data string
		want string
	}{
		{"a: 1\nb: *nope\n", "x.yaml:2: YAML syntax error: unknown anchor 'nope' referenced"},
		{"domain: x\nagents: \x01\n", "x.yaml:2: YAML syntax error: control characters are not allowed"},
	}
	for _, tc := range tests {
		_, err := Parse("x.yaml", []byte(tc.data))
		if err == nil || err.Error() != tc.want {
			t.Errorf("Parse(%q) error = %v, want %q", tc.data, err, tc.want)
		}
	}
}

func TestLoadMissingMainFile(t *testing.T) {
	t.Parallel()
	_, err := Load(filepath.Join(t.TempDir(), "nope.yaml"))
	if !errors.Is(err, fs.ErrNotExist) {
		t.Fatalf("err = %v, want fs.ErrNotExist", err)
	}
	var verr *ValidationError
	if errors.As(err, &verr) {
		t.Errorf("missing file reported as ValidationError")
	}
}

func TestLoadRefusesNonRegularFile(t *testing.T) {
	t.Parallel()
	if _, err := os.Stat("/dev/zero"); err != nil {
		t.Skip("no /dev/zero")
	}
	if _, err := Load("/dev/zero"); err == nil || !strings.Contains(err.Error(), "not a regular file") {
		t.Fatalf("err = %v, want not a regular file", err)
	}
}

func TestLoadFull(t *testing.T) {
	t.Parallel()
	path := filepath.Join("testdata", "good", "full.yaml")
	cfg, err := Load(path)
	if err != nil {
		t.Fatal(err)
	}
	dir := filepath.Join("testdata", "good")
	if cfg.Domain != "pbx.example.com" {
		t.Errorf("Domain = %q, want lower-cased pbx.example.com", cfg.Domain)
	}
	l := cfg.Listen
	if len(l.SIP) != 5 || l.SIP[2] != "tls://0.0.0.0:5061" || l.HTTP != "127.0.0.1:8080" || l.RTPMin != 10000 || l.RTPMax != 20000 ||
		l.PublicIP != "198.51.100.7" || l.TLSCert != filepath.Join(dir, "tls/cert.pem") || l.TLSKey != "/etc/switchboard/key.pem" {
		t.Errorf("Listen = %+v", l)
	}
	if cfg.DataDir != filepath.Join(dir, "data") || cfg.SoundsDir != filepath.Join(dir, "sounds") {
		t.Errorf("DataDir, SoundsDir = %q, %q", cfg.DataDir, cfg.SoundsDir)
	}
	if !slices.Equal(cfg.DigestAlgorithms, []string{"SHA-256", "MD5"}) {
		t.Errorf("DigestAlgorithms = %v", cfg.DigestAlgorithms)
	}
	if cfg.Voicemail != (VoicemailSettings{SilenceTimeout: 4 * time.Second, MaxLength: 3 * time.Minute}) {
		t.Errorf("Voicemail = %+v", cfg.Voicemail)
	}
	f := cfg.DefaultFirm()
	if cfg.HoldMusic != "hold" || f.HoldMusic(f.Team("support")) != "beep.wav" || f.HoldMusic(f.Team("sales")) != "hold" {
		t.Errorf("HoldMusic = %q, support %q, sales %q", cfg.HoldMusic, f.HoldMusic(f.Team("support")), f.HoldMusic(f.Team("sales")))
	}
	alice := f.Agent("alice")
	wantAlice := Agent{
		ID: "alice", Name: "Alice Smith", Extension: "1001", Password: "s3cret", Routing: "computer",
		Mobile: "+15551230001", RingTimeout: 15 * time.Second, NoAnswer: "voicemail", Away: "callback",
		VoicemailPIN: "1234", Status: "away", CallerID: "+15550101", AutoCallback: true, MaxAttempts: 5,
	}
	if alice == nil || *alice != wantAlice {
		t.Errorf("alice = %+v\nwant    %+v", alice, wantAlice)
	}
	bob := f.AgentByExtension("1002")
	if bob == nil || bob.ID != "bob" || bob.Name != "bob" || bob.RingTimeout != 30*time.Second || bob.Routing != "mobile" ||
		bob.Status != "online" || bob.NoAnswer != "voicemail" || bob.MaxAttempts != 3 {
		t.Errorf("bob = %+v", bob)
	}
	sup := f.Team("support")
	if sup == nil || sup.OnTimeout != (Target{Kind: "callback", ID: "support"}) || sup.RetryDelay != 2*time.Minute ||
		!slices.Equal(sup.Members, []string{"alice", "bob"}) || !sup.AutoCallback || sup.WrapUp != 30*time.Second || sup.HoldMusic != "beep.wav" {
		t.Errorf("support = %+v", sup)
	}
	if sales := f.TeamByExtension("2001"); sales == nil || sales.Strategy != "linear" || sales.MaxWait != 5*time.Minute ||
		sales.RingTimeout != 20*time.Second || sales.OnTimeout.String() != "voicemail:general" || sales.WrapUp != 0 || sales.HoldMusic != "" {
		t.Errorf("sales = %+v", sales)
	}
	ivr := f.IVRByExtension("3000")
	if ivr == nil || ivr.Prompt != "main-menu.wav" || ivr.Timeout != 5*time.Second || len(ivr.Options) != 6 ||
		ivr.Options["9"].String() != "callback:support" || ivr.Options["#"].String() != "voicemail:alice" ||
		ivr.Default.String() != "voicemail:general" {
		t.Errorf("ivr = %+v", ivr)
	}
	tr := f.Trunk("carrier")
	wantPfx := []netip.Prefix{netip.MustParsePrefix("203.0.113.0/24"), netip.MustParsePrefix("2001:db8::/32"), netip.MustParsePrefix("192.0.2.10/32")}
	if tr == nil || !tr.Register || tr.Username != "acct" || tr.Expires != 10*time.Minute || !slices.Equal(tr.AllowFrom, wantPfx) {
		t.Errorf("trunk = %+v", tr)
	}
	if len(f.Inbound) != 3 || f.Inbound[1].Trunk != "carrier" || len(f.Outbound) != 2 || f.Outbound[0].Strip != 2 || f.Outbound[0].Prepend != "+" {
		t.Errorf("routes = %+v %+v", f.Inbound, f.Outbound)
	}
	if mb := f.Mailbox("general"); mb == nil || mb.Email != "office@example.com" || mb.PIN != "0000" {
		t.Errorf("general mailbox = %+v", mb)
	}
	if mb := f.Mailbox("alice"); mb == nil || mb.PIN != "1234" || mb.Agent != "alice" || mb.Email != "Alice Smith <alice@example.com>" {
		t.Errorf("alice's mailbox = %+v", mb)
	}
	wantSMTP := SMTPSettings{Addr: "mail.example.com:587", Username: "pbx@example.com", Password: "mail-pw",
		From: "Switchboard <pbx@example.com>", TLS: "starttls"}
	if cfg.SMTP != wantSMTP || !cfg.SMTP.Enabled() {
		t.Errorf("SMTP = %+v, want %+v", cfg.SMTP, wantSMTP)
	}
	absDir, err := filepath.Abs(dir)
	if err != nil {
		t.Fatal(err)
	}
	if got := f.SoundPaths("main-menu.wav"); !slices.Equal(got, []string{filepath.Join(absDir, "sounds", "main-menu.wav"), filepath.Join(absDir, "main-menu.wav")}) {
		t.Errorf("SoundPaths = %v", got)
	}
}

func TestLoadDefaults(t *testing.T) {
	t.Parallel()
	for _, name := range []string{"empty.yaml", "minimal.yaml"} {
		cfg, err := Load(filepath.Join("testdata", "good", name))
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		if cfg.Domain != "localhost" || !slices.Equal(cfg.Listen.SIP, DefaultSIPListen()) || cfg.Listen.HTTP != "127.0.0.1:8080" ||
			cfg.Listen.RTPMin != 10000 || cfg.Listen.RTPMax != 20000 || cfg.DataDir != filepath.Join("testdata", "good", "data") ||
			!slices.Equal(cfg.DigestAlgorithms, []string{"MD5"}) || cfg.Voicemail.SilenceTimeout != 5*time.Second ||
			cfg.Voicemail.MaxLength != 120*time.Second || len(cfg.Firms) != 1 || cfg.Firms[0].ID != "localhost" {
			t.Errorf("%s: defaults wrong: %+v", name, cfg)
		}
	}
}

func TestLoadExtensionKeys(t *testing.T) {
	t.Parallel()
	cfg, err := Load(filepath.Join("testdata", "good", "extension_keys.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	if cfg.Voicemail != (VoicemailSettings{SilenceTimeout: 4 * time.Second, MaxLength: 90 * time.Second}) {
		t.Errorf("Voicemail = %+v", cfg.Voicemail)
	}
	if a := cfg.DefaultFirm().Agent("alice"); a == nil || a.RingTimeout != 15*time.Second || a.NoAnswer != "callback" || a.Away != "callback" {
		t.Errorf("alice = %+v, want the x-agent-defaults merged in", a)
	}
}

func TestLoadAnchors(t *testing.T) {
	t.Parallel()
	cfg, err := Load(filepath.Join("testdata", "good", "anchors.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	bob := cfg.DefaultFirm().Agent("bob")
	if bob == nil || bob.Extension != "1002" || bob.Password != "pw" || bob.RingTimeout != 25*time.Second || bob.NoAnswer != "callback" {
		t.Errorf("bob = %+v, want merged from alice", bob)
	}
	if sales := cfg.DefaultFirm().Team("sales"); sales == nil || !slices.Equal(sales.Members, []string{"alice", "bob"}) {
		t.Errorf("sales = %+v", sales)
	}
}

func TestLoadMultiFirm(t *testing.T) {
	t.Parallel()
	cfg, err := Load(filepath.Join("testdata", "good", "multi", "switchboard.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	var ids []string
	for _, f := range cfg.Firms {
		ids = append(ids, f.ID)
	}
	if !slices.Equal(ids, []string{"pbx.example.com", "acme.example", "globex.example"}) {
		t.Fatalf("firms = %v", ids)
	}
	acme := cfg.FirmByDomain("ACME.example")
	if acme == nil || acme.File != filepath.Join("testdata", "good", "multi", "firms", "acme.yaml") {
		t.Fatalf("FirmByDomain(ACME.example) = %+v", acme)
	}
	if acme.SoundsDir != filepath.Join("testdata", "good", "multi", "firms", "acme-sounds") {
		t.Errorf("acme SoundsDir = %q", acme.SoundsDir)
	}
	// The same extension and agent id live in several firms independently.
	if a := acme.AgentByExtension("1001"); a == nil || a.Password != "acme-pw" {
		t.Errorf("acme 1001 = %+v", a)
	}
	if a := cfg.Firm("pbx.example.com").AgentByExtension("1001"); a == nil || a.Password != "pw" {
		t.Errorf("default 1001 = %+v", a)
	}
	if got, team := acme.HoldMusic(nil), acme.HoldMusic(acme.Team("support")); got != "beep" || team != "hold.wav" {
		t.Errorf("acme hold music = %q, team %q", got, team)
	}
	if got := cfg.DefaultFirm().HoldMusic(nil); got != DefaultHoldMusic {
		t.Errorf("default firm hold music = %q", got)
	}
	if got := acme.TeamsOf("wile"); len(got) != 1 || got[0].ID != "support" {
		t.Errorf("TeamsOf(wile) = %v", got)
	}
	if cfg.FirmByDomain("nowhere.example") != nil {
		t.Errorf("unknown domain found")
	}
	for _, tc := range []struct {
		ip          string
		firm, trunk string
	}{
		{"198.51.100.9", "acme.example", "acme-carrier"},
		{"192.0.2.200", "globex.example", "globex-carrier"},
		{"::ffff:192.0.2.1", "globex.example", "globex-carrier"},
		{"203.0.113.1", "", ""},
	} {
		f, tr := cfg.TrunkForSource(netip.MustParseAddr(tc.ip))
		var gotF, gotT string
		if f != nil {
			gotF, gotT = f.ID, tr.ID
		}
		if gotF != tc.firm || gotT != tc.trunk {
			t.Errorf("TrunkForSource(%s) = %s/%s, want %s/%s", tc.ip, gotF, gotT, tc.firm, tc.trunk)
		}
	}
}

func TestDemo(t *testing.T) {
	t.Parallel()
	cfg, err := Demo()
	if err != nil {
		t.Fatal(err)
	}
	if cfg.Domain != "localhost" || !slices.Equal(cfg.Listen.SIP, []string{"udp://127.0.0.1:5060", "tcp://127.0.0.1:5060", "ws://127.0.0.1:5066"}) ||
		cfg.Listen.HTTP != "127.0.0.1:8080" || cfg.Listen.RTPMin != 10000 || cfg.Listen.RTPMax != 10999 || cfg.DataDir != "data" {
		t.Errorf("demo globals = %+v", cfg)
	}
	f := cfg.DefaultFirm()
	for _, a := range []struct{ id, ext, pw string }{{"alice", "1001", "alice-demo-1001"}, {"bob", "1002", "bob-demo-1002"}} {
		got := f.Agent(a.id)
		if got == nil || got.Extension != a.ext || got.Password != a.pw || got.Routing != "computer" {
			t.Errorf("agent %s = %+v", a.id, got)
		}
	}
	if tm := f.TeamByExtension("2000"); tm == nil || tm.ID != "support" || tm.Strategy != "ring-all" || !slices.Equal(tm.Members, []string{"alice", "bob"}) {
		t.Errorf("team = %+v", tm)
	}
	ivr := f.IVRByExtension("3000")
	if ivr == nil || ivr.ID != "main" || ivr.Prompt != "main-menu.wav" || ivr.Options["1"].String() != "team:support" ||
		ivr.Options["2"].String() != "agent:alice" || ivr.Options["3"].String() != "agent:bob" || ivr.Default.String() != "voicemail:general" {
		t.Errorf("ivr = %+v", ivr)
	}
	if f.Mailbox("general") == nil || len(f.Trunks) != 0 {
		t.Errorf("mailbox general missing or trunks present")
	}
}

func TestProblemString(t *testing.T) {
	t.Parallel()
	if got := (Problem{File: "a.yaml", Line: 3, Msg: "m"}).String(); got != "a.yaml:3: m" {
		t.Errorf("got %q", got)
	}
	if got := (Problem{File: "a.yaml", Msg: "m"}).String(); got != "a.yaml: m" {
		t.Errorf("got %q", got)
	}
	e := &ValidationError{Problems: []Problem{{"a", 1, "x"}, {"b", 2, "y"}}}
	if e.Error() != "a:1: x\nb:2: y" {
		t.Errorf("Error() = %q", e.Error())
	}
}

// TestReadmeExample keeps the example in the configuration reference valid.
func TestReadmeExample(t *testing.T) {
	t.Parallel()
	doc, err := os.ReadFile(filepath.Join("..", "README.md"))
	if err != nil {
		t.Fatal(err)
	}
	_, after, ok := strings.Cut(string(doc), "### Example")
	if !ok {
		t.Fatal("no Example section")
	}
	_, body, _ := strings.Cut(after, "```yaml\n")
	body, _, _ = strings.Cut(body, "```")
	cfg, err := Parse("README.md", []byte(body))
	if err != nil {
		t.Fatal(err)
	}
	if len(cfg.DefaultFirm().Agents) != 2 {
		t.Errorf("example not parsed as expected: %+v", cfg.DefaultFirm())
	}
}

// A mailbox email without any smtp: block loads (the address may come before the
// mail server) but is reported as a warning at the email's line.
func TestLoadWarnings(t *testing.T) {
	t.Parallel()
	tests := []struct {
		file string // under testdata/warn
		at   string // "file:line", file relative to testdata/warn
		msg  string
	}{
		{"email_without_smtp.yaml", "email_without_smtp.yaml:3", `mailboxes[0].email: voicemail will not be mailed: no smtp: block`},
		{"firm_email_without_smtp.yaml", "firms/with-email.yaml:4", `mailboxes[0].email: voicemail will not be mailed: no smtp: block`},
	}
	for _, tc := range tests {
		t.Run(tc.file, func(t *testing.T) {
			t.Parallel()
			cfg, err := Load(filepath.Join("testdata", "warn", tc.file))
			if err != nil {
				t.Fatalf("Load: %v", err)
			}
			if len(cfg.Warnings) != 1 {
				t.Fatalf("warnings %v, want one", cfg.Warnings)
			}
			w := cfg.Warnings[0]
			at := filepath.ToSlash(strings.TrimPrefix(w.String(), filepath.Join("testdata", "warn")+string(filepath.Separator)))
			if !strings.HasPrefix(at, tc.at+": ") || !strings.Contains(w.Msg, tc.msg) {
				t.Errorf("warning %q, want %s: ...%s...", w.String(), tc.at, tc.msg)
			}
		})
	}
}
