package registrar

import (
	"context"
	"errors"
	"fmt"
	"net"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/emiago/sipgo"
	"github.com/emiago/sipgo/sip"

	"switchboard/sip/auth"
)

const realm = "acme.test"

var passwords = map[string]string{"1001": "pw1001", "1002": "pw1002"}

func lookup(r, user string) (auth.Account, bool) {
	pw, ok := passwords[user]
	if !ok || r != realm {
		return auth.Account{}, false
	}
	return auth.Account{Realm: r, Username: user, ID: "acme/" + user,
		HA1: map[string]string{auth.MD5: auth.HA1(auth.MD5, user, r, pw)}}, true
}

// memStore is a Persister that records calls and can be told to fail.
type memStore struct {
	mu    sync.Mutex
	saved map[string]Binding
	saves int
	dels  int
	fail  error
}

func newMemStore() *memStore { return &memStore{saved: map[string]Binding{}} }

func (m *memStore) SaveBinding(b Binding) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.fail != nil {
		return m.fail
	}
	m.saves++
	m.saved[b.Firm+"/"+b.User+"/"+b.Contact] = b
	return nil
}

func (m *memStore) DeleteBinding(firm, user, contact string) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.fail != nil {
		return m.fail
	}
	m.dels++
	delete(m.saved, firm+"/"+user+"/"+contact)
	return nil
}

func (m *memStore) setFail(err error) { m.mu.Lock(); m.fail = err; m.mu.Unlock() }
func (m *memStore) count() (saved, saves, dels int) {
	m.mu.Lock()
	defer m.mu.Unlock()
	return len(m.saved), m.saves, m.dels
}

// rig is a real sipgo UDP server on loopback: digest auth, then the registrar.
type rig struct {
	addr  string
	port  int
	reg   *Registrar
	auth  *auth.Authenticator
	store *memStore
}

func newRig(t *testing.T, cfg Config) *rig {
	t.Helper()
	rg := &rig{store: newMemStore(), auth: auth.New(auth.Config{}, lookup)}
	rg.reg = New(cfg, rg.store)
	ua, err := sipgo.NewUA(sipgo.WithUserAgent("switchboard-test"))
	if err != nil {
		t.Fatal(err)
	}
	srv, err := sipgo.NewServer(ua)
	if err != nil {
		t.Fatal(err)
	}
	srv.OnRegister(func(req *sip.Request, tx sip.ServerTransaction) {
		acct, ok := rg.auth.Authenticate(req, tx, realm, false)
		if !ok {
			return
		}
		firm, user, _ := strings.Cut(acct.ID, "/")
		rg.reg.HandleRegister(req, tx, firm, user)
	})
	conn, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	rg.addr = conn.LocalAddr().String()
	rg.port = conn.LocalAddr().(*net.UDPAddr).Port
	go func() { _ = srv.ServeUDP(conn) }()
	t.Cleanup(func() { _ = ua.Close(); _ = conn.Close() })
	return rg
}

func newClient(t *testing.T) *sipgo.Client {
	t.Helper()
	ua, err := sipgo.NewUA(sipgo.WithUserAgent("phone"))
	if err != nil {
		t.Fatal(err)
	}
	c, err := sipgo.NewClient(ua)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = ua.Close() })
	return c
}

type regOpts struct {
	authUser, toUser, password string
	contacts                   []string
	expires                    string // "" = no Expires header
	callID                     string
	cseq                       uint32 // of the unauthenticated try; the authenticated one is cseq+1
}

