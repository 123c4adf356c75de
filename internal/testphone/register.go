package testphone

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"strconv"
	"sync"
	"time"

	"github.com/emiago/sipgo"
	"github.com/emiago/sipgo/sip"
	"github.com/icholy/digest"
)

// Register binds the phone's contact to its AOR (sip:User@Domain) for expires,
// answering a digest challenge once. A refusal gives a *StatusError (wrapped).
func (p *Phone) Register(ctx context.Context, expires time.Duration) error {
	if expires <= 0 {
		return errors.New("testphone: register: expires must be positive (use Unregister)")
	}
	return p.register(ctx, expires)
}

// Unregister removes the phone's binding (REGISTER with Expires: 0).
func (p *Phone) Unregister(ctx context.Context) error { return p.register(ctx, 0) }

func (p *Phone) aor() sip.Uri {
	return sip.Uri{Scheme: "sip", User: p.contact.Address.User, Host: p.domain}
}

func (p *Phone) register(ctx context.Context, expires time.Duration) error {
	secs := int(expires.Round(time.Second) / time.Second)
	req := sip.NewRequest(sip.REGISTER, sip.Uri{Scheme: "sip", Host: p.domain})
	p.mu.Lock()
	p.regCSeq++
	cseq := p.regCSeq
	p.mu.Unlock()
	p.addDialogHeaders(req, p.regCallID, cseq)
	contact := sip.HeaderClone(&p.contact).(*sip.ContactHeader)
	req.AppendHeader(contact)
	req.AppendHeader(sip.NewHeader("Expires", strconv.Itoa(secs)))

	_, err := p.doWithAuth(ctx, req)
	if c := req.CSeq(); c != nil {
		p.mu.Lock()
		p.regCSeq = max(p.regCSeq, c.SeqNo)
		p.mu.Unlock()
	}
	if err != nil {
		aor := p.aor()
		return fmt.Errorf("register %s: %w", aor.String(), err)
	}
	return nil
}

// addDialogHeaders writes the From/To (own AOR), Call-ID and CSeq of an
// out-of-dialog request.
func (p *Phone) addDialogHeaders(req *sip.Request, callID string, cseq uint32) {
	from := &sip.FromHeader{Address: p.aor()}
	from.Params.Add("tag", sip.GenerateTagN(16))
	to := &sip.ToHeader{Address: p.aor()}
	cid := sip.CallIDHeader(callID)
	req.AppendHeader(from)
	req.AppendHeader(to)
	req.AppendHeader(&cid)
	req.AppendHeader(&sip.CSeqHeader{SeqNo: cseq, MethodName: req.Method})
}

// doWithAuth sends an out-of-dialog request, answers one digest challenge, and
// turns any non-2xx final answer into a *StatusError.
func (p *Phone) doWithAuth(ctx context.Context, req *sip.Request) (*sip.Response, error) {
	p.prepare(req)
	res, err := p.client.Do(ctx, req)
	if err != nil {
		return nil, err
	}
	if isChallenge(res) && p.cfg.Password != "" {
		res, err = p.client.DoDigestAuth(ctx, req, res, sipgo.DigestAuth{Username: cmp.Or(p.cfg.AuthUser, p.cfg.User), Password: p.cfg.Password})
		if err != nil {
			return nil, err
		}
	}
	if !res.IsSuccess() {
		return res, &StatusError{Code: res.StatusCode, Reason: res.Reason}
	}
	return res, nil
}

func isChallenge(res *sip.Response) bool {
	return res.StatusCode == sip.StatusUnauthorized || res.StatusCode == sip.StatusProxyAuthRequired
}

// authorize adds credentials for the challenge in res to req (used for
// in-dialog requests, which sipgo's digest helpers do not cover).
func (p *Phone) authorize(req *sip.Request, res *sip.Response) error {
	chName, credName := "WWW-Authenticate", "Authorization"
	if res.StatusCode == sip.StatusProxyAuthRequired {
		chName, credName = "Proxy-Authenticate", "Proxy-Authorization"
	}
	h := res.GetHeader(chName)
	if h == nil {
		return fmt.Errorf("%d without %s", res.StatusCode, chName)
	}
	chal, err := digest.ParseChallenge(h.Value())
	if err != nil {
		return fmt.Errorf("parse %s: %w", chName, err)
	}
	cred, err := digest.Digest(chal, digest.Options{
		Method:   req.Method.String(),
		URI:      req.Recipient.Addr(),
		Username: cmp.Or(p.cfg.AuthUser, p.cfg.User),
		Password: p.cfg.Password,
	})
	if err != nil {
		return fmt.Errorf("digest: %w", err)
	}
	req.RemoveHeader(credName)
	req.AppendHeader(sip.NewHeader(credName, cred.String()))
	return nil
}

// subscription collects NOTIFY bodies of one SUBSCRIBE dialog.
type subscription struct {
	mu     sync.Mutex
	closed bool
	ch     chan string
}

func (s *subscription) deliver(body string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return
	}
	select {
	case s.ch <- body:
	default: // a test that stopped reading must not block the SIP handler
	}
}

func (s *subscription) close() {
	s.mu.Lock()
	defer s.mu.Unlock()
	if !s.closed {
		s.closed = true
		close(s.ch)
	}
}

// SubscribeMWI subscribes to message-summary (RFC 3842) for the phone's own AOR,
// answering a digest challenge once. NOTIFYs are answered 200 and their bodies
// delivered on the returned channel (buffered; closed by Phone.Close). The
// subscription is not refreshed: pick expires longer than the test.
func (p *Phone) SubscribeMWI(ctx context.Context, expires time.Duration) (<-chan string, error) {
	callID := sip.GenerateTagN(24)
	s := &subscription{ch: make(chan string, 32)}
	p.mu.Lock()
	if p.closed {
		p.mu.Unlock()
		return nil, ErrClosed
	}
	// Registered first: the NOTIFY may overtake the SUBSCRIBE's 200.
	p.subs[callID] = s
	p.mu.Unlock()

	req := sip.NewRequest(sip.SUBSCRIBE, p.aor())
	p.addDialogHeaders(req, callID, 1)
	req.AppendHeader(sip.HeaderClone(&p.contact))
	req.AppendHeader(sip.NewHeader("Event", "message-summary"))
	req.AppendHeader(sip.NewHeader("Accept", "application/simple-message-summary"))
	req.AppendHeader(sip.NewHeader("Expires", strconv.Itoa(int(expires.Round(time.Second)/time.Second))))
	if _, err := p.doWithAuth(ctx, req); err != nil {
		p.mu.Lock()
		if p.subs[callID] == s {
			delete(p.subs, callID)
			s.close()
		}
		p.mu.Unlock()
		return nil, fmt.Errorf("subscribe message-summary: %w", err)
	}
	return s.ch, nil
}
