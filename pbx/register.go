package pbx

import (
	"context"
	"fmt"
	"strconv"
	"strings"
	"sync"
	"time"

	gosip "github.com/emiago/sipgo/sip"

	"switchboard/sip"
)

// handleRegister authenticates a phone and hands the REGISTER to the registrar.
func (p *PBX) handleRegister(req *sip.Request, tx sip.ServerTransaction) {
	f := p.firmFor(req)
	acct, ok := p.auth.Authenticate(req, tx, f.Domain, false)
	if !ok {
		return
	}
	p.reg.HandleRegister(req, tx, f.ID, acct.Username)
}

// subscription is one phone's message-summary subscription (RFC 3842) to its mailbox.
type subscription struct {
	firm, mailbox string
	callID        string
	remoteTag     string // the phone's From tag
	localTag      string // our To tag
	remoteURI     gosip.Uri
	localURI      gosip.Uri
	contact       gosip.Uri
	source        string
	transport     string
	expires       time.Time
	mu            sync.Mutex
	cseq          uint32
}

type subKey struct{ callID, remoteTag string }

// maxSubsPerMailbox bounds what one authenticated phone can make us remember.
const maxSubsPerMailbox = 32

// subsOf counts the subscriptions to one mailbox; called with subMu held.
func (p *PBX) subsOf(firm, mailbox string) int {
	n := 0
	for _, s := range p.subs {
		if s.firm == firm && s.mailbox == mailbox {
			n++
		}
	}
	return n
}

// handleSubscribe accepts message-summary subscriptions from agents for their own
// mailbox and sends the current counts at once.
func (p *PBX) handleSubscribe(req *sip.Request, tx sip.ServerTransaction) {
	ev := req.GetHeader("Event")
	if ev == nil || !strings.EqualFold(strings.TrimSpace(strings.Split(ev.Value(), ";")[0]), "message-summary") {
		p.sip.Respond(tx, req, 489, "Bad Event", gosip.NewHeader("Allow-Events", "message-summary"))
		return
	}
	f := p.firmFor(req)
	acct, ok := p.auth.Authenticate(req, tx, f.Domain, false)
	if !ok {
		return
	}
	expires := 3600
	if h := req.GetHeader("Expires"); h != nil {
		if n, err := strconv.Atoi(strings.TrimSpace(h.Value())); err == nil && n >= 0 {
			expires = min(n, 3600)
		}
	}
	key := subKey{req.CallID().Value(), tagOf(req.From().Params)}
	p.subMu.Lock()
	s := p.subs[key]
	if s != nil && (s.firm != f.ID || s.mailbox != acct.ID) {
		p.subMu.Unlock()
		p.sip.Respond(tx, req, 403, "Forbidden") // not the owner of that subscription
		return
	}
	if s == nil && p.subsOf(f.ID, acct.ID) >= maxSubsPerMailbox {
		p.subMu.Unlock()
		p.sip.Respond(tx, req, 403, "Too Many Subscriptions")
		return
	}
	if s == nil {
		s = &subscription{
			firm: f.ID, mailbox: acct.ID, callID: key.callID, remoteTag: key.remoteTag,
			localTag: gosip.GenerateTagN(16), remoteURI: req.From().Address, localURI: req.To().Address,
			transport: req.Transport(), cseq: 1,
		}
		if t := tagOf(req.To().Params); t != "" {
			s.localTag = t
		}
		p.subs[key] = s
	}
	if c := req.Contact(); c != nil {
		s.contact = c.Address
	} else {
		s.contact = req.From().Address
	}
	s.source = req.Source()
	s.expires = time.Now().Add(time.Duration(expires) * time.Second)
	if expires == 0 {
		delete(p.subs, key)
	}
	p.subMu.Unlock()

	res := gosip.NewResponseFromRequest(req, 200, "OK", nil)
	res.To().Params.Add("tag", s.localTag)
	res.AppendHeader(gosip.NewHeader("Expires", strconv.Itoa(expires)))
	res.AppendHeader(p.sip.ContactFor(req.Transport(), req.Source()))
	if err := tx.Respond(res); err != nil {
		p.log.Debug("subscribe answer", "err", err)
		return
	}
	state := "active;expires=" + strconv.Itoa(expires)
	if expires == 0 {
		state = "terminated;reason=timeout"
	}
	p.tasks.spawn(func(context.Context) { p.sendMWI(s, state) })
}

func tagOf(params gosip.HeaderParams) string {
	t, _ := params.Get("tag")
	return t
}

// notifyMailbox sends the new counts to every phone subscribed to a mailbox.
func (p *PBX) notifyMailbox(firm, mailbox string) {
	p.subMu.Lock()
	var list []*subscription
	for _, s := range p.subs {
		if s.firm == firm && s.mailbox == mailbox {
			list = append(list, s)
		}
	}
	p.subMu.Unlock()
	for _, s := range list {
		p.subMu.Lock()
		left := int(time.Until(s.expires).Seconds())
		p.subMu.Unlock()
		if left <= 0 {
			continue
		}
		p.tasks.spawn(func(context.Context) { p.sendMWI(s, "active;expires="+strconv.Itoa(left)) })
	}
}

func (p *PBX) expireSubscriptions() {
	p.subMu.Lock()
	defer p.subMu.Unlock()
	now := time.Now()
	for k, s := range p.subs {
		if now.After(s.expires) {
			delete(p.subs, k)
		}
	}
}

// sendMWI sends one NOTIFY with the message-summary body for s's mailbox.
func (p *PBX) sendMWI(s *subscription, state string) {
	newN, oldN, err := p.store.VoicemailCounts(s.firm, s.mailbox)
	if err != nil {
		p.log.Error("voicemail counts", "err", err)
		return
	}
	waiting := "no"
	if newN > 0 {
		waiting = "yes"
	}
	body := fmt.Sprintf("Messages-Waiting: %s\r\nMessage-Account: sip:%s@%s\r\nVoice-Message: %d/%d (0/0)\r\n",
		waiting, s.mailbox, s.firm, newN, oldN)

	s.mu.Lock()
	s.cseq++
	cseq := s.cseq
	s.mu.Unlock()
	p.subMu.Lock() // contact and source change on refresh
	contact, source := s.contact, s.source
	p.subMu.Unlock()
	req := gosip.NewRequest(gosip.NOTIFY, contact)
	from := &gosip.FromHeader{Address: s.localURI}
	from.Params.Add("tag", s.localTag)
	to := &gosip.ToHeader{Address: s.remoteURI}
	to.Params.Add("tag", s.remoteTag)
	callID := gosip.CallIDHeader(s.callID)
	req.AppendHeader(from)
	req.AppendHeader(to)
	req.AppendHeader(&callID)
	req.AppendHeader(&gosip.CSeqHeader{SeqNo: cseq, MethodName: gosip.NOTIFY})
	req.AppendHeader(p.sip.ContactFor(s.transport, source))
	req.AppendHeader(gosip.NewHeader("Event", "message-summary"))
	req.AppendHeader(gosip.NewHeader("Subscription-State", state))
	req.AppendHeader(gosip.NewHeader("Content-Type", "application/simple-message-summary"))
	req.SetBody([]byte(body))
	req.SetTransport(s.transport)
	req.SetDestination(source)
	ctx, cancel := context.WithTimeout(p.ctx, 10*time.Second)
	defer cancel()
	if _, err := p.sip.Request(ctx, req); err != nil {
		p.log.Debug("MWI NOTIFY", "mailbox", s.mailbox, "err", err)
	}
}