// register sends a REGISTER, answers the digest challenge and returns the final response.
func (rg *rig) register(t *testing.T, c *sipgo.Client, o regOpts) *sip.Response {
	t.Helper()
	if o.toUser == "" {
		o.toUser = o.authUser
	}
	if o.password == "" {
		o.password = passwords[o.authUser]
	}
	if o.callID == "" {
		o.callID = sip.GenerateTagN(12)
	}
	if o.cseq == 0 {
		o.cseq = 1
	}
	req := sip.NewRequest(sip.REGISTER, sip.Uri{Scheme: "sip", Host: "127.0.0.1", Port: rg.port})
	from := &sip.FromHeader{Address: sip.Uri{Scheme: "sip", User: o.toUser, Host: "127.0.0.1"}, Params: sip.NewParams()}
	from.Params.Add("tag", sip.GenerateTagN(8))
	req.AppendHeader(from)
	req.AppendHeader(&sip.ToHeader{Address: sip.Uri{Scheme: "sip", User: o.toUser, Host: "127.0.0.1"}})
	callID := sip.CallIDHeader(o.callID)
	req.AppendHeader(&callID)
	req.AppendHeader(&sip.CSeqHeader{SeqNo: o.cseq, MethodName: sip.REGISTER})
	for _, ct := range o.contacts {
		req.AppendHeader(sip.NewHeader("Contact", ct))
	}
	if o.expires != "" {
		req.AppendHeader(sip.NewHeader("Expires", o.expires))
	}
	req.AppendHeader(sip.NewHeader("User-Agent", "sipgo-test"))

	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	res, err := c.Do(ctx, req)
	if err != nil {
		t.Fatalf("REGISTER: %v", err)
	}
	if res.StatusCode != sip.StatusUnauthorized {
		t.Fatalf("first REGISTER answered %d, want a 401 challenge", res.StatusCode)
	}
	res, err = c.DoDigestAuth(ctx, req, res, sipgo.DigestAuth{Username: o.authUser, Password: o.password})
	if err != nil {
		t.Fatalf("authenticated REGISTER: %v", err)
	}
	return res
}

// contactExpires maps each Contact URI of a 200 to its ;expires value.
func contactExpires(res *sip.Response) map[string]string {
	out := map[string]string{}
	for _, h := range res.GetHeaders("Contact") {
		ch := h.(*sip.ContactHeader)
		v, _ := ch.Params.Get("expires")
		out[ch.Address.String()] = v
	}
	return out
}

func contactsOf(bs []Binding) []string {
	var out []string
	for _, b := range bs {
		out = append(out, b.Contact)
	}
	return out
}

