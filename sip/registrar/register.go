package registrar

import (
	"errors"
	"fmt"
	"math"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/emiago/sipgo/sip"
)

// requestError is a REGISTER refused with a SIP status.
type requestError struct {
	status int
	reason string
}

func (e *requestError) Error() string { return fmt.Sprintf("%d %s", e.status, e.reason) }

func refuse(status int, reason string) error { return &requestError{status, reason} }

// contactUpdate is one Contact of a REGISTER with the expiry it asks for.
type contactUpdate struct {
	contact  string
	instance string
	expires  time.Duration // 0 removes
}

// HandleRegister answers a REGISTER from the authenticated firm/user (RFC 3261 10.3).
//
// The To user must be user (else 403). Contact: * with Expires: 0 removes every binding;
// * otherwise is 400. Each contact's expiry is its ;expires parameter, else the Expires
// header, else DefaultExpires; a non-zero expiry below MinExpires gets 423 with
// Min-Expires, one above MaxExpires is lowered to it. A request whose CSeq is not higher
// than the one stored for the same Call-ID and contact is out of order and gets 500
// without changing anything. Changes are persisted before they take effect (a Persister
// error gives 500 and changes nothing). The 200 lists all current contacts with their
// remaining ;expires. A REGISTER without Contact only fetches the list.
func (r *Registrar) HandleRegister(req *sip.Request, tx sip.ServerTransaction, firm, user string) {
	k := userKey{firm, user}
	res, changed := r.register(req, k)
	// Listeners run before the answer so that a phone that got its 200 is already routable.
	if changed {
		r.notify(k)
	}
	_ = tx.Respond(res) // a lost answer is repaired by the client's retransmission or next REGISTER
}

func (r *Registrar) register(req *sip.Request, k userKey) (*sip.Response, bool) {
	updates, wildcard, err := r.parseRegister(req, k.user)
	if err != nil {
		var re *requestError
		if !errors.As(err, &re) {
			re = &requestError{sip.StatusBadRequest, "Bad Request"}
		}
		res := sip.NewResponseFromRequest(req, re.status, re.reason, nil)
		if re.status == sip.StatusIntervalToBrief {
			res.AppendHeader(sip.NewHeader("Min-Expires", seconds(r.cfg.MinExpires)))
		}
		return res, false
	}

	now := r.cfg.Now()
	e := r.lockEntry(k, true)
	defer e.mu.Unlock()
	next, saves, deletes, changed, err := r.apply(e.bindings, req, k, updates, wildcard, now)
	if err == nil {
		err = r.persist(k, saves, deletes)
	}
	if err != nil {
		r.dropIfEmptyLocked(k, e)
		var re *requestError
		if !errors.As(err, &re) {
			r.cfg.Logger.Error("registrar: persist bindings", "firm", k.firm, "user", k.user, "err", err)
			re = &requestError{sip.StatusInternalServerError, "Server Internal Error"}
		}
		return sip.NewResponseFromRequest(req, re.status, re.reason, nil), false
	}
	e.bindings = next
	r.dropIfEmptyLocked(k, e)

	res := sip.NewResponseFromRequest(req, sip.StatusOK, "OK", nil)
	for _, b := range next {
		res.AppendHeader(sip.NewHeader("Contact", "<"+b.Contact+">;expires="+seconds(b.Expires.Sub(now))))
	}
	return res, changed
}

// parseRegister validates the request and returns the requested contact changes.
func (r *Registrar) parseRegister(req *sip.Request, user string) (updates []contactUpdate, wildcard bool, err error) {
	to := req.To()
	if to == nil || req.CallID() == nil || req.CSeq() == nil {
		return nil, false, refuse(sip.StatusBadRequest, "Missing To, Call-ID or CSeq")
	}
	if to.Address.User != user {
		return nil, false, refuse(sip.StatusForbidden, "To Does Not Match Authenticated User")
	}

	headerExpires, hasHeaderExpires := time.Duration(0), false
	if h := req.GetHeader("expires"); h != nil {
		if headerExpires, hasHeaderExpires = parseDelta(h.Value()); !hasHeaderExpires {
			return nil, false, refuse(sip.StatusBadRequest, "Bad Expires")
		}
	}

	contacts := req.GetHeaders("Contact")
	for _, h := range contacts {
		ch, ok := h.(*sip.ContactHeader)
		if !ok {
			return nil, false, refuse(sip.StatusBadRequest, "Bad Contact")
		}
		if ch.Address.Wildcard {
			wildcard = true
			continue
		}
		exp := r.cfg.DefaultExpires
		if hasHeaderExpires {
			exp = headerExpires
		}
		if v, ok := ch.Params.Get("expires"); ok {
			if exp, ok = parseDelta(v); !ok {
				return nil, false, refuse(sip.StatusBadRequest, "Bad Contact expires")
			}
		}
		if exp != 0 && exp < r.cfg.MinExpires {
			return nil, false, refuse(sip.StatusIntervalToBrief, "Interval Too Brief")
		}
		exp = min(exp, r.cfg.MaxExpires)
		inst, _ := ch.Params.Get("+sip.instance")
		updates = append(updates, contactUpdate{contact: ch.Address.String(), instance: unquote(inst), expires: exp})
	}
	if wildcard && (len(contacts) != 1 || !hasHeaderExpires || headerExpires != 0) {
		return nil, false, refuse(sip.StatusBadRequest, "Wildcard Contact Needs Expires 0 Alone")
	}
	return updates, wildcard, nil
}

