// Package pbx is call control: it receives authenticated calls from package sip, asks
// the dialplan what to do, and runs the decision as straight-line code in one goroutine
// per call (ring, bridge, voicemail, callback, queue, click-to-call). It is the one
// package that knows sip, rtp, dialplan, voicemail, mailer and store.
//
// PBX (pbx.go) is the package's API and lifecycle; it composes parts that each own
// their state and lock behind a few methods, and reach each other only through
// those methods:
//
//   - control (control.go, queue.go, clicktocall.go, call.go, media.go): runs calls; places
//     legs through the legPlacer interface and rings them with forker (fork.go);
//     the caller's leg is an inLeg, media comes from a mediaPool and finished
//     calls go to a callLog, so that tests run calls with fakes
//   - apps (apps.go): voicemail, the callback offer, IVR menus, star-code features
//   - accounts (accounts.go): the firm of a request, digest accounts, REGISTER and
//     SUBSCRIBE entry; webcreds.go holds the browser sessions' credentials
//   - presence (presence.go): agent status, calls in progress, idle-since, reserve
//   - queues (queue.go): the callers waiting for each team
//   - dialer (dialer.go): the automatic callback dialer, one goroutine woken
//     through a channel
//   - mwi (mwi.go): message-summary subscriptions and their NOTIFYs
//   - trunks (trunks.go): carrier registrations and the trunk host DNS cache
//   - stats (stats.go): counters of finished calls for /metrics
//   - teamStats (teamstats.go): today's figures of each team; wallboard
//     (wallboard.go) builds the teams' live view from it, queues and presence,
//     and pushes it to supervisors
//   - Hub (events.go): live events for the API's event stream
//
// Every goroutine the package starts goes through tasks (spawn.go), which Shutdown
// waits for before the store closes.
package pbx

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"net/netip"
	"sync"
	"sync/atomic"
	"time"

	"switchboard/callinfo"
	"switchboard/dialplan"
	"switchboard/mailer"
	"switchboard/rtp"
	"switchboard/sip"
	"switchboard/sip/auth"
	"switchboard/sip/registrar"
	"switchboard/sounds"
	"switchboard/store"
)

// Deps are the parts the PBX is built from; cmd/switchboard wires them.
type Deps struct {
	Config *dialplan.Config
	Store  *store.Store
	SIP    *sip.Server
	Pool   *rtp.Pool
	Sounds *sounds.Library
	Logger *slog.Logger
	// MediaIP is the address written into SDP; default: the SIP server's host.
	MediaIP netip.Addr
	// DataDir holds voicemail audio.
	DataDir string
	// AuthSecret keys the digest nonces; random when nil.
	AuthSecret []byte
	// TrunkBackoff is the first retry delay after a failed trunk registration
	// (default 2 s); it doubles up to 5 minutes.
	TrunkBackoff time.Duration
	// Mailer queues voicemail mails; nil sends none (see SetMailer).
	Mailer *mailer.Mailer
	// RecordingSweep is how often recordings older than recordings.keep are
	// removed (default 10 minutes; tests shorten it).
	RecordingSweep time.Duration
}

// mediaPool opens media sessions (a *rtp.Pool): plain RTP, or WebRTC announcing
// the public address.
type mediaPool interface {
	Open() (*rtp.Session, error)
	OpenWebRTC(public netip.Addr) (*rtp.Session, error)
	InUse() int // ports in use, for /metrics
}

// callLog is where finished calls are written (the store).
type callLog interface {
	AddCall(rec *store.CallRecord) error
}

// PBX is the running call controller.
type PBX struct {
	cfg     atomic.Pointer[dialplan.Config]
	store   *store.Store
	sip     *sip.Server
	pool    mediaPool
	callLog callLog
	sounds  *sounds.Library
	log     *slog.Logger
	mediaIP netip.Addr
	dataDir string
	auth    *auth.Authenticator
	reg     *registrar.Registrar
	regw    *regWriter
	mail    atomic.Pointer[mailer.Mailer]
	events  *Hub
	// webCreds are the SIP credentials of agents' browser sessions.
	webCreds sessionCreds

	presence  *presence
	stats     *stats
	teamStats *teamStats
	wall      *wallboard

	mu   sync.Mutex // guards live and orders newCall against Shutdown
	live map[string]*Call

	queues queues
	dialer *dialer
	forker *forker
	ctl    *control
	apps   *apps
	accts  *accounts

	trunks *trunks

	mwi *mwi

	recordingSweep time.Duration

	calls    sync.WaitGroup
	tasks    *tasks
	stopping atomic.Bool
	seq      atomic.Uint64
	ctx      context.Context
	cancel   context.CancelFunc
}