func TestRegisterOverSIP(t *testing.T) {
	t.Parallel()
	rg := newRig(t, Config{})
	c := newClient(t)
	var changesMu sync.Mutex
	changes := map[string]int{}
	rg.reg.OnChange(func(firm, user string) {
		changesMu.Lock()
		defer changesMu.Unlock()
		changes[firm+"/"+user]++
	})

	const a, b, d = "sip:1001-0x55e9@127.0.0.1:5071;transport=udp", "sip:1001@127.0.0.1:5072", "sip:desk@127.0.0.1:5073"
	res := rg.register(t, c, regOpts{authUser: "1001", contacts: []string{"<" + a + ">", "<" + b + ">;expires=120"}, expires: "300"})
	if res.StatusCode != 200 {
		t.Fatalf("register: %d %s", res.StatusCode, res.Reason)
	}
	if got, want := contactExpires(res), map[string]string{a: "300", b: "120"}; !mapsEqual(got, want) {
		t.Fatalf("200 contacts %v, want %v", got, want)
	}
	got := rg.reg.Contacts("acme", "1001")
	if !slices.Equal(contactsOf(got), []string{a, b}) {
		t.Fatalf("Contacts = %v", contactsOf(got))
	}
	if got[0].Source == "" || got[0].Transport != "UDP" || got[0].UserAgent != "sipgo-test" || got[0].CSeq != 2 {
		t.Fatalf("binding fields: %+v", got[0])
	}

	// A second phone of another user, with an over-long expiry that gets clamped.
	res = rg.register(t, c, regOpts{authUser: "1002", contacts: []string{"<" + d + ">"}, expires: "99999"})
	if res.StatusCode != 200 || contactExpires(res)[d] != "3600" {
		t.Fatalf("clamp: %d %v", res.StatusCode, contactExpires(res))
	}
	if n := rg.reg.Count(); n != 3 {
		t.Fatalf("Count = %d, want 3", n)
	}
	if all := rg.reg.All(); !slices.Equal(contactsOf(all), []string{a, b, d}) {
		t.Fatalf("All = %v", contactsOf(all))
	}

	// Fetch: no Contact changes nothing and lists the bindings.
	res = rg.register(t, c, regOpts{authUser: "1001"})
	if res.StatusCode != 200 || len(contactExpires(res)) != 2 {
		t.Fatalf("fetch: %d %v", res.StatusCode, contactExpires(res))
	}

	// Remove one contact with Expires: 0.
	res = rg.register(t, c, regOpts{authUser: "1001", contacts: []string{"<" + b + ">"}, expires: "0"})
	if res.StatusCode != 200 || !mapsEqual(contactExpires(res), map[string]string{a: contactExpires(res)[a]}) {
		t.Fatalf("unregister one: %d %v", res.StatusCode, contactExpires(res))
	}
	// Contact: * with a non-zero Expires is refused; with 0 it removes all.
	if res = rg.register(t, c, regOpts{authUser: "1001", contacts: []string{"*"}, expires: "60"}); res.StatusCode != 400 {
		t.Fatalf("* with Expires 60: %d, want 400", res.StatusCode)
	}
	if res = rg.register(t, c, regOpts{authUser: "1001", contacts: []string{"*"}, expires: "0"}); res.StatusCode != 200 || len(res.GetHeaders("Contact")) != 0 {
		t.Fatalf("* with Expires 0: %d %v", res.StatusCode, contactExpires(res))
	}
	if n := len(rg.reg.Contacts("acme", "1001")); n != 0 {
		t.Fatalf("%d contacts left after *", n)
	}
	if saved, _, dels := rg.store.count(); saved != 1 || dels != 2 {
		t.Fatalf("store holds %d bindings after %d deletes, want 1 after 2", saved, dels)
	}
	changesMu.Lock()
	defer changesMu.Unlock()
	if n := changes["acme/1001"]; n != 3 {
		t.Fatalf("OnChange for 1001 called %v times, want 3 (register, remove one, remove all)", n)
	}
}

func TestRegisterRefusals(t *testing.T) {
	t.Parallel()
	rg := newRig(t, Config{})
	c := newClient(t)
	const ct = "<sip:1001@127.0.0.1:5090>"
	tests := []struct {
		name   string
		opts   regOpts
		status int
		check  func(t *testing.T, res *sip.Response)
	}{
		{name: "interval too brief", opts: regOpts{authUser: "1001", contacts: []string{ct}, expires: "10"}, status: 423,
			check: func(t *testing.T, res *sip.Response) {
				if h := res.GetHeader("Min-Expires"); h == nil || h.Value() != "60" {
					t.Fatalf("Min-Expires = %v", h)
				}
			}},
		{name: "contact expires too brief", opts: regOpts{authUser: "1001", contacts: []string{ct + ";expires=5"}, expires: "600"}, status: 423},
		{name: "bad Expires", opts: regOpts{authUser: "1001", contacts: []string{ct}, expires: "soon"}, status: 400},
		{name: "To is another user", opts: regOpts{authUser: "1001", toUser: "1002", contacts: []string{ct}}, status: 403},
		{name: "wrong password", opts: regOpts{authUser: "1001", password: "guess", contacts: []string{ct}}, status: 401},
		{name: "unknown user", opts: regOpts{authUser: "7777", password: "guess", contacts: []string{ct}}, status: 401},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			res := rg.register(t, c, tc.opts)
			if res.StatusCode != tc.status {
				t.Fatalf("status %d %s, want %d", res.StatusCode, res.Reason, tc.status)
			}
			if tc.check != nil {
				tc.check(t, res)
			}
		})
	}
	if n := rg.reg.Count(); n != 0 {
		t.Fatalf("refused requests left %d bindings", n)
	}
	if got := rg.auth.Failures(); got != 2 {
		t.Fatalf("auth failures %d, want 2", got)
	}
}

