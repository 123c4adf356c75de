package dialplan

import (
	"net/netip"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"go.yaml.in/yaml/v3"
)

// This file maps the YAML schema onto the Config types. Checks that need the
// whole firm (references, duplicates) live in validate.go.

// src remembers where an entity came from, for messages about it later.
type src struct {
	path string
	item *yaml.Node
	keys map[string]*yaml.Node
}

// at returns the node of key, or the entity's own node when the key is absent.
func (s src) at(key string) *yaml.Node {
	if n, ok := s.keys[key]; ok {
		return n
	}
	return s.item
}

// has reports whether key was written.
func (s src) has(key string) bool { _, ok := s.keys[key]; return ok }

// tref is a target written somewhere, checked once the whole firm is known.
type tref struct {
	path string
	node *yaml.Node
	t    Target
}

type prefixSrc struct {
	p     netip.Prefix
	path  string
	node  *yaml.Node
	trunk string
}

// firmSrc is a firm being loaded, with the nodes its entities came from.
type firmSrc struct {
	*fl
	firm       *Firm
	root       *yaml.Node
	domain     string
	domainNode *yaml.Node

	agents, teams, ivrs, mailboxes, trunks, inbound, outbound []src
	targets                                                   []tref
	prefixes                                                  []prefixSrc
}

func newFirmSrc(f *fl, root *yaml.Node) *firmSrc {
	return &firmSrc{fl: f, firm: &Firm{File: f.file}, root: root}
}

// firmHandlers returns the top-level keys shared by the main file and firm
// files.
func (s *firmSrc) firmHandlers(cfg *Config) handlers {
	dir := filepath.Dir(s.file)
	return handlers{
		// Extension keys (the docker-compose convention) hold YAML anchors to
		// merge elsewhere ("x-defaults: &d {...}", then "<<: *d"); the
		// anchored values are read where they are used.
		"x-*": func(string, *yaml.Node) {},
		"domain": func(p string, v *yaml.Node) {
			d, ok := s.str(p, v)
			if !ok {
				return
			}
			s.domainNode = v
			if d == "" {
				s.errf(v, p, "must not be empty")
				return
			}
			if err := checkHost(d); err != nil {
				s.errf(v, p, "%v", err)
				return
			}
			s.domain = strings.ToLower(strings.TrimSuffix(d, "."))
		},
		"sounds_dir": func(p string, v *yaml.Node) {
			if d, ok := s.str(p, v); ok && d != "" {
				s.firm.SoundsDir = relTo(dir, d)
			}
		},
		"hold_music": func(p string, v *yaml.Node) {
			s.firm.holdMusic = s.check(p, v, checkText)
			s.firm.holdMusicLine = v.Line
		},
		"record": func(p string, v *yaml.Node) {
			s.firm.record, s.firm.recordSet = s.boolean(p, v), true
		},
		"record_notice": func(p string, v *yaml.Node) {
			s.firm.recordNotice = s.check(p, v, checkText)
			s.firm.recordNoticeLine = v.Line
		},
		"agents":    func(p string, v *yaml.Node) { s.readAgents(p, v) },
		"teams":     func(p string, v *yaml.Node) { s.readTeams(p, v) },
		"ivrs":      func(p string, v *yaml.Node) { s.readIVRs(p, v) },
		"mailboxes": func(p string, v *yaml.Node) { s.readMailboxes(p, v) },
		"trunks":    func(p string, v *yaml.Node) { s.readTrunks(p, v) },
		"routes": func(p string, v *yaml.Node) {
			s.fields(p, v, handlers{
				"inbound":  func(p string, v *yaml.Node) { s.readInbound(p, v) },
				"outbound": func(p string, v *yaml.Node) { s.readOutbound(p, v) },
			})
		},
	}
}

// Typed readers for values that appear in several places. Each records a
// problem and returns the zero value when the value is wrong.

func (f *fl) id(p string, v *yaml.Node) string {
	s, ok := f.str(p, v)
	if !ok {
		return ""
	}
	if err := checkID(s); err != nil {
		f.errf(v, p, "%v", err)
		return ""
	}
	return s
}

func (f *fl) check(p string, v *yaml.Node, check func(string) error) string {
	s, ok := f.str(p, v)
	if !ok || s == "" {
		return s
	}
	if err := check(s); err != nil {
		f.errf(v, p, "%v", err)
		return ""
	}
	return s
}

