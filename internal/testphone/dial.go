package testphone

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"github.com/emiago/sipgo"
	"github.com/emiago/sipgo/sip"
)

// Dial calls target ("1002" for sip:1002@Domain, or a full sip: URI), answers
// digest challenges (401/407) with the phone's credentials and waits for the
// final answer. A 2xx is acknowledged and gives a Call; a failure answer gives a
// *StatusError. Cancelling ctx before the answer sends CANCEL and returns the
// context's error.
func (p *Phone) Dial(ctx context.Context, target string) (*Call, error) {
	return p.dial(ctx, target, nil)
}

// Pending is a call being set up by DialAsync.
type Pending struct {
	ringOnce sync.Once
	ringing  chan struct{}
	done     chan struct{}
	cancel   context.CancelFunc
	call     *Call
	err      error
}

// Ringing is closed on the first provisional answer above 100 (180, 183).
func (pd *Pending) Ringing() <-chan struct{} { return pd.ringing }

// Done is closed when the dial has a result.
func (pd *Pending) Done() <-chan struct{} { return pd.done }

// Result waits for the final outcome, as Dial would return it.
func (pd *Pending) Result() (*Call, error) {
	<-pd.done
	return pd.call, pd.err
}

// Cancel abandons the dial: CANCEL is sent if the INVITE is still pending.
func (pd *Pending) Cancel() { pd.cancel() }

// DialAsync starts Dial in the background, for tests that act while it rings.
func (p *Phone) DialAsync(ctx context.Context, target string) *Pending {
	ctx, cancel := context.WithCancel(ctx)
	pd := &Pending{ringing: make(chan struct{}), done: make(chan struct{}), cancel: cancel}
	p.wg.Add(1)
	go func() {
		defer p.wg.Done()
		defer cancel()
		defer close(pd.done)
		pd.call, pd.err = p.dial(ctx, target, func() { pd.ringOnce.Do(func() { close(pd.ringing) }) })
	}()
	return pd
}

