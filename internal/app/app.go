// Package app wires a running Switchboard out of its parts (store, SIP server, RTP
// pool, PBX, HTTP API) and takes it apart again. cmd/switchboard calls it for
// `serve`; end-to-end tests call it to run a real server in-process on loopback ports
// the OS picks. It holds no call logic.
package app

import (
	"context"
	"crypto/rand"
	"crypto/tls"
	"encoding/hex"
	"errors"
	"fmt"
	"log"
	"log/slog"
	"net"
	"net/http"
	"net/netip"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"switchboard/api"
	"switchboard/dialplan"
	"switchboard/internal/limit"
	"switchboard/mailer"
	"switchboard/pbx"
	"switchboard/rtp"
	"switchboard/sip"
	"switchboard/sounds"
	"switchboard/store"
)

// Options adjust a start beyond the config file.
type Options struct {
	// DataDir overrides the config's data_dir.
	DataDir string
	Logger  *slog.Logger
	// Token is the admin API token; empty: SWITCHBOARD_TOKEN, else the one stored in
	// data_dir (generated on first start).
	Token string
	// TrunkBackoff is the first retry delay of a failed trunk registration (tests
	// shorten it; default 2 s).
	TrunkBackoff time.Duration
	// MailRetryDelays are the waits between voicemail mail attempts (nil:
	// mailer.DefaultRetryDelays, 30 s then 2 min).
	MailRetryDelays []time.Duration
	// RecordingSweep is how often expired recordings are removed (tests
	// shorten it; default 10 minutes).
	RecordingSweep time.Duration
}

// mailCloseTimeout bounds how long Stop keeps delivering queued voicemail
// mails: an unreachable mail server must not hold the shutdown for long.
const mailCloseTimeout = 15 * time.Second

// App is a running Switchboard.
type App struct {
	Config   *dialplan.Config
	Store    *store.Store
	SIP      *sip.Server
	Pool     *rtp.Pool
	PBX      *pbx.PBX
	API      *api.Server
	HTTPAddr string
	// HTTPSAddr is the bound listen.https address, if any.
	HTTPSAddr string
	Token     string
	DataDir   string

	log     *slog.Logger
	opts    Options
	mailMu  sync.Mutex
	mailer  *mailer.Mailer // nil until smtp: is configured
	httpSrv *http.Server
	cancel  context.CancelFunc
	stopped atomic.Bool
	httpWG  sync.WaitGroup // the HTTP and HTTPS serve loops
	certs   *certs         // the TLS certificate, reloaded by ReloadCerts
	// Conns is the connection budget the SIP stream listeners and HTTP share.
	Conns   *limit.Conns
	httpErr atomic.Pointer[error] // why the HTTP server stopped serving, if it did
}

