// Package auth is the server side of SIP digest authentication (RFC 2617 MD5 and
// RFC 8760 SHA-256, qop=auth) and the failed-authentication ban list.
//
// It owns: challenges with stateless HMAC nonces, checking Authorization and
// Proxy-Authorization credentials, nonce+nc replay protection, and counting failed
// credential checks per source address. It knows nothing about accounts beyond the
// Lookup function it is given.
package auth

import (
	"crypto/hmac"
	"crypto/md5"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/hex"
	"errors"
	"fmt"
	"hash"
	"log/slog"
	"net/netip"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/emiago/sipgo/sip"
)

// Digest algorithm names as they appear in challenges and in Account.HA1.
const (
	MD5    = "MD5"
	SHA256 = "SHA-256"
)

// Account is what a Lookup returns for a user that exists.
type Account struct {
	Realm    string
	Username string
	// ID identifies the account to the caller (for example "firm/extension").
	ID string
	// HA1 maps an algorithm name (MD5, SHA-256) to the hex HA1 = H(username:realm:password).
	// An account without an entry for the algorithm the client used fails like a wrong password.
	HA1 map[string]string
}

// Lookup finds the account for username in realm. It must not do slow I/O: it runs on
// every authenticated request.
type Lookup func(realm, username string) (Account, bool)

// Config tunes an Authenticator. The zero value is usable.
type Config struct {
	// Secret keys the nonce HMAC. Nil means a random key (nonces then die with the process,
	// and clients simply get a new challenge).
	Secret []byte
	// Algorithms lists the challenges to send, in order. Default [MD5]: some phones
	// (baresip 1.0) and SIPp fail when any SHA-256 challenge is present. Names that
	// SupportedAlgorithm rejects are ignored.
	Algorithms []string
	// NonceTTL is how long a nonce is accepted; after it the client gets stale=true. Default 5m.
	NonceTTL time.Duration
	// BanThreshold is the number of failed credential checks from one IP within a minute
	// that bans the IP. Default 60. Only failed credentials count, never plain
	// unauthenticated requests, so that load from one address is never banned.
	BanThreshold int
	// BanTime is how long a ban lasts. Default 10m.
	BanTime time.Duration
	// Now is the clock; default time.Now.
	Now func() time.Time
	// Logger receives the banned and unbanned lines; nil discards them.
	Logger *slog.Logger
}

// Authenticator checks digest credentials. It is safe for concurrent use.
type Authenticator struct {
	secret     []byte
	macs       sync.Pool // of hash.Hash: HMAC-SHA256 keyed with secret (nonceMAC)
	algorithms []string
	ttl        time.Duration
	now        func() time.Time
	lookup     Lookup

	bans     *banList
	replay   *replayCache
	failures atomic.Uint64
}

// SupportedAlgorithm reports whether name (case-insensitive) is a digest algorithm
// this package can check; config validation uses it.
func SupportedAlgorithm(name string) bool {
	_, ok := canonicalAlgorithm(name)
	return ok
}

func canonicalAlgorithm(name string) (string, bool) {
	switch strings.ToUpper(name) {
	case MD5:
		return MD5, true
	case SHA256:
		return SHA256, true
	}
	return "", false
}

// New returns an Authenticator that finds accounts with lookup.
func New(cfg Config, lookup Lookup) *Authenticator {
	a := &Authenticator{
		secret: cfg.Secret,
		ttl:    cfg.NonceTTL,
		now:    cfg.Now,
		lookup: lookup,
	}
	if a.secret == nil {
		a.secret = make([]byte, 32)
		_, _ = rand.Read(a.secret) // never fails (Go 1.24+)
	}
	for _, name := range cfg.Algorithms {
		if c, ok := canonicalAlgorithm(name); ok && !containsString(a.algorithms, c) {
			a.algorithms = append(a.algorithms, c)
		}
	}
	if len(a.algorithms) == 0 {
		a.algorithms = []string{MD5}
	}
	if a.ttl <= 0 {
		a.ttl = 5 * time.Minute
	}
	if a.now == nil {
		a.now = time.Now
	}
	threshold, banTime := cfg.BanThreshold, cfg.BanTime
	if threshold <= 0 {
		threshold = 60
	}
	if banTime <= 0 {
		banTime = 10 * time.Minute
	}
	log := cfg.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	a.bans = newBanList(threshold, banTime, log)
	a.replay = newReplayCache(a.ttl, a.now)
	return a
}

func containsString(list []string, s string) bool {
	for _, v := range list {
		if v == s {
			return true
		}
	}
	return false
}

func newHash(algorithm string) hash.Hash {
	if algorithm == SHA256 {
		return sha256.New()
	}
	return md5.New()
}

// hexHash returns the lower-case hex digest of the parts joined by ':'.
func hexHash(algorithm string, parts ...string) string {
	h := newHash(algorithm)
	for i, p := range parts {
		if i > 0 {
			h.Write([]byte{':'})
		}
		h.Write([]byte(p))
	}
	return hex.EncodeToString(h.Sum(nil))
}

