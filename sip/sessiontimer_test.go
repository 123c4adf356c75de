package sip

import (
	"context"
	"fmt"
	"log/slog"
	"runtime"
	"strings"
	"testing"
	"time"

	gosip "github.com/emiago/sipgo/sip"

	"switchboard/internal/sipptest"
)

func TestReadSessionParams(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name          string
		headers       []string
		minSE         time.Duration
		present, ok   bool
		wantInterval  time.Duration
		wantRefresher string
	}{
		{"none", nil, 90 * time.Second, false, false, 0, ""},
		{"uac refreshes", []string{"Supported: timer", "Session-Expires: 1800;refresher=uac"}, 90 * time.Second, true, true, 1800 * time.Second, "uac"},
		{"caller leaves it to us", []string{"Supported: replaces, timer", "Session-Expires: 600"}, 90 * time.Second, true, true, 600 * time.Second, "uac"},
		{"caller asks us to refresh", []string{"Supported: timer", "Session-Expires: 600;refresher=uas"}, 90 * time.Second, true, true, 600 * time.Second, "uas"},
		{"no timer support forces uas", []string{"Session-Expires: 600;refresher=uac"}, 90 * time.Second, true, true, 600 * time.Second, "uas"},
		{"compact form", []string{"k: timer", "x: 300"}, 90 * time.Second, true, true, 300 * time.Second, "uac"},
		{"Min-SE raises interval", []string{"Supported: timer", "Session-Expires: 100", "Min-SE: 200"}, 90 * time.Second, true, true, 200 * time.Second, "uac"},
		{"too small", []string{"Supported: timer", "Session-Expires: 30"}, 90 * time.Second, true, false, 0, ""},
		{"too small without timer support is raised", []string{"Session-Expires: 30"}, 90 * time.Second, true, true, 90 * time.Second, "uas"},
		{"garbage is ignored", []string{"Session-Expires: soon"}, 90 * time.Second, false, false, 0, ""},
		{"zero is ignored", []string{"Session-Expires: 0"}, 90 * time.Second, false, false, 0, ""},
		{"odd refresher ignored", []string{"Supported: timer", "Session-Expires: 120;refresher=both"}, 90 * time.Second, true, true, 120 * time.Second, "uac"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			req := gosip.NewRequest(gosip.INVITE, gosip.Uri{Scheme: "sip", User: "1001", Host: "127.0.0.1"})
			for _, h := range tc.headers {
				k, v, _ := strings.Cut(h, ":")
				req.AppendHeader(gosip.NewHeader(k, strings.TrimSpace(v)))
			}
			p := readSessionParams(req)
			if p.present != tc.present {
				t.Fatalf("present = %v, want %v", p.present, tc.present)
			}
			if !p.present {
				return
			}
			interval, refresher, ok := p.negotiate(tc.minSE)
			if ok != tc.ok || interval != tc.wantInterval || refresher != tc.wantRefresher {
				t.Fatalf("negotiate = %v %q %v, want %v %q %v", interval, refresher, ok, tc.wantInterval, tc.wantRefresher, tc.ok)
			}
		})
	}
}

func FuzzSessionParams(f *testing.F) {
	for _, s := range []string{"1800;refresher=uac", "90", "x;refresher=", "4294967296", ";;;", "600 ; refresher = UAS"} {
		f.Add(s, "timer")
	}
	f.Fuzz(func(t *testing.T, se, supported string) {
		req := gosip.NewRequest(gosip.INVITE, gosip.Uri{Scheme: "sip", Host: "127.0.0.1"})
		req.AppendHeader(gosip.NewHeader("Session-Expires", se))
		req.AppendHeader(gosip.NewHeader("Supported", supported))
		req.AppendHeader(gosip.NewHeader("Min-SE", se))
		p := readSessionParams(req)
		if !p.present {
			return
		}
		interval, refresher, ok := p.negotiate(DefaultMinSE)
		if !ok {
			return
		}
		if interval < DefaultMinSE || (refresher != "uac" && refresher != "uas") {
			t.Fatalf("negotiate(%q) = %v %q", se, interval, refresher)
		}
		if !p.timerOK && refresher != "uas" {
			t.Fatalf("peer without timer support made refresher: %q", se)
		}
	})
}

