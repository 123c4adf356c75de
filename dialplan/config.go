package dialplan

import (
	"net/netip"
	"path/filepath"
	"sync"
	"time"
)

// Config is a loaded and validated configuration: the global settings of the
// main file plus one Firm per tenant. It is read-only once returned.
type Config struct {
	// File is the path of the main configuration file as given to Load.
	File string
	// Domain is the SIP domain of the default firm (Firms[0]).
	Domain string
	// Listen holds the network addresses the PBX binds.
	Listen Listen
	// DataDir holds the database, voicemail audio and logs. A relative
	// data_dir is resolved against the directory of the main file.
	DataDir string
	// SoundsDir, when not empty, holds WAV files that replace built-in prompts.
	SoundsDir string
	// DigestAlgorithms lists the digest challenges to send, in order: "MD5"
	// and/or "SHA-256". Default ["MD5"].
	DigestAlgorithms []string
	// Voicemail holds the recording limits shared by all mailboxes.
	Voicemail VoicemailSettings
	// SMTP is the mail server that voicemail-to-email goes through. The zero
	// value (no smtp: block, or one without addr) sends no mail.
	SMTP SMTPSettings
	// HoldMusic is the top-level hold_music: the prompt a held party hears in
	// every firm that names none of its own; "" leaves it to the built-in
	// DefaultHoldMusic. Firm.HoldMusic applies the whole order.
	HoldMusic string
	// Recordings holds the retention of call recordings (recordings:).
	Recordings RecordingSettings
	// Limits bounds what unauthenticated clients can hold (limits:).
	Limits Limits
	// ShutdownTimeout is how long calls in progress may go on after SIGTERM
	// before they are hung up with BYE (shutdown_timeout).
	ShutdownTimeout time.Duration
	// Warnings are problems that do not stop the PBX but that an admin should
	// see (check prints them, serve logs them): a mailbox email with no smtp:
	// block to send it through.
	Warnings []Problem
	// Firms lists the tenants. Firms[0] is the default firm described inline
	// in the main file; the others come from the files listed under firms:.
	Firms []*Firm
}

// Listen holds the network settings of the listen: section.
type Listen struct {
	// SIP lists the SIP transports as URLs: udp://, tcp://, tls://, ws://, wss://
	// followed by host:port.
	SIP []string
	// HTTP is the host:port of the HTTP API and web console.
	HTTP string
	// HTTPS is the host:port of the same over TLS (TLSCert, TLSKey): browsers
	// give the microphone only to secure pages.
	HTTPS string
	// RTPMin and RTPMax bound the UDP port range for media (RTPMin is even).
	RTPMin, RTPMax int
	// PublicIP, when set, is the address written into SDP and Contact headers
	// instead of the local one (for a PBX behind NAT).
	PublicIP string
	// TLSCert and TLSKey are PEM files for tls:// and wss:// listeners and for
	// HTTPS; SIGHUP loads them again.
	TLSCert, TLSKey string
	// TrustedProxies are the reverse proxies in front of listen.http whose
	// X-Forwarded-Proto: https makes the session cookie Secure.
	TrustedProxies []netip.Prefix
}

// Limits holds the limits: section: connection caps and timeouts that keep a
// flood of connections from taking every file descriptor.
type Limits struct {
	// MaxConnections caps the connections of the SIP TCP, TLS, WS and WSS and
	// the HTTP listeners together; 0 (the default) means half of the process's
	// open-file limit, so that media sockets always keep the other half.
	MaxConnections int
	// MaxConnectionsPerIP caps the connections from one source address.
	MaxConnectionsPerIP int
	// SIPIdleTimeout closes a SIP stream connection that carries no
	// registration and no dialog this long after it opened.
	SIPIdleTimeout time.Duration
	// HTTPReadTimeout bounds reading one request (headers and body) and,
	// doubled, writing its answer; the headers alone get at most 10 s.
	HTTPReadTimeout time.Duration
	// HTTPIdleTimeout closes an HTTP keep-alive connection idle this long.
	HTTPIdleTimeout time.Duration
}

