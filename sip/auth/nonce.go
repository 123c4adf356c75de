package auth

import (
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/binary"
	"hash"
	"time"
)

// A nonce is base64url(issued unix-nanoseconds (8) | random (8) | HMAC-SHA256(secret, those 16 bytes | realm)[:16]).
// It is stateless: any server holding the secret can check it, and nothing is stored per challenge,
// so unauthenticated floods cost no memory.
const (
	nonceTSLen   = 8
	nonceRandLen = 8
	nonceMACLen  = 16
	nonceRawLen  = nonceTSLen + nonceRandLen + nonceMACLen
)

var nonceEncoding = base64.RawURLEncoding

func (a *Authenticator) newNonce(realm string, now time.Time) string {
	var raw [nonceRawLen]byte
	binary.BigEndian.PutUint64(raw[:nonceTSLen], uint64(now.UnixNano()))
	_, _ = rand.Read(raw[nonceTSLen : nonceTSLen+nonceRandLen]) // crypto/rand.Read never fails (Go 1.24+)
	copy(raw[nonceTSLen+nonceRandLen:], a.nonceMAC(raw[:nonceTSLen+nonceRandLen], realm))
	return nonceEncoding.EncodeToString(raw[:])
}

func (a *Authenticator) nonceMAC(prefix []byte, realm string) []byte {
	// An HMAC keyed once and reset is a third of the cost of keying a new one,
	// and every challenge and every answer to one computes this.
	m, _ := a.macs.Get().(hash.Hash)
	if m == nil {
		m = hmac.New(sha256.New, a.secret)
	}
	defer a.macs.Put(m)
	m.Reset()
	m.Write(prefix)
	m.Write([]byte(realm))
	return m.Sum(nil)[:nonceMACLen]
}

// checkNonce reports whether nonce was issued by us for realm, and when.
func (a *Authenticator) checkNonce(nonce, realm string) (issued time.Time, ok bool) {
	if nonceEncoding.EncodedLen(nonceRawLen) != len(nonce) {
		return time.Time{}, false
	}
	raw, err := nonceEncoding.DecodeString(nonce)
	if err != nil || len(raw) != nonceRawLen {
		return time.Time{}, false
	}
	want := a.nonceMAC(raw[:nonceTSLen+nonceRandLen], realm)
	if !hmac.Equal(want, raw[nonceTSLen+nonceRandLen:]) {
		return time.Time{}, false
	}
	return time.Unix(0, int64(binary.BigEndian.Uint64(raw[:nonceTSLen]))), true
}