func TestRegisterCSeqOrderAndPersistError(t *testing.T) {
	t.Parallel()
	rg := newRig(t, Config{})
	c := newClient(t)
	const ct = "<sip:1001@127.0.0.1:5091>"
	if res := rg.register(t, c, regOpts{authUser: "1001", contacts: []string{ct}, callID: "same", cseq: 10}); res.StatusCode != 200 {
		t.Fatalf("register: %d", res.StatusCode)
	}
	// Same Call-ID, lower CSeq: an old request arriving late must not undo the newer one.
	if res := rg.register(t, c, regOpts{authUser: "1001", contacts: []string{ct}, expires: "0", callID: "same", cseq: 5}); res.StatusCode != 500 {
		t.Fatalf("out-of-order CSeq: %d, want 500", res.StatusCode)
	}
	if res := rg.register(t, c, regOpts{authUser: "1001", contacts: []string{"*"}, expires: "0", callID: "same", cseq: 3}); res.StatusCode != 500 {
		t.Fatalf("out-of-order CSeq with *: %d, want 500", res.StatusCode)
	}
	if n := len(rg.reg.Contacts("acme", "1001")); n != 1 {
		t.Fatalf("binding lost after out-of-order requests: %d", n)
	}
	// A store failure answers 500 and changes nothing.
	rg.store.setFail(errors.New("disk full"))
	if res := rg.register(t, c, regOpts{authUser: "1001", contacts: []string{"<sip:other@127.0.0.1:5092>"}}); res.StatusCode != 500 {
		t.Fatalf("persist error: %d, want 500", res.StatusCode)
	}
	if n := len(rg.reg.Contacts("acme", "1001")); n != 1 {
		t.Fatalf("failed persist changed the table: %d contacts", n)
	}
	rg.store.setFail(nil)
	if res := rg.register(t, c, regOpts{authUser: "1001", contacts: []string{ct}, expires: "0", callID: "same", cseq: 20}); res.StatusCode != 200 {
		t.Fatalf("in-order unregister: %d", res.StatusCode)
	}
	if n := rg.reg.Count(); n != 0 {
		t.Fatalf("Count = %d after unregister", n)
	}
}

func TestLoadAndExpire(t *testing.T) {
	t.Parallel()
	now := time.Date(2025, 1, 1, 12, 0, 0, 0, time.UTC)
	var mu sync.Mutex
	clock := func() time.Time { mu.Lock(); defer mu.Unlock(); return now }
	store := newMemStore()
	r := New(Config{Now: clock}, store)
	var changed []string
	r.OnChange(func(firm, user string) { changed = append(changed, firm+"/"+user) })

	kept := r.Load([]Binding{
		{Firm: "acme", User: "1001", Contact: "sip:a@h", Expires: now.Add(time.Minute)},
		{Firm: "acme", User: "1001", Contact: "sip:b@h", Expires: now.Add(-time.Second)}, // expired
		{Firm: "acme", User: "1002", Contact: "sip:c@h", Expires: now.Add(time.Hour)},
		{Firm: "zeta", User: "1001", Contact: "sip:d@h", Expires: now.Add(10 * time.Minute)},
		{Firm: "acme", User: "1001", Contact: "sip:a@h", Expires: now.Add(2 * time.Minute)}, // later copy wins
	})
	if kept != 3 {
		t.Fatalf("Load kept %d, want 3", kept)
	}
	if got := r.Contacts("acme", "1001"); len(got) != 1 || !got[0].Expires.Equal(now.Add(2*time.Minute)) {
		t.Fatalf("Contacts after Load: %+v", got)
	}
	mu.Lock()
	now = now.Add(5 * time.Minute)
	mu.Unlock()
	if n := r.Count(); n != 2 {
		t.Fatalf("Count = %d, want 2 (expired ones are not counted)", n)
	}
	if n := r.Expire(); n != 1 {
		t.Fatalf("Expire dropped %d, want 1", n)
	}
	if !slices.Equal(changed, []string{"acme/1001"}) {
		t.Fatalf("OnChange calls %v", changed)
	}
	if _, _, dels := store.count(); dels != 1 {
		t.Fatalf("Expire deleted %d from the store, want 1", dels)
	}
	if got := contactsOf(r.All()); !slices.Equal(got, []string{"sip:c@h", "sip:d@h"}) {
		t.Fatalf("All = %v", got)
	}
	if n := r.Expire(); n != 0 {
		t.Fatalf("second Expire dropped %d", n)
	}
}

