package auth

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"net/netip"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/emiago/sipgo/sip"
	"github.com/icholy/digest"
)

const testRealm = "acme.example"

// fakeTx records the responses sent on a server transaction.
type fakeTx struct {
	mu   sync.Mutex
	resp []*sip.Response
}

func (f *fakeTx) Respond(r *sip.Response) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.resp = append(f.resp, r)
	return nil
}
func (f *fakeTx) Acks() <-chan *sip.Request          { return nil }
func (f *fakeTx) OnCancel(sip.FnTxCancel) bool       { return false }
func (f *fakeTx) Terminate()                         {}
func (f *fakeTx) OnTerminate(sip.FnTxTerminate) bool { return false }
func (f *fakeTx) Done() <-chan struct{}              { return nil }
func (f *fakeTx) Err() error                         { return nil }
func (f *fakeTx) last(t *testing.T) *sip.Response {
	t.Helper()
	f.mu.Lock()
	defer f.mu.Unlock()
	if len(f.resp) != 1 {
		t.Fatalf("want exactly 1 response, got %d", len(f.resp))
	}
	return f.resp[0]
}

type fakeClock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *fakeClock) Now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *fakeClock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

func newClock() *fakeClock { return &fakeClock{t: time.Date(2025, 1, 2, 3, 4, 5, 0, time.UTC)} }

// accounts: 1001 has both hashes, 1002 only SHA-256 (an HA1-only account of another algorithm).
func testLookup(realm, user string) (Account, bool) {
	if realm != testRealm {
		return Account{}, false
	}
	switch user {
	case "1001":
		return Account{Realm: realm, Username: user, ID: "acme/1001", HA1: map[string]string{
			MD5:    HA1("md5", user, realm, "s3cret"),
			SHA256: HA1(SHA256, user, realm, "s3cret"),
		}}, true
	case "1002":
		return Account{Realm: realm, Username: user, ID: "acme/1002", HA1: map[string]string{
			SHA256: HA1(SHA256, user, realm, "other"),
		}}, true
	}
	return Account{}, false
}

func newRequest(t testing.TB, src string, extra ...string) *sip.Request {
	t.Helper()
	raw := "REGISTER sip:acme.example SIP/2.0\r\n" +
		"Via: SIP/2.0/UDP 10.0.0.1:5060;branch=z9hG4bK-" + sip.GenerateBranchN(8) + "\r\n" +
		"From: <sip:1001@acme.example>;tag=abc\r\n" +
		"To: <sip:1001@acme.example>\r\n" +
		"Call-ID: call-1\r\n" +
		"CSeq: 1 REGISTER\r\n" +
		"Max-Forwards: 70\r\n"
	for _, h := range extra {
		raw += h + "\r\n"
	}
	raw += "Content-Length: 0\r\n\r\n"
	msg, err := sip.ParseMessage([]byte(raw))
	if err != nil {
		t.Fatalf("parse request: %v", err)
	}
	req := msg.(*sip.Request)
	req.SetSource(src)
	return req
}

// challengeFor sends an unauthenticated request and returns the challenges.
func challengeFor(t *testing.T, a *Authenticator, proxy bool) []*digest.Challenge {
	t.Helper()
	tx := &fakeTx{}
	if _, ok := a.Authenticate(newRequest(t, "10.0.0.1:5060"), tx, testRealm, proxy); ok {
		t.Fatal("unauthenticated request accepted")
	}
	res := tx.last(t)
	name, code := "WWW-Authenticate", 401
	if proxy {
		name, code = "Proxy-Authenticate", 407
	}
	if res.StatusCode != code {
		t.Fatalf("status %d, want %d", res.StatusCode, code)
	}
	var out []*digest.Challenge
	for _, h := range res.GetHeaders(name) {
		c, err := digest.ParseChallenge(h.Value())
		if err != nil {
			t.Fatalf("parse challenge %q: %v", h.Value(), err)
		}
		out = append(out, c)
	}
	if len(out) == 0 {
		t.Fatalf("no %s header", name)
	}
	return out
}

