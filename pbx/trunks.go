package pbx

import (
	"context"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"strings"
	"sync"
	"time"

	"switchboard/dialplan"
	"switchboard/sip"
)

// trunks owns the registrations to carriers that the dialplan asks for, and
// knows trunks by the address their requests come from.
type trunks struct {
	ctx     context.Context
	sip     *sip.Server
	log     *slog.Logger
	backoff time.Duration // first retry delay after a failed registration
	dns     dnsCache      // trunk host names, for bySource

	mu   sync.Mutex
	regs map[agentKey]*trunkReg // by firm and trunk id
}

func newTrunks(ctx context.Context, s *sip.Server, log *slog.Logger, backoff time.Duration) *trunks {
	return &trunks{ctx: ctx, sip: s, log: log, backoff: backoff, regs: map[agentKey]*trunkReg{}, dns: dnsCache{m: map[string]dnsEntry{}}}
}

// trunkReg is one running registration to a carrier.
type trunkReg struct {
	cfg    sip.TrunkRegistration
	reg    *sip.TrunkRegistrar
	cancel context.CancelFunc
}

// startTrunks brings the registrations in line with cfg: registrations whose trunk
// did not change keep running (a reload must not un-register and re-register), new
// ones start, removed or changed ones stop (and un-register).
func (tr *trunks) sync(cfg *dialplan.Config) {
	tr.mu.Lock()
	defer tr.mu.Unlock()
	want := map[agentKey]sip.TrunkRegistration{}
	for _, f := range cfg.Firms {
		for _, t := range f.Trunks {
			if t.Register {
				want[agentKey{f.ID, t.ID}] = sip.TrunkRegistration{
					ID: t.ID, Registrar: t.URI, Username: t.Username, Password: t.Password,
					Expires: t.Expires, MinBackoff: tr.backoff,
				}
			}
		}
	}
	for k, r := range tr.regs {
		if w, ok := want[k]; !ok || w != r.cfg {
			r.cancel()
			delete(tr.regs, k)
		}
	}
	for k, w := range want {
		if _, ok := tr.regs[k]; ok {
			continue
		}
		ctx, cancel := context.WithCancel(tr.ctx)
		tr.regs[k] = &trunkReg{cfg: w, reg: tr.sip.RegisterTrunk(ctx, w), cancel: cancel}
	}
}

// wait returns when every registration ended (after the PBX's context did): the
// un-REGISTERs are out before the SIP stack closes.
func (tr *trunks) wait() {
	tr.mu.Lock()
	regs := make([]*trunkReg, 0, len(tr.regs))
	for _, r := range tr.regs {
		regs = append(regs, r)
	}
	tr.mu.Unlock()
	for _, r := range regs {
		<-r.reg.Done()
	}
}

// TrunkStates reports each registering trunk's state, by firm then trunk id.
func (p *PBX) TrunkStates() map[string]map[string]sip.TrunkState { return p.trunks.states() }

func (tr *trunks) states() map[string]map[string]sip.TrunkState {
	tr.mu.Lock()
	defer tr.mu.Unlock()
	out := map[string]map[string]sip.TrunkState{}
	for k, r := range tr.regs {
		if out[k.firm] == nil {
			out[k.firm] = map[string]sip.TrunkState{}
		}
		out[k.firm][k.agent] = r.reg.State()
	}
	return out
}

// bySource finds the trunk whose URI names the exact address and port a
// request came from: a carrier we register to, or a peer we send calls to.
// A trunk with allow_from is recognised by allow_from alone (TrunkForSource),
// never here. Over UDP the URI's port must match (a phone on the carrier's host
// is not the carrier); over TCP, TLS and WebSocket a peer's source port is its
// own, so only the connection our registration opened to the URI's address and
// port counts: a browser or phone connecting from the carrier's address is
// challenged as a phone. Host names are resolved and cached.
func (tr *trunks) bySource(cfg *dialplan.Config, src netip.AddrPort, transport string) (*dialplan.Firm, *dialplan.Trunk) {
	f, t, _ := tr.match(cfg, src, transport, func(host string) ([]netip.Addr, bool) {
		return tr.dns.resolve(tr.ctx, tr.log, host), true
	})
	return f, t
}

