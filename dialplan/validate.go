package dialplan

import (
	"fmt"
	"slices"

	"go.yaml.in/yaml/v3"
)

// validate checks what needs the whole firm: required keys, duplicates,
// references and combinations of settings.
func (s *firmSrc) validate(cfg *Config) {
	f := s.firm
	needMD5 := slices.Contains(cfg.DigestAlgorithms, "MD5")
	needSHA := slices.Contains(cfg.DigestAlgorithms, "SHA-256")

	ids := map[string]map[string]src{}
	dupID := func(kind, id string, e src) {
		if id == "" {
			return
		}
		if ids[kind] == nil {
			ids[kind] = map[string]src{}
		}
		if first, ok := ids[kind][id]; ok {
			s.errf(e.at("id"), join(e.path, "id"), "duplicate %s id %q (first at line %d)", kind, id, first.at("id").Line)
			return
		}
		ids[kind][id] = e
	}
	type extUse struct {
		what string
		line int
	}
	exts := map[string]extUse{}
	dupExt := func(ext, what string, e src) {
		if ext == "" {
			return
		}
		if first, ok := exts[ext]; ok {
			s.errf(e.at("extension"), join(e.path, "extension"), "extension %q is already used by %s (line %d)", ext, first.what, first.line)
			return
		}
		exts[ext] = extUse{what, e.at("extension").Line}
	}
	required := func(e src, key string) {
		if !e.has(key) {
			s.errf(e.item, e.path, "missing %s", key)
		}
	}

	for i, a := range f.Agents {
		e := s.agents[i]
		required(e, "id")
		required(e, "extension")
		dupID("agent", a.ID, e)
		dupExt(a.Extension, "agent "+a.ID, e)
		switch {
		case a.HA1 != "" && a.Password != "":
			s.errf(e.at("ha1"), join(e.path, "ha1"), "set password or ha1, not both")
		case needMD5 && a.Password == "" && a.HA1 == "":
			if !e.has("password") && !e.has("ha1") {
				s.errf(e.item, e.path, "missing password (or ha1)")
			} else if e.has("password") {
				s.errf(e.at("password"), join(e.path, "password"), "must not be empty")
			}
		case needSHA && a.Password == "" && a.HA1SHA256 == "":
			s.errf(e.item, e.path, "digest_algorithms includes SHA-256: set password or ha1_sha256")
		}
		if a.Routing == "mobile" {
			if a.Mobile == "" {
				if !e.has("mobile") {
					s.errf(e.at("routing"), join(e.path, "routing"), "mobile routing needs a mobile number (mobile:)")
				}
			} else if _, ok := f.OutboundFor(a.Mobile); !ok && s.routesOK() {
				s.errf(e.at("mobile"), join(e.path, "mobile"), "no routes.outbound entry matches %q, so mobile routing cannot reach it", a.Mobile)
			}
		}
	}
	for i, t := range f.Teams {
		e := s.teams[i]
		required(e, "id")
		dupID("team", t.ID, e)
		dupExt(t.Extension, "team "+t.ID, e)
		var members []*yaml.Node
		if m := deref(e.keys["members"]); m != nil && m.Kind == yaml.SequenceNode {
			members = m.Content
		}
		mn := deref(e.keys["members"])
		wrongType := mn != nil && !isNull(mn) && mn.Kind != yaml.SequenceNode // already reported
		if len(members) == 0 && !wrongType {
			s.errf(e.at("members"), join(e.path, "members"), "a team needs at least one member")
		}
		seen := map[string]bool{}
		for j, m := range t.Members {
			if m == "" || j >= len(members) {
				continue
			}
			mp := index(join(e.path, "members"), j)
			if seen[m] {
				s.errf(members[j], mp, "agent %q listed twice", m)
			}
			seen[m] = true
			if f.Agent(m) == nil {
				s.errf(members[j], mp, "unknown agent %q", m)
			}
		}
		var sups []*yaml.Node
		if m := deref(e.keys["supervisors"]); m != nil && m.Kind == yaml.SequenceNode {
			sups = m.Content
		}
		seenSup := map[string]bool{}
		for j, m := range t.Supervisors {
			if m == "" || j >= len(sups) {
				continue
			}
			mp := index(join(e.path, "supervisors"), j)
			if seenSup[m] {
				s.errf(sups[j], mp, "agent %q listed twice", m)
			}
			seenSup[m] = true
			if f.Agent(m) == nil {
				s.errf(sups[j], mp, "unknown agent %q", m)
			}
		}
		if t.OnTimeout == (Target{Kind: TargetTeam, ID: t.ID}) && t.ID != "" {
			s.errf(e.at("on_timeout"), join(e.path, "on_timeout"), "a team cannot overflow to itself")
		}
	}
	for i, r := range f.IVRs {
		e := s.ivrs[i]
		required(e, "id")
		required(e, "prompt")
		dupID("ivr", r.ID, e)
		dupExt(r.Extension, "ivr "+r.ID, e)
	}
	for i, mb := range f.Mailboxes {
		e := s.mailboxes[i]
		required(e, "id")
		dupID("mailbox", mb.ID, e)
		// An entry named after an agent describes the agent's own mailbox
		// (its email); the PIN has one home, the agent's voicemail_pin, so
		// that *97 and *98 cannot disagree about it.
		if a := f.Agent(mb.ID); a != nil && mb.ID != "" {
			if e.has("pin") {
				s.errf(e.at("pin"), join(e.path, "pin"), "mailbox %q is agent %s's own mailbox: set its PIN as the agent's voicemail_pin", mb.ID, a.ID)
			}
			mb.Agent, mb.PIN = a.ID, a.VoicemailPIN
		}
	}
	for i, t := range f.Trunks {
		e := s.trunks[i]
		required(e, "id")
		required(e, "uri")
		dupID("trunk", t.ID, e)
		if t.Register && t.Username == "" {
			s.errf(e.at("register"), join(e.path, "register"), "registration needs a username")
		}
	}
	for i, r := range f.Inbound {
		e := s.inbound[i]
		required(e, "match")
		required(e, "to")
		if r.Trunk != "" && f.Trunk(r.Trunk) == nil {
			s.errf(e.at("trunk"), join(e.path, "trunk"), "unknown trunk %q", r.Trunk)
		}
	}
	for i, r := range f.Outbound {
		e := s.outbound[i]
		required(e, "match")
		required(e, "trunk")
		if r.Trunk != "" && f.Trunk(r.Trunk) == nil {
			s.errf(e.at("trunk"), join(e.path, "trunk"), "unknown trunk %q", r.Trunk)
		}
		if !r.Match.IsZero() && r.Strip > 0 && r.Strip >= r.Match.MinLen() {
			s.errf(e.at("strip"), join(e.path, "strip"), "strip %d leaves nothing to dial for the shortest number %q matches (%d characters)", r.Strip, r.Match, r.Match.MinLen())
		}
	}
	for _, r := range s.targets {
		if msg := checkRef(f, r.t); msg != "" {
			s.errf(r.node, r.path, "%s", msg)
		}
	}
}

