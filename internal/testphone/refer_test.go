package testphone

import (
	"context"
	"errors"
	"log/slog"
	"testing"

	"switchboard/sip"
)

// referPBX is switchboard's own sip.Server standing in for the PBX: it answers
// every call, hands the legs over, and answers REFERs with code (202 accepts),
// handing each over too. Checked against it, Refer, ReferReplaces, ReplacesValue
// and DialReplaces speak the dialect the real PBX reads.
func referPBX(t *testing.T, code int) (*sip.Server, <-chan *sip.InboundLeg, <-chan *sip.Refer) {
	t.Helper()
	s, err := sip.New(sip.Config{Listen: []string{"udp://127.0.0.1:0"}, Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	if err := s.Listen(ctx); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = s.Close() })
	legs := make(chan *sip.InboundLeg, 4)
	refers := make(chan *sip.Refer, 4)
	sdp := []byte("v=0\r\no=pbx 1 1 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\nm=audio 40000 RTP/AVP 0\r\na=rtpmap:0 PCMU/8000\r\n")
	s.OnInvite(func(req *sip.Request, tx sip.ServerTransaction) {
		l, err := s.Accept(req, tx)
		if err != nil {
			return
		}
		l.OnRefer(func(r *sip.Refer) (int, string) {
			refers <- r
			return code, "As Told"
		})
		if err := l.Answer(sdp); err != nil {
			return
		}
		legs <- l
		<-l.Done()
	})
	return s, legs, refers
}

func recvOne[T any](t *testing.T, ch <-chan T, what string) T {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), guard)
	defer cancel()
	select {
	case v := <-ch:
		return v
	case <-ctx.Done():
		t.Fatalf("no %s", what)
		var zero T
		return zero
	}
}

// A blind transfer: the REFER names the target, its NOTIFYs arrive in order on
// Notifies, which closes after the final one.
func TestReferBlind(t *testing.T) {
	t.Parallel()
	s, legs, refers := referPBX(t, 202)
	addr := s.Listeners()[0].Addr.String()
	ph := newPhone(t, Config{User: "1001", Server: addr})
	ctx, cancel := context.WithTimeout(context.Background(), guard)
	defer cancel()
	c, err := ph.Dial(ctx, "1000")
	if err != nil {
		t.Fatal(err)
	}
	recvOne(t, legs, "leg")
	rs, err := c.Refer(ctx, "1003")
	if err != nil {
		t.Fatalf("Refer: %v", err)
	}
	r := recvOne(t, refers, "REFER")
	if r.Target.User != "1003" || r.Replaces != nil || r.ReferredBy == "" {
		t.Errorf("REFER at the PBX: target %s, Replaces %v, Referred-By %q", r.Target.String(), r.Replaces, r.ReferredBy)
	}
	if got := recvOne(t, rs.Notifies(), "NOTIFY 100"); got != 100 {
		t.Errorf("first NOTIFY %d, want 100", got)
	}
	if err := r.Notify(ctx, 180, "Ringing"); err != nil {
		t.Fatal(err)
	}
	if err := r.Notify(ctx, 200, "OK"); err != nil {
		t.Fatal(err)
	}
	for _, want := range []int{180, 200} {
		if got := recvOne(t, rs.Notifies(), "NOTIFY"); got != want {
			t.Errorf("NOTIFY %d, want %d", got, want)
		}
	}
	if _, open := <-rs.Notifies(); open {
		t.Error("Notifies still open after the final NOTIFY")
	}
}

// A refused REFER is a *StatusError and leaves the call as it was.
func TestReferRefused(t *testing.T) {
	t.Parallel()
	s, legs, _ := referPBX(t, 404)
	ph := newPhone(t, Config{User: "1001", Server: s.Listeners()[0].Addr.String()})
	ctx, cancel := context.WithTimeout(context.Background(), guard)
	defer cancel()
	c, err := ph.Dial(ctx, "1000")
	if err != nil {
		t.Fatal(err)
	}
	recvOne(t, legs, "leg")
	_, err = c.Refer(ctx, "9999")
	var se *StatusError
	if !errors.As(err, &se) || se.Code != 404 {
		t.Fatalf("Refer: %v, want a 404 StatusError", err)
	}
	if err := c.Hangup(ctx); err != nil {
		t.Fatalf("Hangup after the refused REFER: %v", err)
	}
}

// ReplacesValue names a call's dialog as the PBX finds it, in a REFER's Refer-To
// (attended transfer) and in an INVITE's Replaces header.
func TestReplaces(t *testing.T) {
	t.Parallel()
	s, legs, refers := referPBX(t, 202)
	addr := s.Listeners()[0].Addr.String()
	ph := newPhone(t, Config{User: "1001", Server: addr})
	other := newPhone(t, Config{User: "1002", Server: addr})
	ctx, cancel := context.WithTimeout(context.Background(), guard)
	defer cancel()
	customer, err := ph.Dial(ctx, "1000")
	if err != nil {
		t.Fatal(err)
	}
	recvOne(t, legs, "customer leg")
	consult, err := ph.Dial(ctx, "1004")
	if err != nil {
		t.Fatal(err)
	}
	consultLeg := recvOne(t, legs, "consult leg")

	if _, err := customer.ReferReplaces(ctx, "1004", consult); err != nil {
		t.Fatalf("ReferReplaces: %v", err)
	}
	r := recvOne(t, refers, "REFER")
	if r.Replaces == nil || r.Target.User != "1004" {
		t.Fatalf("REFER at the PBX: target %s, Replaces %v", r.Target.String(), r.Replaces)
	}
	if in, _ := s.LegByReplaces(*r.Replaces); in != consultLeg {
		t.Errorf("the Replaces of the Refer-To (%s) names leg %p, want the consult leg %p", r.Replaces, in, consultLeg)
	}

	got := make(chan sip.Replaces, 1)
	s.OnInvite(func(req *sip.Request, tx sip.ServerTransaction) {
		rep, ok, err := sip.ReplacesOf(req)
		if ok && err == nil {
			got <- rep
		}
		s.Respond(tx, req, 486, "Busy Here")
	})
	_, err = other.DialReplaces(ctx, "1000", consult.ReplacesValue())
	var se *StatusError
	if !errors.As(err, &se) || se.Code != 486 {
		t.Fatalf("DialReplaces: %v, want the test's 486", err)
	}
	rep := recvOne(t, got, "INVITE with Replaces")
	if in, _ := s.LegByReplaces(rep); in != consultLeg {
		t.Errorf("the Replaces of the INVITE (%s) names leg %p, want the consult leg %p", rep, in, consultLeg)
	}
}