// authHeader computes credentials with icholy/digest, an implementation independent of ours.
func authHeader(t *testing.T, chal *digest.Challenge, user, pass string, nc int) string {
	t.Helper()
	cred, err := digest.Digest(chal, digest.Options{
		Method: "REGISTER", URI: "sip:acme.example", Username: user, Password: pass,
		Count: nc, Cnonce: "fixed-cnonce", // SIPp style: the same cnonce every time
	})
	if err != nil {
		t.Fatal(err)
	}
	return cred.String()
}

func TestAuthenticate(t *testing.T) {
	t.Parallel()
	type step struct {
		header     func(chal []*digest.Challenge) string // Authorization value
		advance    time.Duration
		wantOK     bool
		wantStatus int
		wantStale  bool
	}
	md5Chal := func(ch []*digest.Challenge) *digest.Challenge {
		for _, c := range ch {
			if c.Algorithm == MD5 {
				return c
			}
		}
		return nil
	}
	tests := []struct {
		name         string
		algorithms   []string
		steps        func(t *testing.T) []step
		wantFailures uint64
	}{
		{name: "right password", steps: func(t *testing.T) []step {
			return []step{{header: func(ch []*digest.Challenge) string { return authHeader(t, ch[0], "1001", "s3cret", 1) }, wantOK: true}}
		}},
		{name: "wrong password", wantFailures: 1, steps: func(t *testing.T) []step {
			return []step{{header: func(ch []*digest.Challenge) string { return authHeader(t, ch[0], "1001", "nope", 1) }, wantStatus: 401}}
		}},
		{name: "unknown user", wantFailures: 1, steps: func(t *testing.T) []step {
			return []step{{header: func(ch []*digest.Challenge) string { return authHeader(t, ch[0], "9999", "s3cret", 1) }, wantStatus: 401}}
		}},
		{name: "stale nonce with right password", steps: func(t *testing.T) []step {
			return []step{{header: func(ch []*digest.Challenge) string { return authHeader(t, ch[0], "1001", "s3cret", 1) },
				advance: 6 * time.Minute, wantStatus: 401, wantStale: true}}
		}},
		{name: "stale nonce with wrong password", wantFailures: 1, steps: func(t *testing.T) []step {
			return []step{{header: func(ch []*digest.Challenge) string { return authHeader(t, ch[0], "1001", "bad", 1) },
				advance: 6 * time.Minute, wantStatus: 401}}
		}},
		{name: "replayed nonce and nc", steps: func(t *testing.T) []step {
			h := func(nc int) func([]*digest.Challenge) string {
				return func(ch []*digest.Challenge) string { return authHeader(t, ch[0], "1001", "s3cret", nc) }
			}
			return []step{{header: h(1), wantOK: true}, {header: h(1), wantStatus: 401}, {header: h(2), wantOK: true}, {header: h(2), wantStatus: 401}}
		}},
		{name: "tampered nonce", wantFailures: 1, steps: func(t *testing.T) []step {
			return []step{{header: func(ch []*digest.Challenge) string {
				c := *ch[0]
				b := []byte(c.Nonce)
				b[3] ^= 1
				c.Nonce = string(b)
				return authHeader(t, &c, "1001", "s3cret", 1)
			}, wantStatus: 401}}
		}},
		{name: "sha-256", algorithms: []string{"sha-256", "MD5"}, steps: func(t *testing.T) []step {
			return []step{{header: func(ch []*digest.Challenge) string {
				if len(ch) != 2 || ch[0].Algorithm != SHA256 || ch[1].Algorithm != MD5 {
					t.Fatalf("challenges not in configured order: %+v", ch)
				}
				return authHeader(t, ch[0], "1001", "s3cret", 1)
			}, wantOK: true}}
		}},
		{name: "sha-256 not offered", wantFailures: 1, steps: func(t *testing.T) []step {
			return []step{{header: func(ch []*digest.Challenge) string {
				c := *ch[0]
				c.Algorithm = SHA256
				return authHeader(t, &c, "1001", "s3cret", 1)
			}, wantStatus: 401}}
		}},
		{name: "account with only a SHA-256 HA1", algorithms: []string{SHA256, MD5}, wantFailures: 1, steps: func(t *testing.T) []step {
			return []step{
				{header: func(ch []*digest.Challenge) string { return authHeader(t, md5Chal(ch), "1002", "other", 1) }, wantStatus: 401},
				{header: func(ch []*digest.Challenge) string { return authHeader(t, ch[0], "1002", "other", 1) }, wantOK: true},
			}
		}},
		{name: "missing uri", wantFailures: 1, steps: func(t *testing.T) []step {
			return []step{{header: func(ch []*digest.Challenge) string {
				return strings.Replace(authHeader(t, ch[0], "1001", "s3cret", 1), `uri="sip:acme.example", `, "", 1)
			}, wantStatus: 401}}
		}},
		{name: "other realm is ignored", steps: func(t *testing.T) []step {
			return []step{{header: func(ch []*digest.Challenge) string {
				c := *ch[0]
				c.Realm = "evil.example"
				return authHeader(t, &c, "1001", "s3cret", 1)
			}, wantStatus: 401}}
		}},
		{name: "garbage header counts as a failure", wantFailures: 1, steps: func(t *testing.T) []step {
			return []step{{header: func([]*digest.Challenge) string { return `Digest username="1001", realm=` }, wantStatus: 401}}
		}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			clock := newClock()
			a := New(Config{Algorithms: tc.algorithms, Now: clock.Now}, testLookup)
			chal := challengeFor(t, a, false)
			for i, st := range tc.steps(t) {
				clock.Advance(st.advance)
				tx := &fakeTx{}
				acct, ok := a.Authenticate(newRequest(t, "10.0.0.1:5060", "Authorization: "+st.header(chal)), tx, testRealm, false)
				if ok != st.wantOK {
					t.Fatalf("step %d: ok=%v, want %v", i, ok, st.wantOK)
				}
				if ok {
					if acct.ID == "" {
						t.Fatalf("step %d: empty account", i)
					}
					if len(tx.resp) != 0 {
						t.Fatalf("step %d: success must not answer, sent %d", i, len(tx.resp))
					}
					continue
				}
				res := tx.last(t)
				if res.StatusCode != st.wantStatus {
					t.Fatalf("step %d: status %d, want %d", i, res.StatusCode, st.wantStatus)
				}
				stale := strings.Contains(res.GetHeader("WWW-Authenticate").Value(), "stale=true")
				if stale != st.wantStale {
					t.Fatalf("step %d: stale=%v, want %v", i, stale, st.wantStale)
				}
			}
			if got := a.Failures(); got != tc.wantFailures {
				t.Fatalf("Failures() = %d, want %d", got, tc.wantFailures)
			}
		})
	}
}