func (f *fl) enum(p string, v *yaml.Node, def string, allowed ...string) string {
	s, ok := f.str(p, v)
	if !ok {
		return def
	}
	if slices.Contains(allowed, s) {
		return s
	}
	f.errf(v, p, "invalid value %q (want %s)", s, strings.Join(allowed, ", "))
	return def
}

func (f *fl) dur(p string, v *yaml.Node, dst *time.Duration, lo, hi time.Duration) {
	if d, ok := f.duration(p, v, lo, hi); ok {
		*dst = d
	}
}

func (f *fl) intTo(p string, v *yaml.Node, dst *int, lo, hi int) {
	if n, ok := f.integer(p, v, lo, hi); ok {
		*dst = n
	}
}

func (f *fl) pattern(p string, v *yaml.Node) Pattern {
	s, ok := f.str(p, v)
	if !ok {
		return Pattern{}
	}
	pat, err := ParsePattern(s)
	if err != nil {
		f.errf(v, p, "invalid pattern: %v", err)
	}
	return pat
}

// target reads "kind:id" and queues it for the reference check. bare allows a
// plain "callback", meaning the owner.
func (s *firmSrc) target(p string, v *yaml.Node, bare bool) Target {
	str, ok := s.str(p, v)
	if !ok {
		return Target{}
	}
	if str == "" {
		s.errf(v, p, "missing target (want agent:ID, team:ID, ivr:ID, voicemail:ID or callback:ID)")
		return Target{}
	}
	t, err := ParseTarget(str)
	if err != nil {
		s.errf(v, p, "%v", err)
		return Target{}
	}
	if t.Kind == TargetCallback && t.ID == "" {
		if !bare {
			s.errf(v, p, "plain callback is only allowed as a team's on_timeout; write callback:TEAM or callback:AGENT")
			return Target{}
		}
		return t
	}
	s.targets = append(s.targets, tref{path: p, node: v, t: t})
	return t
}

func (s *firmSrc) readAgents(p string, v *yaml.Node) {
	for i, item := range s.list(p, v) {
		ip := index(p, i)
		a := &Agent{
			Routing: "computer", RingTimeout: DefaultRingTimeout, NoAnswer: "voicemail",
			Away: "voicemail", Status: "online", MaxAttempts: DefaultMaxAttempts,
		}
		keys := s.fields(ip, item, handlers{
			"id":            func(p string, v *yaml.Node) { a.ID = s.id(p, v) },
			"name":          func(p string, v *yaml.Node) { a.Name = s.check(p, v, checkText) },
			"extension":     func(p string, v *yaml.Node) { a.Extension = s.check(p, v, checkExtension) },
			"password":      func(p string, v *yaml.Node) { a.Password = s.check(p, v, checkText) },
			"ha1":           func(p string, v *yaml.Node) { a.HA1 = strings.ToLower(s.check(p, v, hexOf(32))) },
			"ha1_sha256":    func(p string, v *yaml.Node) { a.HA1SHA256 = strings.ToLower(s.check(p, v, hexOf(64))) },
			"routing":       func(p string, v *yaml.Node) { a.Routing = s.enum(p, v, a.Routing, "computer", "mobile") },
			"mobile":        func(p string, v *yaml.Node) { a.Mobile = s.check(p, v, checkNumber) },
			"ring_timeout":  func(p string, v *yaml.Node) { s.dur(p, v, &a.RingTimeout, time.Second, 10*time.Minute) },
			"no_answer":     func(p string, v *yaml.Node) { a.NoAnswer = s.enum(p, v, a.NoAnswer, "voicemail", "callback") },
			"away":          func(p string, v *yaml.Node) { a.Away = s.enum(p, v, a.Away, "voicemail", "callback") },
			"voicemail_pin": func(p string, v *yaml.Node) { a.VoicemailPIN = s.check(p, v, checkPIN) },
			"status":        func(p string, v *yaml.Node) { a.Status = s.enum(p, v, a.Status, "online", "away", "offline") },
			"caller_id":     func(p string, v *yaml.Node) { a.CallerID = s.check(p, v, checkNumber) },
			"auto_callback": func(p string, v *yaml.Node) { a.AutoCallback = s.boolean(p, v) },
			"max_attempts":  func(p string, v *yaml.Node) { s.intTo(p, v, &a.MaxAttempts, 1, 100) },
			"record":        func(p string, v *yaml.Node) { a.Record = s.boolean(p, v) },
		})
		if a.Name == "" {
			a.Name = a.ID
		}
		s.firm.Agents = append(s.firm.Agents, a)
		s.agents = append(s.agents, src{ip, item, keys})
	}
}