// Start opens the store, binds SIP, RTP and HTTP, and starts taking calls.
func Start(ctx context.Context, cfg *dialplan.Config, o Options) (*App, error) {
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
	dataDir := cfg.DataDir
	if o.DataDir != "" {
		dataDir = o.DataDir
	}
	// Stored paths (voicemail files) stay valid whatever the working directory of a
	// later start.
	if abs, err := filepath.Abs(dataDir); err == nil {
		dataDir = abs
	}
	if err := os.MkdirAll(dataDir, 0o750); err != nil {
		return nil, fmt.Errorf("data dir: %w", err)
	}
	a := &App{Config: cfg, DataDir: dataDir, log: o.Logger, opts: o}
	// The SIP stack lives until Stop, not until the caller's context ends: Stop must
	// still send the BYEs of the calls it hangs up.
	ctx, a.cancel = context.WithCancel(context.WithoutCancel(ctx))
	ok := false
	defer func() {
		if !ok {
			if a.httpSrv != nil { // HTTP was up when HTTPS failed to bind
				a.httpSrv.Close()
				a.httpWG.Wait()
			}
			a.cancel()
			a.closeParts()
		}
	}()

	st, err := store.Open(filepath.Join(dataDir, "switchboard.db"))
	if err != nil {
		return nil, err
	}
	a.Store = st

	var tlsConf *tls.Config
	if cfg.Listen.TLSCert != "" {
		c, err := loadCerts(cfg.Listen.TLSCert, cfg.Listen.TLSKey)
		if err != nil {
			return nil, err
		}
		a.certs = c
		tlsConf = c.config()
	}
	maxConns := cfg.Limits.MaxConnections
	if maxConns == 0 {
		maxConns = limit.DefaultMaxConns()
	}
	a.Conns = limit.NewConns(maxConns, cfg.Limits.MaxConnectionsPerIP)
	var pbxRef atomic.Pointer[pbx.PBX]
	srv, err := sip.New(sip.Config{
		Listen: cfg.Listen.SIP, PublicIP: cfg.Listen.PublicIP, TLS: tlsConf, Logger: o.Logger,
		Conns: a.Conns, IdleTimeout: cfg.Limits.SIPIdleTimeout,
		Drop: func(ip netip.Addr) bool {
			p := pbxRef.Load()
			return p != nil && p.Banned(ip)
		},
		Malformed: func(ip netip.Addr) {
			if p := pbxRef.Load(); p != nil {
				p.Malformed(ip)
			}
		},
	})
	if err != nil {
		return nil, err
	}
	a.SIP = srv
	if err := srv.Listen(ctx); err != nil {
		srv.Close()
		return nil, err
	}

	bindIP, mediaIP, err := mediaAddrs(cfg)
	if err != nil {
		return nil, err
	}
	pool, err := rtp.NewPool(bindIP, cfg.Listen.RTPMin, cfg.Listen.RTPMax)
	if err != nil {
		return nil, fmt.Errorf("rtp ports: %w", err)
	}
	a.Pool = pool

	secret := make([]byte, 32)
	rand.Read(secret)
	p, err := pbx.New(pbx.Deps{
		Config: cfg, Store: st, SIP: srv, Pool: pool, Logger: o.Logger,
		Sounds: sounds.New(cfg.SoundsDir), MediaIP: mediaIP, DataDir: dataDir, AuthSecret: secret,
		TrunkBackoff: o.TrunkBackoff, Mailer: a.startMailer(cfg), RecordingSweep: o.RecordingSweep,
	})
	if err != nil {
		return nil, err
	}
	a.PBX = p
	pbxRef.Store(p)
	p.Start()

	token, err := adminToken(st, o.Token)
	if err != nil {
		return nil, err
	}
	a.Token = token
	if err := writeTokenFile(dataDir, token); err != nil {
		return nil, err
	}
	if cfg.Listen.HTTP != "" || cfg.Listen.HTTPS != "" {
		a.API = api.New(api.Deps{PBX: p, Store: st, Token: token, Logger: o.Logger, Health: a.Health,
			TrustedProxies: cfg.Listen.TrustedProxies})
		a.httpSrv = newHTTPServer(a.API, cfg.Limits, o.Logger)
		// One server for both: the same API, and Shutdown closes both listeners.
		for _, ln := range []struct {
			name, addr string
			tls        *tls.Config
			bound      *string
		}{{"http", cfg.Listen.HTTP, nil, &a.HTTPAddr}, {"https", cfg.Listen.HTTPS, tlsConf, &a.HTTPSAddr}} {
			if ln.addr == "" {
				continue
			}
			tl, err := net.Listen("tcp", ln.addr)
			if err != nil {
				return nil, fmt.Errorf("%s listen %s: %w", ln.name, ln.addr, err)
			}
			*ln.bound = tl.Addr().String()
			var l net.Listener = limit.NewListener(tl, limit.ListenerConfig{Name: ln.name, Conns: a.Conns, Logger: o.Logger})
			if ln.tls != nil {
				l = tls.NewListener(l, ln.tls)
			}
			name := ln.name
			a.httpWG.Add(1)
			go func() {
				defer a.httpWG.Done()
				err := a.httpSrv.Serve(l)
				if errors.Is(err, http.ErrServerClosed) || a.stopped.Load() {
					return
				}
				err = fmt.Errorf("%s server stopped: %w", name, err)
				a.httpErr.Store(&err)
				o.Logger.Error(name+" server stopped", "err", err)
			}()
		}
	}
	ok = true
	return a, nil
}