func (p *Phone) dial(ctx context.Context, target string, onRinging func(), hdrs ...sip.Header) (*Call, error) {
	uri, err := parseTarget(target, p.domain)
	if err != nil {
		return nil, err
	}
	p.mu.Lock()
	closed := p.closed
	p.mu.Unlock()
	if closed {
		return nil, ErrClosed
	}
	ctx, cancel := p.dialContext(ctx)
	defer cancel()

	m, err := p.newMedia()
	if err != nil {
		return nil, err
	}
	offer, err := m.offer(dirSendRecv, 1)
	if err != nil {
		m.stop()
		return nil, err
	}

	req := sip.NewRequest(sip.INVITE, uri)
	from := &sip.FromHeader{Address: sip.Uri{Scheme: "sip", User: p.contact.Address.User, Host: p.domain}}
	from.Params.Add("tag", sip.GenerateTagN(16))
	to := &sip.ToHeader{Address: sip.Uri{Scheme: "sip", User: uri.User, Host: uri.Host, Port: uri.Port}}
	req.AppendHeader(from)
	req.AppendHeader(to)
	req.AppendHeader(sip.HeaderClone(&p.contact))
	req.AppendHeader(sip.NewHeader("Content-Type", "application/sdp"))
	for _, h := range hdrs {
		req.AppendHeader(h)
	}
	req.SetBody(offer)
	p.prepare(req)

	sess, err := p.dua.WriteInvite(ctx, req)
	if err != nil {
		m.stop()
		return nil, fmt.Errorf("dial %s: %w", target, err)
	}
	// sipgo's own CANCEL loses the destination (it resolves the Request-URI host, a
	// SIP domain that may not be in DNS), so the phone cancels by itself: WaitAnswer
	// runs on a context that is never cancelled and sees the 487.
	var sent atomic.Pointer[sip.Request] // the INVITE as last sent, for the CANCEL
	answered := make(chan struct{})
	defer close(answered)
	go func() {
		select {
		case <-ctx.Done():
			if inv := sent.Load(); inv != nil {
				p.sendCancel(inv)
			}
		case <-answered:
		}
	}()
	err = sess.WaitAnswer(context.WithoutCancel(ctx), sipgo.AnswerOptions{
		Username: cmp.Or(p.cfg.AuthUser, p.cfg.User),
		Password: p.cfg.Password,
		OnResponse: func(res *sip.Response) error {
			if res.IsProvisional() {
				sent.Store(sess.InviteRequest.Clone())
				if ctx.Err() != nil {
					// Cancelled before the first provisional answer: CANCEL now.
					go p.sendCancel(sent.Load())
				}
			}
			if res.StatusCode > 100 && res.StatusCode < 200 && onRinging != nil {
				onRinging()
			}
			return nil
		},
	})
	if err == nil && ctx.Err() != nil {
		// Answered although we cancelled: the 200 crossed the CANCEL.
		m.stop()
		p.abandonAnswered(sess)
		return nil, fmt.Errorf("dial %s: %w", target, ctx.Err())
	}
	if err != nil {
		m.stop()
		var de *sipgo.ErrDialogResponse
		if errors.As(err, &de) && ctx.Err() == nil {
			return nil, &StatusError{Code: de.Res.StatusCode, Reason: de.Res.Reason}
		}
		if p.ctx.Err() != nil {
			return nil, fmt.Errorf("dial %s: %w", target, ErrClosed)
		}
		if ctx.Err() != nil {
			// The callee may have answered while CANCEL was under way: end that call.
			if res := sess.InviteResponse; res != nil && res.IsSuccess() {
				p.abandonAnswered(sess)
			}
			return nil, fmt.Errorf("dial %s: %w", target, ctx.Err())
		}
		return nil, fmt.Errorf("dial %s: %w", target, err)
	}

	res := sess.InviteResponse
	remoteTarget := uri
	if ct := res.Contact(); ct != nil {
		remoteTarget = *ct.Address.Clone()
	}
	localTag, _ := sess.InviteRequest.From().Params.Get("tag")
	remoteTag, _ := res.To().Params.Get("tag")
	c := newCall(p, m, dialogKey(sess.InviteRequest.CallID().Value(), localTag, remoteTag), remoteTarget)
	c.uac = sess

	rm, perr := parseSDP(res.Body())
	if perr == nil {
		perr = m.accept(offer, res.Body(), rm, dirSendRecv)
	}
	m.start()
	if err := p.addCall(c); err != nil {
		m.stop()
		return nil, err
	}
	// Registered before the ACK leaves, so an immediate BYE finds the call.
	ack := sip.NewRequest(sip.ACK, *remoteTarget.Clone())
	p.prepare(ack)
	if err := sess.WriteAck(ctx, ack); err != nil {
		c.end()
		return nil, fmt.Errorf("dial %s: ack: %w", target, err)
	}
	if perr != nil {
		hctx, hcancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer hcancel()
		_ = c.Hangup(hctx)
		return nil, fmt.Errorf("dial %s: unusable SDP answer: %w", target, perr)
	}
	return c, nil
}

// abandonAnswered ACKs and hangs up a 2xx that raced with our CANCEL.
func (p *Phone) abandonAnswered(sess *sipgo.DialogClientSession) {
	if !p.beginSend() {
		return
	}
	defer p.sends.Done()
	ctx, cancel := context.WithTimeout(p.ctx, 5*time.Second)
	defer cancel()
	if err := sess.Ack(ctx); err != nil {
		p.log.Debug("ack of late 2xx", "error", err)
		return
	}
	if err := sess.Bye(ctx); err != nil {
		p.log.Debug("bye of late 2xx", "error", err)
	}
}

// sendCancel cancels a pending INVITE (RFC 3261 9.1): same Request-URI, Via, From,
// To, Call-ID and CSeq number, sent where the INVITE went.
func (p *Phone) sendCancel(inv *sip.Request) {
	if !p.beginSend() {
		return // Close abandons pending dials without CANCEL
	}
	defer p.sends.Done()
	c := sip.NewRequest(sip.CANCEL, *inv.Recipient.Clone())
	c.AppendHeader(sip.HeaderClone(inv.Via()))
	c.AppendHeader(sip.HeaderClone(inv.From()))
	c.AppendHeader(sip.HeaderClone(inv.To()))
	c.AppendHeader(sip.HeaderClone(inv.CallID()))
	c.AppendHeader(&sip.CSeqHeader{SeqNo: inv.CSeq().SeqNo, MethodName: sip.CANCEL})
	maxFwd := sip.MaxForwardsHeader(70)
	c.AppendHeader(&maxFwd)
	p.prepare(c)
	ctx, cancel := context.WithTimeout(p.ctx, 5*time.Second)
	defer cancel()
	if _, err := p.client.Do(ctx, c); err != nil {
		p.log.Debug("testphone: CANCEL", "err", err)
	}
}
