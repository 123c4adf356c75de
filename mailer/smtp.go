package mailer

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"net"
	"net/mail"
	"net/netip"
	"net/smtp"
	"net/textproto"
	"os"
	"strings"
)

// TLS modes of Server.TLS, the values of smtp.tls in the config file.
const (
	// StartTLS upgrades the connection when the server offers STARTTLS, and
	// refuses to log in without it. The default.
	StartTLS = "starttls"
	// ImplicitTLS speaks TLS from the first byte (port 465).
	ImplicitTLS = "tls"
	// NoTLS never encrypts; a password then goes only to a loopback server.
	NoTLS = "none"
)

// Server is an SMTP server to deliver through, and the sender to use.
type Server struct {
	// Addr is host:port.
	Addr string
	// Username, when set, logs in with AUTH PLAIN with Password.
	Username, Password string
	// From is the sender, one address as net/mail parses it; its address is
	// also the envelope sender (MAIL FROM).
	From string
	// TLS is StartTLS (also when empty), ImplicitTLS or NoTLS.
	TLS string
	// InsecureSkipVerify accepts any certificate.
	InsecureSkipVerify bool
	// RootCAs verifies the server's certificate; nil uses the system roots.
	RootCAs *x509.CertPool
	// Hello is the name given in EHLO; empty uses the host name.
	Hello string
}

// permanentError marks a failure that a retry cannot fix: a 5xx reply, a
// certificate that does not verify, a server that will not take a password
// safely.
type permanentError struct{ err error }

func (e permanentError) Error() string { return e.err.Error() }
func (e permanentError) Unwrap() error { return e.err }

// Permanent reports whether err, from Deliver, would fail again on retry.
func Permanent(err error) bool {
	var p permanentError
	if errors.As(err, &p) {
		return true
	}
	var tp *textproto.Error
	if errors.As(err, &tp) && tp.Code >= 500 {
		return true
	}
	var cv *tls.CertificateVerificationError
	return errors.As(err, &cv)
}

// Deliver sends msg to one recipient (an address as net/mail parses it)
// through srv, in one SMTP session. ctx bounds the whole session.
func Deliver(ctx context.Context, srv Server, to string, msg []byte) (err error) {
	from, err := mail.ParseAddress(srv.From)
	if err != nil {
		return permanentError{fmt.Errorf("sender %q: %w", srv.From, err)}
	}
	rcpt, err := mail.ParseAddress(to)
	if err != nil {
		return permanentError{fmt.Errorf("recipient %q: %w", to, err)}
	}
	host, _, err := net.SplitHostPort(srv.Addr)
	if err != nil {
		return permanentError{fmt.Errorf("server address %q: %w", srv.Addr, err)}
	}
	mode := srv.TLS
	if mode == "" {
		mode = StartTLS
	}
	if mode != StartTLS && mode != ImplicitTLS && mode != NoTLS {
		return permanentError{fmt.Errorf("unknown TLS mode %q (want %s, %s or %s)", mode, StartTLS, ImplicitTLS, NoTLS)}
	}
	tlsConf := &tls.Config{
		ServerName:         host,
		RootCAs:            srv.RootCAs,
		InsecureSkipVerify: srv.InsecureSkipVerify,
		MinVersion:         tls.VersionTLS12,
	}

	var conn net.Conn
	dialer := &net.Dialer{}
	if mode == ImplicitTLS {
		conn, err = (&tls.Dialer{NetDialer: dialer, Config: tlsConf}).DialContext(ctx, "tcp", srv.Addr)
	} else {
		conn, err = dialer.DialContext(ctx, "tcp", srv.Addr)
	}
	if err != nil {
		return fmt.Errorf("connect %s: %w", srv.Addr, err)
	}
	// net/smtp knows no context: a deadline bounds each read and write, and
	// closing the connection ends the session at once when ctx is cancelled.
	if dl, ok := ctx.Deadline(); ok {
		conn.SetDeadline(dl)
	}
	stop := context.AfterFunc(ctx, func() { conn.Close() })
	defer func() {
		if !stop() && err != nil {
			err = fmt.Errorf("%w (%w)", err, context.Cause(ctx))
		}
	}()

	c, err := smtp.NewClient(conn, host)
	if err != nil {
		conn.Close()
		return fmt.Errorf("greeting from %s: %w", srv.Addr, err)
	}
	defer c.Close()
	if err := c.Hello(helloName(srv.Hello)); err != nil {
		return fmt.Errorf("EHLO: %w", err)
	}
	secure := mode == ImplicitTLS
	if mode == StartTLS {
		if ok, _ := c.Extension("STARTTLS"); ok {
			if err := c.StartTLS(tlsConf); err != nil {
				return fmt.Errorf("STARTTLS: %w", err)
			}
			secure = true
		} else if srv.Username != "" {
			return permanentError{fmt.Errorf("%s does not offer STARTTLS; not sending the password in clear", srv.Addr)}
		}
	}
	if srv.Username != "" {
		if !secure && !loopback(host) {
			return permanentError{fmt.Errorf("not sending the password in clear to %s (use TLS)", srv.Addr)}
		}
		if ok, _ := c.Extension("AUTH"); !ok {
			return permanentError{fmt.Errorf("%s offers no AUTH after EHLO, but a username is configured", srv.Addr)}
		}
		if err := c.Auth(plainAuth{user: srv.Username, pass: srv.Password}); err != nil {
			return fmt.Errorf("AUTH PLAIN: %w", err)
		}
	}
	if err := c.Mail(from.Address); err != nil {
		return fmt.Errorf("MAIL FROM: %w", err)
	}
	if err := c.Rcpt(rcpt.Address); err != nil {
		return fmt.Errorf("RCPT TO <%s>: %w", rcpt.Address, err)
	}
	w, err := c.Data()
	if err != nil {
		return fmt.Errorf("DATA: %w", err)
	}
	if _, err := w.Write(msg); err != nil {
		return fmt.Errorf("DATA: %w", err)
	}
	if err := w.Close(); err != nil {
		return fmt.Errorf("end of DATA: %w", err)
	}
	// The message is accepted at this point; a failed QUIT changes nothing.
	c.Quit()
	return nil
}

// plainAuth is AUTH PLAIN (RFC 4616). Deliver has already decided that the
// connection is safe for it; net/smtp's PlainAuth would refuse a loopback
// server reached by address other than 127.0.0.1 or ::1.
type plainAuth struct{ user, pass string }

func (a plainAuth) Start(*smtp.ServerInfo) (string, []byte, error) {
	return "PLAIN", []byte("\x00" + a.user + "\x00" + a.pass), nil
}

func (a plainAuth) Next(_ []byte, more bool) ([]byte, error) {
	if more {
		return nil, errors.New("unexpected server challenge after AUTH PLAIN")
	}
	return nil, nil
}

// loopback reports whether host is this machine.
func loopback(host string) bool {
	if strings.EqualFold(host, "localhost") {
		return true
	}
	a, err := netip.ParseAddr(host)
	return err == nil && a.Unmap().IsLoopback()
}

// helloName is the EHLO name: the given one, else the host name when it can
// stand in EHLO, else "localhost".
func helloName(given string) string {
	if given != "" {
		return given
	}
	if h, err := os.Hostname(); err == nil && validDomain(h) {
		return h
	}
	return "localhost"
}