// maxHeaderBytes caps the request line and headers of an HTTP request: the API's
// requests carry a cookie or a token and little else.
const maxHeaderBytes = 16 << 10

// newHTTPServer sets the timeouts that keep idle, slow and unfinished requests
// from holding connections: headers within min(10 s, read timeout), the whole
// request within the read timeout, the answer within twice that (event streams
// and downloads move their own deadlines), keep-alive idle for the idle timeout.
func newHTTPServer(h http.Handler, l dialplan.Limits, logger *slog.Logger) *http.Server {
	return &http.Server{
		ErrorLog:          log.New(&throttledLog{log: logger}, "", 0),
		Handler:           h,
		ReadHeaderTimeout: min(10*time.Second, l.HTTPReadTimeout),
		ReadTimeout:       l.HTTPReadTimeout,
		WriteTimeout:      2 * l.HTTPReadTimeout,
		IdleTimeout:       l.HTTPIdleTimeout,
		MaxHeaderBytes:    maxHeaderBytes,
	}
}

// Health returns why the server cannot take traffic: a SIP or HTTP listener that
// stopped serving. nil when all serve.
func (a *App) Health() error {
	var errs []error
	if a.SIP != nil {
		errs = append(errs, a.SIP.Err())
	}
	if p := a.httpErr.Load(); p != nil {
		errs = append(errs, *p)
	}
	return errors.Join(errs...)
}

// mediaAddrs picks the address RTP binds to and the one written into SDP: the first
// SIP listener's IP, with listen.public_ip for SDP behind NAT (invalid: let the PBX
// use the SIP server's host).
func mediaAddrs(cfg *dialplan.Config) (bind, advertise netip.Addr, err error) {
	bind = netip.MustParseAddr("127.0.0.1")
	if len(cfg.Listen.SIP) > 0 {
		if u, perr := url.Parse(cfg.Listen.SIP[0]); perr == nil {
			if ip, perr := netip.ParseAddr(u.Hostname()); perr == nil {
				bind = ip
			}
		}
	}
	advertise = bind
	if cfg.Listen.PublicIP != "" {
		advertise, err = netip.ParseAddr(cfg.Listen.PublicIP)
		if err != nil {
			return bind, advertise, fmt.Errorf("listen.public_ip %q: %w", cfg.Listen.PublicIP, err)
		}
	} else if bind.IsUnspecified() {
		// The PBX then writes the SIP server's advertised host (the address that
		// routes outward) into SDP.
		advertise = netip.Addr{}
	}
	return bind, advertise, nil
}

// adminToken returns the admin token: given, from SWITCHBOARD_TOKEN, or stored in
// the database (generated once).
func adminToken(st *store.Store, given string) (string, error) {
	if given != "" {
		return given, nil
	}
	if t := os.Getenv("SWITCHBOARD_TOKEN"); t != "" {
		return t, nil
	}
	t, err := st.GetSetting("admin_token")
	if err == nil && t != "" {
		return t, nil
	}
	if err != nil && !errors.Is(err, store.ErrNotFound) {
		return "", fmt.Errorf("admin token: %w", err)
	}
	b := make([]byte, 24)
	rand.Read(b)
	t = hex.EncodeToString(b)
	if err := st.PutSetting("admin_token", t); err != nil {
		return "", fmt.Errorf("admin token: %w", err)
	}
	return t, nil
}

// Reload swaps in a new dialplan. A reload that configures smtp: for the
// first time starts the mailer; the smtp: settings themselves are read for
// each new message, so a changed block applies to the next one.
func (a *App) Reload(cfg *dialplan.Config) {
	a.Config = cfg
	if m := a.startMailer(cfg); m != nil {
		a.PBX.SetMailer(m)
	}
	a.PBX.Reload(cfg)
}

// startMailer returns the voicemail mailer, starting it when cfg configures
// smtp: and none runs yet; nil when mail is off and never was on.
func (a *App) startMailer(cfg *dialplan.Config) *mailer.Mailer {
	a.mailMu.Lock()
	defer a.mailMu.Unlock()
	if a.mailer == nil && cfg.SMTP.Enabled() && !a.stopped.Load() {
		a.mailer = mailer.New(mailer.Options{Logger: a.log, RetryDelays: a.opts.MailRetryDelays})
		a.log.Info("voicemail to email on", "smtp", cfg.SMTP.Addr, "tls", cfg.SMTP.TLS)
	}
	return a.mailer
}

