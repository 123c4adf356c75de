package sip

import (
	"context"
	"fmt"
	"strconv"
	"strings"

	gosip "github.com/emiago/sipgo/sip"
)

// This file is the SIP side of event subscriptions (RFC 6665) that we accept as
// notifier: the answers to SUBSCRIBE and the NOTIFY requests in their dialogs.
// What a subscription is about (message-summary, RFC 3842) stays with the caller.

// EventPackage returns the event package a SUBSCRIBE names ("message-summary"),
// lower-cased, without parameters; "" without an Event header.
func EventPackage(req *Request) string {
	ev := req.GetHeader("event")
	if ev == nil {
		return ""
	}
	name, _, _ := strings.Cut(ev.Value(), ";")
	return strings.ToLower(strings.TrimSpace(name))
}

// RejectEvent answers a SUBSCRIBE for an event package we do not serve (489),
// naming the one we do.
func (s *Server) RejectEvent(tx ServerTransaction, req *Request, allow string) {
	s.Respond(tx, req, 489, "Bad Event", gosip.NewHeader("Allow-Events", allow))
}

// NewTag returns a random tag for our side of a dialog.
func NewTag() string { return gosip.GenerateTagN(16) }

// Tags returns the From and To tags of a request.
func Tags(req *Request) (from, to string) {
	from, _ = req.From().Params.Get("tag")
	to, _ = req.To().Params.Get("tag")
	return from, to
}

// AcceptSubscription answers a SUBSCRIBE with 200, our dialog tag and the
// granted expiry in seconds.
func (s *Server) AcceptSubscription(tx ServerTransaction, req *Request, localTag string, expires int) error {
	res := gosip.NewResponseFromRequest(req, 200, "OK", nil)
	res.To().Params.Add("tag", localTag)
	res.AppendHeader(gosip.NewHeader("Expires", strconv.Itoa(expires)))
	res.AppendHeader(s.ContactFor(req.Transport(), req.Source()))
	if err := tx.Respond(res); err != nil {
		return fmt.Errorf("sip: answer SUBSCRIBE: %w", err)
	}
	return nil
}

// Notify is one NOTIFY in a subscription dialog we accepted.
type Notify struct {
	Target    Uri    // the subscriber's Contact
	Source    string // ip:port its requests come from: where the NOTIFY goes
	Transport string
	Local     Uri // our side (the SUBSCRIBE's To)
	LocalTag  string
	Remote    Uri // the subscriber (the SUBSCRIBE's From)
	RemoteTag string
	CallID    string
	CSeq      uint32
	Event     string // event package
	State     string // Subscription-State: "active;expires=3600", "terminated;reason=timeout"
	Type      string // Content-Type of Body
	Body      []byte
}

// SendNotify sends n and waits for its final response or ctx.
func (s *Server) SendNotify(ctx context.Context, n Notify) error {
	req := gosip.NewRequest(gosip.NOTIFY, n.Target)
	from := &gosip.FromHeader{Address: n.Local}
	from.Params.Add("tag", n.LocalTag)
	to := &gosip.ToHeader{Address: n.Remote}
	to.Params.Add("tag", n.RemoteTag)
	callID := gosip.CallIDHeader(n.CallID)
	req.AppendHeader(from)
	req.AppendHeader(to)
	req.AppendHeader(&callID)
	req.AppendHeader(&gosip.CSeqHeader{SeqNo: n.CSeq, MethodName: gosip.NOTIFY})
	req.AppendHeader(s.ContactFor(n.Transport, n.Source))
	req.AppendHeader(gosip.NewHeader("Event", n.Event))
	req.AppendHeader(gosip.NewHeader("Subscription-State", n.State))
	req.AppendHeader(gosip.NewHeader("Content-Type", n.Type))
	req.SetBody(n.Body)
	req.SetTransport(n.Transport)
	req.SetDestination(n.Source)
	if _, err := s.Request(ctx, req); err != nil {
		return fmt.Errorf("sip: NOTIFY %s: %w", n.Event, err)
	}
	return nil
}