// New builds the PBX; Start installs its SIP handlers.
func New(d Deps) (*PBX, error) {
	if d.Config == nil || d.Store == nil || d.SIP == nil || d.Pool == nil {
		return nil, errors.New("pbx: config, store, sip server and rtp pool are required")
	}
	if d.Logger == nil {
		d.Logger = slog.Default()
	}
	if d.Sounds == nil {
		d.Sounds = sounds.New(d.Config.SoundsDir)
	}
	p := &PBX{
		store:   d.Store,
		sip:     d.SIP,
		pool:    d.Pool,
		callLog: d.Store,
		sounds:  d.Sounds,
		log:     d.Logger,
		mediaIP: d.MediaIP,
		dataDir: d.DataDir,

		recordingSweep: d.RecordingSweep,

		presence:  newPresence(),
		stats:     newStats(),
		teamStats: newTeamStats(time.Now),
		live:      map[string]*Call{},
		events:    NewHub(),
		webCreds:  sessionCreds{now: time.Now, m: map[string]sessionCred{}},
	}
	p.accts = &accounts{p: p}
	if !p.mediaIP.IsValid() {
		ip, err := netip.ParseAddr(d.SIP.Host())
		if err != nil {
			return nil, fmt.Errorf("pbx: media address: SIP host %q is not an IP; set listen.public_ip", d.SIP.Host())
		}
		p.mediaIP = ip
	}
	if p.dataDir == "" {
		p.dataDir = d.Config.DataDir
	}
	p.cfg.Store(d.Config)
	p.mail.Store(d.Mailer)
	p.auth = auth.New(auth.Config{Secret: d.AuthSecret, Algorithms: d.Config.DigestAlgorithms, Logger: d.Logger}, p.accts.lookupAccount)
	p.ctx, p.cancel = context.WithCancel(context.Background())
	p.tasks = newTasks(p.ctx)
	p.trunks = newTrunks(p.ctx, d.SIP, d.Logger, d.TrunkBackoff)
	p.mwi = newMWI(p.ctx, d.SIP, d.Store, p.tasks, d.Logger)
	p.dialer = newDialer(p)
	p.ctl = &control{p}
	p.wall = newWallboard(p)
	p.apps = &apps{p}
	p.forker = &forker{place: sipPlacer{d.SIP}, spawn: p.tasks.spawn, stopping: func() bool { return p.ctx.Err() != nil }}
	p.regw = newRegWriter(d.Store, d.Logger, p.tasks.spawn)
	p.reg = registrar.New(registrar.Config{Logger: d.Logger, Connected: d.SIP.Connected}, p.regw)
	if err := p.loadState(); err != nil {
		return nil, err
	}
	return p, nil
}

// Config returns the dialplan in force.
func (p *PBX) Config() *dialplan.Config { return p.cfg.Load() }

// Reload swaps in a new dialplan; calls in progress keep the one they started with.
func (p *PBX) Reload(cfg *dialplan.Config) {
	p.cfg.Store(cfg)
	p.presence.load(p.store, p.log, cfg)
	p.trunks.sync(cfg)
	p.wall.touchAll()
	p.log.Info("dialplan reloaded", "file", cfg.File, "firms", len(cfg.Firms))
}

// Banned reports whether an address is banned for failed authentication; the SIP
// transport drops its packets before parsing.
func (p *PBX) Banned(ip netip.Addr) bool { return p.auth != nil && p.auth.Banned(ip) }

// Malformed counts a malformed message from ip toward its ban.
func (p *PBX) Malformed(ip netip.Addr) {
	if p.auth != nil {
		p.auth.Malformed(ip)
	}
}

