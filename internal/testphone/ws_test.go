package testphone

import (
	"context"
	"crypto/tls"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/emiago/sipgo"
	"github.com/emiago/sipgo/sip"

	"switchboard/internal/audio"
	"switchboard/internal/testcert"
)

// testTLS makes a self-signed certificate for 127.0.0.1: serve serves with it,
// trust is a client config that accepts only it.
func testTLS(t *testing.T) (serve, trust *tls.Config) {
	t.Helper()
	c := testcert.New(t)
	return c.Server(), c.Client()
}

func TestNewRejectsWebSocketWithoutServerOrTLS(t *testing.T) {
	t.Parallel()
	_, trust := testTLS(t)
	tests := []struct {
		name string
		cfg  Config
		want string
	}{
		{name: "ws without server", cfg: Config{Transport: "ws"}, want: "needs Config.Server"},
		{name: "wss without server", cfg: Config{Transport: "wss", TLS: trust}, want: "needs Config.Server"},
		{name: "wss without tls", cfg: Config{Transport: "WSS", Server: "127.0.0.1:1"}, want: "needs Config.TLS"},
		{name: "unknown", cfg: Config{Transport: "sctp"}, want: "unsupported transport"},
	}
	for _, tt := range tests {
		p, err := New(context.Background(), tt.cfg)
		if err == nil {
			_ = p.Close()
			t.Errorf("%s: New succeeded", tt.name)
			continue
		}
		if !strings.Contains(err.Error(), tt.want) {
			t.Errorf("%s: New error %q, want it to mention %q", tt.name, err, tt.want)
		}
	}
}

// A WebSocket phone registers with digest over its connection, with the
// RFC 7118 Contact, gets the server's NOTIFY back over that connection (it has
// no other address), and places an authenticated INVITE over it.
func TestWebSocketRegisterSubscribeDial(t *testing.T) {
	t.Parallel()
	serve, trust := testTLS(t)
	for _, network := range []string{"ws", "wss"} {
		t.Run(network, func(t *testing.T) {
			t.Parallel()
			ctx, cancel := context.WithTimeout(context.Background(), guard)
			defer cancel()
			reg := newFakeRegistrarOn(t, map[string]string{"1001": "s3cret"}, network, serve)
			p := newPhone(t, Config{User: "1001", Password: "s3cret", Domain: testRealm, Server: reg.addr, Transport: network, TLS: trust})

			var u sip.Uri
			if err := sip.ParseUri(p.URI(), &u); err != nil {
				t.Fatal(err)
			}
			if tp, _ := u.UriParams.Get("transport"); tp != "ws" || !strings.HasSuffix(u.Host, ".invalid") || u.Port != 0 {
				t.Errorf("contact %s: want sip:1001@<random>.invalid;transport=ws (RFC 7118)", p.URI())
			}
			if p.ContactAddr() != u.Host {
				t.Errorf("ContactAddr() = %q, want the contact host %q", p.ContactAddr(), u.Host)
			}

			if err := p.Register(ctx, time.Minute); err != nil {
				t.Fatalf("Register over %s: %v", network, err)
			}
			if got := reg.contact("1001"); got != p.URI() {
				t.Errorf("registered contact %q, want %q", got, p.URI())
			}
			if b := reg.bindingOf("1001"); b.transport != strings.ToUpper(network) {
				t.Errorf("REGISTER arrived over %q, want %s", b.transport, strings.ToUpper(network))
			}

			ch, err := p.SubscribeMWI(ctx, time.Minute)
			if err != nil {
				t.Fatalf("SubscribeMWI: %v", err)
			}
			select {
			case body := <-ch:
				if !strings.HasPrefix(body, "Messages-Waiting: yes") {
					t.Errorf("NOTIFY body %q", body)
				}
			case <-time.After(guard):
				t.Fatal("no NOTIFY over the phone's connection")
			}
			if err := <-reg.notified; err != nil {
				t.Errorf("NOTIFY: %v", err)
			}

			_, err = p.Dial(ctx, "1002")
			var se *StatusError
			if !errors.As(err, &se) || se.Code != 486 || se.Reason != "Busy 1002" {
				t.Errorf("Dial over %s = %v, want the authenticated INVITE's 486 Busy 1002", network, err)
			}

			if err := p.Unregister(ctx); err != nil {
				t.Fatalf("Unregister: %v", err)
			}
		})
	}
}