// Defaults of the limits: section and of shutdown_timeout.
const (
	DefaultMaxConnectionsPerIP = 128
	DefaultSIPIdleTimeout      = 30 * time.Second
	DefaultHTTPReadTimeout     = 30 * time.Second
	DefaultHTTPIdleTimeout     = 60 * time.Second
	DefaultShutdownTimeout     = 30 * time.Second
)

// VoicemailSettings holds the recording limits of the voicemail: section.
type VoicemailSettings struct {
	// SilenceTimeout ends a recording after this much silence. Default 5s.
	SilenceTimeout time.Duration
	// MaxLength ends a recording after this long. Default 120s.
	MaxLength time.Duration
}

// RecordingSettings holds the recordings: section of the main file.
type RecordingSettings struct {
	// Keep is how long a call recording is kept; 0 (the default) keeps
	// recordings until they are deleted through the API.
	Keep time.Duration
}

// SMTP TLS modes (smtp.tls).
const (
	// SMTPStartTLS upgrades with STARTTLS when the server offers it, and
	// insists on it when a username is set (no password in clear).
	SMTPStartTLS = "starttls"
	// SMTPImplicitTLS speaks TLS from the first byte (port 465 style).
	SMTPImplicitTLS = "tls"
	// SMTPNoTLS never encrypts; only a loopback server may take a password.
	SMTPNoTLS = "none"
)

// SMTPSettings holds the smtp: section of the main file: the server that
// mails new voicemail to mailboxes with an email address.
type SMTPSettings struct {
	// Addr is the server's host:port, e.g. "mail.example.com:587".
	Addr string
	// Username and Password, when Username is set, log in with AUTH PLAIN.
	Username, Password string
	// From is the sender address (header From and envelope MAIL FROM).
	From string
	// TLS is SMTPStartTLS (default), SMTPImplicitTLS or SMTPNoTLS.
	TLS string
	// InsecureSkipVerify accepts any server certificate (self-signed relays).
	InsecureSkipVerify bool
}

// Enabled reports whether voicemail is mailed: a server address and a sender
// are configured.
func (s SMTPSettings) Enabled() bool { return s.Addr != "" && s.From != "" }

// Firm is one tenant: a SIP domain with its own agents, teams, IVRs,
// mailboxes, trunks and routes.
type Firm struct {
	// ID identifies the firm in stored records; it equals Domain.
	ID string
	// Domain is the SIP domain (and digest realm), in lower case.
	Domain string
	// File is the file that describes the firm.
	File string
	// SoundsDir overrides the global sounds_dir for this firm's prompts.
	SoundsDir string

	Agents    []*Agent
	Teams     []*Team
	IVRs      []*IVR
	Mailboxes []*Mailbox
	Trunks    []*Trunk
	Inbound   []InboundRoute
	Outbound  []OutboundRoute

	// holdMusic is the firm's own hold_music (for the default firm, the main
	// file's top-level one); mainHoldMusic the main file's, which a firm file
	// falls back to. Unexported so that HoldMusic is the one place that
	// applies the order team, firm, top level, built-in.
	holdMusic, mainHoldMusic string
	// holdMusicLine is the line of hold_music: in File, for CheckPrompts.
	holdMusicLine int

	// record and recordNotice are the firm's own record and record_notice
	// (for the default firm, the main file's); a firm file that sets neither
	// falls back to the main file's (mainRecord, mainRecordNotice), as with
	// hold_music. RecordsAll and RecordNotice apply the order.
	record, recordSet, mainRecord  bool
	recordNotice, mainRecordNotice string
	recordNoticeLine               int

	// agentIndex serves Agent and AgentByExtension, asked on every REGISTER and
	// INVITE: a scan would cost O(agents) each time. Built on first use (a Firm is
	// read-only once loaded).
	agentIndex struct {
		once  sync.Once
		byID  map[string]*Agent
		byExt map[string]*Agent
	}
}

