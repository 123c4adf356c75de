package testphone

import (
	"context"
	"crypto/rand"
	"crypto/tls"
	"encoding/hex"
	"errors"
	"net"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/emiago/sipgo"
	"github.com/emiago/sipgo/sip"
	"github.com/icholy/digest"
)

const testRealm = "pbx.test"

// fakeRegistrar is a minimal digest-checking registrar and MWI notifier: 401
// with a qop=auth challenge until the credentials match, then 200.
type fakeRegistrar struct {
	t      *testing.T
	addr   string
	client *sipgo.Client
	users  map[string]string // user -> password

	mu       sync.Mutex
	nonces   map[string]bool
	contacts map[string]string  // user -> contact URI
	bindings map[string]binding // user -> where the REGISTER came from
	notified chan error         // outcome of each NOTIFY sent
	byes     chan struct{}      // one per BYE received
}

// binding is where a registered phone is reached: the source and transport
// of its REGISTER, as a server must for a WebSocket phone it cannot dial.
type binding struct {
	source, transport string
}

func newFakeRegistrar(t *testing.T, users map[string]string) *fakeRegistrar {
	t.Helper()
	return newFakeRegistrarOn(t, users, "udp", nil)
}

// newFakeRegistrarOn starts a registrar listening on 127.0.0.1 over network:
// "udp", "ws" or "wss" (which serves with conf).
func newFakeRegistrarOn(t *testing.T, users map[string]string, network string, conf *tls.Config) *fakeRegistrar {
	t.Helper()
	ua, err := sipgo.NewUA(sipgo.WithUserAgent("registrar"))
	if err != nil {
		t.Fatal(err)
	}
	r := &fakeRegistrar{t: t, users: users, nonces: make(map[string]bool), contacts: make(map[string]string),
		bindings: make(map[string]binding), notified: make(chan error, 8), byes: make(chan struct{}, 8)}
	srv, err := sipgo.NewServer(ua)
	if err != nil {
		t.Fatal(err)
	}
	srv.OnRegister(r.onRegister)
	srv.OnSubscribe(r.onSubscribe)
	srv.OnInvite(r.onInvite)
	srv.OnAck(func(*sip.Request, sip.ServerTransaction) {}) // ACKs of our failure answers
	srv.OnBye(r.onBye)

	var serve func() error
	var closeSocket func() error
	var ready <-chan struct{} // closed once sipgo reads the socket; nil when bound is enough
	clientOpts := []sipgo.ClientOption{sipgo.WithClientHostname("127.0.0.1")}
	switch network {
	case "udp":
		conn, err := net.ListenPacket("udp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		r.addr = conn.LocalAddr().String()
		clientOpts = append(clientOpts, sipgo.WithClientConnectionAddr(r.addr))
		rc := &readyPacketConn{PacketConn: conn, ready: make(chan struct{})}
		serve = func() error {
			return srv.ServeUDP(rc)
		}
		closeSocket = conn.Close
		// sipgo pools the UDP socket just before its first read; a NOTIFY sent
		// earlier would leave from a second socket.
		ready = rc.ready
	case "ws", "wss":
		// Bound here, so phones can connect before the accept loop runs.
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		r.addr = l.Addr().String()
		serve = func() error { return srv.ServeWS(l) }
		if network == "wss" {
			serve = func() error { return srv.ServeWSS(tls.NewListener(l, conf)) }
		}
		closeSocket = l.Close
	default:
		t.Fatalf("fake registrar: network %q", network)
	}
	if r.client, err = sipgo.NewClient(ua, clientOpts...); err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	go func() {
		defer close(done)
		_ = serve()
	}()
	if ready != nil {
		<-ready
	}
	t.Cleanup(func() {
		_ = ua.Close()
		_ = closeSocket()
		<-done
	})
	return r
}

// authenticate answers 401 and returns "" unless req carries valid credentials.
func (r *fakeRegistrar) authenticate(req *sip.Request, tx sip.ServerTransaction) string {
	if h := req.GetHeader("Authorization"); h != nil {
		cred, err := digest.ParseCredentials(h.Value())
		if err == nil {
			r.mu.Lock()
			known := r.nonces[cred.Nonce]
			r.mu.Unlock()
			pw, ok := r.users[cred.Username]
			if known && ok {
				want, err := digest.Digest(&digest.Challenge{
					Realm: testRealm, Nonce: cred.Nonce, Algorithm: cred.Algorithm, QOP: []string{cred.QOP},
				}, digest.Options{
					Method: req.Method.String(), URI: cred.URI, Username: cred.Username, Password: pw,
					Cnonce: cred.Cnonce, Count: cred.Nc,
				})
				if err == nil && want.Response == cred.Response {
					return cred.Username
				}
			}
		}
	}
	var b [12]byte
	_, _ = rand.Read(b[:])
	nonce := hex.EncodeToString(b[:])
	r.mu.Lock()
	r.nonces[nonce] = true
	r.mu.Unlock()
	chal := digest.Challenge{Realm: testRealm, Nonce: nonce, Algorithm: "MD5", QOP: []string{"auth"}}
	res := sip.NewResponseFromRequest(req, sip.StatusUnauthorized, "Unauthorized", nil)
	res.AppendHeader(sip.NewHeader("WWW-Authenticate", chal.String()))
	_ = tx.Respond(res)
	return ""
}

func (r *fakeRegistrar) onRegister(req *sip.Request, tx sip.ServerTransaction) {
	user := r.authenticate(req, tx)
	if user == "" {
		return
	}
	exp, _ := strconv.Atoi(req.GetHeader("Expires").Value())
	r.mu.Lock()
	if exp == 0 {
		delete(r.contacts, user)
		delete(r.bindings, user)
	} else if ct := req.Contact(); ct != nil {
		r.contacts[user] = ct.Address.String()
		r.bindings[user] = binding{source: req.Source(), transport: req.Transport()}
	}
	r.mu.Unlock()
	res := sip.NewResponseFromRequest(req, sip.StatusOK, "OK", nil)
	if ct := req.Contact(); ct != nil && exp > 0 {
		res.AppendHeader(sip.HeaderClone(ct))
	}
	res.AppendHeader(sip.NewHeader("Expires", strconv.Itoa(exp)))
	_ = tx.Respond(res)
}

// onInvite challenges, then refuses authenticated calls with 486 naming the
// callee in the reason, so tests see that digest and routing worked.
func (r *fakeRegistrar) onInvite(req *sip.Request, tx sip.ServerTransaction) {
	if r.authenticate(req, tx) == "" {
		return
	}
	_ = tx.Respond(sip.NewResponseFromRequest(req, sip.StatusBusyHere, "Busy "+req.Recipient.User, nil))
}

// onBye answers 200 to any BYE and counts it.
func (r *fakeRegistrar) onBye(req *sip.Request, tx sip.ServerTransaction) {
	_ = tx.Respond(sip.NewResponseFromRequest(req, sip.StatusOK, "OK", nil))
	r.byes <- struct{}{}
}

func (r *fakeRegistrar) contact(user string) string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.contacts[user]
}