func hexOf(n int) func(string) error {
	return func(s string) error { return checkHex(s, n) }
}

func (s *firmSrc) readTeams(p string, v *yaml.Node) {
	for i, item := range s.list(p, v) {
		ip := index(p, i)
		t := &Team{
			Strategy: "ring-all", RingTimeout: DefaultRingTimeout, MaxWait: DefaultMaxWait,
			OnTimeout: Target{Kind: TargetCallback}, MaxAttempts: DefaultMaxAttempts, RetryDelay: DefaultRetryDelay,
			ServiceLevel: DefaultServiceLevel,
		}
		keys := s.fields(ip, item, handlers{
			"id":        func(p string, v *yaml.Node) { t.ID = s.id(p, v) },
			"name":      func(p string, v *yaml.Node) { t.Name = s.check(p, v, checkText) },
			"extension": func(p string, v *yaml.Node) { t.Extension = s.check(p, v, checkExtension) },
			"members": func(p string, v *yaml.Node) {
				for j, m := range s.list(p, v) {
					t.Members = append(t.Members, s.id(index(p, j), m))
				}
			},
			"strategy": func(p string, v *yaml.Node) {
				t.Strategy = s.enum(p, v, t.Strategy, "ring-all", "round-robin", "longest-idle", "linear")
			},
			"ring_timeout":  func(p string, v *yaml.Node) { s.dur(p, v, &t.RingTimeout, time.Second, 10*time.Minute) },
			"max_wait":      func(p string, v *yaml.Node) { s.dur(p, v, &t.MaxWait, time.Second, 24*time.Hour) },
			"on_timeout":    func(p string, v *yaml.Node) { t.OnTimeout = s.target(p, v, true) },
			"auto_callback": func(p string, v *yaml.Node) { t.AutoCallback = s.boolean(p, v) },
			"max_attempts":  func(p string, v *yaml.Node) { s.intTo(p, v, &t.MaxAttempts, 1, 100) },
			"retry_delay":   func(p string, v *yaml.Node) { s.dur(p, v, &t.RetryDelay, time.Second, 24*time.Hour) },
			"wrap_up":       func(p string, v *yaml.Node) { s.dur(p, v, &t.WrapUp, 0, time.Hour) },
			"service_level": func(p string, v *yaml.Node) { s.dur(p, v, &t.ServiceLevel, time.Second, time.Hour) },
			"supervisors": func(p string, v *yaml.Node) {
				for j, m := range s.list(p, v) {
					t.Supervisors = append(t.Supervisors, s.id(index(p, j), m))
				}
			},
			"hold_music": func(p string, v *yaml.Node) {
				t.HoldMusic = s.check(p, v, checkText)
				t.holdMusicLine = v.Line
			},
			"record": func(p string, v *yaml.Node) { t.Record = s.boolean(p, v) },
		})
		if t.Name == "" {
			t.Name = t.ID
		}
		if t.OnTimeout.Kind == TargetCallback && t.OnTimeout.ID == "" {
			t.OnTimeout.ID = t.ID
		}
		s.firm.Teams = append(s.firm.Teams, t)
		s.teams = append(s.teams, src{ip, item, keys})
	}
}

func (s *firmSrc) readIVRs(p string, v *yaml.Node) {
	for i, item := range s.list(p, v) {
		ip := index(p, i)
		r := &IVR{Timeout: DefaultIVRTimeout, Options: map[string]Target{}}
		keys := s.fields(ip, item, handlers{
			"id":        func(p string, v *yaml.Node) { r.ID = s.id(p, v) },
			"extension": func(p string, v *yaml.Node) { r.Extension = s.check(p, v, checkExtension) },
			"prompt": func(p string, v *yaml.Node) {
				r.Prompt = s.check(p, v, checkText)
				r.promptLine = v.Line
			},
			"timeout": func(p string, v *yaml.Node) { s.dur(p, v, &r.Timeout, time.Second, 5*time.Minute) },
			"options": func(p string, v *yaml.Node) { s.readOptions(p, v, r) },
			"default": func(p string, v *yaml.Node) { r.Default = s.target(p, v, false) },
		})
		s.firm.IVRs = append(s.firm.IVRs, r)
		s.ivrs = append(s.ivrs, src{ip, item, keys})
	}
}

