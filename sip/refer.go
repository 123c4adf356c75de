package sip

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"time"

	gosip "github.com/emiago/sipgo/sip"
)

// This file is call transfer inside a dialog: REFER (RFC 3515) received on one of
// our legs, the implicit "refer" subscription it creates, and the NOTIFYs with
// message/sipfrag bodies that report the transfer's progress to the transferor.
// Whether and where to transfer is pbx's decision (ReferHandler).

// Refer is a REFER received inside a dialog (RFC 3515).
type Refer struct {
	Target     Uri       // Refer-To URI without its ?headers
	Replaces   *Replaces // from Refer-To's ?Replaces=..., nil when absent
	ReferredBy string    // Referred-By value, "" when absent

	ls     *legState
	send   func(ctx context.Context, req *gosip.Request) (*gosip.Response, error)
	remote gosip.Uri // the transferor's Contact: where the NOTIFYs go
	noSub  bool      // Refer-Sub: false (RFC 4488): no NOTIFY at all

	// begun is closed once the REFER has its answer and, when accepted, the first
	// NOTIFY has gone out: later NOTIFYs must not overtake either.
	begun    chan struct{}
	accepted bool // set before begun closes

	mu    sync.Mutex // one NOTIFY at a time, in order
	final bool
}

// ReferHandler decides on a REFER received in a dialog; its code is the answer
// (202 accepts). It runs on the REFER's own goroutine and must not call r.Notify
// itself before returning (Notify waits for the answer this handler gives): start
// the transfer elsewhere and report from there.
type ReferHandler func(r *Refer) (code int, reason string)

// OnRefer sets the handler for REFER inside this leg's dialog. A leg without one
// declines every REFER (603).
func (l *legState) OnRefer(h ReferHandler) { l.onRefer.Store(&h) }

// ErrReferNotAccepted is returned by Notify for a REFER that was not answered 2xx.
var ErrReferNotAccepted = errors.New("sip: REFER was not accepted")

// referNotifyTimeout bounds the first NOTIFY, which the REFER's goroutine sends
// itself; 10 s is well past any answer from a live phone.
const referNotifyTimeout = 10 * time.Second

// Notify sends NOTIFY Event: refer, Content-Type: message/sipfrag;version=2.0, body
// "SIP/2.0 <code> <reason>\r\n"; code >= 200 ends the subscription (Subscription-State:
// terminated;reason=noresource) and later calls are no-ops. Safe from any goroutine.
// No-op when the REFER said Refer-Sub: false.
func (r *Refer) Notify(ctx context.Context, code int, reason string) error {
	select {
	case <-r.begun:
	case <-ctx.Done():
		return fmt.Errorf("sip: NOTIFY %d: %w", code, ctx.Err())
	}
	if !r.accepted {
		return ErrReferNotAccepted
	}
	if r.noSub {
		return nil
	}
	return r.notify(ctx, code, reason)
}

