package sip

import (
	"context"
	"log/slog"
	"net"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/emiago/sipgo"
	gosip "github.com/emiago/sipgo/sip"
)

func TestParseReferTo(t *testing.T) {
	t.Parallel()
	rep := &Replaces{CallID: "abc+1@h", ToTag: "t1", FromTag: "f1"}
	tests := []struct {
		in       string
		user     string
		host     string
		replaces *Replaces
		err      bool
	}{
		{"<sip:1003@pbx.example>", "1003", "pbx.example", nil, false},
		{"sip:1003@test.local", "1003", "test.local", nil, false}, // baresip writes no brackets
		{"sip:1003@test.local;foo=bar", "1003", "test.local", nil, false},
		{`"Sales" <sip:2000@pbx;user=phone>;x=1`, "2000", "pbx", nil, false},
		{"<sip:1003@pbx?Replaces=abc%2B1%40h%3Bto-tag%3Dt1%3Bfrom-tag%3Df1>", "1003", "pbx", rep, false},
		{"<sip:1003@pbx?replaces=abc+1%40h%3Bfrom-tag%3Df1%3Bto-tag%3Dt1&Require=replaces>", "1003", "pbx", rep, false},
		{"<sip:1003@pbx?Replaces=abc%40h%3Bto-tag%3Dt1>", "", "", nil, true},
		{"<sip:1003@pbx?Replaces=a%3Bto-tag%3Dt%3Bfrom-tag%3Df&Replaces=a%3Bto-tag%3Dt%3Bfrom-tag%3Df>", "", "", nil, true},
		{"<sip:1003@pbx?Replaces=%zz>", "", "", nil, true},
		{"<sip:1003@pbx", "", "", nil, true},
		{"<>", "", "", nil, true},
		{"", "", "", nil, true},
	}
	for _, tc := range tests {
		u, r, err := parseReferTo(tc.in)
		if (err != nil) != tc.err {
			t.Errorf("parseReferTo(%q) error %v, want error %v", tc.in, err, tc.err)
			continue
		}
		if err != nil {
			continue
		}
		if u.User != tc.user || u.Host != tc.host || len(u.Headers) != 0 {
			t.Errorf("parseReferTo(%q) target %s, want user %q host %q without headers", tc.in, u.String(), tc.user, tc.host)
		}
		if (r == nil) != (tc.replaces == nil) || r != nil && *r != *tc.replaces {
			t.Errorf("parseReferTo(%q) Replaces %+v, want %+v", tc.in, r, tc.replaces)
		}
	}
}

func FuzzParseReferTo(f *testing.F) {
	for _, s := range []string{
		"<sip:1003@pbx.example>",
		"sip:1003@test.local",
		`"Sales" <sip:2000@pbx;user=phone>;x=1`,
		"<sip:1003@pbx?Replaces=abc%2B1%40h%3Bto-tag%3Dt1%3Bfrom-tag%3Df1>",
		"<sip:1003@pbx?replaces=a%3Bfrom-tag%3Df1%3Bto-tag%3Dt1&Require=replaces>",
		"<sip:1003@pbx?Replaces=%zz>", "<", ">", "?&=", "",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, v string) {
		u, r, err := parseReferTo(v)
		if err != nil {
			return
		}
		if len(u.Headers) != 0 {
			t.Fatalf("parseReferTo(%q) kept URI headers: %v", v, u.Headers)
		}
		if r == nil {
			return
		}
		// What we read back must survive being written into a Refer-To again.
		_, again, err := parseReferTo("<sip:x@h?Replaces=" + escapeURIHeader(r.String()) + ">")
		if err != nil || again == nil || *again != *r {
			t.Fatalf("Replaces of %q (%+v) did not survive escaping: %+v, %v", v, *r, again, err)
		}
	})
}

// sipPeer is a phone for the tests of this file, on a bare sipgo user agent: it
// calls the server or answers its calls, sends whatever REFER a test builds and
// answers the server's NOTIFY and BYE with 200, handing each to a channel.
type sipPeer struct {
	t        *testing.T
	dua      *sipgo.DialogUA
	client   *sipgo.Client
	addr     string
	notifies chan *gosip.Request
	byes     chan *gosip.Request
	answered chan *sipgo.DialogServerSession
	uas      atomic.Pointer[sipgo.DialogServerSession]
}

