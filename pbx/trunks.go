package pbx

import (
	"context"
	"fmt"
	"net"
	"net/netip"
	"strings"
	"time"

	"switchboard/dialplan"
	"switchboard/sip"
)

// trunkReg is one running registration to a carrier.
type trunkReg struct {
	cfg    sip.TrunkRegistration
	reg    *sip.TrunkRegistrar
	cancel context.CancelFunc
}

// startTrunks brings the registrations in line with cfg: registrations whose trunk
// did not change keep running (a reload must not un-register and re-register), new
// ones start, removed or changed ones stop (and un-register).
func (p *PBX) startTrunks(cfg *dialplan.Config) {
	p.tmu.Lock()
	defer p.tmu.Unlock()
	want := map[agentKey]sip.TrunkRegistration{}
	for _, f := range cfg.Firms {
		for _, t := range f.Trunks {
			if t.Register {
				want[agentKey{f.ID, t.ID}] = sip.TrunkRegistration{
					ID: t.ID, Registrar: t.URI, Username: t.Username, Password: t.Password,
					Expires: t.Expires, MinBackoff: p.trunkBackoff,
				}
			}
		}
	}
	for k, r := range p.trunks {
		if w, ok := want[k]; !ok || w != r.cfg {
			r.cancel()
			delete(p.trunks, k)
		}
	}
	for k, w := range want {
		if _, ok := p.trunks[k]; ok {
			continue
		}
		ctx, cancel := context.WithCancel(p.ctx)
		p.trunks[k] = &trunkReg{cfg: w, reg: p.sip.RegisterTrunk(ctx, w), cancel: cancel}
	}
}

// TrunkStates reports each registering trunk's state, by firm then trunk id.
func (p *PBX) TrunkStates() map[string]map[string]sip.TrunkState {
	p.tmu.Lock()
	defer p.tmu.Unlock()
	out := map[string]map[string]sip.TrunkState{}
	for k, r := range p.trunks {
		if out[k.firm] == nil {
			out[k.firm] = map[string]sip.TrunkState{}
		}
		out[k.firm][k.agent] = r.reg.State()
	}
	return out
}

// trunkBySource finds the trunk whose URI names the address a request came from:
// a carrier we register to, or a peer we send calls to. Over UDP the port must match
// too (a phone on the carrier's host is not the carrier); over TCP/TLS the carrier's
// source port is ephemeral, so the address alone decides. Host names are resolved
// and cached.
func (p *PBX) trunkBySource(src netip.AddrPort, transport string) (*dialplan.Firm, *dialplan.Trunk) {
	udp := strings.EqualFold(transport, "udp")
	for _, f := range p.cfg.Load().Firms {
		for _, t := range f.Trunks {
			host, _, err := trunkHost(t.URI)
			if err != nil {
				continue
			}
			h, port, err := net.SplitHostPort(host)
			if err != nil {
				h, port = host, "5060"
			}
			if udp && port != fmt.Sprint(src.Port()) {
				continue
			}
			for _, a := range p.resolveHost(strings.Trim(h, "[]")) {
				if a == src.Addr() {
					return f, t
				}
			}
		}
	}
	return nil, nil
}

// resolveHost returns the addresses of a trunk host, from a 5-minute cache.
func (p *PBX) resolveHost(host string) []netip.Addr {
	if a, err := netip.ParseAddr(host); err == nil {
		return []netip.Addr{a.Unmap()}
	}
	p.dnsMu.Lock()
	e, ok := p.dns[host]
	p.dnsMu.Unlock()
	if ok && time.Since(e.at) < 5*time.Minute {
		return e.addrs
	}
	ctx, cancel := context.WithTimeout(p.ctx, 2*time.Second)
	defer cancel()
	addrs, err := net.DefaultResolver.LookupNetIP(ctx, "ip", host)
	if err != nil {
		p.log.Warn("trunk host lookup", "host", host, "err", err)
	}
	for i := range addrs {
		addrs[i] = addrs[i].Unmap()
	}
	p.dnsMu.Lock()
	p.dns[host] = dnsEntry{addrs: addrs, at: time.Now()}
	p.dnsMu.Unlock()
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
