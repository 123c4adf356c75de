package pbx

import (
	"context"

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