// Registrar exposes the binding table (API, metrics).
func (p *PBX) Registrar() *registrar.Registrar { return p.reg }

// AuthFailures counts failed credential checks.
func (p *PBX) AuthFailures() uint64 { return p.auth.Failures() }

func (p *PBX) loadState() error {
	regs, err := p.store.ListRegistrations()
	if err != nil {
		return fmt.Errorf("pbx: load registrations: %w", err)
	}
	bs := make([]registrar.Binding, 0, len(regs))
	for _, r := range regs {
		bs = append(bs, registrar.Binding{
			Firm: r.Firm, User: r.User, Contact: r.Contact, Source: r.Source, Transport: r.Transport,
			Expires: r.Expires, CallID: r.CallID, CSeq: r.CSeq, UserAgent: r.UserAgent, Instance: r.Instance,
		})
	}
	p.regw.loaded(regs)
	kept := p.reg.Load(bs)
	if n, err := p.store.PurgeExpiredRegistrations(time.Now()); err == nil && n > 0 {
		p.log.Info("dropped expired registrations", "count", n)
	}
	p.log.Info("registrations restored", "count", kept)
	p.dialer.recover()
	p.presence.load(p.store, p.log, p.cfg.Load())
	if err := p.recoverRecordings(); err != nil {
		// A recording left for the next start is no reason to refuse calls.
		p.log.Error("recordings: recover", "err", err)
	}
	if err := p.seedTeamStats(); err != nil {
		return err
	}
	return nil
}

// seedTeamStats rebuilds today's team figures from today's call log and the
// team callbacks stored today, so that a restart does not zero the wallboard.
func (p *PBX) seedTeamStats() error {
	since := p.teamStats.since()
	calls, err := p.store.ListCalls("", store.CallQuery{Since: since})
	if err != nil {
		return fmt.Errorf("pbx: today's calls for the wallboard: %w", err)
	}
	var cbs []store.Callback
	// Callback ids grow with their creation time: the listing starts at midnight.
	after := store.CallID(since.Add(-time.Nanosecond), math.MaxUint32)
	for _, f := range p.cfg.Load().Firms {
		list, err := p.store.ListCallbacks(f.ID, "", store.Page{After: after})
		if err != nil {
			return fmt.Errorf("pbx: today's callbacks of %s for the wallboard: %w", f.ID, err)
		}
		cbs = append(cbs, list...)
	}
	p.teamStats.seed(calls, cbs)
	return nil
}

// Start installs the SIP handlers and the housekeeping loop.
func (p *PBX) Start() {
	p.sip.OnInvite(p.ctl.handleInvite)
	p.sip.OnChallenge(p.ctl.challenge)
	p.sip.OnRequest("REGISTER", p.accts.handleRegister)
	p.sip.OnRequest("SUBSCRIBE", p.accts.handleSubscribe)
	p.sip.OnRequest("NOTIFY", func(req *sip.Request, tx sip.ServerTransaction) {
		p.sip.Respond(tx, req, 200, "OK")
	})
	p.sip.OnRequest("MESSAGE", func(req *sip.Request, tx sip.ServerTransaction) {
		p.sip.Respond(tx, req, 405, "Method Not Allowed")
	})
	p.trunks.sync(p.cfg.Load())
	p.tasks.spawn(p.housekeeping)
	p.tasks.spawn(p.dialer.run)
	p.tasks.spawn(p.wall.run)
	p.dialer.sweep() // entries left from before the start
}

func (p *PBX) housekeeping(ctx context.Context) {
	t := time.NewTicker(15 * time.Second)
	defer t.Stop()
	sweep := time.NewTicker(callbackSweepEvery)
	defer sweep.Stop()
	every := p.recordingSweep
	if every <= 0 {
		every = defaultRecordingSweep
	}
	recSweep := time.NewTicker(every)
	defer recSweep.Stop()
	p.sweepRecordings() // recordings that expired while the PBX was down
	for {
		select {
		case <-ctx.Done():
			return
		case <-recSweep.C:
			p.sweepRecordings()
		case <-sweep.C:
			p.dialer.sweep() // retries whose delay has passed
		case <-t.C:
			if n := p.reg.Expire(); n > 0 {
				p.log.Debug("registrations expired", "count", n)
			}
			if _, err := p.store.PurgeExpiredRegistrations(time.Now()); err != nil {
				p.log.Error("purge registrations", "err", err)
			}
			p.mwi.expire()
		}
	}
}

