package e2e

import (
	"crypto/tls"
	"fmt"
	"testing"
	"time"

	"switchboard/internal/testcert"
	"switchboard/internal/testphone"
)

// selfSigned writes a certificate and key for 127.0.0.1 and returns their paths and
// a TLS config that trusts it and can serve with it.
func selfSigned(t *testing.T) (certFile, keyFile string, conf *tls.Config) {
	t.Helper()
	c := testcert.New(t)
	certFile, keyFile = c.WriteFiles(t)
	return certFile, keyFile, c.Both()
}

// Phones on TLS register, call and are called back over their own connection.
func TestCallOverTLS(t *testing.T) {
	t.Parallel()
	cert, key, conf := selfSigned(t)
	data := t.TempDir()
	yaml := fmt.Sprintf(`
domain: test.local
listen:
  sip: [udp://127.0.0.1:0, tcp://127.0.0.1:0, tls://127.0.0.1:0]
  http: 127.0.0.1:0
  rtp_ports: %s
  tls_cert: %s
  tls_key: %s
`, rtpRange(), cert, key) + twoAgents
	s := startRaw(t, yaml, data)
	addr := s.listener("tls")
	alice := s.registerPhone(testphone.Config{User: "1001", Password: "alice-pw", Server: addr, Transport: "tls", TLS: conf})
	bob := s.registerPhone(testphone.Config{User: "1002", Password: "bob-pw", Server: addr, Transport: "tls", TLS: conf})
	a, b := connect(t, alice, bob, "1002")
	a.StartTone(1000)
	expectFreq(t, "callee over TLS", b, 1000)
	a.Hangup(ctxT(t, 10*time.Second))
	select {
	case <-b.Done():
	case <-time.After(10 * time.Second):
		t.Fatal("callee not hung up over TLS")
	}
}
