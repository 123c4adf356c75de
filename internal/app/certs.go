package app

import (
	"crypto/tls"
	"fmt"
	"sync/atomic"
)

// certs holds the TLS certificate of the tls://, wss:// and HTTPS listeners;
// Reload swaps it for new handshakes (SIGHUP), while connections already up
// keep theirs.
type certs struct {
	certFile, keyFile string
	cur               atomic.Pointer[tls.Certificate]
}

func loadCerts(certFile, keyFile string) (*certs, error) {
	c := &certs{certFile: certFile, keyFile: keyFile}
	if err := c.reload(); err != nil {
		return nil, err
	}
	return c, nil
}

// file names the certificate in use, for logs.
func (c *certs) file() string { return c.certFile }

func (c *certs) reload() error {
	cert, err := tls.LoadX509KeyPair(c.certFile, c.keyFile)
	if err != nil {
		return fmt.Errorf("tls certificate %s: %w", c.certFile, err)
	}
	c.cur.Store(&cert)
	return nil
}

// config is a server TLS configuration that always hands out the current
// certificate.
func (c *certs) config() *tls.Config {
	return &tls.Config{
		MinVersion: tls.VersionTLS12,
		GetCertificate: func(*tls.ClientHelloInfo) (*tls.Certificate, error) {
			return c.cur.Load(), nil
		},
		// The SIP stack dials trunks with this configuration too: a carrier that
		// asks for a client certificate (mutual TLS) gets the same one.
		GetClientCertificate: func(*tls.CertificateRequestInfo) (*tls.Certificate, error) {
			return c.cur.Load(), nil
		},
	}
}