func TestParseDelta(t *testing.T) {
	t.Parallel()
	tests := []struct {
		in   string
		want time.Duration
		ok   bool
	}{
		{"0", 0, true}, {" 3600 ", time.Hour, true}, {"99999999999999", 4294967295 * time.Second, true},
		{"", 0, false}, {"-1", 0, false}, {"1.5", 0, false}, {"1e3", 0, false},
	}
	for _, tc := range tests {
		got, ok := parseDelta(tc.in)
		if got != tc.want || ok != tc.ok {
			t.Errorf("parseDelta(%q) = %v, %v; want %v, %v", tc.in, got, ok, tc.want, tc.ok)
		}
	}
}

func mapsEqual(a, b map[string]string) bool {
	if len(a) != len(b) {
		return false
	}
	for k, v := range a {
		if w, ok := b[k]; !ok || w != v {
			return false
		}
	}
	return true
}

func TestConcurrentRegistersAndLimit(t *testing.T) {
	t.Parallel()
	rg := newRig(t, Config{})
	var wg sync.WaitGroup
	for i := range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			c := newClient(t)
			user := []string{"1001", "1002"}[i%2]
			ct := fmt.Sprintf("<sip:p%d@127.0.0.1:%d>", i, 6000+i)
			if res := rg.register(t, c, regOpts{authUser: user, contacts: []string{ct}}); res.StatusCode != 200 {
				t.Errorf("register %s: %d", ct, res.StatusCode)
			}
			_ = rg.reg.All()
			_ = rg.reg.Count()
		}()
	}
	wg.Wait()
	if n := rg.reg.Count(); n != 8 {
		t.Fatalf("Count = %d, want 8", n)
	}
	// 1001 holds 4; 7 more would exceed MaxContactsPerUser and change nothing.
	var many []string
	for i := range MaxContactsPerUser - 4 + 1 {
		many = append(many, fmt.Sprintf("<sip:x%d@127.0.0.1:7000>", i))
	}
	if res := rg.register(t, newClient(t), regOpts{authUser: "1001", contacts: many}); res.StatusCode != 403 {
		t.Fatalf("too many contacts: %d, want 403", res.StatusCode)
	}
	if n := len(rg.reg.Contacts("acme", "1001")); n != 4 {
		t.Fatalf("1001 has %d contacts, want 4", n)
	}
}

// conns is a fake Config.Connected: the transport/source pairs whose connection is open.
type conns struct {
	mu   sync.Mutex
	open map[string]bool
}

func (c *conns) set(transport, source string, open bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.open[transport+" "+source] = open
}

func (c *conns) connected(transport, source string) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.open[transport+" "+source]
}