func (r *fakeRegistrar) bindingOf(user string) binding {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.bindings[user]
}

// onSubscribe accepts the subscription and sends one NOTIFY with a summary.
func (r *fakeRegistrar) onSubscribe(req *sip.Request, tx sip.ServerTransaction) {
	if r.authenticate(req, tx) == "" {
		return
	}
	if ev := req.GetHeader("Event"); ev == nil || ev.Value() != "message-summary" {
		_ = tx.Respond(sip.NewResponseFromRequest(req, 489, "Bad Event", nil))
		return
	}
	res := sip.NewResponseFromRequest(req, sip.StatusOK, "OK", nil)
	res.AppendHeader(sip.NewHeader("Expires", req.GetHeader("Expires").Value()))
	res.AppendHeader(&sip.ContactHeader{Address: sip.Uri{Scheme: "sip", Host: "127.0.0.1"}})
	if err := tx.Respond(res); err != nil {
		r.t.Errorf("respond SUBSCRIBE: %v", err)
		return
	}

	notify := sip.NewRequest(sip.NOTIFY, req.Contact().Address)
	from := sip.FromHeader{Address: res.To().Address, Params: res.To().Params.Clone()}
	to := sip.ToHeader{Address: req.From().Address, Params: req.From().Params.Clone()}
	notify.AppendHeader(&from)
	notify.AppendHeader(&to)
	notify.AppendHeader(sip.HeaderClone(req.CallID()))
	notify.AppendHeader(&sip.CSeqHeader{SeqNo: 1, MethodName: sip.NOTIFY})
	notify.AppendHeader(sip.NewHeader("Event", "message-summary"))
	notify.AppendHeader(sip.NewHeader("Subscription-State", "active;expires=60"))
	notify.AppendHeader(sip.NewHeader("Content-Type", "application/simple-message-summary"))
	notify.SetBody([]byte("Messages-Waiting: yes\r\nVoice-Message: 2/0\r\n"))
	// Sent where the SUBSCRIBE came from: the only way to a WebSocket phone,
	// whose Contact names an unresolvable host.
	notify.SetDestination(req.Source())
	notify.SetTransport(req.Transport())
	ctx, cancel := context.WithTimeout(context.Background(), guard)
	defer cancel()
	nres, err := r.client.Do(ctx, notify)
	if err == nil && nres.StatusCode != 200 {
		err = errors.New(nres.StartLine())
	}
	r.notified <- err
}