func (r *Refer) notify(ctx context.Context, code int, reason string) error {
	if code < 100 || code > 699 {
		return fmt.Errorf("sip: NOTIFY: status %d out of range", code)
	}
	reason = sanitize(reason)
	if reason == "" {
		// baresip, for one, refuses a sipfrag without a reason phrase.
		reason = "Unknown"
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.final {
		return nil
	}
	select {
	case <-r.ls.done:
		r.final = true
		return fmt.Errorf("sip: NOTIFY %d: call ended", code)
	default:
	}
	state := "active;expires=60"
	if code >= 200 {
		state = "terminated;reason=noresource"
		// Set before sending: a failed final NOTIFY ends the subscription all
		// the same, and a retry would report a state the peer never agreed to.
		r.final = true
	}
	req := gosip.NewRequest(gosip.NOTIFY, *r.remote.Clone())
	req.AppendHeader(gosip.NewHeader("Event", "refer"))
	req.AppendHeader(gosip.NewHeader("Subscription-State", state))
	req.AppendHeader(gosip.NewHeader("Content-Type", "message/sipfrag;version=2.0"))
	req.AppendHeader(gosip.HeaderClone(r.ls.contact))
	req.SetBody([]byte("SIP/2.0 " + strconv.Itoa(code) + " " + reason + "\r\n"))
	res, err := r.send(ctx, req)
	if err != nil {
		return fmt.Errorf("sip: NOTIFY %d: %w", code, err)
	}
	if !res.IsSuccess() {
		if res.StatusCode == 481 {
			// The transferor dropped the subscription (or the call): nothing
			// more can be reported.
			r.final = true
		}
		return fmt.Errorf("sip: NOTIFY %d: %w", code, &StatusError{Code: res.StatusCode, Reason: res.Reason})
	}
	return nil
}

// handleRefer answers a REFER. One without a To tag is outside any dialog and goes
// to the method table (405 unless pbx set a handler).
func (s *Server) handleRefer(req *gosip.Request, tx gosip.ServerTransaction) {
	if !req.To().Params.Has("tag") {
		s.dispatch(req, tx)
		return
	}
	s.count(req)
	in, out := s.findLeg(req)
	r := &Refer{begun: make(chan struct{})}
	switch {
	case in != nil:
		if !in.Answered() {
			// An early dialog has no 200 of ours yet, which in-dialog requests
			// such as our NOTIFYs are built from.
			s.respond(tx, req, 403, "Call Not Answered")
			return
		}
		r.ls = &in.legState
		r.remote = in.req.Contact().Address
		r.send = func(ctx context.Context, req *gosip.Request) (*gosip.Response, error) {
			in.answeredSync()
			return in.d.Do(ctx, req)
		}
	case out != nil:
		c := out.d.InviteResponse.Contact()
		if c == nil {
			s.respond(tx, req, 400, "No Contact In Dialog")
			return
		}
		r.ls = &out.legState
		r.remote = c.Address
		r.send = out.d.Do
	default:
		s.respond(tx, req, 481, "Call/Transaction Does Not Exist")
		return
	}
	hs := req.GetHeaders("refer-to")
	if len(hs) != 1 {
		s.respond(tx, req, 400, "Exactly One Refer-To Required")
		return
	}
	target, rep, err := parseReferTo(hs[0].Value())
	if err != nil {
		s.log.Debug("sip: bad Refer-To", "value", hs[0].Value(), "err", err)
		s.respond(tx, req, 400, "Bad Refer-To")
		return
	}
	r.Target, r.Replaces = target, rep
	if h := req.GetHeader("referred-by"); h != nil {
		r.ReferredBy = h.Value()
	}
	if h := req.GetHeader("refer-sub"); h != nil {
		v, _, _ := strings.Cut(h.Value(), ";")
		r.noSub = strings.EqualFold(strings.TrimSpace(v), "false")
	}
	h := r.ls.onRefer.Load()
	if h == nil {
		s.respond(tx, req, 603, "Decline")
		return
	}
	// Whatever happens below, Notify callers waiting for the answer go on.
	defer close(r.begun)
	code, reason := (*h)(r)
	if code < 200 || code > 699 {
		s.log.Error("sip: REFER handler gave no final status", "code", code)
		code, reason = 500, "Server Internal Error"
	}
	if reason == "" {
		reason = "Accepted"
		if code >= 300 {
			reason = "Rejected"
		}
	}
	res := gosip.NewResponseFromRequest(req, code, sanitize(reason), nil)
	if code < 300 {
		res.AppendHeader(gosip.HeaderClone(r.ls.contact))
		if r.noSub {
			res.AppendHeader(gosip.NewHeader("Refer-Sub", "false"))
		}
	}
	if err := tx.Respond(res); err != nil {
		s.log.Debug("sip: answer REFER", "err", err)
		return
	}
	if code >= 300 {
		return
	}
	r.accepted = true
	if r.noSub {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), referNotifyTimeout)
	defer cancel()
	if err := r.notify(ctx, 100, "Trying"); err != nil {
		s.log.Debug("sip: first NOTIFY of a REFER", "err", err)
	}
}

// parseReferTo reads a Refer-To value: the target URI, without its ?headers, and the
// Replaces its headers carry (attended transfer), URL-unescaped. Display name and
// angle brackets are optional; without brackets, ";" starts header parameters, not
// URI parameters (RFC 3261 section 20).
func parseReferTo(v string) (Uri, *Replaces, error) {
	v = strings.TrimSpace(v)
	var uri string
	if i := strings.IndexByte(v, '<'); i >= 0 {
		j := strings.IndexByte(v[i:], '>')
		if j < 0 {
			return Uri{}, nil, fmt.Errorf("sip: Refer-To %q: no closing '>'", v)
		}
		uri = v[i+1 : i+j]
	} else {
		uri, _, _ = strings.Cut(v, ";")
	}
	uri = strings.TrimSpace(uri)
	base, headers, _ := strings.Cut(uri, "?")
	if base == "" {
		return Uri{}, nil, fmt.Errorf("sip: Refer-To %q: empty URI", v)
	}
	var target Uri
	if err := gosip.ParseUri(base, &target); err != nil {
		return Uri{}, nil, fmt.Errorf("sip: Refer-To %q: %w", v, err)
	}
	target.Headers = nil
	var rep *Replaces
	for _, kv := range strings.Split(headers, "&") {
		name, value, _ := strings.Cut(kv, "=")
		if !strings.EqualFold(strings.TrimSpace(name), "replaces") {
			continue
		}
		if rep != nil {
			return Uri{}, nil, fmt.Errorf("sip: Refer-To %q: Replaces given twice", v)
		}
		// PathUnescape, not QueryUnescape: a "+" in a Call-ID is a plus.
		raw, err := url.PathUnescape(value)
		if err != nil {
			return Uri{}, nil, fmt.Errorf("sip: Refer-To %q: %w", v, err)
		}
		r, err := ParseReplaces(raw)
		if err != nil {
			return Uri{}, nil, fmt.Errorf("sip: Refer-To %q: %w", v, err)
		}
		rep = &r
	}
	return target, rep, nil
}

// escapeURIHeader escapes what may not stand in a URI header value (RFC 3261
// hvalue: unreserved and a few marks); "@" becomes %40 too, as phones write it.
func escapeURIHeader(s string) string {
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		c := s[i]
		if isAlnum(c) || strings.IndexByte("-_.!~*'()[]/?:+$", c) >= 0 {
			b.WriteByte(c)
			continue
		}
		fmt.Fprintf(&b, "%%%02X", c)
	}
	return b.String()
}