// wsRegister builds a REGISTER of user's contact that came over transport from source.
func wsRegister(t *testing.T, user, contact, transport, source, callID string) *sip.Request {
	t.Helper()
	req := sip.NewRequest(sip.REGISTER, sip.Uri{Scheme: "sip", Host: realm})
	aor := sip.Uri{Scheme: "sip", User: user, Host: realm}
	from := &sip.FromHeader{Address: aor}
	from.Params.Add("tag", "t")
	req.AppendHeader(from)
	req.AppendHeader(&sip.ToHeader{Address: aor})
	cid := sip.CallIDHeader(callID)
	req.AppendHeader(&cid)
	req.AppendHeader(&sip.CSeqHeader{SeqNo: 1, MethodName: sip.REGISTER})
	var cu sip.Uri
	if err := sip.ParseUri(contact, &cu); err != nil {
		t.Fatalf("contact %q: %v", contact, err)
	}
	req.AppendHeader(&sip.ContactHeader{Address: cu})
	req.AppendHeader(sip.NewHeader("Expires", "600"))
	req.SetTransport(transport)
	req.SetSource(source)
	return req
}

// A binding that came over a WebSocket lives only as long as its connection: once
// that closes it is neither listed nor counted, a REGISTER from the user drops and
// deletes it (so that a browser reloaded again and again never reaches Too Many
// Contacts), and so does Expire. Bindings over TCP, TLS and UDP are not affected.
func TestClosedWebSocketBindings(t *testing.T) {
	t.Parallel()
	tests := []struct {
		transport string
		dropped   bool
	}{
		{"WS", true},
		{"WSS", true},
		{"TCP", false},
		{"TLS", false},
		{"UDP", false},
	}
	for _, tt := range tests {
		t.Run(tt.transport, func(t *testing.T) {
			t.Parallel()
			cs := &conns{open: map[string]bool{}}
			store := newMemStore()
			r := New(Config{Connected: cs.connected}, store)
			k := userKey{"acme", "1001"}
			// Many reloads: each registers a new contact from a new connection and
			// closes it before the next.
			for i := range 2 * MaxContactsPerUser {
				src := fmt.Sprintf("127.0.0.1:%d", 40000+i)
				cs.set(tt.transport, src, true)
				contact := fmt.Sprintf("sip:u%d@r%d.invalid;transport=ws", i, i)
				res, _ := r.register(wsRegister(t, "1001", contact, tt.transport, src, fmt.Sprint("call-", i)), k)
				if !tt.dropped && i >= MaxContactsPerUser {
					if res.StatusCode != sip.StatusForbidden {
						t.Fatalf("REGISTER %d over %s: %d, want 403 (its bindings stay)", i, tt.transport, res.StatusCode)
					}
					break
				}
				if res.StatusCode != sip.StatusOK {
					t.Fatalf("REGISTER %d over %s: %d %s", i, tt.transport, res.StatusCode, res.Reason)
				}
				if tt.dropped && len(res.GetHeaders("Contact")) != 1 {
					t.Fatalf("REGISTER %d: 200 lists %d contacts, want only the new one", i, len(res.GetHeaders("Contact")))
				}
				cs.set(tt.transport, src, false)
			}
			saved, _, _ := store.count()
			if !tt.dropped {
				if n := r.Count(); n != MaxContactsPerUser || saved != MaxContactsPerUser {
					t.Fatalf("%s bindings: %d live, %d stored, want %d", tt.transport, n, saved, MaxContactsPerUser)
				}
				if n := r.Expire(); n != 0 {
					t.Fatalf("Expire dropped %d %s bindings", n, tt.transport)
				}
				return
			}
			// The last one's connection closed too: gone from the listing at once,
			// from the table and the store at the next Expire.
			if got := r.Contacts("acme", "1001"); len(got) != 0 || r.Count() != 0 {
				t.Fatalf("Contacts after close: %+v", got)
			}
			if saved != 1 {
				t.Fatalf("%d bindings stored, want 1", saved)
			}
			var changed []string
			r.OnChange(func(firm, user string) { changed = append(changed, firm+"/"+user) })
			if n := r.Expire(); n != 1 {
				t.Fatalf("Expire dropped %d, want 1", n)
			}
			if saved, _, _ := store.count(); saved != 0 || !slices.Equal(changed, []string{"acme/1001"}) {
				t.Fatalf("after Expire: %d stored, OnChange %v", saved, changed)
			}
		})
	}
}