func (s *firmSrc) readOptions(p string, v *yaml.Node, r *IVR) {
	m := deref(v)
	if isNull(m) {
		return
	}
	if m.Kind != yaml.MappingNode {
		s.errf(v, p, "expected a mapping of keys to targets, e.g. {\"1\": team:sales}, got %s", describe(m))
		return
	}
	for _, kv := range s.pairs(p, m) {
		if len(kv.key) != 1 || !strings.Contains("0123456789*#", kv.key) {
			s.errf(kv.k, p, "invalid key %q (want one of 0-9, * or #)", kv.key)
			continue
		}
		r.Options[kv.key] = s.target(join(p, kv.key), kv.v, false)
	}
}

func (s *firmSrc) readMailboxes(p string, v *yaml.Node) {
	for i, item := range s.list(p, v) {
		ip := index(p, i)
		mb := &Mailbox{}
		keys := s.fields(ip, item, handlers{
			"id":    func(p string, v *yaml.Node) { mb.ID = s.id(p, v) },
			"email": func(p string, v *yaml.Node) { mb.Email = s.check(p, v, checkEmail) },
			"pin":   func(p string, v *yaml.Node) { mb.PIN = s.check(p, v, checkPIN) },
		})
		s.firm.Mailboxes = append(s.firm.Mailboxes, mb)
		s.mailboxes = append(s.mailboxes, src{ip, item, keys})
	}
}

func (s *firmSrc) readTrunks(p string, v *yaml.Node) {
	for i, item := range s.list(p, v) {
		ip := index(p, i)
		t := &Trunk{Expires: DefaultTrunkExpires}
		var prefixes []prefixSrc
		keys := s.fields(ip, item, handlers{
			"id":       func(p string, v *yaml.Node) { t.ID = s.id(p, v) },
			"uri":      func(p string, v *yaml.Node) { t.URI = s.check(p, v, checkSIPURI) },
			"register": func(p string, v *yaml.Node) { t.Register = s.boolean(p, v) },
			"username": func(p string, v *yaml.Node) { t.Username = s.check(p, v, checkText) },
			"password": func(p string, v *yaml.Node) { t.Password = s.check(p, v, checkText) },
			"allow_from": func(p string, v *yaml.Node) {
				for j, n := range s.list(p, v) {
					jp := index(p, j)
					str, ok := s.str(jp, n)
					if !ok {
						continue
					}
					pfx, err := parsePrefix(str)
					if err != nil {
						s.errf(n, jp, "%v", err)
						continue
					}
					t.AllowFrom = append(t.AllowFrom, pfx)
					prefixes = append(prefixes, prefixSrc{p: pfx, path: jp, node: n})
				}
			},
			"caller_id": func(p string, v *yaml.Node) { t.CallerID = s.check(p, v, checkNumber) },
			"expires":   func(p string, v *yaml.Node) { s.dur(p, v, &t.Expires, time.Minute, 24*time.Hour) },
		})
		for _, ps := range prefixes {
			ps.trunk = t.ID
			s.prefixes = append(s.prefixes, ps)
		}
		s.firm.Trunks = append(s.firm.Trunks, t)
		s.trunks = append(s.trunks, src{ip, item, keys})
	}
}

func (s *firmSrc) readInbound(p string, v *yaml.Node) {
	for i, item := range s.list(p, v) {
		ip := index(p, i)
		var r InboundRoute
		keys := s.fields(ip, item, handlers{
			"match":  func(p string, v *yaml.Node) { r.Match = s.pattern(p, v) },
			"to":     func(p string, v *yaml.Node) { r.To = s.target(p, v, false) },
			"trunk":  func(p string, v *yaml.Node) { r.Trunk = s.id(p, v) },
			"record": func(p string, v *yaml.Node) { r.Record = s.boolean(p, v) },
		})
		s.firm.Inbound = append(s.firm.Inbound, r)
		s.inbound = append(s.inbound, src{ip, item, keys})
	}
}

func (s *firmSrc) readOutbound(p string, v *yaml.Node) {
	for i, item := range s.list(p, v) {
		ip := index(p, i)
		var r OutboundRoute
		keys := s.fields(ip, item, handlers{
			"match":   func(p string, v *yaml.Node) { r.Match = s.pattern(p, v) },
			"trunk":   func(p string, v *yaml.Node) { r.Trunk = s.id(p, v) },
			"strip":   func(p string, v *yaml.Node) { s.intTo(p, v, &r.Strip, 0, 20) },
			"prepend": func(p string, v *yaml.Node) { r.Prepend = s.check(p, v, checkPrepend) },
		})
		s.firm.Outbound = append(s.firm.Outbound, r)
		s.outbound = append(s.outbound, src{ip, item, keys})
	}
}

