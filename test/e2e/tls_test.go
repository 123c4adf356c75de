package e2e

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"fmt"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"testing"
	"time"

	"switchboard/internal/testphone"
)

// selfSigned writes a certificate and key for 127.0.0.1 and returns their paths and
// a TLS config that trusts it and can serve with it.
func selfSigned(t *testing.T) (certFile, keyFile string, conf *tls.Config) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "switchboard test"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		IPAddresses: []net.IP{net.IPv4(127, 0, 0, 1)}, KeyUsage: x509.KeyUsageDigitalSignature,
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth, x509.ExtKeyUsageClientAuth},
		IsCA:        true, BasicConstraintsValid: true,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	kder, err := x509.MarshalECPrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	certFile, keyFile = filepath.Join(dir, "cert.pem"), filepath.Join(dir, "key.pem")
	certPEM := pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})
	keyPEM := pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: kder})
	if err := os.WriteFile(certFile, certPEM, 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(keyFile, keyPEM, 0o600); err != nil {
		t.Fatal(err)
	}
	pair, err := tls.X509KeyPair(certPEM, keyPEM)
	if err != nil {
		t.Fatal(err)
	}
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM(certPEM)
	return certFile, keyFile, &tls.Config{Certificates: []tls.Certificate{pair}, RootCAs: pool, MinVersion: tls.VersionTLS12}
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