// bySourceCached is bySource without a DNS lookup, for the SIP read path: sure
// is false when a trunk host's addresses are not cached and fresh, and then
// only bySource can tell.
func (tr *trunks) bySourceCached(cfg *dialplan.Config, src netip.AddrPort, transport string) (f *dialplan.Firm, t *dialplan.Trunk, sure bool) {
	return tr.match(cfg, src, transport, tr.dns.cached)
}

// match is bySource with the host lookup given: addrs returns a host's
// addresses and whether it knows them.
func (tr *trunks) match(cfg *dialplan.Config, src netip.AddrPort, transport string, addrs func(host string) ([]netip.Addr, bool)) (*dialplan.Firm, *dialplan.Trunk, bool) {
	sure := true
	udp := strings.EqualFold(transport, "udp")
	for _, f := range cfg.Firms {
		for _, t := range f.Trunks {
			if len(t.AllowFrom) > 0 || (!udp && !t.Register) {
				continue
			}
			host, _, err := trunkHost(t.URI)
			if err != nil {
				continue
			}
			h, port, err := net.SplitHostPort(host)
			if err != nil {
				h, port = host, "5060"
			}
			if port != fmt.Sprint(src.Port()) {
				continue
			}
			known, ok := addrs(strings.Trim(h, "[]"))
			if !ok {
				sure = false
				continue
			}
			for _, a := range known {
				if a == src.Addr() {
					return f, t, true
				}
			}
		}
	}
	return nil, nil, sure
}

// dnsCache remembers the addresses of trunk hosts for 5 minutes.
type dnsCache struct {
	mu sync.Mutex
	m  map[string]dnsEntry
}

// cached returns a trunk host's addresses without a lookup: false when the
// cache has none fresh.
func (d *dnsCache) cached(host string) ([]netip.Addr, bool) {
	if a, err := netip.ParseAddr(host); err == nil {
		return []netip.Addr{a.Unmap()}, true
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	e, ok := d.m[host]
	if !ok || time.Since(e.at) >= dnsTTL {
		return nil, false
	}
	return e.addrs, true
}

// dnsTTL is how long a trunk host's addresses are trusted.
const dnsTTL = 5 * time.Minute

// resolve returns the addresses of a trunk host, from the cache when fresh.
func (d *dnsCache) resolve(ctx context.Context, log *slog.Logger, host string) []netip.Addr {
	if a, err := netip.ParseAddr(host); err == nil {
		return []netip.Addr{a.Unmap()}
	}
	d.mu.Lock()
	e, ok := d.m[host]
	d.mu.Unlock()
	if ok && time.Since(e.at) < dnsTTL {
		return e.addrs
	}
	ctx, cancel := context.WithTimeout(ctx, 2*time.Second)
	defer cancel()
	addrs, err := net.DefaultResolver.LookupNetIP(ctx, "ip", host)
	if err != nil {
		log.Warn("trunk host lookup", "host", host, "err", err)
	}
	for i := range addrs {
		addrs[i] = addrs[i].Unmap()
	}
	d.mu.Lock()
	d.m[host] = dnsEntry{addrs: addrs, at: time.Now()}
	d.mu.Unlock()
	return addrs
}

type dnsEntry struct {
	addrs []netip.Addr
	at    time.Time
}

// trunkHost returns host[:port] and transport of a trunk URI such as
// sip:sip.carrier.example:5060;transport=tcp.
func trunkHost(uri string) (string, string, error) {
	var u sip.Uri
	if err := sip.ParseURI(uri, &u); err != nil {
		return "", "", err
	}
	host := u.Host
	if u.Port != 0 {
		host = net.JoinHostPort(u.Host, fmt.Sprint(u.Port))
	}
	transport := "UDP"
	if t, ok := u.UriParams.Get("transport"); ok {
		transport = strings.ToUpper(t)
	}
	return host, transport, nil
}