// Main-file-only sections.

func (f *fl) listen(p string, v *yaml.Node, l *Listen, dir string) {
	var sipItems []*yaml.Node
	keys := f.fields(p, v, handlers{
		"sip": func(p string, v *yaml.Node) {
			l.SIP = nil
			sipItems = f.list(p, v)
			seen := map[string]int{}
			for i, n := range sipItems {
				ip := index(p, i)
				s, ok := f.str(ip, n)
				if !ok {
					continue
				}
				scheme, addr, err := parseListenURL(s)
				if err != nil {
					f.errf(n, ip, "%v", err)
					continue
				}
				norm := scheme + "://" + addr
				if first, dup := seen[norm]; dup {
					f.errf(n, ip, "%s listed twice (first at line %d)", norm, first)
					continue
				}
				seen[norm] = n.Line
				l.SIP = append(l.SIP, norm)
			}
			if len(sipItems) == 0 {
				f.errf(v, p, "at least one SIP listener is needed")
			}
		},
		"http": func(p string, v *yaml.Node) {
			s, ok := f.str(p, v)
			if !ok {
				return
			}
			if err := checkHostPort(s); err != nil {
				f.errf(v, p, "%v", err)
				return
			}
			l.HTTP = s
		},
		"https": func(p string, v *yaml.Node) {
			s, ok := f.str(p, v)
			if !ok {
				return
			}
			if err := checkHostPort(s); err != nil {
				f.errf(v, p, "%v", err)
				return
			}
			l.HTTPS = s
		},
		"rtp_ports": func(p string, v *yaml.Node) {
			s, ok := f.str(p, v)
			if !ok {
				return
			}
			lo, hi, err := parsePortRange(s)
			if err != nil {
				f.errf(v, p, "%v", err)
				return
			}
			l.RTPMin, l.RTPMax = lo, hi
		},
		"public_ip": func(p string, v *yaml.Node) {
			s, ok := f.str(p, v)
			if !ok || s == "" {
				return
			}
			a, err := netip.ParseAddr(s)
			if err != nil || a.IsUnspecified() || a.Zone() != "" {
				f.errf(v, p, "invalid IP address %q", s)
				return
			}
			l.PublicIP = a.Unmap().String()
		},
		"trusted_proxies": func(p string, v *yaml.Node) {
			for j, n := range f.list(p, v) {
				jp := index(p, j)
				str, ok := f.str(jp, n)
				if !ok {
					continue
				}
				pfx, err := parsePrefix(str)
				if err != nil {
					f.errf(n, jp, "%v", err)
					continue
				}
				l.TrustedProxies = append(l.TrustedProxies, pfx)
			}
		},
		"tls_cert": func(p string, v *yaml.Node) {
			if s, ok := f.str(p, v); ok && s != "" {
				l.TLSCert = relTo(dir, s)
			}
		},
		"tls_key": func(p string, v *yaml.Node) {
			if s, ok := f.str(p, v); ok && s != "" {
				l.TLSKey = relTo(dir, s)
			}
		},
	})
	if (l.TLSCert == "") != (l.TLSKey == "") {
		missing, other := "tls_key", "tls_cert"
		if l.TLSCert == "" {
			missing, other = other, missing
		}
		f.errf(keys[other], join(p, other), "needs %s as well", join(p, missing))
	}
	if l.HTTPS != "" && (l.TLSCert == "" || l.TLSKey == "") {
		f.errf(keys["https"], join(p, "https"), "needs listen.tls_cert and listen.tls_key")
	}
	for i, n := range sipItems {
		s, _ := f.str("", n)
		scheme, _, err := parseListenURL(s)
		if err == nil && (scheme == "tls" || scheme == "wss") && (l.TLSCert == "" || l.TLSKey == "") {
			f.errf(n, index(join(p, "sip"), i), "%s needs listen.tls_cert and listen.tls_key", s)
		}
	}
}

func (f *fl) digestAlgorithms(p string, v *yaml.Node) []string {
	var out []string
	items := f.list(p, v)
	for i, n := range items {
		ip := index(p, i)
		s, ok := f.str(ip, n)
		if !ok {
			continue
		}
		var alg string
		switch strings.ToUpper(s) {
		case "MD5":
			alg = "MD5"
		case "SHA-256", "SHA256":
			alg = "SHA-256"
		default:
			f.errf(n, ip, "unknown algorithm %q (want MD5 or SHA-256)", s)
			continue
		}
		if slices.Contains(out, alg) {
			f.errf(n, ip, "%s listed twice", alg)
			continue
		}
		out = append(out, alg)
	}
	if len(items) == 0 {
		f.errf(v, p, "list at least one algorithm (MD5, SHA-256)")
		return []string{"MD5"}
	}
	return out
}