func newSIPPeer(t *testing.T) *sipPeer {
	t.Helper()
	conn, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	local := conn.LocalAddr().(*net.UDPAddr)
	ua, err := sipgo.NewUA(sipgo.WithUserAgent("peer"), sipgo.WithUserAgentHostname("127.0.0.1"))
	if err != nil {
		t.Fatal(err)
	}
	srv, err := sipgo.NewServer(ua, sipgo.WithServerLogger(slog.New(slog.DiscardHandler)))
	if err != nil {
		t.Fatal(err)
	}
	// Requests leave from the listening socket, so that the server's in-dialog
	// requests (sent where ours came from) reach this peer.
	client, err := sipgo.NewClient(ua, sipgo.WithClientHostname("127.0.0.1"), sipgo.WithClientConnectionAddr(local.String()))
	if err != nil {
		t.Fatal(err)
	}
	p := &sipPeer{
		t:        t,
		client:   client,
		addr:     local.String(),
		notifies: make(chan *gosip.Request, 8),
		byes:     make(chan *gosip.Request, 8),
		answered: make(chan *sipgo.DialogServerSession, 1),
	}
	p.dua = &sipgo.DialogUA{Client: client, ContactHDR: gosip.ContactHeader{Address: gosip.Uri{Scheme: "sip", User: "peer", Host: "127.0.0.1", Port: local.Port}}}
	ok := func(req *gosip.Request, tx gosip.ServerTransaction) {
		_ = tx.Respond(gosip.NewResponseFromRequest(req, 200, "OK", nil))
	}
	// Handed over before the 200 leaves: once a request of the server's has its
	// answer, the test finds it in the channel.
	srv.OnNotify(func(req *gosip.Request, tx gosip.ServerTransaction) { p.notifies <- req; ok(req, tx) })
	srv.OnBye(func(req *gosip.Request, tx gosip.ServerTransaction) { p.byes <- req; ok(req, tx) })
	srv.OnInvite(func(req *gosip.Request, tx gosip.ServerTransaction) {
		d, err := p.dua.ReadInvite(req, tx)
		if err != nil {
			return
		}
		p.uas.Store(d)
		if err := d.RespondSDP([]byte(testSDP)); err == nil {
			p.answered <- d
		}
	})
	srv.OnAck(func(req *gosip.Request, tx gosip.ServerTransaction) {
		if d := p.uas.Load(); d != nil {
			_ = d.ReadAck(req, tx)
		}
	})
	rc, err := newUDPConn(conn.(*net.UDPConn))
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	go func() {
		defer close(done)
		_ = srv.ServeUDP(rc)
	}()
	t.Cleanup(func() {
		ua.Close()
		rc.Close() // the socket: newUDPConn closed conn once it took it over
		<-done
	})
	// sipgo pools the socket just before its first read; a request sent earlier
	// would try to bind the same port again.
	<-rc.reading
	return p
}

const testSDP = "v=0\r\no=sb 1 1 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\nm=audio 40000 RTP/AVP 0\r\na=rtpmap:0 PCMU/8000\r\n"

// call dials the server and returns the established dialog.
func (p *sipPeer) call(ctx context.Context, s *Server) *sipgo.DialogClientSession {
	p.t.Helper()
	uri := gosip.Uri{Scheme: "sip", User: "1000", Host: "127.0.0.1", Port: s.Port()}
	d, err := p.dua.Invite(ctx, uri, []byte(testSDP), gosip.NewHeader("Content-Type", "application/sdp"))
	if err != nil {
		p.t.Fatalf("INVITE: %v", err)
	}
	if err := d.WaitAnswer(ctx, sipgo.AnswerOptions{}); err != nil {
		p.t.Fatalf("INVITE answer: %v", err)
	}
	if err := d.Ack(ctx); err != nil {
		p.t.Fatalf("ACK: %v", err)
	}
	return d
}

// referServer is a server that answers every call and hands the leg over, with
// handler (may be nil) already in place for REFERs on it.
func referServer(t *testing.T, handler ReferHandler) (*Server, <-chan *InboundLeg) {
	t.Helper()
	s := listeningServer(t, Config{Listen: []string{"udp://127.0.0.1:0"}})
	legs := make(chan *InboundLeg, 1)
	s.OnInvite(func(req *Request, tx ServerTransaction) {
		l, err := s.Accept(req, tx)
		if err != nil {
			return
		}
		if handler != nil {
			l.OnRefer(handler)
		}
		if err := l.Answer([]byte(testSDP)); err != nil {
			return
		}
		legs <- l
		<-l.Done()
	})
	return s, legs
}

func ctxFor(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	t.Cleanup(cancel)
	return ctx
}

func recv[T any](t *testing.T, ch <-chan T, what string) T {
	t.Helper()
	select {
	case v := <-ch:
		return v
	case <-time.After(10 * time.Second):
		t.Fatalf("no %s", what)
		var zero T
		return zero
	}
}

