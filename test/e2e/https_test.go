package e2e

import (
	"bytes"
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"switchboard/internal/testcert"
)

// listen.https serves the API and the agent app over TLS, where the session
// cookie is Secure; SIGHUP loads a renewed certificate for new connections without
// a restart.
func TestHTTPSAndCertificateReload(t *testing.T) {
	t.Parallel()
	old, renewed := testcert.New(t), testcert.New(t)
	dir := t.TempDir()
	certFile, keyFile := filepath.Join(dir, "cert.pem"), filepath.Join(dir, "key.pem")
	install := func(c *testcert.Cert) {
		t.Helper()
		cf, kf := c.WriteFiles(t)
		for from, to := range map[string]string{cf: certFile, kf: keyFile} {
			b, err := os.ReadFile(from)
			if err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(to, b, 0o600); err != nil {
				t.Fatal(err)
			}
		}
	}
	install(old)
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	httpsAddr := l.Addr().String()
	l.Close()
	config := filepath.Join(dir, "switchboard.yaml")
	yaml := fmt.Sprintf(`
domain: test.local
listen:
  sip: [udp://127.0.0.1:0]
  http: 127.0.0.1:0
  https: %s
  rtp_ports: %s
  tls_cert: %s
  tls_key: %s
agents:
  - {id: alice, extension: "1001", password: alice-pw}
`, httpsAddr, rtpRange(), certFile, keyFile)
	if err := os.WriteFile(config, []byte(yaml), 0o600); err != nil {
		t.Fatal(err)
	}
	p := startProc(t, config, t.TempDir())

	roots := x509.NewCertPool()
	for _, c := range []*testcert.Cert{old, renewed} {
		roots.AddCert(c.Pair.Leaf)
	}
	// served says which certificate a new connection gets.
	served := func() []byte {
		t.Helper()
		conn, err := tls.Dial("tcp", httpsAddr, &tls.Config{RootCAs: roots, ServerName: "127.0.0.1"})
		if err != nil {
			t.Fatalf("TLS to listen.https: %v", err)
		}
		defer conn.Close()
		return conn.ConnectionState().PeerCertificates[0].Raw
	}
	if !bytes.Equal(served(), old.Pair.Leaf.Raw) {
		t.Fatal("listen.https does not serve the configured certificate")
	}
	client := &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: roots}}}
	req, _ := http.NewRequest("POST", "https://"+httpsAddr+"/api/login", strings.NewReader(`{"username":"1001","password":"alice-pw"}`))
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Origin", "https://"+httpsAddr)
	res, err := client.Do(req)
	if err != nil {
		t.Fatalf("login over HTTPS: %v", err)
	}
	res.Body.Close()
	if res.StatusCode != http.StatusOK || len(res.Cookies()) == 0 || !res.Cookies()[0].Secure {
		t.Fatalf("login over HTTPS: %d, cookies %v: want 200 and a Secure session cookie", res.StatusCode, res.Cookies())
	}

	install(renewed)
	if err := p.cmd.Process.Signal(syscall.SIGHUP); err != nil {
		t.Fatal(err)
	}
	p.waitLog(t, "TLS certificate reloaded")
	if !bytes.Equal(served(), renewed.Pair.Leaf.Raw) {
		t.Fatal("after SIGHUP a new connection still gets the old certificate")
	}
}