// HA1 returns the hex H(username:realm:password) for algorithm (MD5 or SHA-256,
// case-insensitive), the value to store in Account.HA1. It returns "" for an
// unsupported algorithm.
func HA1(algorithm, username, realm, password string) string {
	alg, ok := canonicalAlgorithm(algorithm)
	if !ok {
		return ""
	}
	return hexHash(alg, username, realm, password)
}

// Close stops the timer that sweeps expired nonces; Authenticate keeps working
// without it (expired entries are then swept as requests come).
func (a *Authenticator) Close() { a.replay.close() }

// Banned reports whether ip is currently banned. It is cheap (no lock, no allocation
// when nobody is banned) so that the transport read filter can call it per packet.
func (a *Authenticator) Banned(ip netip.Addr) bool {
	return a.bans.banned(ip.Unmap(), a.now())
}

// Failures returns how many credential checks have failed since New.
func (a *Authenticator) Failures() uint64 {
	return a.failures.Load()
}

// Authenticate checks the request's Authorization header (Proxy-Authorization when
// proxy is true; the other header is accepted too) against realm and returns the
// account on success.
//
// Otherwise it has already answered on tx: 403 when the source IP is banned, else 401
// with one WWW-Authenticate per configured algorithm (407 with Proxy-Authenticate when
// proxy), each carrying a fresh nonce and qop="auth", and stale=true when the client
// used an expired nonce with the right password. Unknown users and wrong passwords get
// the same answer after the same hashing work, so the answer reveals nothing about
// which extensions exist.
func (a *Authenticator) Authenticate(req *sip.Request, tx sip.ServerTransaction, realm string, proxy bool) (Account, bool) {
	now := a.now()
	ip := sourceIP(req)
	if a.bans.banned(ip, now) {
		respond(tx, sip.NewResponseFromRequest(req, sip.StatusForbidden, "Forbidden", nil))
		return Account{}, false
	}

	headerName, other := "authorization", "proxy-authorization" // lower case: sipgo looks these up without allocating
	if proxy {
		headerName, other = other, headerName
	}
	cred, found, malformed := findCredentials(req, headerName, realm)
	if !found && !malformed {
		// A phone that was told to treat us as its outbound proxy may answer with the
		// other header; the credentials prove the same thing.
		cred, found, malformed = findCredentials(req, other, realm)
	}
	if !found {
		// A request without credentials for our realm is the normal first step of every
		// transaction; only garbage in the header counts as a failed attempt.
		if malformed {
			a.fail(ip, now)
		}
		a.challenge(req, tx, realm, proxy, false, now)
		return Account{}, false
	}

	acct, result := a.verify(req, cred, realm, now)
	switch result {
	case verifyOK:
		return acct, true
	case verifyStale:
		a.challenge(req, tx, realm, proxy, true, now)
	case verifyReplay:
		// A replay proves nothing about the password and a retransmitting phone must not be
		// banned for it; a fresh nonce lets an honest client continue.
		a.challenge(req, tx, realm, proxy, false, now)
	default:
		a.fail(ip, now)
		a.challenge(req, tx, realm, proxy, false, now)
	}
	return Account{}, false
}

type verifyResult int

const (
	verifyFailed verifyResult = iota
	verifyOK
	verifyStale
	verifyReplay
)

func (a *Authenticator) verify(req *sip.Request, c credentials, realm string, now time.Time) (Account, verifyResult) {
	alg := MD5 // RFC 2617: no algorithm parameter means MD5
	if c.algorithm != "" {
		var ok bool
		if alg, ok = canonicalAlgorithm(c.algorithm); !ok {
			return Account{}, verifyFailed
		}
	}
	if !containsString(a.algorithms, alg) {
		return Account{}, verifyFailed
	}
	if c.username == "" || c.nonce == "" || c.uri == "" || c.response == "" ||
		!strings.EqualFold(c.qop, "auth") || c.cnonce == "" || !c.hasNC {
		return Account{}, verifyFailed
	}
	issued, nonceOK := a.checkNonce(c.nonce, realm)
	if !nonceOK {
		return Account{}, verifyFailed
	}

	acct, known := a.lookup(realm, c.username)
	ha1, haveHA1 := "", false
	if known {
		ha1, haveHA1 = acct.HA1[alg]
	}
	if !haveHA1 {
		// Same work as for a real account, so timing does not tell the user apart.
		ha1 = a.dummyHA1(alg, realm, c.username)
	}
	ha2 := hexHash(alg, string(req.Method), c.uri)
	want := hexHash(alg, strings.ToLower(ha1), c.nonce, fmt.Sprintf("%08x", c.nc), c.cnonce, strings.ToLower(c.qop), ha2)
	match := subtle.ConstantTimeCompare([]byte(want), []byte(strings.ToLower(c.response))) == 1
	if !match || !haveHA1 {
		return Account{}, verifyFailed
	}
	if now.Sub(issued) > a.ttl {
		return Account{}, verifyStale
	}
	if !a.replay.accept(c.nonce, c.nc, issued.Add(a.ttl), now) {
		return Account{}, verifyReplay
	}
	return acct, verifyOK
}

