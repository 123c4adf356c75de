package sip

import (
	"fmt"
	"net"
	"net/netip"
	"runtime/debug"
	"strings"
	"sync"
	"time"

	gosip "github.com/emiago/sipgo/sip"
)

// A REGISTER with credentials or a BYE that comes over UDP does not go through
// sipgo's transaction layer: it is parsed once (by the read filter), and its
// server transaction is a table entry rather than sipgo's state machine with its
// own channels, context, timers and a goroutine per message. REGISTER is most of
// what a PBX receives (every phone refreshes every few minutes), and this took a
// fifth of its CPU per REGISTER; every call ends with a BYE (bench/README.md).
//
// The transaction keeps RFC 3261 section 17.2.2 (non-INVITE server transaction,
// unreliable transport): a retransmitted request gets the final response again,
// or nothing while the first copy is being handled; the response is kept for
// Timer J (64*T1) after it was sent. Requests are matched by the top Via's
// branch (RFC 3261 cookie only), the method and the datagram's source.
//
// The ACK of a call (for its 2xx, a transaction of its own that gets no answer)
// and the ACK of a challenge sent without a transaction (answerEarly) take a
// shorter way still: see serveAckUDP.

// udpTxs is the table of these transactions.
type udpTxs struct {
	mu   sync.Mutex
	m    map[string]*udpTx
	peak int // most entries since m was made
	// answered holds the transactions that sent their final response, in that
	// order: their Timer J runs out in the same order, so the sweep pops from
	// the front instead of scanning the table.
	answered []*udpTx
	timer    *time.Timer // sweeps answered transactions while there are any
	closed   bool
}

// maxUDPTxs bounds the table: beyond it (a flood of REGISTERs with credentials
// that each wait for their check) requests take sipgo's path. An answered entry
// stays for Timer J (32 s), so this holds 2000 REGISTERs and 2000 BYEs a
// second, about 1 KB each.
const maxUDPTxs = 1 << 17

// udpTx is one REGISTER's or BYE's server transaction. It implements
// gosip.ServerTransaction for the handlers.
type udpTx struct {
	s      *Server
	key    string
	method gosip.RequestMethod
	conn   net.PacketConn
	dst    *net.UDPAddr

	mu      sync.Mutex
	final   []byte    // the final response, sent again to retransmissions
	expires time.Time // Timer J, once final is sent
	onTerm  []gosip.FnTxTerminate
	done    chan struct{}
}

// serveNonInviteUDP takes a REGISTER or a BYE over UDP (parsed, not answered
// early) into a transaction of its own and runs its handler. false: the request
// takes sipgo's path (another method, no handler, a protocol error, an
// old-style branch).
func (s *Server) serveNonInviteUDP(req *gosip.Request, src netip.AddrPort, local net.Addr) bool {
	if s.closed.Load() {
		return false
	}
	var h RequestHandler
	switch req.Method {
	case gosip.REGISTER:
		if _, ok := s.handlers.Load(string(gosip.REGISTER)); !ok {
			return false
		}
		h = s.guard(s.dispatch)
	case gosip.BYE:
		h = s.guard(s.handleBye)
	default:
		return false
	}
	branch, ok := s.readPathBranch(req)
	if !ok {
		return false
	}
	c, ok := s.udpConns.Load(local.String())
	if !ok {
		return false
	}
	key := branch + "|" + string(req.Method) + "|" + src.String()
	s.udpTxs.mu.Lock()
	if s.udpTxs.closed {
		s.udpTxs.mu.Unlock()
		return true // shutting down: the phone retransmits elsewhere or later
	}
	if tx, ok := s.udpTxs.m[key]; ok {
		s.udpTxs.mu.Unlock()
		tx.retransmitted()
		return true
	}
	if len(s.udpTxs.m) >= maxUDPTxs {
		s.udpTxs.mu.Unlock()
		return false
	}
	tx := &udpTx{s: s, key: key, method: req.Method, conn: c.(net.PacketConn), dst: net.UDPAddrFromAddrPort(responseAddr(req, src)), done: make(chan struct{})}
	if s.udpTxs.m == nil {
		s.udpTxs.m = map[string]*udpTx{}
	}
	s.udpTxs.m[key] = tx
	s.udpTxs.peak = max(s.udpTxs.peak, len(s.udpTxs.m))
	s.udpTxs.mu.Unlock()

	req.SetSource(src.String())
	req.SetTransport("UDP")
	s.wg.Add(1)
	go func() {
		defer s.wg.Done()
		h(req, tx)
		tx.mu.Lock()
		answered := tx.final != nil
		tx.mu.Unlock()
		if !answered {
			s.udpTxs.remove(tx) // nothing to repeat: a retransmission is handled afresh
		}
	}()
	return true
}