// referIn builds a REFER for the dialog d with extra headers ("Name: value").
func referIn(target gosip.Uri, hdrs ...string) *gosip.Request {
	req := gosip.NewRequest(gosip.REFER, target)
	for _, h := range hdrs {
		k, v, _ := strings.Cut(h, ":")
		req.AppendHeader(gosip.NewHeader(k, strings.TrimSpace(v)))
	}
	return req
}

// checkNotify checks a NOTIFY of the refer subscription.
func checkNotify(t *testing.T, n *gosip.Request, state, body string) {
	t.Helper()
	get := func(name string) string {
		if h := n.GetHeader(name); h != nil {
			return h.Value()
		}
		return ""
	}
	if get("Event") != "refer" || get("Subscription-State") != state ||
		get("Content-Type") != "message/sipfrag;version=2.0" || string(n.Body()) != body || n.Contact() == nil {
		t.Errorf("NOTIFY: Event %q, Subscription-State %q, Content-Type %q, Contact %v, body %q; want refer, %q, message/sipfrag;version=2.0, a Contact, %q",
			get("Event"), get("Subscription-State"), get("Content-Type"), n.Contact(), n.Body(), state, body)
	}
}

// An accepted REFER gets 202 and the NOTIFY "100 Trying"; Notify(200) then reaches
// the transferor as the final NOTIFY, and later Notify calls send nothing.
func TestReferAccepted(t *testing.T) {
	t.Parallel()
	refers := make(chan *Refer, 1)
	s, legs := referServer(t, func(r *Refer) (int, string) {
		refers <- r
		return 202, "Accepted"
	})
	p := newSIPPeer(t)
	ctx := ctxFor(t)
	d := p.call(ctx, s)
	recv(t, legs, "leg")

	res, err := d.Do(ctx, referIn(d.InviteResponse.Contact().Address,
		"Refer-To: <sip:1003@pbx.example?Replaces=c1%40h%3Bto-tag%3Da%3Bfrom-tag%3Db>",
		"Referred-By: <sip:1001@pbx.example>"))
	if err != nil || res.StatusCode != 202 {
		t.Fatalf("REFER: %v, %v; want 202", res, err)
	}
	if res.Contact() == nil {
		t.Error("202 to REFER without Contact")
	}
	r := recv(t, refers, "REFER at the handler")
	if r.Target.User != "1003" || r.Target.Host != "pbx.example" || len(r.Target.Headers) != 0 {
		t.Errorf("Target %s", r.Target.String())
	}
	if r.Replaces == nil || *r.Replaces != (Replaces{CallID: "c1@h", ToTag: "a", FromTag: "b"}) {
		t.Errorf("Replaces %+v", r.Replaces)
	}
	if r.ReferredBy != "<sip:1001@pbx.example>" {
		t.Errorf("ReferredBy %q", r.ReferredBy)
	}
	checkNotify(t, recv(t, p.notifies, "NOTIFY 100"), "active;expires=60", "SIP/2.0 100 Trying\r\n")

	if err := r.Notify(ctx, 200, "OK"); err != nil {
		t.Fatalf("Notify 200: %v", err)
	}
	n := recv(t, p.notifies, "NOTIFY 200")
	checkNotify(t, n, "terminated;reason=noresource", "SIP/2.0 200 OK\r\n")
	if n.Recipient.User != "peer" {
		t.Errorf("NOTIFY to %s, want the peer's Contact", n.Recipient.String())
	}
	if err := r.Notify(ctx, 503, "Service Unavailable"); err != nil {
		t.Fatalf("Notify after the final one: %v", err)
	}
	// The NOTIFY would have reached the peer before its answer let Notify return.
	if len(p.notifies) != 0 {
		t.Error("a NOTIFY was sent after the final one")
	}
}