func (a *Authenticator) dummyHA1(alg, realm, username string) string {
	m := hmac.New(sha256.New, a.secret)
	m.Write([]byte("dummy-ha1\x00" + alg + "\x00" + realm + "\x00" + username))
	sum := hex.EncodeToString(m.Sum(nil))
	if alg == MD5 {
		return sum[:md5.Size*2]
	}
	return sum
}

func (a *Authenticator) fail(ip netip.Addr, now time.Time) {
	a.failures.Add(1)
	a.bans.fail(ip, now, ReasonAuth)
}

// Malformed counts a message from ip that did not parse or broke the protocol
// toward ip's ban, as a failed credential check counts: garbage costs an
// attacker the same as guessing passwords, and one broken phone message is far
// below the threshold.
func (a *Authenticator) Malformed(ip netip.Addr) {
	a.bans.fail(ip.Unmap(), a.now(), ReasonMalformed)
}

func (a *Authenticator) challenge(req *sip.Request, tx sip.ServerTransaction, realm string, proxy, stale bool, now time.Time) {
	respond(tx, a.challengeResponse(req, realm, proxy, stale, now))
}

// Challenge is the 401 that Authenticate sends to a request without credentials
// for realm, for a caller that answers it without a transaction (see
// StatelessResponder): a fresh nonce per algorithm.
func (a *Authenticator) Challenge(req *sip.Request, realm string) *sip.Response {
	return a.challengeResponse(req, realm, false, false, a.now())
}

func (a *Authenticator) challengeResponse(req *sip.Request, realm string, proxy, stale bool, now time.Time) *sip.Response {
	status, reason, header := sip.StatusUnauthorized, "Unauthorized", "WWW-Authenticate"
	if proxy {
		status, reason, header = sip.StatusProxyAuthRequired, "Proxy Authentication Required", "Proxy-Authenticate"
	}
	res := sip.NewResponseFromRequest(req, status, reason, nil)
	nonce := a.newNonce(realm, now)
	for _, alg := range a.algorithms {
		v := `Digest realm="` + quoteEscape(realm) + `", nonce="` + nonce + `", algorithm=` + alg + `, qop="auth"`
		if stale {
			v += ", stale=true"
		}
		res.AppendHeader(sip.NewHeader(header, v))
	}
	return res
}

// quoteEscape escapes a value for a quoted-string; a realm comes from config, but a
// quote in it must not break the header.
func quoteEscape(s string) string {
	if !strings.ContainsAny(s, `"\`+"\r\n") {
		return s
	}
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		switch s[i] {
		case '"', '\\':
			b.WriteByte('\\')
			b.WriteByte(s[i])
		case '\r', '\n':
		default:
			b.WriteByte(s[i])
		}
	}
	return b.String()
}

// StatelessResponder is a transaction that can answer without retransmitting.
// Challenges and refusals go out that way when the transaction offers it: an
// unauthenticated INVITE over UDP would otherwise get its 401 retransmitted
// until 32 s later, ten times the request's size toward whatever source it
// claims (RFC 3261 section 8.2.6 lets a UAS answer statelessly).
type StatelessResponder interface {
	RespondStateless(res *sip.Response) error
}

// respond sends res; a transport error leaves nothing to do here (the client retransmits
// or gives up), and the transaction layer logs it.
func respond(tx sip.ServerTransaction, res *sip.Response) {
	if st, ok := tx.(StatelessResponder); ok {
		_ = st.RespondStateless(res)
		return
	}
	_ = tx.Respond(res)
}

// findCredentials picks the Digest credentials for realm among the request's headerName
// headers (a request may carry several, one per realm).
func findCredentials(req *sip.Request, headerName, realm string) (c credentials, found, malformed bool) {
	for _, h := range req.GetHeaders(headerName) {
		parsed, err := parseCredentials(h.Value())
		if err != nil {
			if !errors.Is(err, errNotDigest) {
				malformed = true
			}
			continue
		}
		if parsed.realm == realm {
			return parsed, true, malformed
		}
	}
	return credentials{}, false, malformed
}

// sourceIP is the address the request came from (not what its Via claims).
func sourceIP(req *sip.Request) netip.Addr {
	src := req.Source()
	if ap, err := netip.ParseAddrPort(src); err == nil {
		return ap.Addr().Unmap()
	}
	if ip, err := netip.ParseAddr(src); err == nil {
		return ip.Unmap()
	}
	return netip.Addr{}
}