// Agent is a person who takes calls.
type Agent struct {
	ID   string
	Name string
	// Extension is the number other agents dial, and the SIP user name the
	// agent's phones register with (extension@domain).
	Extension string
	// Password is the SIP and web console password; HA1 (MD5) and HA1SHA256
	// are the precomputed digests of "extension:domain:password" for admins
	// who do not want plain passwords in the file.
	Password, HA1, HA1SHA256 string
	// Routing is "computer" (ring registered phones) or "mobile".
	Routing string
	// Mobile is the number dialled for mobile routing.
	Mobile string
	// RingTimeout is how long an inbound call rings the agent. Default 20s.
	RingTimeout time.Duration
	// NoAnswer ("voicemail" or "callback") applies after RingTimeout.
	NoAnswer string
	// Away ("voicemail" or "callback") applies when the agent is away or offline.
	Away string
	// VoicemailPIN protects the agent's own mailbox.
	VoicemailPIN string
	// Status is the initial status: "online", "away" or "offline".
	Status string
	// CallerID is presented on outbound calls instead of the trunk's.
	CallerID string
	// AutoCallback makes the PBX dial pending callbacks for this agent.
	AutoCallback bool
	// MaxAttempts bounds callback attempts. Default 3.
	MaxAttempts int
	// Record records every call the agent takes or places.
	Record bool
}

// Team is a group of agents sharing a call queue.
type Team struct {
	ID, Name  string
	Extension string
	// Members are agent ids, in the order used by the linear strategy.
	Members []string
	// Strategy is "ring-all", "round-robin", "longest-idle" or "linear".
	Strategy string
	// RingTimeout is how long one offer rings a member. Default 20s.
	RingTimeout time.Duration
	// MaxWait is how long a caller waits in the queue. Default 5m.
	MaxWait time.Duration
	// OnTimeout applies after MaxWait. Default callback to this team.
	OnTimeout    Target
	AutoCallback bool
	// MaxAttempts bounds callback attempts. Default 3.
	MaxAttempts int
	// RetryDelay separates callback attempts. Default 60s.
	RetryDelay time.Duration
	// Supervisors are agent ids who may listen to, whisper to and barge into the
	// members' calls, see the team on the wallboard and fetch its recordings.
	Supervisors []string
	// ServiceLevel is the wait within which an answered call counts toward the
	// team's service level. Default 20s.
	ServiceLevel time.Duration
	// WrapUp is how long a member gets no team offers after leaving an
	// answered call of this team (hang-up or transfer). Default 0: none.
	WrapUp time.Duration
	// HoldMusic is the prompt a party of this team's calls hears on hold; ""
	// falls back to the firm's, see Firm.HoldMusic.
	HoldMusic string
	// Record records every call of the team (answered by a member for it).
	Record bool

	// holdMusicLine is the line of hold_music: in the firm's file, for
	// CheckPrompts.
	holdMusicLine int
}

// IVR is a voice menu: a prompt, then one DTMF digit picks an option.
type IVR struct {
	ID        string
	Extension string
	// Prompt is a WAV file name; see Firm.SoundPaths for where it is looked up.
	Prompt string
	// Timeout is how long to wait for a digit after the prompt. Default 5s.
	Timeout time.Duration
	// Options maps one key ("0"-"9", "*", "#") to a target.
	Options map[string]Target
	// Default applies on timeout or an unknown key; the zero Target hangs up.
	Default Target

	// promptLine is the line of prompt: in the firm's file, for CheckPrompts.
	promptLine int
}

// Mailbox is a voicemail box. Every agent also owns a mailbox with the
// agent's id, returned by Firm.Mailbox; a mailboxes: entry with an agent's id
// gives that mailbox an email address (its PIN stays the agent's
// voicemail_pin).
type Mailbox struct {
	ID string
	// Email, when set, receives every new message as a WAV attachment (see
	// Config.SMTP). It is one address as net/mail parses it, with or without
	// a display name.
	Email string
	PIN   string
	// Agent is the owning agent's id for an agent's own mailbox, else "".
	Agent string
}

