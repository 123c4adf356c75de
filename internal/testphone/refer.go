package testphone

import (
	"context"
	"fmt"
	"strconv"
	"strings"
	"sync"

	"github.com/emiago/sipgo/sip"
)

// This file is call transfer as a phone does it: REFER in a call (RFC 3515),
// blind or with Replaces in the Refer-To (attended, RFC 3891), the NOTIFYs that
// report how the transfer goes, and INVITE with a Replaces header.

// ReferStatus follows one REFER the phone sent: the status codes of the sipfrag
// bodies of the NOTIFYs that the PBX sends about it.
type ReferStatus struct {
	cseq     uint32
	codes    chan int
	once     sync.Once
	finished bool // guarded by the call's referMu
}

// Notifies delivers the sipfrag status codes (100, 180, 200...) in the order the
// NOTIFYs arrived. It is closed after the final one (a code of 200 or more, or a
// terminated subscription), or when the call ends first.
func (rs *ReferStatus) Notifies() <-chan int { return rs.codes }

func (rs *ReferStatus) close() { rs.once.Do(func() { close(rs.codes) }) }

// Refer asks the PBX to transfer the call's other party to target ("1003" for
// sip:1003@Domain, or a full sip: URI): a blind transfer. It returns after the
// REFER's final answer; a non-2xx answer is a *StatusError.
func (c *Call) Refer(ctx context.Context, target string) (*ReferStatus, error) {
	uri, err := parseTarget(target, c.p.domain)
	if err != nil {
		return nil, fmt.Errorf("refer: %w", err)
	}
	return c.refer(ctx, "<"+uri.String()+">")
}

// ReferReplaces asks the PBX to connect the call's other party with consult's
// other party: the attended transfer a phone does after a consultation call. The
// Refer-To names target with consult's dialog in its Replaces header.
func (c *Call) ReferReplaces(ctx context.Context, target string, consult *Call) (*ReferStatus, error) {
	uri, err := parseTarget(target, c.p.domain)
	if err != nil {
		return nil, fmt.Errorf("refer: %w", err)
	}
	uri.Headers = nil
	return c.refer(ctx, "<"+uri.String()+"?Replaces="+escapeHeaderValue(consult.ReplacesValue())+">")
}

// ReplacesValue names this call's dialog as a Replaces header value, as the PBX
// sees it: call-id;to-tag=<PBX's tag>;from-tag=<phone's tag>.
func (c *Call) ReplacesValue() string {
	callID, rest, _ := strings.Cut(c.key, "\x00")
	local, remote, _ := strings.Cut(rest, "\x00")
	return callID + ";to-tag=" + remote + ";from-tag=" + local
}

// DialReplaces calls target like Dial with a Replaces header (RFC 3891): the new
// call takes the place of the dialog replaces names (a ReplacesValue).
func (p *Phone) DialReplaces(ctx context.Context, target, replaces string) (*Call, error) {
	if replaces == "" || strings.ContainsAny(replaces, "\r\n\x00") {
		return nil, fmt.Errorf("dial %s: bad Replaces %q", target, replaces)
	}
	return p.dial(ctx, target, nil, sip.NewHeader("Replaces", replaces))
}

func (c *Call) refer(ctx context.Context, referTo string) (*ReferStatus, error) {
	c.sigMu.Lock()
	defer c.sigMu.Unlock()
	select {
	case <-c.done:
		return nil, ErrCallEnded
	default:
	}
	rs := &ReferStatus{codes: make(chan int, 16)}
	// Registered before the REFER leaves: the first NOTIFY may overtake the 202.
	c.referMu.Lock()
	c.refers = append(c.refers, rs)
	c.referMu.Unlock()

	var res *sip.Response
	var err error
	for attempt := 0; ; attempt++ {
		req := sip.NewRequest(sip.REFER, *c.remoteTarget.Clone())
		req.AppendHeader(sip.NewHeader("Refer-To", referTo))
		req.AppendHeader(sip.NewHeader("Referred-By", "<sip:"+c.p.contact.Address.User+"@"+c.p.domain+">"))
		req.AppendHeader(sip.HeaderClone(&c.p.contact))
		if res != nil {
			if err := c.p.authorize(req, res); err != nil {
				c.dropRefer(rs)
				return nil, fmt.Errorf("refer: %w", err)
			}
		}
		c.p.prepare(req)
		if c.uac != nil {
			res, err = c.uac.Do(ctx, req)
		} else {
			res, err = c.uas.Do(ctx, req)
		}
		if err != nil {
			c.dropRefer(rs)
			return nil, fmt.Errorf("refer: %w", err)
		}
		rs.setCSeq(c, req.CSeq().SeqNo)
		if attempt == 0 && isChallenge(res) && c.p.cfg.Password != "" {
			continue
		}
		break
	}
	if !res.IsSuccess() {
		c.dropRefer(rs)
		return nil, fmt.Errorf("refer: %w", &StatusError{Code: res.StatusCode, Reason: res.Reason})
	}
	return rs, nil
}