// recordings reads the recordings: block of the main file.
func (f *fl) recordings(p string, v *yaml.Node, rs *RecordingSettings) {
	f.fields(p, v, handlers{
		"keep": func(p string, v *yaml.Node) {
			if d, ok := f.longDuration(p, v, time.Second, 100*365*24*time.Hour); ok {
				rs.Keep = d
			}
		},
	})
}

// limits reads the limits: block.
func (f *fl) limits(p string, v *yaml.Node, l *Limits) {
	f.fields(p, v, handlers{
		"max_connections":        func(p string, v *yaml.Node) { f.intTo(p, v, &l.MaxConnections, 0, 1_000_000) },
		"max_connections_per_ip": func(p string, v *yaml.Node) { f.intTo(p, v, &l.MaxConnectionsPerIP, 1, 1_000_000) },
		"sip_idle_timeout":       func(p string, v *yaml.Node) { f.dur(p, v, &l.SIPIdleTimeout, 10*time.Millisecond, time.Hour) },
		"http_read_timeout":      func(p string, v *yaml.Node) { f.dur(p, v, &l.HTTPReadTimeout, 10*time.Millisecond, time.Hour) },
		"http_idle_timeout":      func(p string, v *yaml.Node) { f.dur(p, v, &l.HTTPIdleTimeout, 10*time.Millisecond, time.Hour) },
	})
}

// voicemail reads the voicemail: block and returns the nodes of its keys.
func (f *fl) voicemail(p string, v *yaml.Node, vm *VoicemailSettings) map[string]*yaml.Node {
	return f.fields(p, v, f.voicemailHandlers(vm))
}

// voicemailHandlers read the recording limits, under voicemail: or at the top
// level of the main file: one reader, so both places accept the same values.
func (f *fl) voicemailHandlers(vm *VoicemailSettings) handlers {
	return handlers{
		"silence_timeout": func(p string, v *yaml.Node) { f.dur(p, v, &vm.SilenceTimeout, time.Second, 5*time.Minute) },
		"max_length":      func(p string, v *yaml.Node) { f.dur(p, v, &vm.MaxLength, time.Second, time.Hour) },
	}
}

// smtp reads the smtp: block and returns the nodes of its keys. Checks that
// need the mailboxes of every firm (addr required once an email is set) run
// in loadMain.
func (f *fl) smtp(p string, v *yaml.Node, s *SMTPSettings) map[string]*yaml.Node {
	m := deref(v)
	if m == nil || m.Kind != yaml.MappingNode {
		// null reads as no block; anything else is a type error that
		// fields reports on its own.
		return f.fields(p, v, handlers{})
	}
	s.TLS = SMTPStartTLS
	keys := f.fields(p, v, handlers{
		"addr":     func(p string, v *yaml.Node) { s.Addr = f.check(p, v, checkSMTPAddr) },
		"username": func(p string, v *yaml.Node) { s.Username = f.check(p, v, checkText) },
		"password": func(p string, v *yaml.Node) { s.Password = f.check(p, v, checkText) },
		"from": func(p string, v *yaml.Node) {
			if str, ok := f.str(p, v); ok && str == "" {
				f.errf(v, p, "must not be empty")
				return
			}
			s.From = f.check(p, v, checkEmail)
		},
		"tls": func(p string, v *yaml.Node) {
			s.TLS = f.enum(p, v, s.TLS, SMTPStartTLS, SMTPImplicitTLS, SMTPNoTLS)
		},
		"insecure_skip_verify": func(p string, v *yaml.Node) { s.InsecureSkipVerify = f.boolean(p, v) },
	})
	if _, ok := keys["from"]; !ok {
		f.errf(v, p, "missing from (the sender address of voicemail mails)")
	}
	if s.Password != "" && s.Username == "" {
		f.errf(keys["password"], join(p, "password"), "needs smtp.username as well")
	}
	if s.Username != "" && s.TLS == SMTPNoTLS && s.Addr != "" && !loopbackHost(s.Addr) {
		f.errf(keys["tls"], join(p, "tls"), "none would send the password in clear to %s; use starttls or tls (only a loopback server may log in without TLS)", s.Addr)
	}
	return keys
}