// headerShape strips the nonce so two challenges can be compared.
func headerShape(res *sip.Response) string {
	var b strings.Builder
	fmt.Fprintf(&b, "%d %s\n", res.StatusCode, res.Reason)
	for _, h := range res.GetHeaders("WWW-Authenticate") {
		c, _ := digest.ParseChallenge(h.Value())
		c.Nonce = "N"
		b.WriteString(c.String() + "\n")
	}
	return b.String()
}

func TestUnknownUserAndWrongPasswordLookAlike(t *testing.T) {
	t.Parallel()
	a := New(Config{Algorithms: []string{SHA256, MD5}}, testLookup)
	var shapes []string
	for _, user := range []string{"1001", "nobody"} {
		chal := challengeFor(t, a, false)
		tx := &fakeTx{}
		a.Authenticate(newRequest(t, "10.0.0.1:5060", "Authorization: "+authHeader(t, chal[1], user, "wrong", 1)), tx, testRealm, false)
		shapes = append(shapes, headerShape(tx.last(t)))
	}
	if shapes[0] != shapes[1] {
		t.Fatalf("answers differ:\n%s\nvs\n%s", shapes[0], shapes[1])
	}
}

func TestProxyChallenge(t *testing.T) {
	t.Parallel()
	a := New(Config{}, testLookup)
	chal := challengeFor(t, a, true)
	tx := &fakeTx{}
	if _, ok := a.Authenticate(newRequest(t, "10.0.0.1:5060"), tx, testRealm, true); ok {
		t.Fatal("request without credentials accepted")
	}
	if got := tx.last(t).StatusCode; got != 407 {
		t.Fatalf("status %d, want 407", got)
	}
	tx = &fakeTx{}
	acct, ok := a.Authenticate(newRequest(t, "10.0.0.1:5060", "Proxy-Authorization: "+authHeader(t, chal[0], "1001", "s3cret", 1)), tx, testRealm, true)
	if !ok || acct.ID != "acme/1001" {
		t.Fatalf("proxy auth failed: ok=%v acct=%+v", ok, acct)
	}
}

