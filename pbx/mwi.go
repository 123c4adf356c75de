package pbx

import (
	"context"
	"fmt"
	"log/slog"
	"strconv"
	"strings"
	"sync"
	"time"

	"switchboard/sip"
	"switchboard/store"
)

// mwi owns the phones' message-summary subscriptions (RFC 3842) and sends them
// NOTIFYs with their mailbox's counts.
type mwi struct {
	ctx   context.Context
	sip   *sip.Server
	store *store.Store
	tasks *tasks
	log   *slog.Logger

	mu   sync.Mutex
	subs map[subKey]*subscription
}

func newMWI(ctx context.Context, s *sip.Server, st *store.Store, t *tasks, log *slog.Logger) *mwi {
	return &mwi{ctx: ctx, sip: s, store: st, tasks: t, log: log, subs: map[subKey]*subscription{}}
}

// subscription is one phone's message-summary subscription (RFC 3842) to its mailbox.
type subscription struct {
	firm, mailbox string
	callID        string
	remoteTag     string // the phone's From tag
	localTag      string // our To tag
	remoteURI     sip.Uri
	localURI      sip.Uri
	contact       sip.Uri
	source        string
	transport     string
	expires       time.Time
	mu            sync.Mutex
	cseq          uint32
}

type subKey struct{ callID, remoteTag string }

// maxSubsPerMailbox bounds what one authenticated phone can make us remember.
const maxSubsPerMailbox = 32

// subsOf counts the subscriptions to one mailbox; called with m.mu held.
func (m *mwi) subsOf(firm, mailbox string) int {
	n := 0
	for _, s := range m.subs {
		if s.firm == firm && s.mailbox == mailbox {
			n++
		}
	}
	return n
}

// subscribe adds, refreshes or (Expires: 0) ends a subscription to mailbox of firm,
// answers it and sends the counts.
func (m *mwi) subscribe(req *sip.Request, tx sip.ServerTransaction, firm, mailbox string) {
	expires := 3600
	if h := req.GetHeader("expires"); h != nil {
		if n, err := strconv.Atoi(strings.TrimSpace(h.Value())); err == nil && n >= 0 {
			expires = min(n, 3600)
		}
	}
	fromTag, toTag := sip.Tags(req)
	key := subKey{req.CallID().Value(), fromTag}
	m.mu.Lock()
	s := m.subs[key]
	if s != nil && (s.firm != firm || s.mailbox != mailbox) {
		m.mu.Unlock()
		m.sip.Respond(tx, req, 403, "Forbidden") // not the owner of that subscription
		return
	}
	if s == nil && m.subsOf(firm, mailbox) >= maxSubsPerMailbox {
		m.mu.Unlock()
		m.sip.Respond(tx, req, 403, "Too Many Subscriptions")
		return
	}
	if s == nil {
		s = &subscription{
			firm: firm, mailbox: mailbox, callID: key.callID, remoteTag: key.remoteTag,
			localTag: sip.NewTag(), remoteURI: req.From().Address, localURI: req.To().Address,
			transport: req.Transport(), cseq: 1,
		}
		if toTag != "" {
			s.localTag = toTag
		}
		m.subs[key] = s
	}
	if c := req.Contact(); c != nil {
		s.contact = c.Address
	} else {
		s.contact = req.From().Address
	}
	s.source = req.Source()
	s.expires = time.Now().Add(time.Duration(expires) * time.Second)
	if expires == 0 {
		delete(m.subs, key)
	}
	m.mu.Unlock()

	if err := m.sip.AcceptSubscription(tx, req, s.localTag, expires); err != nil {
		m.log.Debug("subscribe answer", "err", err)
		return
	}
	state := "active;expires=" + strconv.Itoa(expires)
	if expires == 0 {
		state = "terminated;reason=timeout"
	}
	m.tasks.spawn(func(ctx context.Context) { m.send(ctx, s, state) })
}

// notify sends the new counts to every phone subscribed to a mailbox.
func (m *mwi) notify(firm, mailbox string) {
	m.mu.Lock()
	var list []*subscription
	for _, s := range m.subs {
		if s.firm == firm && s.mailbox == mailbox {
			list = append(list, s)
		}
	}
	m.mu.Unlock()
	for _, s := range list {
		m.mu.Lock()
		left := int(time.Until(s.expires).Seconds())
		m.mu.Unlock()
		if left <= 0 {
			continue
		}
		m.tasks.spawn(func(ctx context.Context) { m.send(ctx, s, "active;expires="+strconv.Itoa(left)) })
	}
}

func (m *mwi) expire() {
	m.mu.Lock()
	defer m.mu.Unlock()
	now := time.Now()
	for k, s := range m.subs {
		if now.After(s.expires) {
			delete(m.subs, k)
		}
	}
}

// send sends one NOTIFY with the message-summary body for s's mailbox.
func (m *mwi) send(ctx context.Context, s *subscription, state string) {
	newN, oldN, err := m.store.VoicemailCounts(s.firm, s.mailbox)
	if err != nil {
		m.log.Error("voicemail counts", "err", err)
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
	m.mu.Lock() // contact and source change on refresh
	contact, source := s.contact, s.source
	m.mu.Unlock()
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	err = m.sip.SendNotify(ctx, sip.Notify{
		Target: contact, Source: source, Transport: s.transport,
		Local: s.localURI, LocalTag: s.localTag, Remote: s.remoteURI, RemoteTag: s.remoteTag,
		CallID: s.callID, CSeq: cseq, Event: "message-summary", State: state,
		Type: "application/simple-message-summary", Body: []byte(body),
	})
	if err != nil {
		m.log.Debug("MWI NOTIFY", "mailbox", s.mailbox, "err", err)
	}
}