// The server calls a registered WebSocket phone over the phone's own connection
// (its Contact host cannot be resolved); audio flows both ways and either side's
// BYE ends the call.
func TestWebSocketIncomingCall(t *testing.T) {
	t.Parallel()
	serve, trust := testTLS(t)
	tests := []struct {
		network      string
		phoneHangsUp bool
	}{
		{network: "ws", phoneHangsUp: true},
		{network: "wss", phoneHangsUp: false},
	}
	for _, tt := range tests {
		t.Run(tt.network, func(t *testing.T) {
			t.Parallel()
			ctx, cancel := context.WithTimeout(context.Background(), guard)
			defer cancel()
			reg := newFakeRegistrarOn(t, map[string]string{"1001": "s3cret"}, tt.network, serve)
			p := newPhone(t, Config{User: "1001", Password: "s3cret", Domain: testRealm, Server: reg.addr, Transport: tt.network, TLS: trust})
			if err := p.Register(ctx, time.Minute); err != nil {
				t.Fatalf("Register: %v", err)
			}

			// The server's side is a WebRTC peer too: a WebSocket phone is a
			// browser and refuses plain RTP.
			m := newWebRTCMedia(t, "PCMA")
			offer, err := m.offer(dirSendRecv, 1)
			if err != nil {
				t.Fatal(err)
			}
			sess := reg.invite(ctx, t, "1001", offer)
			answered := make(chan error, 1)
			go func() {
				if err := sess.WaitAnswer(ctx, sipgo.AnswerOptions{}); err != nil {
					answered <- err
					return
				}
				answered <- sess.Ack(ctx)
			}()
			in := waitIncoming(t, p)
			c, err := in.Answer(ctx) // returns once our ACK arrived over the connection
			if err != nil {
				t.Fatalf("Answer: %v", err)
			}
			if err := <-answered; err != nil {
				t.Fatalf("server side of the INVITE: %v", err)
			}

			rm, err := parseSDP(sess.InviteResponse.Body())
			if err != nil {
				t.Fatalf("answer SDP: %v", err)
			}
			if !rm.webrtc {
				t.Errorf("phone over %s answered without WebRTC:\n%s", tt.network, sess.InviteResponse.Body())
			}
			if err := m.accept(offer, sess.InviteResponse.Body(), rm, dirSendRecv); err != nil {
				t.Fatalf("accept answer: %v", err)
			}
			m.start()
			m.setTone(true, 400)
			// The phone prefers PCMU, its default, and the server offered both.
			if c.Codec() != "PCMU" || m.codecName() != "PCMU" {
				t.Errorf("codecs: phone %s, server %s, want PCMU", c.Codec(), m.codecName())
			}
			c.StartTone(1000)
			f, rms, err := c.ReceivedFrequency(ctx, 200*time.Millisecond)
			if err != nil || !near(f, 400) || rms < 1000 {
				t.Errorf("phone received %.0f Hz rms %.0f err %v, want ~400 Hz", f, rms, err)
			}
			s, err := m.received(ctx, 1600)
			if f := audio.DominantFrequency(s); err != nil || !near(f, 1000) {
				t.Errorf("server received %.0f Hz err %v, want ~1000 Hz", f, err)
			}

			if tt.phoneHangsUp {
				if err := c.Hangup(ctx); err != nil {
					t.Fatalf("phone BYE over %s: %v", tt.network, err)
				}
				select {
				case <-reg.byes:
				case <-time.After(guard):
					t.Fatal("server got no BYE")
				}
			} else {
				if err := sess.Bye(ctx); err != nil {
					t.Fatalf("server BYE over %s: %v", tt.network, err)
				}
				waitClosed(t, c.Done(), "phone call after server BYE")
				if got := p.Stats().ByesReceived; got != 1 {
					t.Errorf("ByesReceived = %d", got)
				}
			}
		})
	}
}

// invite sends an INVITE to user's registered contact the way a PBX reaches a
// WebSocket phone: to the source and over the transport of its REGISTER.
func (r *fakeRegistrar) invite(ctx context.Context, t *testing.T, user string, offer []byte) *sipgo.DialogClientSession {
	t.Helper()
	var u sip.Uri
	if err := sip.ParseUri(r.contact(user), &u); err != nil {
		t.Fatalf("contact of %s: %v", user, err)
	}
	b := r.bindingOf(user)
	host, port, err := sip.ParseAddr(r.addr)
	if err != nil {
		t.Fatal(err)
	}
	contact := sip.ContactHeader{Address: sip.Uri{Scheme: "sip", User: "registrar", Host: host, Port: port}}
	// RewriteContact sends the ACK and BYE to where the answer came from, not
	// to the phone's unresolvable Contact.
	dua := &sipgo.DialogUA{Client: r.client, ContactHDR: contact, RewriteContact: true}
	req := sip.NewRequest(sip.INVITE, u)
	from := &sip.FromHeader{Address: sip.Uri{Scheme: "sip", User: "server", Host: testRealm}}
	from.Params.Add("tag", sip.GenerateTagN(16))
	req.AppendHeader(from)
	req.AppendHeader(&sip.ToHeader{Address: sip.Uri{Scheme: "sip", User: user, Host: testRealm}})
	req.AppendHeader(&contact)
	req.AppendHeader(sip.NewHeader("Content-Type", "application/sdp"))
	req.SetBody(offer)
	req.SetTransport(b.transport)
	req.SetDestination(b.source)
	sess, err := dua.WriteInvite(ctx, req)
	if err != nil {
		t.Fatalf("INVITE %s over %s to %s: %v", user, b.transport, b.source, err)
	}
	t.Cleanup(func() { _ = sess.Close() })
	return sess
}