// A phone set up with us as its outbound proxy answers a 401 with
// Proxy-Authorization (and the reverse): the credentials count either way, and a
// wrong password in the other header still fails.
func TestCredentialsInTheOtherHeader(t *testing.T) {
	t.Parallel()
	a := New(Config{}, testLookup)
	for _, tc := range []struct {
		proxy    bool
		header   string
		password string
		ok       bool
	}{
		{false, "Proxy-Authorization", "s3cret", true},
		{true, "Authorization", "s3cret", true},
		{false, "Proxy-Authorization", "wrong", false},
	} {
		chal := challengeFor(t, a, tc.proxy)
		tx := &fakeTx{}
		_, ok := a.Authenticate(newRequest(t, "10.0.0.1:5060", tc.header+": "+authHeader(t, chal[0], "1001", tc.password, 1)), tx, testRealm, tc.proxy)
		if ok != tc.ok {
			t.Errorf("proxy=%v %s password %q: ok=%v, want %v", tc.proxy, tc.header, tc.password, ok, tc.ok)
		}
	}
}

func TestBanAfterThresholdAndUnban(t *testing.T) {
	t.Parallel()
	clock := newClock()
	a := New(Config{BanThreshold: 3, BanTime: 10 * time.Minute, Now: clock.Now}, testLookup)
	attacker := netip.MustParseAddr("192.0.2.7")
	other := "198.51.100.1:5060"
	chal := challengeFor(t, a, false)
	bad := "Authorization: " + authHeader(t, chal[0], "1001", "guess", 1)

	// Unauthenticated requests never count, however many (SIPp load from one address).
	for range 100 {
		a.Authenticate(newRequest(t, "192.0.2.7:5060"), &fakeTx{}, testRealm, false)
	}
	if a.Banned(attacker) {
		t.Fatal("banned for plain challenges")
	}
	// Failures spread over more than a minute do not add up.
	for range 2 {
		a.Authenticate(newRequest(t, "192.0.2.7:5060", bad), &fakeTx{}, testRealm, false)
	}
	clock.Advance(61 * time.Second)
	a.Authenticate(newRequest(t, "192.0.2.7:5060", bad), &fakeTx{}, testRealm, false)
	if a.Banned(attacker) {
		t.Fatal("banned although failures were in different windows")
	}
	for range 2 {
		a.Authenticate(newRequest(t, "192.0.2.7:5060", bad), &fakeTx{}, testRealm, false)
	}
	if !a.Banned(attacker) {
		t.Fatal("not banned after threshold")
	}
	if a.Banned(netip.MustParseAddr("::ffff:192.0.2.7")) != true {
		t.Fatal("IPv4-mapped form of a banned address not banned")
	}
	// Banned: even the right password gets 403; others are unaffected.
	good := "Authorization: " + authHeader(t, chal[0], "1001", "s3cret", 1)
	tx := &fakeTx{}
	if _, ok := a.Authenticate(newRequest(t, "192.0.2.7:5060", good), tx, testRealm, false); ok {
		t.Fatal("banned address authenticated")
	}
	if got := tx.last(t).StatusCode; got != 403 {
		t.Fatalf("banned status %d, want 403", got)
	}
	if _, ok := a.Authenticate(newRequest(t, other, good), &fakeTx{}, testRealm, false); !ok {
		t.Fatal("other address refused")
	}

	clock.Advance(10*time.Minute + time.Second)
	if a.Banned(attacker) {
		t.Fatal("still banned after BanTime")
	}
	if _, ok := a.Authenticate(newRequest(t, "192.0.2.7:5060", "Authorization: "+authHeader(t, challengeFor(t, a, false)[0], "1001", "s3cret", 1)), &fakeTx{}, testRealm, false); !ok {
		t.Fatal("right password refused after the ban ended")
	}
}