// parseDelta parses a delta-seconds value; values beyond 2^32-1 mean 2^32-1 (RFC 3261 20.19).
func parseDelta(s string) (time.Duration, bool) {
	s = strings.TrimSpace(s)
	if s == "" || strings.TrimLeft(s, "0123456789") != "" {
		return 0, false
	}
	n, err := strconv.ParseUint(s, 10, 32)
	if err != nil {
		n = math.MaxUint32 // only digits, so the error is a range error
	}
	return time.Duration(n) * time.Second, true
}

// apply computes the user's new binding list without touching cur. Bindings that are
// no longer live (expired, or a WebSocket whose connection closed) are dropped, and
// deleted from the Persister, on the way: a browser that reloads registers a new
// contact each time, and its dead ones must not count against MaxContactsPerUser.
func (r *Registrar) apply(cur []Binding, req *sip.Request, k userKey, updates []contactUpdate, wildcard bool, now time.Time) (next, saves []Binding, deletes []string, changed bool, err error) {
	callID := req.CallID().Value()
	cseq := req.CSeq().SeqNo
	outOfOrder := func(b Binding) bool { return b.CallID == callID && cseq <= b.CSeq }

	for _, b := range cur {
		if r.live(b, now) {
			next = append(next, b)
		} else {
			deletes = append(deletes, b.Contact)
			changed = true
		}
	}
	if wildcard {
		for _, b := range next {
			if outOfOrder(b) {
				return nil, nil, nil, false, refuse(sip.StatusInternalServerError, "Out Of Order CSeq")
			}
			deletes = append(deletes, b.Contact)
		}
		return nil, nil, deletes, changed || len(next) > 0, nil
	}

	next = slices.Clone(next)
	ua := ""
	if h := req.GetHeader("User-Agent"); h != nil {
		ua = h.Value()
	}
	// A contact listed twice in one REGISTER: the later entry wins, and the
	// earlier one (which carries this very CSeq) is not an older request.
	seen := map[string]bool{}
	for _, u := range updates {
		i := indexContact(next, u.contact)
		if i >= 0 && !seen[u.contact] && outOfOrder(next[i]) {
			return nil, nil, nil, false, refuse(sip.StatusInternalServerError, "Out Of Order CSeq")
		}
		seen[u.contact] = true
		if u.expires == 0 {
			if i >= 0 {
				next = slices.Delete(next, i, i+1)
				deletes = append(deletes, u.contact)
				changed = true
			}
			continue
		}
		b := Binding{
			Firm: k.firm, User: k.user, Contact: u.contact,
			Source: req.Source(), Transport: upper(req.Transport()),
			Expires: now.Add(u.expires), CallID: callID, CSeq: cseq,
			UserAgent: ua, Instance: u.instance,
		}
		if i >= 0 {
			changed = changed || next[i].Source != b.Source || next[i].Transport != b.Transport
			next[i] = b
		} else {
			next = append(next, b)
			changed = true
		}
		saves = append(saves, b)
	}
	if len(next) > MaxContactsPerUser {
		return nil, nil, nil, false, refuse(sip.StatusForbidden, "Too Many Contacts")
	}
	// A contact both removed earlier in the request and added again must not be deleted after its save.
	deletes = slices.DeleteFunc(deletes, func(c string) bool { return indexContact(next, c) >= 0 })
	return next, saves, deletes, changed, nil
}

func (r *Registrar) persist(k userKey, saves []Binding, deletes []string) error {
	if r.p == nil {
		return nil
	}
	for _, c := range deletes {
		if err := r.p.DeleteBinding(k.firm, k.user, c); err != nil {
			return fmt.Errorf("delete binding %s: %w", c, err)
		}
	}
	for _, b := range saves {
		if err := r.p.SaveBinding(b); err != nil {
			return fmt.Errorf("save binding %s: %w", b.Contact, err)
		}
	}
	return nil
}
