// Package registrar keeps the SIP location service: which contacts each firm's user
// has registered, until when, and from where (RFC 3261 section 10.3).
//
// It owns the binding table and the REGISTER answer. Authentication happens before
// (the server passes the authenticated firm and user); durable storage happens behind
// the Persister interface.
package registrar

import (
	"cmp"
	"log/slog"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"
)

// MaxContactsPerUser bounds the bindings of one user: every binding is rung on an
// incoming call, so an unbounded list would let one account make the PBX fork at will.
const MaxContactsPerUser = 10

// Binding is one registered contact of a user.
type Binding struct {
	Firm, User string
	// Contact is the Contact URI exactly as registered (without header parameters).
	// Route to it as is: a phone's user part is not necessarily the extension.
	Contact string
	// Source is the ip:port the REGISTER came from (where NATed phones are reachable).
	Source string
	// Transport is UDP, TCP, TLS, WS or WSS.
	Transport string
	Expires   time.Time
	CallID    string
	CSeq      uint32
	UserAgent string
	// Instance is the Contact's +sip.instance parameter (RFC 5626), quotes removed.
	Instance string
}

// Persister stores bindings so that they survive a restart. Calls for one user are
// serialised; calls for different users may run concurrently.
type Persister interface {
	SaveBinding(Binding) error
	DeleteBinding(firm, user, contact string) error
}

// Config tunes a Registrar. The zero value gives the defaults.
type Config struct {
	// MinExpires is the shortest registration accepted; shorter (non-zero) ones get 423. Default 60s.
	MinExpires time.Duration
	// MaxExpires caps the registration time granted. Default 3600s.
	MaxExpires time.Duration
	// DefaultExpires applies when the REGISTER carries no expiry at all. Default 3600s.
	DefaultExpires time.Duration
	// Now is the clock; default time.Now.
	Now func() time.Time
	// Logger receives persistence errors that have no SIP request to fail; default slog.Default().
	Logger *slog.Logger
	// Connected, when set, reports whether the connection a WS or WSS binding came
	// over (its Transport and Source) is still open. A WebSocket phone (a browser)
	// listens nowhere: once its connection closes nothing reaches that binding
	// again, and a reloaded page registers a new contact on a new connection. Such
	// a binding counts as expired, so that the dead ones are never rung and never
	// fill the user's MaxContactsPerUser. Bindings over other transports are kept.
	Connected func(transport, source string) bool
}

type userKey struct{ firm, user string }

// userEntry holds one user's bindings. Its lock serialises that user's REGISTERs,
// including the Persister calls, without blocking other users.
type userEntry struct {
	mu       sync.Mutex
	bindings []Binding // registration order
	dead     bool      // removed from the map; whoever holds a stale pointer must look again
}

// Registrar is the binding table. It is safe for concurrent use.
type Registrar struct {
	cfg Config
	p   Persister

	mu    sync.RWMutex
	users map[userKey]*userEntry

	listenMu  sync.RWMutex
	listeners []func(firm, user string)
}