// routesOK reports whether the outbound routes parsed without problems, so
// that the mobile check does not pile a second message on a broken route.
func (s *firmSrc) routesOK() bool {
	for _, r := range s.firm.Outbound {
		if r.Match.IsZero() || s.firm.Trunk(r.Trunk) == nil {
			return false
		}
	}
	return true
}

// checkRef returns a problem message when t names nothing in f.
func checkRef(f *Firm, t Target) string {
	switch t.Kind {
	case TargetAgent:
		if f.Agent(t.ID) == nil {
			return fmt.Sprintf("unknown agent %q", t.ID)
		}
	case TargetTeam:
		if f.Team(t.ID) == nil {
			return fmt.Sprintf("unknown team %q", t.ID)
		}
	case TargetIVR:
		if f.IVR(t.ID) == nil {
			return fmt.Sprintf("unknown ivr %q", t.ID)
		}
	case TargetVoicemail:
		if f.Mailbox(t.ID) == nil {
			return fmt.Sprintf("unknown mailbox %q (not under mailboxes: and not an agent id)", t.ID)
		}
	case TargetCallback:
		team, agent := f.Team(t.ID) != nil, f.Agent(t.ID) != nil
		switch {
		case team && agent:
			return fmt.Sprintf("callback:%s is ambiguous: both a team and an agent have id %q", t.ID, t.ID)
		case !team && !agent:
			return fmt.Sprintf("unknown team or agent %q", t.ID)
		}
	}
	return ""
}

// crossFirm checks rules between firms: unique domains, and trunk networks
// that do not overlap between firms (a call would land in the wrong firm).
func (l *loader) crossFirm(srcs []*firmSrc) {
	domains := map[string]*firmSrc{}
	for _, s := range srcs {
		d := s.firm.Domain
		if d == "" {
			continue
		}
		if first, ok := domains[d]; ok {
			n := s.domainNode
			if n == nil {
				n = s.root
			}
			s.errf(n, "domain", "domain %q is already used by %s", d, first.file)
			continue
		}
		domains[d] = s
	}
	for i, s := range srcs {
		for _, p := range s.prefixes {
			for _, o := range srcs[:i] {
				for _, q := range o.prefixes {
					if p.p.Overlaps(q.p) {
						s.errf(p.node, p.path, "%s overlaps allow_from %s of trunk %q in firm %s (%s:%d): calls would reach the wrong firm",
							p.p, q.p, q.trunk, o.firm.Domain, o.file, q.node.Line)
					}
				}
			}
		}
	}
}