// The answers to REFERs that cannot be accepted, and Refer-Sub: false.
func TestReferAnswers(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name    string
		handler ReferHandler // nil: no handler on the leg
		headers []string
		want    int
	}{
		{"no handler", nil, []string{"Refer-To: <sip:1003@pbx>"}, 603},
		{"no Refer-To", accept, nil, 400},
		{"two Refer-To", accept, []string{"Refer-To: <sip:1003@pbx>", "Refer-To: <sip:1004@pbx>"}, 400},
		{"bad Replaces", accept, []string{"Refer-To: <sip:1003@pbx?Replaces=c1%3Bto-tag%3Da>"}, 400},
		{"handler says 404", func(*Refer) (int, string) { return 404, "Not Found" }, []string{"Refer-To: <sip:9999@pbx>"}, 404},
		{"baresip style", accept, []string{"Refer-To: sip:1003@test.local"}, 202},
		{"Refer-Sub false", accept, []string{"Refer-To: <sip:1003@pbx>", "Refer-Sub: false"}, 202},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			refers := make(chan *Refer, 1)
			var h ReferHandler
			if tc.handler != nil {
				h = func(r *Refer) (int, string) {
					refers <- r
					return tc.handler(r)
				}
			}
			s, legs := referServer(t, h)
			p := newSIPPeer(t)
			ctx := ctxFor(t)
			d := p.call(ctx, s)
			recv(t, legs, "leg")
			res, err := d.Do(ctx, referIn(d.InviteResponse.Contact().Address, tc.headers...))
			if err != nil || res.StatusCode != tc.want {
				t.Fatalf("REFER: %v, %v; want %d", res, err, tc.want)
			}
			if tc.want != 202 {
				return
			}
			r := recv(t, refers, "REFER at the handler")
			noSub := tc.name == "Refer-Sub false"
			if got := res.GetHeader("Refer-Sub"); noSub != (got != nil && got.Value() == "false") {
				t.Errorf("202 Refer-Sub header %v", got)
			}
			if err := r.Notify(ctx, 200, "OK"); err != nil {
				t.Fatalf("Notify: %v", err)
			}
			if noSub {
				// Notify returns only after the REFER's goroutine is done, which
				// is where the first NOTIFY would have been sent and answered.
				if len(p.notifies) != 0 {
					t.Error("NOTIFY sent although the REFER said Refer-Sub: false")
				}
				return
			}
			checkNotify(t, recv(t, p.notifies, "NOTIFY 100"), "active;expires=60", "SIP/2.0 100 Trying\r\n")
			checkNotify(t, recv(t, p.notifies, "NOTIFY 200"), "terminated;reason=noresource", "SIP/2.0 200 OK\r\n")
		})
	}
}

func accept(*Refer) (int, string) { return 202, "Accepted" }

// A REFER naming no dialog of ours gets 481; one outside any dialog 405, and
// Allow then lists REFER.
func TestReferOutsideDialog(t *testing.T) {
	t.Parallel()
	s := listeningServer(t, Config{Listen: []string{"udp://127.0.0.1:0"}})
	p := newSIPPeer(t)
	ctx := ctxFor(t)
	for _, tc := range []struct {
		toTag string
		want  int
	}{{"unknown", 481}, {"", 405}} {
		req := referIn(gosip.Uri{Scheme: "sip", User: "1000", Host: "127.0.0.1", Port: s.Port()}, "Refer-To: <sip:1003@pbx>")
		to := &gosip.ToHeader{Address: req.Recipient}
		if tc.toTag != "" {
			to.Params = gosip.NewParams()
			to.Params.Add("tag", tc.toTag)
		}
		req.AppendHeader(to)
		res, err := p.client.Do(ctx, req)
		if err != nil || res.StatusCode != tc.want {
			t.Fatalf("REFER with To tag %q: %v, %v; want %d", tc.toTag, res, err, tc.want)
		}
		if tc.want == 405 {
			if a := res.GetHeader("Allow"); a == nil || !strings.Contains(a.Value(), "REFER") {
				t.Errorf("405 Allow %v, want REFER listed", a)
			}
		}
	}
}

// A REFER on a leg the server dialled reaches that leg's handler, and its
// NOTIFYs go out in that dialog.
func TestReferOnOutboundLeg(t *testing.T) {
	t.Parallel()
	s := listeningServer(t, Config{Listen: []string{"udp://127.0.0.1:0"}})
	p := newSIPPeer(t)
	ctx := ctxFor(t)
	l, err := s.Dial(ctx, DialSpec{URI: "sip:peer@" + p.addr, FromUser: "1000", SDP: []byte(testSDP)})
	if err != nil {
		t.Fatal(err)
	}
	if err := l.Wait(ctx, nil); err != nil {
		t.Fatal(err)
	}
	refers := make(chan *Refer, 1)
	l.OnRefer(func(r *Refer) (int, string) { refers <- r; return 202, "Accepted" })
	d := recv(t, p.answered, "answered dialog")
	res, err := d.Do(ctx, referIn(d.InviteRequest.Contact().Address, "Refer-To: <sip:2000@pbx>"))
	if err != nil || res.StatusCode != 202 {
		t.Fatalf("REFER: %v, %v; want 202", res, err)
	}
	r := recv(t, refers, "REFER at the handler")
	n := recv(t, p.notifies, "NOTIFY 100")
	checkNotify(t, n, "active;expires=60", "SIP/2.0 100 Trying\r\n")
	ourTag, _ := d.InviteRequest.From().Params.Get("tag")
	if ft, _ := n.From().Params.Get("tag"); ft != ourTag || n.CallID().Value() != d.InviteRequest.CallID().Value() {
		t.Errorf("NOTIFY From tag %q Call-ID %q, want the dialog's %q %q", ft, n.CallID().Value(), ourTag, d.InviteRequest.CallID().Value())
	}
	if err := r.Notify(ctx, 603, "Declined"); err != nil {
		t.Fatal(err)
	}
	checkNotify(t, recv(t, p.notifies, "NOTIFY 603"), "terminated;reason=noresource", "SIP/2.0 603 Declined\r\n")
}