// timerServer is a sip.Server whose INVITE handler answers every call, runs after
// (when set) and reports why each call ended, or after's error.
func timerServer(t *testing.T, minSE time.Duration, after func(*InboundLeg) error) (*Server, <-chan string) {
	t.Helper()
	s, err := New(Config{Listen: []string{"udp://127.0.0.1:0"}, MinSE: minSE, Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	if err := s.Listen(ctx); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = s.Close() })
	causes := make(chan string, 4)
	s.OnInvite(func(req *Request, tx ServerTransaction) {
		l, err := s.Accept(req, tx)
		if err != nil {
			return
		}
		sdp := "v=0\r\no=sb 1 1 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\nm=audio 40000 RTP/AVP 0\r\na=rtpmap:0 PCMU/8000\r\n"
		if err := l.Answer([]byte(sdp)); err != nil {
			causes <- "answer: " + err.Error()
			return
		}
		if after != nil {
			if err := after(l); err != nil {
				causes <- err.Error()
				_ = l.Hangup(context.Background())
				return
			}
		}
		<-l.Done()
		causes <- l.Cause()
	})
	return s, causes
}

// Session timers against SIPp as the caller: the server refreshes when it must (by
// UPDATE, or re-INVITE when UPDATE is not allowed), ends a session its refresher
// abandoned, and refuses an interval below Min-SE.
func TestSessionTimersWithSIPp(t *testing.T) {
	t.Parallel()
	sipptest.Require(t)
	tests := []struct {
		scenario  string
		wantCause string // "" when no call is set up
	}{
		{"uac-timer-expire.xml", "session-expired"},
		{"uac-timer-uas-refresh.xml", "BYE"},
		{"uac-timer-reinvite-refresh.xml", "BYE"},
		{"uac-timer-422.xml", ""},
	}
	for _, tc := range tests {
		t.Run(tc.scenario, func(t *testing.T) {
			t.Parallel()
			s, causes := timerServer(t, 2*time.Second, nil)
			res, err := sipptest.Run{
				Scenario: "../test/sipp/" + tc.scenario,
				Remote:   s.Listeners()[0].Addr.String(),
				Args:     []string{"-s", "2000", "-m", "1"},
				Timeout:  30 * time.Second,
			}.Start(t).Wait()
			if err != nil || res.Successful != 1 {
				t.Fatalf("sipp %s: %v, %d successful\n%s", tc.scenario, err, res.Successful, res.Errors)
			}
			if tc.wantCause == "" {
				return
			}
			select {
			case got := <-causes:
				if got != tc.wantCause {
					t.Fatalf("call ended with cause %q, want %q", got, tc.wantCause)
				}
			case <-time.After(10 * time.Second):
				t.Fatal("the call did not end on the server")
			}
		})
	}
}

// Re-INVITE glare against SIPp (test/sipp/uac-reinvite-glare.xml): a peer's
// re-INVITE that crosses ours gets 491, and ours, answered 491, is sent again.
func TestReinviteGlareWithSIPp(t *testing.T) {
	t.Parallel()
	sipptest.Require(t)
	s, causes := timerServer(t, 0, func(l *InboundLeg) error {
		ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
		defer cancel()
		for i := range 2 {
			if _, err := l.Reinvite(ctx, l.LastLocalSDP()); err != nil {
				return fmt.Errorf("re-INVITE %d: %w", i+1, err)
			}
		}
		return nil
	})
	res, err := sipptest.Run{
		Scenario: "../test/sipp/uac-reinvite-glare.xml",
		Remote:   s.Listeners()[0].Addr.String(),
		Args:     []string{"-s", "2000", "-m", "1"},
		Timeout:  30 * time.Second,
	}.Start(t).Wait()
	if err != nil || res.Successful != 1 {
		t.Fatalf("sipp: %v, %d successful\n%s", err, res.Successful, res.Errors)
	}
	select {
	case got := <-causes:
		if got != "BYE" {
			t.Fatalf("call ended with %q, want the caller's BYE after both re-INVITEs succeeded", got)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("the call did not end on the server")
	}
}

// Between a 491 and our retry, a crossing re-INVITE of the peer's is no longer
// glare (RFC 3261 section 14.1): offering is false while we wait, true while a
// request of ours is out.
func TestOfferNotPendingDuringGlareWait(t *testing.T) {
	t.Parallel()
	l := newLegState()
	seenIdle := make(chan struct{})
	calls := 0
	res, err := l.offer(context.Background(), func() (*Response, error) {
		calls++
		if !l.offering.Load() {
			t.Error("offering unset while a request is out")
		}
		if calls == 1 {
			go func() {
				for l.offering.Load() {
					runtime.Gosched()
				}
				close(seenIdle)
			}()
			return gosip.NewResponse(491, "Request Pending"), nil
		}
		select {
		case <-seenIdle:
		default:
			t.Error("offering stayed set through the wait after 491")
		}
		return gosip.NewResponse(200, "OK"), nil
	})
	if err != nil || res.StatusCode != 200 || calls != 2 {
		t.Fatalf("offer = %v, %v after %d sends", res, err, calls)
	}
	if l.offering.Load() {
		t.Error("offering still set after the offer")
	}
}