// retransmitted answers a retransmission of the request with the final
// response, if there is one yet.
func (t *udpTx) retransmitted() {
	t.mu.Lock()
	final := t.final
	t.mu.Unlock()
	if final != nil {
		t.write(final)
	}
}

func (t *udpTx) write(b []byte) error {
	if _, err := t.conn.WriteTo(b, t.dst); err != nil {
		return fmt.Errorf("sip: %s response to %s: %w", t.method, t.dst, err)
	}
	return nil
}

// Respond sends res; a final response is kept for retransmissions until Timer J.
func (t *udpTx) Respond(res *gosip.Response) error {
	b := []byte(res.String())
	if res.StatusCode >= 200 {
		t.mu.Lock()
		if t.final != nil {
			t.mu.Unlock()
			return fmt.Errorf("sip: %s transaction already answered", t.method)
		}
		t.final, t.expires = b, time.Now().Add(gosip.Timer_J)
		t.mu.Unlock()
		t.s.udpTxs.finished(t)
	}
	return t.write(b)
}

// RespondStateless sends res and ends the transaction without keeping it: a
// challenge or a refusal is not worth 32 s of memory to whoever sends requests
// that earn one, and a retransmission is answered afresh.
func (t *udpTx) RespondStateless(res *gosip.Response) error {
	err := t.write([]byte(res.String()))
	t.s.udpTxs.remove(t)
	return err
}

// Acks is nil: REGISTER and BYE are not INVITE.
func (t *udpTx) Acks() <-chan *gosip.Request { return nil }

// OnCancel: a CANCEL applies to INVITE only.
func (t *udpTx) OnCancel(gosip.FnTxCancel) bool { return false }

// Terminate ends the transaction at once (its response is no longer repeated).
func (t *udpTx) Terminate() { t.s.udpTxs.remove(t) }

func (t *udpTx) OnTerminate(f gosip.FnTxTerminate) bool {
	t.mu.Lock()
	defer t.mu.Unlock()
	select {
	case <-t.done:
		return false
	default:
	}
	t.onTerm = append(t.onTerm, f)
	return true
}

func (t *udpTx) Done() <-chan struct{} { return t.done }
func (t *udpTx) Err() error            { return nil }

// terminated closes done and runs the OnTerminate functions, once.
func (t *udpTx) terminated() {
	t.mu.Lock()
	select {
	case <-t.done:
		t.mu.Unlock()
		return
	default:
	}
	close(t.done)
	fns := t.onTerm
	t.onTerm = nil
	t.mu.Unlock()
	for _, f := range fns {
		f(t.key, nil)
	}
}

// finished queues an answered transaction for the sweep and arms it.
func (x *udpTxs) finished(t *udpTx) {
	x.mu.Lock()
	defer x.mu.Unlock()
	if x.closed {
		return
	}
	x.answered = append(x.answered, t)
	if x.timer == nil {
		x.timer = time.AfterFunc(time.Second, x.sweep)
	}
}

func (x *udpTxs) remove(t *udpTx) {
	x.mu.Lock()
	if x.m[t.key] == t {
		delete(x.m, t.key)
	}
	x.mu.Unlock()
	t.terminated()
}

// sweep ends the transactions whose Timer J ran out, from the front of the
// answered queue; it runs every second while the queue is not empty.
func (x *udpTxs) sweep() {
	now := time.Now()
	var ended []*udpTx
	x.mu.Lock()
	if x.closed {
		x.mu.Unlock()
		return
	}
	n := 0
	for ; n < len(x.answered); n++ {
		t := x.answered[n]
		t.mu.Lock()
		over := now.After(t.expires)
		t.mu.Unlock()
		if !over {
			break
		}
		if x.m[t.key] == t {
			delete(x.m, t.key)
		}
		ended = append(ended, t)
	}
	clear(x.answered[:n])
	x.answered = x.answered[n:]
	// Go maps keep their buckets: after a burst, a mostly empty table is made
	// anew so that its memory goes back.
	if len(x.m) <= x.peak/4 {
		fresh := make(map[string]*udpTx, len(x.m))
		for k, t := range x.m {
			fresh[k] = t
		}
		x.m, x.peak = fresh, len(fresh)
	}
	if len(x.answered) == 0 {
		x.answered, x.timer = nil, nil
	} else {
		x.timer.Reset(time.Second)
	}
	x.mu.Unlock()
	for _, t := range ended {
		t.terminated()
	}
}