// New returns an empty Registrar. p may be nil when nothing is persisted.
func New(cfg Config, p Persister) *Registrar {
	if cfg.MinExpires <= 0 {
		cfg.MinExpires = 60 * time.Second
	}
	if cfg.MaxExpires <= 0 {
		cfg.MaxExpires = 3600 * time.Second
	}
	if cfg.MaxExpires < cfg.MinExpires {
		cfg.MaxExpires = cfg.MinExpires
	}
	if cfg.DefaultExpires <= 0 {
		cfg.DefaultExpires = 3600 * time.Second
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	return &Registrar{cfg: cfg, p: p, users: make(map[userKey]*userEntry)}
}

// OnChange registers fn to be called, outside any lock, after a user's bindings change:
// a contact added or removed (also by expiry), or moved to another source address or
// transport. Plain refreshes do not count.
func (r *Registrar) OnChange(fn func(firm, user string)) {
	r.listenMu.Lock()
	defer r.listenMu.Unlock()
	r.listeners = append(r.listeners, fn)
}

func (r *Registrar) notify(k userKey) {
	r.listenMu.RLock()
	ls := slices.Clone(r.listeners)
	r.listenMu.RUnlock()
	for _, fn := range ls {
		fn(k.firm, k.user)
	}
}

// lockEntry returns the locked, live entry for k, creating it when create is true
// (else it may return nil).
func (r *Registrar) lockEntry(k userKey, create bool) *userEntry {
	for {
		r.mu.RLock()
		e := r.users[k]
		r.mu.RUnlock()
		if e == nil {
			if !create {
				return nil
			}
			r.mu.Lock()
			if e = r.users[k]; e == nil {
				e = &userEntry{}
				r.users[k] = e
			}
			r.mu.Unlock()
		}
		e.mu.Lock()
		if !e.dead {
			return e
		}
		e.mu.Unlock()
	}
}

// dropIfEmptyLocked removes e from the map when it holds no binding. e.mu must be held.
func (r *Registrar) dropIfEmptyLocked(k userKey, e *userEntry) {
	if len(e.bindings) > 0 {
		return
	}
	e.dead = true
	r.mu.Lock()
	if r.users[k] == e {
		delete(r.users, k)
	}
	r.mu.Unlock()
}

// Load fills the table at start-up, typically from the store. Expired bindings are
// dropped; for a repeated firm/user/contact the last one wins. It returns how many were
// kept. The Persister is not called.
func (r *Registrar) Load(bs []Binding) int {
	now := r.cfg.Now()
	kept := 0
	for _, b := range bs {
		if b.Contact == "" || !b.Expires.After(now) {
			continue
		}
		k := userKey{b.Firm, b.User}
		e := r.lockEntry(k, true)
		if i := indexContact(e.bindings, b.Contact); i >= 0 {
			e.bindings[i] = b
		} else {
			e.bindings = append(e.bindings, b)
			kept++
		}
		e.mu.Unlock()
	}
	return kept
}

func indexContact(bs []Binding, contact string) int {
	return slices.IndexFunc(bs, func(b Binding) bool { return b.Contact == contact })
}

// Contacts returns firm/user's live bindings (unexpired, and for WS and WSS still
// connected) in registration order.
func (r *Registrar) Contacts(firm, user string) []Binding {
	e := r.lockEntry(userKey{firm, user}, false)
	if e == nil {
		return nil
	}
	defer e.mu.Unlock()
	now := r.cfg.Now()
	var out []Binding
	for _, b := range e.bindings {
		if r.live(b, now) {
			out = append(out, b)
		}
	}
	return out
}

// live reports whether b can still be reached: not expired, and, when it came over
// a WebSocket, its connection still open (see Config.Connected).
func (r *Registrar) live(b Binding, now time.Time) bool {
	if !b.Expires.After(now) {
		return false
	}
	if r.cfg.Connected == nil || (b.Transport != "WS" && b.Transport != "WSS") {
		return true
	}
	return r.cfg.Connected(b.Transport, b.Source)
}

func (r *Registrar) entries() []userKey {
	r.mu.RLock()
	defer r.mu.RUnlock()
	keys := make([]userKey, 0, len(r.users))
	for k := range r.users {
		keys = append(keys, k)
	}
	slices.SortFunc(keys, func(a, b userKey) int {
		return cmp.Or(cmp.Compare(a.firm, b.firm), cmp.Compare(a.user, b.user))
	})
	return keys
}

// All returns every live binding, ordered by firm, user, then registration order.
func (r *Registrar) All() []Binding {
	var out []Binding
	for _, k := range r.entries() {
		out = append(out, r.Contacts(k.firm, k.user)...)
	}
	return out
}

// Count returns the number of live bindings.
func (r *Registrar) Count() int {
	now := r.cfg.Now()
	r.mu.RLock()
	es := make([]*userEntry, 0, len(r.users))
	for _, e := range r.users {
		es = append(es, e)
	}
	r.mu.RUnlock()
	n := 0
	for _, e := range es {
		e.mu.Lock()
		for _, b := range e.bindings {
			if r.live(b, now) {
				n++
			}
		}
		e.mu.Unlock()
	}
	return n
}

// Expire drops expired bindings and WebSocket bindings whose connection closed,
// deletes them from the Persister (errors are logged: Load drops the expired ones
// anyway, the next REGISTER or Expire the others), notifies OnChange listeners, and
// returns how many it dropped. The server calls it periodically.
func (r *Registrar) Expire() int {
	now := r.cfg.Now()
	dropped := 0
	for _, k := range r.entries() {
		e := r.lockEntry(k, false)
		if e == nil {
			continue
		}
		kept := e.bindings[:0:0]
		n := 0
		for _, b := range e.bindings {
			if r.live(b, now) {
				kept = append(kept, b)
				continue
			}
			n++
			if r.p != nil {
				if err := r.p.DeleteBinding(b.Firm, b.User, b.Contact); err != nil {
					r.cfg.Logger.Warn("registrar: delete expired binding", "firm", b.Firm, "user", b.User, "contact", b.Contact, "err", err)
				}
			}
		}
		e.bindings = kept
		r.dropIfEmptyLocked(k, e)
		e.mu.Unlock()
		if n > 0 {
			dropped += n
			r.notify(k)
		}
	}
	return dropped
}

// seconds renders d as whole seconds, rounding up so that a live binding never shows 0.
func seconds(d time.Duration) string {
	return strconv.FormatInt(int64((d+time.Second-1)/time.Second), 10)
}

// unquote strips the quotes around a parameter value such as +sip.instance="<urn:...>".
func unquote(s string) string {
	if len(s) >= 2 && s[0] == '"' && s[len(s)-1] == '"' {
		return s[1 : len(s)-1]
	}
	return s
}

func upper(s string) string { return strings.ToUpper(s) }
