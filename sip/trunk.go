package sip

import (
	"context"
	"fmt"
	"net"
	"strconv"
	"strings"
	"sync"
	"time"

	gosip "github.com/emiago/sipgo/sip"
)

// TrunkRegistration describes how the PBX registers to a carrier.
type TrunkRegistration struct {
	ID        string
	Registrar string // the trunk URI, e.g. sip:sip.carrier.example:5060
	Username  string
	Password  string
	Expires   time.Duration // asked for; the carrier may grant less
	// MinBackoff and MaxBackoff bound the retry delay after a failure (defaults 2s
	// and 5m); it doubles on each failure.
	MinBackoff, MaxBackoff time.Duration
}

// TrunkState is what the PBX and the API show about a registering trunk.
type TrunkState struct {
	Registered  bool      `json:"registered"`
	Expires     time.Time `json:"expires,omitzero"`
	LastError   string    `json:"last_error,omitempty"`
	LastAttempt time.Time `json:"last_attempt,omitzero"`
	Failures    int       `json:"failures"`
}

// TrunkRegistrar keeps one trunk registered: REGISTER with digest, refreshed before
// the granted expiry, retried with exponential back-off while the carrier fails.
type TrunkRegistrar struct {
	s   *Server
	cfg TrunkRegistration

	mu    sync.Mutex
	state TrunkState
	done  chan struct{}
}

// RegisterTrunk starts keeping a trunk registered until ctx ends; on the way out it
// un-registers (Expires: 0) when it was registered.
func (s *Server) RegisterTrunk(ctx context.Context, cfg TrunkRegistration) *TrunkRegistrar {
	if cfg.Expires <= 0 {
		cfg.Expires = time.Hour
	}
	if cfg.MinBackoff <= 0 {
		cfg.MinBackoff = 2 * time.Second
	}
	if cfg.MaxBackoff <= 0 {
		cfg.MaxBackoff = 5 * time.Minute
	}
	r := &TrunkRegistrar{s: s, cfg: cfg, done: make(chan struct{})}
	go func() {
		defer close(r.done)
		r.loop(ctx)
	}()
	return r
}

// Done is closed when the loop has stopped (and un-registered) after its context
// ended.
func (r *TrunkRegistrar) Done() <-chan struct{} { return r.done }

// State returns the current registration state.
func (r *TrunkRegistrar) State() TrunkState {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.state
}

func (r *TrunkRegistrar) loop(ctx context.Context) {
	callID := gosip.GenerateTagN(24)
	fromTag := gosip.GenerateTagN(12)
	cseq := uint32(1)
	backoff := r.cfg.MinBackoff
	for {
		r.mu.Lock()
		want := r.cfg.Expires
		r.mu.Unlock()
		granted, err := r.register(ctx, callID, fromTag, &cseq, want)
		now := time.Now()
		r.mu.Lock()
		r.state.LastAttempt = now
		var wait time.Duration
		if err != nil {
			r.state.Registered = false
			r.state.LastError = err.Error()
			r.state.Failures++
			wait = backoff
			backoff = min(2*backoff, r.cfg.MaxBackoff)
		} else {
			r.state.Registered = true
			r.state.LastError = ""
			r.state.Expires = now.Add(granted)
			backoff = r.cfg.MinBackoff
			// Refresh at half the granted time: early enough to survive a lost
			// REGISTER and its retransmissions.
			wait = max(granted/2, 500*time.Millisecond)
		}
		r.mu.Unlock()
		if err != nil {
			r.s.log.Warn("trunk registration failed", "trunk", r.cfg.ID, "err", err, "retry_in", wait)
		} else {
			r.s.log.Debug("trunk registered", "trunk", r.cfg.ID, "expires", granted)
		}
		select {
		case <-ctx.Done():
			if r.State().Registered {
				uctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
				r.register(uctx, callID, fromTag, &cseq, 0)
				cancel()
			}
			return
		case <-time.After(wait):
		}
	}
}

