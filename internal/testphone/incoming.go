package testphone

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/emiago/sipgo"
	"github.com/emiago/sipgo/sip"
)

// Incoming is a call offered to the phone. Answer or Reject it exactly once;
// if the caller cancels first, Cancelled is closed.
type Incoming struct {
	p     *Phone
	req   *sip.Request
	sess  *sipgo.DialogServerSession
	tx    sip.ServerTransaction
	offer remoteMedia

	cancelOnce sync.Once
	cancelled  chan struct{}

	decideMu sync.Mutex
	decided  bool
	finished chan struct{} // closed once a final response went out
}

// From returns the caller's user part (the From URI user).
func (in *Incoming) From() string { return in.req.From().Address.User }

// To returns the called user part (the To URI user).
func (in *Incoming) To() string { return in.req.To().Address.User }

// Request returns the INVITE as received. Treat it as read-only.
func (in *Incoming) Request() *sip.Request { return in.req }

// Cancelled is closed when the caller sends CANCEL before an answer.
func (in *Incoming) Cancelled() <-chan struct{} { return in.cancelled }

func (in *Incoming) markCancelled() { in.cancelOnce.Do(func() { close(in.cancelled) }) }

// Ring sends 180 Ringing, for phones configured with NoAutoRing.
func (in *Incoming) Ring() error {
	if err := in.sess.Respond(sip.StatusRinging, "Ringing", nil); err != nil {
		return fmt.Errorf("ring: %w", err)
	}
	return nil
}

func (in *Incoming) decide() error {
	in.decideMu.Lock()
	defer in.decideMu.Unlock()
	if in.decided {
		return errors.New("testphone: incoming call already answered or rejected")
	}
	in.decided = true
	return nil
}

// Answer sends 200 OK with SDP and waits for the caller's ACK. The ACK wait is
// bounded by sipgo's 64*T1 retransmission window, not by ctx.
func (in *Incoming) Answer(ctx context.Context) (*Call, error) {
	if err := in.decide(); err != nil {
		return nil, err
	}
	defer close(in.finished)
	if err := ctx.Err(); err != nil {
		_ = in.sess.Respond(sip.StatusTemporarilyUnavailable, "Temporarily Unavailable", nil)
		return nil, fmt.Errorf("answer: %w", err)
	}
	p := in.p
	m, err := p.newMedia()
	if err != nil {
		_ = in.sess.Respond(sip.StatusInternalServerError, "Server Internal Error", nil)
		return nil, err
	}
	body, err := m.answer(in.req.Body(), in.offer, answerDirection(in.offer.direction), 1)
	if err != nil {
		m.stop()
		_ = in.sess.Respond(sip.StatusNotAcceptableHere, "Not Acceptable Here", nil)
		return nil, fmt.Errorf("answer: %w", err)
	}

	inv := in.sess.InviteRequest
	localTag, _ := inv.To().Params.Get("tag")
	remoteTag, _ := inv.From().Params.Get("tag")
	c := newCall(p, m, dialogKey(inv.CallID().Value(), localTag, remoteTag), inv.Contact().Address)
	c.uas = in.sess
	// The dialog must be findable before the 200 leaves: the ACK, and possibly a
	// BYE, can arrive before Respond returns.
	if err := p.addCall(c); err != nil {
		m.stop()
		return nil, err
	}
	m.start()
	err = in.sess.Respond(sip.StatusOK, "OK", body, sip.NewHeader("Content-Type", "application/sdp"))
	if err != nil {
		select {
		case <-c.done:
			// ACK/BYE reordering: the peer already hung up; the call existed.
			return c, nil
		default:
		}
		c.end()
		return nil, fmt.Errorf("answer: %w", err)
	}
	return c, nil
}

// Reject answers the INVITE with a final non-2xx code, e.g. 486 Busy Here.
func (in *Incoming) Reject(code int, reason string) error {
	if code < 300 || code > 699 {
		return fmt.Errorf("testphone: reject code %d is not a final failure code", code)
	}
	if err := in.decide(); err != nil {
		return err
	}
	defer close(in.finished)
	if err := in.sess.Respond(code, reason, nil); err != nil {
		return fmt.Errorf("reject %d: %w", code, err)
	}
	return nil
}

// handleNewInvite runs in sipgo's handler goroutine and stays there until a
// final response is sent: returning earlier would drop the transaction.
func (p *Phone) handleNewInvite(req *sip.Request, tx sip.ServerTransaction) {
	p.mu.Lock()
	closed := p.closed
	if !closed {
		// Close waits for these handlers so their last response goes out
		// before the transport closes; Add happens under mu, before Close's Wait.
		p.handlers.Add(1)
	}
	p.mu.Unlock()
	if closed {
		p.respond(req, tx, sip.StatusServiceUnavailable, "Service Unavailable")
		return
	}
	defer p.handlers.Done()
	sess, err := p.dua.ReadInvite(req, tx)
	if err != nil {
		p.respond(req, tx, sip.StatusBadRequest, "Bad Request")
		return
	}
	in := &Incoming{p: p, req: req, sess: sess, tx: tx, cancelled: make(chan struct{}), finished: make(chan struct{})}
	tx.OnCancel(func(*sip.Request) {
		p.cancels.Add(1)
		in.markCancelled()
	})

	offer, err := parseSDP(req.Body())
	if err != nil || !p.canAnswer(offer) {
		_ = sess.Respond(sip.StatusNotAcceptableHere, "Not Acceptable Here", nil)
		return
	}
	in.offer = offer

	if !p.cfg.NoAutoRing {
		if err := sess.Respond(sip.StatusRinging, "Ringing", nil); err != nil {
			p.log.Debug("send 180", "error", err)
		}
	}
	select {
	case p.incoming <- in:
	case <-p.ctx.Done():
		in.unavailable()
		return
	default:
		_ = sess.Respond(sip.StatusBusyHere, "Busy Here", nil)
		return
	}
	select {
	case <-in.finished:
	case <-sess.Context().Done(): // cancelled or transaction gone
	case <-p.ctx.Done():
		in.unavailable()
	}
}

// unavailable refuses a call nobody decided on because the phone is closing.
func (in *Incoming) unavailable() {
	if in.decide() == nil {
		// Straight to the transaction: the dialog's Respond would wait for the
		// ACK, up to 32 s if the caller is gone, and Close waits for this.
		res := sip.NewResponseFromRequest(in.sess.InviteRequest, sip.StatusTemporarilyUnavailable, "Temporarily Unavailable", nil)
		if err := in.tx.Respond(res); err != nil {
			in.p.log.Debug("respond 480 on close", "error", err)
			return
		}
		// Absorb the caller's ACK before the transport closes (see Phone.readFilter).
		t := time.NewTimer(time.Second)
		defer t.Stop()
		select {
		case <-in.tx.Acks():
		case <-in.tx.Done():
		case <-t.C:
		}
	}
}