// stopMailer delivers what the mailer still holds, within ctx and
// mailCloseTimeout; undelivered mails are logged one by one by the mailer.
func (a *App) stopMailer(ctx context.Context) {
	a.mailMu.Lock()
	m := a.mailer
	a.mailMu.Unlock()
	if m == nil {
		return
	}
	ctx, cancel := context.WithTimeout(ctx, mailCloseTimeout)
	defer cancel()
	if err := m.Close(ctx); err != nil {
		a.log.Error("voicemail mails left undelivered at shutdown", "err", err)
	}
}

// SIPAddr is the address phones send to (the first listener).
func (a *App) SIPAddr() string {
	ls := a.SIP.Listeners()
	if len(ls) == 0 {
		return ""
	}
	return ls[0].Addr.String()
}

// Drain stops taking new calls and lets those in progress finish until ctx
// ends (shutdown_timeout); Stop then hangs up the rest with BYE.
func (a *App) Drain(ctx context.Context) error {
	if a.PBX == nil {
		return nil
	}
	return a.PBX.Drain(ctx)
}

// Stop shuts down gracefully: no new calls, calls in progress hung up cleanly and
// logged, then listeners and the database closed.
func (a *App) Stop(ctx context.Context) error {
	if a.stopped.Swap(true) {
		return nil
	}
	var errs []error
	if a.PBX != nil {
		if err := a.PBX.Shutdown(ctx); err != nil {
			errs = append(errs, err)
		}
	}
	// After the calls: a voicemail saved as its call ended is queued by now.
	a.stopMailer(ctx)
	if a.httpSrv != nil {
		a.API.Close() // event streams never go idle: Shutdown would wait for them in vain
		sctx, cancel := context.WithTimeout(ctx, 5*time.Second)
		a.httpSrv.Shutdown(sctx)
		cancel()
		a.httpWG.Wait()
	}
	a.cancel()
	if err := a.closeParts(); err != nil {
		errs = append(errs, err)
	}
	return errors.Join(errs...)
}

func (a *App) closeParts() error {
	var errs []error
	a.stopMailer(context.Background()) // a failed Start: nothing was queued
	if a.SIP != nil {
		a.SIP.Close()
	}
	if a.Pool != nil {
		a.Pool.Close()
	}
	if a.Store != nil {
		if err := a.Store.Close(); err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

// ReloadCerts loads listen.tls_cert and tls_key again (SIGHUP): new TLS, WSS and
// HTTPS handshakes get the new certificate. A file that does not load leaves the
// old one in use. It returns the certificate file ("" without TLS); the files
// are those of the start: a reload that names others needs a restart.
func (a *App) ReloadCerts() (string, error) {
	if a.certs == nil {
		return "", nil
	}
	return a.certs.file(), a.certs.reload()
}

// throttledLog takes net/http's error log (failed TLS handshakes, broken
// requests): any client can cause a line per connection, so at most
// httpLogBurst lines per httpLogEvery reach the log, and a count of the rest.
type throttledLog struct {
	log     *slog.Logger
	mu      sync.Mutex
	since   time.Time
	n       int
	dropped int
}

const (
	httpLogBurst = 5
	httpLogEvery = 10 * time.Second
)

func (w *throttledLog) Write(b []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	now := time.Now()
	if now.Sub(w.since) >= httpLogEvery {
		if w.dropped > 0 {
			w.log.Warn("http server errors suppressed", "count", w.dropped, "within", httpLogEvery)
		}
		w.since, w.n, w.dropped = now, 0, 0
	}
	if w.n >= httpLogBurst {
		w.dropped++
		return len(b), nil
	}
	w.n++
	msg := strings.TrimSpace(string(b))
	if len(msg) > 200 {
		msg = msg[:200] + "..."
	}
	w.log.Warn("http server", "err", strconv.Quote(msg))
	return len(b), nil
}