func (rs *ReferStatus) setCSeq(c *Call, n uint32) {
	c.referMu.Lock()
	rs.cseq = n
	c.referMu.Unlock()
}

// dropRefer forgets a REFER that was not accepted and closes its channel.
func (c *Call) dropRefer(rs *ReferStatus) {
	c.referMu.Lock()
	for i, r := range c.refers {
		if r == rs {
			c.refers = append(c.refers[:i], c.refers[i+1:]...)
			break
		}
	}
	c.referMu.Unlock()
	rs.close()
}

// closeRefers closes the channels of REFERs still waiting for NOTIFYs.
func (c *Call) closeRefers() {
	c.referMu.Lock()
	rs := c.refers
	c.refers = nil
	c.referMu.Unlock()
	for _, r := range rs {
		r.close()
	}
}

// referNotify handles a NOTIFY of a refer subscription in this call: it answers
// 200 and feeds the sipfrag's code to the REFER it reports on, named by the
// Event's id (the REFER's CSeq), else the oldest one still open.
func (c *Call) referNotify(req *sip.Request, tx sip.ServerTransaction) {
	code, ok := sipfragCode(req.Body())
	if !ok {
		c.p.respond(req, tx, sip.StatusBadRequest, "Bad sipfrag")
		return
	}
	id := ""
	if ev := req.GetHeader("event"); ev != nil {
		for _, p := range strings.Split(ev.Value(), ";")[1:] {
			if k, v, _ := strings.Cut(p, "="); strings.EqualFold(strings.TrimSpace(k), "id") {
				id = strings.TrimSpace(v)
			}
		}
	}
	terminated := false
	if ss := req.GetHeader("subscription-state"); ss != nil {
		state, _, _ := strings.Cut(ss.Value(), ";")
		terminated = strings.EqualFold(strings.TrimSpace(state), "terminated")
	}
	c.referMu.Lock()
	var rs *ReferStatus
	idx := -1
	for i, r := range c.refers {
		// A NOTIFY may overtake the 202, before the REFER's CSeq is noted.
		if id == "" || r.cseq == 0 || strconv.FormatUint(uint64(r.cseq), 10) == id {
			rs, idx = r, i
			break
		}
	}
	final := code >= 200 || terminated
	if rs != nil {
		select {
		case rs.codes <- code:
		default:
			c.p.log.Debug("refer NOTIFY dropped: too many unread", "code", code)
		}
		if final {
			c.refers = append(c.refers[:idx], c.refers[idx+1:]...)
		}
	}
	c.referMu.Unlock()
	if rs == nil {
		c.p.respond(req, tx, sip.StatusCallTransactionDoesNotExists, "Subscription Does Not Exist")
		return
	}
	// The code is in the channel before the PBX learns the NOTIFY arrived.
	if final {
		rs.close()
	}
	c.p.respond(req, tx, sip.StatusOK, "OK")
}

// sipfragCode reads the status code of a message/sipfrag status line
// ("SIP/2.0 200 OK").
func sipfragCode(body []byte) (int, bool) {
	line, _, _ := strings.Cut(string(body), "\n")
	f := strings.Fields(line)
	if len(f) < 2 || !strings.EqualFold(f[0], "SIP/2.0") {
		return 0, false
	}
	code, err := strconv.Atoi(f[1])
	if err != nil || code < 100 || code > 699 {
		return 0, false
	}
	return code, true
}

// escapeHeaderValue escapes a value for a header of a SIP URI (RFC 3261 hvalue):
// ";", "=", "@" and the like become %XX, as phones write a Replaces into Refer-To.
func escapeHeaderValue(s string) string {
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		ch := s[i]
		if ch >= 'a' && ch <= 'z' || ch >= 'A' && ch <= 'Z' || ch >= '0' && ch <= '9' || strings.IndexByte("-_.!~*'()", ch) >= 0 {
			b.WriteByte(ch)
			continue
		}
		fmt.Fprintf(&b, "%%%02X", ch)
	}
	return b.String()
}