func TestReplayCacheBounded(t *testing.T) {
	t.Parallel()
	clock := newClock()
	a := New(Config{NonceTTL: time.Minute, Now: clock.Now}, testLookup)
	for range 20 {
		chal := challengeFor(t, a, false)
		if _, ok := a.Authenticate(newRequest(t, "10.0.0.1:5060", "Authorization: "+authHeader(t, chal[0], "1001", "s3cret", 1)), &fakeTx{}, testRealm, false); !ok {
			t.Fatal("auth failed")
		}
	}
	if n := a.replay.len(); n != 20 {
		t.Fatalf("replay entries %d, want 20", n)
	}
	clock.Advance(2 * time.Minute)
	chal := challengeFor(t, a, false)
	if _, ok := a.Authenticate(newRequest(t, "10.0.0.1:5060", "Authorization: "+authHeader(t, chal[0], "1001", "s3cret", 1)), &fakeTx{}, testRealm, false); !ok {
		t.Fatal("auth failed")
	}
	if n := a.replay.len(); n != 1 {
		t.Fatalf("replay entries after expiry %d, want 1", n)
	}
}

func TestHA1(t *testing.T) {
	t.Parallel()
	sha := sha256.Sum256([]byte("Mufasa:testrealm@host.com:Circle Of Life"))
	tests := []struct{ alg, want string }{
		{"MD5", "939e7578ed9e3c518a452acee763bce9"}, // RFC 2617 3.5
		{"md5", "939e7578ed9e3c518a452acee763bce9"},
		{"SHA-256", hex.EncodeToString(sha[:])},
		{"SHA-512", ""},
		{"MD5-sess", ""},
	}
	for _, tc := range tests {
		if got := HA1(tc.alg, "Mufasa", "testrealm@host.com", "Circle Of Life"); got != tc.want {
			t.Errorf("HA1(%s) = %q, want %q", tc.alg, got, tc.want)
		}
	}
}

// Expired nonces are swept while the PBX is quiet, without a request to trigger
// it, and the map that held them is made anew.
func TestReplayCacheSweepsWhenIdle(t *testing.T) {
	t.Parallel()
	clock := newClock()
	a := New(Config{NonceTTL: 200 * time.Millisecond, Now: clock.Now}, testLookup)
	defer a.Close()
	for range 50 {
		chal := challengeFor(t, a, false)
		if _, ok := a.Authenticate(newRequest(t, "10.0.0.1:5060", "Authorization: "+authHeader(t, chal[0], "1001", "s3cret", 1)), &fakeTx{}, testRealm, false); !ok {
			t.Fatal("auth failed")
		}
	}
	clock.Advance(time.Second) // every nonce expired
	deadline := time.Now().Add(10 * time.Second)
	for a.replay.len() != 0 {
		if time.Now().After(deadline) {
			t.Fatalf("%d replay entries kept while idle", a.replay.len())
		}
		time.Sleep(5 * time.Millisecond)
	}
	a.replay.mu.Lock()
	peak, timer := a.replay.peak, a.replay.timer
	a.replay.mu.Unlock()
	if peak != 0 || timer != nil {
		t.Errorf("after the sweep: peak %d (want a fresh map), timer armed %v", peak, timer != nil)
	}
}