// LegByReplaces finds answered legs, inbound and outbound, by call-id and both
// tags in either order, and nothing for a wrong tag or an ended leg.
func TestLegByReplaces(t *testing.T) {
	t.Parallel()
	s, legs := referServer(t, nil)
	p := newSIPPeer(t)
	ctx := ctxFor(t)
	d := p.call(ctx, s)
	in := recv(t, legs, "inbound leg")

	out, err := s.Dial(ctx, DialSpec{URI: "sip:peer@" + p.addr, FromUser: "1000", SDP: []byte(testSDP)})
	if err != nil {
		t.Fatal(err)
	}
	if err := out.Wait(ctx, nil); err != nil {
		t.Fatal(err)
	}
	od := recv(t, p.answered, "answered dialog")

	tags := func(req *gosip.Request, res *gosip.Response) (callID, from, to string) {
		from, _ = req.From().Params.Get("tag")
		to, _ = res.To().Params.Get("tag")
		return req.CallID().Value(), from, to
	}
	inCall, inFrom, inTo := tags(d.InviteRequest, d.InviteResponse)
	outCall, outFrom, outTo := tags(od.InviteRequest, od.InviteResponse)
	tests := []struct {
		name    string
		r       Replaces
		wantIn  *InboundLeg
		wantOut *OutboundLeg
	}{
		{"inbound as the caller names it", Replaces{CallID: inCall, ToTag: inTo, FromTag: inFrom}, in, nil},
		{"inbound tags swapped", Replaces{CallID: inCall, ToTag: inFrom, FromTag: inTo}, in, nil},
		{"outbound as the callee names it", Replaces{CallID: outCall, ToTag: outFrom, FromTag: outTo}, nil, out},
		{"outbound tags swapped", Replaces{CallID: outCall, ToTag: outTo, FromTag: outFrom}, nil, out},
		{"wrong tag", Replaces{CallID: inCall, ToTag: inTo, FromTag: "nope"}, nil, nil},
		{"wrong call", Replaces{CallID: "nope", ToTag: inTo, FromTag: inFrom}, nil, nil},
	}
	for _, tc := range tests {
		gotIn, gotOut := s.LegByReplaces(tc.r)
		if gotIn != tc.wantIn || gotOut != tc.wantOut {
			t.Errorf("%s: LegByReplaces = %p, %p; want %p, %p", tc.name, gotIn, gotOut, tc.wantIn, tc.wantOut)
		}
	}

	if err := out.Hangup(ctx); err != nil {
		t.Fatal(err)
	}
	if gotIn, gotOut := s.LegByReplaces(Replaces{CallID: outCall, ToTag: outTo, FromTag: outFrom}); gotIn != nil || gotOut != nil {
		t.Errorf("ended outbound leg found: %p, %p", gotIn, gotOut)
	}
}

// Reject on an answered leg cannot send a response any more: it hangs up with
// BYE and says why in a Reason header.
func TestRejectAnsweredLegSendsBye(t *testing.T) {
	t.Parallel()
	s, legs := referServer(t, nil)
	p := newSIPPeer(t)
	ctx := ctxFor(t)
	p.call(ctx, s)
	in := recv(t, legs, "inbound leg")
	if err := in.Reject(404, "Not Found"); err != nil {
		t.Fatalf("Reject: %v", err)
	}
	bye := recv(t, p.byes, "BYE")
	if h := bye.GetHeader("Reason"); h == nil || h.Value() != `SIP;cause=404;text="Not Found"` {
		t.Errorf("BYE Reason %v", h)
	}
	<-in.Done()
	if in.Cause() != "404 Not Found" {
		t.Errorf("Cause %q", in.Cause())
	}
}
