package pbx

import (
	"context"

	"switchboard/dialplan"
	"switchboard/sip"
)

// trunkRegs are the running registrations to carriers, restarted on reload.
type trunkRegs struct {
	cancel context.CancelFunc
	regs   map[agentKey]*sip.TrunkRegistrar // by firm and trunk id
}

// startTrunks (re)starts registration loops for trunks with register: true.
func (p *PBX) startTrunks(cfg *dialplan.Config) {
	p.tmu.Lock()
	defer p.tmu.Unlock()
	if p.trunks.cancel != nil {
		p.trunks.cancel()
	}
	ctx, cancel := context.WithCancel(p.ctx)
	p.trunks = trunkRegs{cancel: cancel, regs: map[agentKey]*sip.TrunkRegistrar{}}
	for _, f := range cfg.Firms {
		for _, t := range f.Trunks {
			if !t.Register {
				continue
			}
			p.trunks.regs[agentKey{f.ID, t.ID}] = p.sip.RegisterTrunk(ctx, sip.TrunkRegistration{
				ID: t.ID, Registrar: t.URI, Username: t.Username, Password: t.Password,
				Expires: t.Expires, MinBackoff: p.trunkBackoff,
			})
		}
	}
}

// TrunkStates reports each registering trunk's state, by firm then trunk id.
func (p *PBX) TrunkStates() map[string]map[string]sip.TrunkState {
	p.tmu.Lock()
	defer p.tmu.Unlock()
	out := map[string]map[string]sip.TrunkState{}
	for k, r := range p.trunks.regs {
		if out[k.firm] == nil {
			out[k.firm] = map[string]sip.TrunkState{}
		}
		out[k.firm][k.agent] = r.State()
	}
	return out
}