// register sends one REGISTER (answering a challenge) and returns the granted expiry.
func (r *TrunkRegistrar) register(ctx context.Context, callID, fromTag string, cseq *uint32, expires time.Duration) (time.Duration, error) {
	var ruri gosip.Uri
	if err := gosip.ParseUri(r.cfg.Registrar, &ruri); err != nil {
		return 0, fmt.Errorf("trunk %s: uri: %w", r.cfg.ID, err)
	}
	aor := gosip.Uri{Scheme: "sip", User: r.cfg.Username, Host: ruri.Host, Port: ruri.Port}
	req := gosip.NewRequest(gosip.REGISTER, gosip.Uri{Scheme: "sip", Host: ruri.Host, Port: ruri.Port})
	if t, ok := ruri.UriParams.Get("transport"); ok {
		req.SetTransport(strings.ToUpper(t))
	}
	from := &gosip.FromHeader{Address: aor}
	from.Params.Add("tag", fromTag)
	req.AppendHeader(from)
	req.AppendHeader(&gosip.ToHeader{Address: aor})
	cid := gosip.CallIDHeader(callID)
	req.AppendHeader(&cid)
	*cseq++
	req.AppendHeader(&gosip.CSeqHeader{SeqNo: *cseq, MethodName: gosip.REGISTER})
	contact := &gosip.ContactHeader{Address: gosip.Uri{Scheme: "sip", User: r.cfg.Username, Host: r.s.host, Port: r.s.port}}
	if t := req.Transport(); !strings.EqualFold(t, "UDP") {
		contact.Address.UriParams = gosip.NewParams()
		contact.Address.UriParams.Add("transport", strings.ToLower(t))
	}
	req.AppendHeader(contact)
	req.AppendHeader(gosip.NewHeader("Expires", strconv.Itoa(int(expires.Seconds()))))
	req.AppendHeader(gosip.NewHeader("User-Agent", r.s.cfg.UserAgent))
	// A carrier that does not answer within a few back-off periods counts as down.
	ctx, cancel := context.WithTimeout(ctx, min(10*time.Second, 8*r.cfg.MinBackoff))
	defer cancel()
	res, err := r.s.RequestDigest(ctx, req, r.cfg.Username, r.cfg.Password)
	if cs := req.CSeq(); cs != nil && cs.SeqNo > *cseq {
		*cseq = cs.SeqNo
	}
	if err != nil {
		return 0, fmt.Errorf("REGISTER to %s: %w", r.cfg.Registrar, err)
	}
	if res.StatusCode == 423 && expires > 0 {
		// Interval Too Brief: ask again for what the carrier wants (once).
		if h := res.GetHeader("min-expires"); h != nil {
			if n, err := strconv.Atoi(strings.TrimSpace(h.Value())); err == nil && time.Duration(n)*time.Second > expires {
				r.mu.Lock()
				r.cfg.Expires = time.Duration(n) * time.Second
				r.mu.Unlock()
				return r.register(ctx, callID, fromTag, cseq, time.Duration(n)*time.Second)
			}
		}
	}
	if !res.IsSuccess() {
		return 0, fmt.Errorf("REGISTER to %s: %d %s", r.cfg.Registrar, res.StatusCode, res.Reason)
	}
	return grantedExpiry(res, expires, net.JoinHostPort(r.s.host, strconv.Itoa(r.s.port))), nil
}

// grantedExpiry reads what the registrar granted: the expires parameter of our
// Contact (the one naming ours, host:port; the registrar lists every binding of the
// account), else the Expires header, else what we asked for.
func grantedExpiry(res *gosip.Response, asked time.Duration, ours string) time.Duration {
	hdrs := res.GetHeaders("Contact")
	for _, h := range hdrs {
		if len(hdrs) > 1 && !strings.Contains(h.Value(), ours) {
			continue
		}
		if i := indexFoldASCII(h.Value(), "expires="); i >= 0 {
			v := h.Value()[i+len("expires="):]
			if j := strings.IndexAny(v, ";,> "); j >= 0 {
				v = v[:j]
			}
			if n, err := strconv.Atoi(v); err == nil && n > 0 {
				return time.Duration(n) * time.Second
			}
		}
	}
	if h := res.GetHeader("expires"); h != nil {
		if n, err := strconv.Atoi(strings.TrimSpace(h.Value())); err == nil && n > 0 {
			return time.Duration(n) * time.Second
		}
	}
	return asked
}

// indexFoldASCII is strings.Index ignoring ASCII case. The index is into s
// itself: strings.ToLower(s) can be longer than s (invalid UTF-8 becomes U+FFFD),
// and an index into it sliced s out of range (a crash a registrar's answer could
// cause; found by FuzzParseMessage).
func indexFoldASCII(s, sub string) int {
	for i := 0; i+len(sub) <= len(s); i++ {
		if strings.EqualFold(s[i:i+len(sub)], sub) {
			return i
		}
	}
	return -1
}