// close ends every transaction and stops the sweep.
func (x *udpTxs) close() {
	x.mu.Lock()
	x.closed = true
	if x.timer != nil {
		x.timer.Stop()
		x.timer = nil
	}
	all := x.m
	x.m, x.answered = nil, nil
	x.mu.Unlock()
	for _, t := range all {
		t.terminated()
	}
}

// pending counts the transactions in the table (tests, metrics).
func (x *udpTxs) pending() int {
	x.mu.Lock()
	defer x.mu.Unlock()
	return len(x.m)
}

// challengeTagPrefix starts the To tag of an INVITE challenge sent without a
// transaction (answerEarly): its ACK has no transaction to find, in sipgo or
// here, and serveAckUDP ends it at once. sipgo's own tags are UUIDs, which
// hold no '.'.
const challengeTagPrefix = "ch."

// serveAckUDP ends on the read path an ACK over UDP that no transaction waits
// for. false: sipgo's path.
//
//   - The ACK of a challenge sent without a transaction (its To tag says so)
//     has nothing to find: it is counted and dropped, as handleAck would.
//   - The ACK of a call's 2xx is a transaction of its own that gets no answer
//     (RFC 3261 section 17.1.1.3: a new branch); it goes to handleAck at once,
//     where sipgo would first make a server transaction, a context and a
//     goroutine for it. It is known by the dialog's INVITE CSeq and a branch
//     other than the INVITE's.
//   - An ACK with its INVITE's branch is for a non-2xx final response, which
//     sipgo's INVITE transaction repeats until that ACK reaches it; a
//     re-INVITE's ACK (another CSeq) may be one too. Those, and anything
//     unusual, take sipgo's path.
func (s *Server) serveAckUDP(req *gosip.Request, src netip.AddrPort) bool {
	if req.Method != gosip.ACK || s.closed.Load() {
		return false
	}
	if _, ok := s.readPathBranch(req); !ok {
		return false
	}
	req.SetSource(src.String())
	req.SetTransport("UDP")
	if tag, _ := req.To().Params.Get("tag"); strings.HasPrefix(tag, challengeTagPrefix) {
		s.acksOnReadPath.Add(1)
		s.count(req)
		return true
	}
	in, _ := s.findLeg(req)
	if in == nil {
		return false
	}
	if !ackOf2xx(req, in.d.InviteRequest) {
		return false
	}
	s.acksOnReadPath.Add(1)
	s.count(req)
	// sipgo's read loop has no recover, and readPathBranch did guard's checks.
	defer func() {
		if r := recover(); r != nil {
			s.log.Error("sip handler panic", "method", string(req.Method), "panic", r, "stack", string(debug.Stack()))
		}
	}()
	s.ackLeg(in, req, nil) // no transaction: an ACK gets no answer, and sipgo's ReadAck does not use one
	return true
}

// readPathBranch checks what a request taken on the read path must pass
// before it may skip sipgo and guard: no protocol error, the headers every
// request needs, and an RFC 3261 branch, which it returns as the
// transaction's key.
func (s *Server) readPathBranch(req *gosip.Request) (string, bool) {
	if code, _ := s.protocolError(req); code != 0 {
		return "", false
	}
	via := req.Via()
	if via == nil || req.From() == nil || req.To() == nil || req.CallID() == nil || req.CSeq() == nil {
		return "", false
	}
	branch, _ := via.Params.Get("branch")
	if !strings.HasPrefix(branch, gosip.RFC3261BranchMagicCookie) {
		return "", false
	}
	return branch, true
}

// ackOf2xx tells whether ack, in the dialog that invite started, can only be
// the ACK of invite's 2xx: the same CSeq and another branch. RFC 3261 section
// 17.1.1.3 gives the ACK of a non-2xx its INVITE's branch; a 2xx's ACK is a
// new transaction.
func ackOf2xx(ack, invite *gosip.Request) bool {
	av, ac, iv, ic := ack.Via(), ack.CSeq(), invite.Via(), invite.CSeq()
	if av == nil || ac == nil || iv == nil || ic == nil || ac.SeqNo != ic.SeqNo {
		return false
	}
	ab, _ := av.Params.Get("branch")
	ib, _ := iv.Params.Get("branch")
	return ab != "" && ab != ib
}