// Trunk is a connection to a carrier.
type Trunk struct {
	ID string
	// URI is the carrier's SIP URI, e.g. "sip:sip.carrier.example:5060".
	URI      string
	Register bool
	Username string
	Password string
	// AllowFrom lists the networks whose calls are accepted as this trunk's.
	AllowFrom []netip.Prefix
	CallerID  string
	// Expires is the registration lifetime requested. Default 3600s.
	Expires time.Duration
}

// InboundRoute sends a number dialled from a trunk (a DID) to a target.
type InboundRoute struct {
	Match Pattern
	To    Target
	// Trunk, when set, limits the route to calls from that trunk.
	Trunk string
	// Record records the calls that match this route.
	Record bool
}

// OutboundRoute sends a number dialled by an agent out through a trunk.
type OutboundRoute struct {
	Match Pattern
	Trunk string
	// Strip removes this many leading characters before Prepend is added.
	Strip   int
	Prepend string
}

// DefaultFirm returns the firm described inline in the main file, or nil for
// an empty Config.
func (c *Config) DefaultFirm() *Firm {
	if c == nil || len(c.Firms) == 0 {
		return nil
	}
	return c.Firms[0]
}

// DefaultHoldMusic is the built-in prompt played on hold when no hold_music
// is configured.
const DefaultHoldMusic = "hold"

// HoldMusic returns the name of the prompt a held party of a call of team t
// (nil: a call of no team) hears: t's hold_music, else the firm's, else the
// main file's top-level one, else DefaultHoldMusic. The name is looked up like
// an IVR prompt (SoundPaths, the main sounds_dir, the built-in prompts).
func (f *Firm) HoldMusic(t *Team) string {
	switch {
	case t != nil && t.HoldMusic != "":
		return t.HoldMusic
	case f == nil:
		return DefaultHoldMusic
	case f.holdMusic != "":
		return f.holdMusic
	case f.mainHoldMusic != "":
		return f.mainHoldMusic
	}
	return DefaultHoldMusic
}

// RecordsAll reports whether every call of the firm is recorded: the firm's
// record, else (a firm file that says nothing) the main file's.
func (f *Firm) RecordsAll() bool {
	if f == nil {
		return false
	}
	if f.recordSet {
		return f.record
	}
	return f.mainRecord
}

// RecordNotice returns the prompt played to a caller before the bridge of a
// recorded call ("" for none): the firm's record_notice, else the main
// file's. It is looked up like an IVR prompt.
func (f *Firm) RecordNotice() string {
	switch {
	case f == nil:
		return ""
	case f.recordNotice != "":
		return f.recordNotice
	}
	return f.mainRecordNotice
}

// SoundPaths returns the places to look for a prompt file, in order: the
// firm's sounds directory, then the directory of the firm's file. An absolute
// name is returned alone. The caller checks which exists; none may, in which
// case a built-in prompt of that name applies.
//
// The paths are absolute (relative ones are taken from the working directory):
// a prompt library reads a relative name with a directory in it as an invalid
// prompt name, so with a config file given as "conf/switchboard.yaml" the
// files next to it would never be found.
func (f *Firm) SoundPaths(name string) []string {
	if filepath.IsAbs(name) {
		return []string{name}
	}
	var out []string
	if f.SoundsDir != "" {
		out = append(out, absPath(filepath.Join(f.SoundsDir, name)))
	}
	return append(out, absPath(filepath.Join(filepath.Dir(f.File), name)))
}

// absPath makes p absolute; should the working directory be unknown, p stays
// as it is.
func absPath(p string) string {
	if a, err := filepath.Abs(p); err == nil {
		return a
	}
	return p
}