func TestRegister(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name     string
		password string
		wantCode int // 0: success
	}{
		{name: "right password", password: "s3cret"},
		{name: "wrong password", password: "guess", wantCode: 401},
		{name: "no password", password: "", wantCode: 401},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			ctx, cancel := context.WithTimeout(context.Background(), guard)
			defer cancel()
			reg := newFakeRegistrar(t, map[string]string{"1001": "s3cret"})
			p := newPhone(t, Config{User: "1001", Password: tt.password, Domain: testRealm, Server: reg.addr})
			err := p.Register(ctx, time.Minute)
			if tt.wantCode == 0 {
				if err != nil {
					t.Fatalf("Register: %v", err)
				}
				if got, want := reg.contact("1001"), p.URI(); got != want {
					t.Errorf("registered contact = %q, want %q", got, want)
				}
				// A refresh reuses the Call-ID with a higher CSeq and also succeeds.
				if err := p.Register(ctx, time.Minute); err != nil {
					t.Fatalf("re-Register: %v", err)
				}
				if err := p.Unregister(ctx); err != nil {
					t.Fatalf("Unregister: %v", err)
				}
				if got := reg.contact("1001"); got != "" {
					t.Errorf("contact after Unregister = %q", got)
				}
				return
			}
			var se *StatusError
			if !errors.As(err, &se) || se.Code != tt.wantCode {
				t.Fatalf("Register err = %v, want StatusError %d", err, tt.wantCode)
			}
		})
	}
}

func TestSubscribeMWI(t *testing.T) {
	t.Parallel()
	ctx, cancel := context.WithTimeout(context.Background(), guard)
	defer cancel()
	reg := newFakeRegistrar(t, map[string]string{"1001": "s3cret"})
	p := newPhone(t, Config{User: "1001", Password: "s3cret", Domain: testRealm, Server: reg.addr})
	ch, err := p.SubscribeMWI(ctx, time.Minute)
	if err != nil {
		t.Fatalf("SubscribeMWI: %v", err)
	}
	select {
	case body := <-ch:
		if want := "Messages-Waiting: yes\r\nVoice-Message: 2/0\r\n"; body != want {
			t.Errorf("NOTIFY body = %q, want %q", body, want)
		}
	case <-time.After(guard):
		t.Fatal("no NOTIFY")
	}
	// The registrar's NOTIFY transaction must see our 200 before the test ends.
	if err := <-reg.notified; err != nil {
		t.Errorf("NOTIFY: %v", err)
	}
	if got := p.Stats().NotifiesReceived; got != 1 {
		t.Errorf("NotifiesReceived = %d", got)
	}
	if err := p.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
	if _, ok := <-ch; ok {
		t.Error("MWI channel still open after Close")
	}

	bad := newPhone(t, Config{User: "1001", Password: "nope", Domain: testRealm, Server: reg.addr})
	var se *StatusError
	if _, err := bad.SubscribeMWI(ctx, time.Minute); !errors.As(err, &se) || se.Code != 401 {
		t.Errorf("SubscribeMWI with wrong password = %v, want 401", err)
	}
}

func TestOptionsAnswered(t *testing.T) {
	t.Parallel()
	ctx, cancel := context.WithTimeout(context.Background(), guard)
	defer cancel()
	reg := newFakeRegistrar(t, nil)
	p := newPhone(t, Config{User: "1001"})
	var u sip.Uri
	if err := sip.ParseUri(p.URI(), &u); err != nil {
		t.Fatal(err)
	}
	res, err := reg.client.Do(ctx, sip.NewRequest(sip.OPTIONS, u))
	if err != nil || res.StatusCode != 200 {
		t.Fatalf("OPTIONS: %v %v", res, err)
	}
	if got := p.Stats().OptionsReceived; got != 1 {
		t.Errorf("OptionsReceived = %d", got)
	}
}

func TestDialThroughServerWithDigest(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name     string
		password string
		wantCode int
	}{
		{name: "authenticated", password: "s3cret", wantCode: 486},
		{name: "wrong password", password: "guess", wantCode: 401},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			ctx, cancel := context.WithTimeout(context.Background(), guard)
			defer cancel()
			reg := newFakeRegistrar(t, map[string]string{"1001": "s3cret"})
			p := newPhone(t, Config{User: "1001", Password: tt.password, Domain: testRealm, Server: reg.addr})
			_, err := p.Dial(ctx, "1002")
			var se *StatusError
			if !errors.As(err, &se) || se.Code != tt.wantCode {
				t.Fatalf("Dial err = %v, want StatusError %d", err, tt.wantCode)
			}
			if tt.wantCode == 486 && se.Reason != "Busy 1002" {
				t.Errorf("reason = %q, want the server to see user 1002", se.Reason)
			}
		})
	}
}