// Shutdown stops taking calls, hangs up the ones in progress and waits for them to be
// logged and for every goroutine the PBX started to end, or for ctx to end.
// Drain stops taking new calls (new INVITEs get 503 with Retry-After) and
// waits until the calls in progress have ended by themselves or ctx ends;
// Shutdown then hangs up what is left.
func (p *PBX) Drain(ctx context.Context) error {
	p.mu.Lock()
	p.stopping.Store(true) // under p.mu, as in Shutdown
	p.mu.Unlock()
	if err := waitFor(ctx, p.calls.Wait); err != nil {
		return fmt.Errorf("pbx: drain: %w", err)
	}
	return nil
}

func (p *PBX) Shutdown(ctx context.Context) error {
	p.mu.Lock()
	p.stopping.Store(true) // under p.mu: newCall checks it and counts the call atomically
	p.mu.Unlock()
	p.cancel()
	err := waitFor(ctx, func() {
		p.calls.Wait()
		p.trunks.wait() // un-REGISTER sent before the SIP stack closes
		p.regw.Close()  // pending registrations reach the database before it closes
		p.tasks.close() // callbacks, MWI, relays: done before the store closes
		p.auth.Close()
	})
	if err != nil {
		return fmt.Errorf("pbx: shutdown: calls still running: %w", err)
	}
	return nil
}

// AgentStatus returns an agent's current status.
func (p *PBX) AgentStatus(firm, agent string) callinfo.Status {
	return p.presence.get(firm, agent)
}

// ErrUnknownAgent is returned for an agent id the dialplan does not know.
var ErrUnknownAgent = errors.New("unknown agent")

// SetAgentStatus changes and persists (fsync) an agent's status.
func (p *PBX) SetAgentStatus(firm, agent string, status callinfo.Status) error {
	if !status.Valid() {
		return fmt.Errorf("invalid status %q (want online, away or offline)", status)
	}
	f := p.cfg.Load().Firm(firm)
	if f == nil || f.Agent(agent) == nil {
		return fmt.Errorf("%w: %s", ErrUnknownAgent, agent)
	}
	if err := p.store.SetAgentStatus(firm, agent, status); err != nil {
		return fmt.Errorf("pbx: save status: %w", err)
	}
	p.presence.set(firm, agent, status)
	p.log.Info("agent status", "firm", firm, "agent", agent, "status", status)
	p.events.Publish(Event{Name: "status", Firm: firm, Agents: []string{agent},
		Data: StatusEvent{Agent: agent, Firm: firm, Status: status}})
	p.wall.touchAgents(firm, agent)
	p.ctl.agentMaybeFree(firm, agent)
	return nil
}

// adjustBusy changes an agent's call count; notify wakes queues and automatic
// callbacks when it drops.
func (k *control) adjustBusy(firm, agent string, delta int, notify bool) {
	p := k.p
	if agent == "" {
		return
	}
	p.presence.adjust(firm, agent, delta)
	p.wall.touchAgents(firm, agent)
	if delta < 0 && notify {
		k.agentMaybeFree(firm, agent)
	}
}

// AgentIdle reports whether an agent is online and in no call.
func (p *PBX) AgentIdle(firm, agent string) bool {
	return p.presence.idle(firm, agent)
}

// agentMaybeFree wakes the queues of an agent's teams and the callback dialer:
// the agent may have become available.
func (k *control) agentMaybeFree(firm, agent string) {
	p := k.p
	f := p.cfg.Load().Firm(firm)
	if f == nil {
		return
	}
	for _, t := range f.TeamsOf(agent) {
		p.queues.get(firm, t.ID).broadcast()
	}
	p.dialer.poke(firm, agent)
}
