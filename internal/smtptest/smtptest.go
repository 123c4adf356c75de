// Package smtptest is a minimal SMTP server for tests: it listens on
// 127.0.0.1 on a port the OS picks, speaks enough SMTP for a mail client
// (EHLO, STARTTLS, AUTH PLAIN, MAIL FROM, RCPT TO, DATA, RSET, NOOP, QUIT),
// and hands every accepted message to the test. It can refuse transactions
// with a chosen reply code to exercise retries. It also parses a received
// voicemail mail into its headers, text and attachments.
package smtptest

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"mime"
	"mime/multipart"
	"mime/quotedprintable"
	"net"
	"net/mail"
	"net/textproto"
	"strings"
	"sync"
	"testing"

	"switchboard/internal/testcert"
)

// Message is one mail the server accepted.
type Message struct {
	From string   // MAIL FROM address
	To   []string // RCPT TO addresses
	// Data is the message as received, dot-unstuffed, lines ending in LF.
	Data []byte
	// User is who logged in (AUTH PLAIN), or "".
	User string
	// TLS reports whether the session was encrypted when DATA came.
	TLS bool
}

// Options configure a Server.
type Options struct {
	// TLS, when set, is offered with STARTTLS (or spoken from the first
	// byte with Implicit).
	TLS      *tls.Config
	Implicit bool
	// Username and Password, when Username is set, are required: AUTH PLAIN
	// is offered (after STARTTLS when TLS is set) and MAIL FROM is refused
	// without it.
	Username, Password string
	// Refuse lists reply codes for the first transactions, in order: the
	// n-th RCPT TO gets Refuse[n] when that is not 0 (e.g. 451 then 0: the
	// first attempt is refused, the second accepted).
	Refuse []int
}

// Server is a running test SMTP server.
type Server struct {
	// Addr is host:port to connect to.
	Addr string

	o    Options
	l    net.Listener
	msgs chan Message
	wg   sync.WaitGroup

	mu    sync.Mutex
	rcpts int // RCPT TO commands seen, for Refuse
	conns map[net.Conn]struct{}
	got   []Message
}

// Start runs a server until the test ends.
func Start(t testing.TB, o Options) *Server {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatalf("smtptest: listen: %v", err)
	}
	if o.Implicit {
		if o.TLS == nil {
			t.Fatal("smtptest: Implicit needs TLS")
		}
		l = tls.NewListener(l, o.TLS)
	}
	s := &Server{Addr: l.Addr().String(), o: o, l: l, msgs: make(chan Message, 100), conns: map[net.Conn]struct{}{}}
	s.wg.Add(1)
	go s.accept()
	t.Cleanup(s.Close)
	return s
}

// Close stops the server and ends its sessions.
func (s *Server) Close() {
	s.l.Close()
	s.mu.Lock()
	for c := range s.conns {
		c.Close()
	}
	s.mu.Unlock()
	s.wg.Wait()
}

// Next returns the next accepted message, or an error when ctx ends first.
func (s *Server) Next(ctx context.Context) (Message, error) {
	select {
	case m := <-s.msgs:
		return m, nil
	case <-ctx.Done():
		return Message{}, fmt.Errorf("smtptest: no message: %w", ctx.Err())
	}
}

// Received returns every message accepted so far.
func (s *Server) Received() []Message {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]Message(nil), s.got...)
}

// Transactions returns how many RCPT TO commands arrived (refused ones too).
func (s *Server) Transactions() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.rcpts
}

func (s *Server) accept() {
	defer s.wg.Done()
	for {
		c, err := s.l.Accept()
		if err != nil {
			return
		}
		s.mu.Lock()
		s.conns[c] = struct{}{}
		s.mu.Unlock()
		s.wg.Add(1)
		go func() {
			defer s.wg.Done()
			defer func() {
				c.Close()
				s.mu.Lock()
				delete(s.conns, c)
				s.mu.Unlock()
			}()
			s.session(c)
		}()
	}
}

// session speaks SMTP on c until QUIT or an error.
func (s *Server) session(c net.Conn) {
	_, secure := c.(*tls.Conn)
	tp := textproto.NewConn(c)
	reply := func(code int, text string) error { return tp.PrintfLine("%d %s", code, text) }
	if reply(220, "smtptest ESMTP ready") != nil {
		return
	}
	var (
		user string
		from string
		to   []string
		helo bool
	)
	for {
		line, err := tp.ReadLine()
		if err != nil {
			return
		}
		verb, arg, _ := strings.Cut(line, " ")
		switch strings.ToUpper(verb) {
		case "EHLO", "HELO":
			helo = true
			from, to = "", nil
			ext := []string{"smtptest", "8BITMIME"}
			if s.o.TLS != nil && !secure {
				ext = append(ext, "STARTTLS")
			}
			if s.o.Username != "" && (secure || s.o.TLS == nil) {
				ext = append(ext, "AUTH PLAIN")
			}
			for i, e := range ext {
				sep := "-"
				if i == len(ext)-1 {
					sep = " "
				}
				if tp.PrintfLine("250%s%s", sep, e) != nil {
					return
				}
			}
		case "STARTTLS":
			if s.o.TLS == nil || secure {
				reply(502, "5.5.1 STARTTLS not available")
				continue
			}
			if reply(220, "2.0.0 go ahead") != nil {
				return
			}
			tc := tls.Server(c, s.o.TLS)
			if err := tc.Handshake(); err != nil {
				return
			}
			// Close ends the session by closing the raw connection under tc.
			c, secure, helo, user = tc, true, false, ""
			tp = textproto.NewConn(tc)
		case "AUTH":
			mech, initial, _ := strings.Cut(arg, " ")
			if !strings.EqualFold(mech, "PLAIN") || s.o.Username == "" || (s.o.TLS != nil && !secure) {
				reply(504, "5.5.4 mechanism not available")
				continue
			}
			if initial == "" {
				if tp.PrintfLine("334 ") != nil {
					return
				}
				if initial, err = tp.ReadLine(); err != nil {
					return
				}
			}
			raw, err := base64.StdEncoding.DecodeString(initial)
			parts := strings.Split(string(raw), "\x00")
			if err != nil || len(parts) != 3 || parts[1] != s.o.Username || parts[2] != s.o.Password {
				reply(535, "5.7.8 authentication failed")
				continue
			}
			user = parts[1]
			reply(235, "2.7.0 authenticated")
		case "MAIL":
			switch {
			case !helo:
				reply(503, "5.5.1 EHLO first")
			case s.o.Username != "" && user == "":
				reply(530, "5.7.0 authentication required")
			default:
				from, to = angle(arg), nil
				reply(250, "2.1.0 ok")
			}
		case "RCPT":
			if from == "" {
				reply(503, "5.5.1 MAIL first")
				continue
			}
			s.mu.Lock()
			n := s.rcpts
			s.rcpts++
			s.mu.Unlock()
			if n < len(s.o.Refuse) && s.o.Refuse[n] != 0 {
				reply(s.o.Refuse[n], "refused by test")
				continue
			}
			to = append(to, angle(arg))
			reply(250, "2.1.5 ok")
		case "DATA":
			if len(to) == 0 {
				reply(503, "5.5.1 RCPT first")
				continue
			}
			if reply(354, "end with <CRLF>.<CRLF>") != nil {
				return
			}
			data, err := tp.ReadDotBytes()
			if err != nil {
				return
			}
			m := Message{From: from, To: to, Data: data, User: user, TLS: secure}
			s.mu.Lock()
			s.got = append(s.got, m)
			s.mu.Unlock()
			s.msgs <- m
			from, to = "", nil
			reply(250, "2.0.0 queued")
		case "RSET":
			from, to = "", nil
			reply(250, "2.0.0 ok")
		case "NOOP":
			reply(250, "2.0.0 ok")
		case "QUIT":
			reply(221, "2.0.0 bye")
			return
		default:
			reply(502, "5.5.2 command not recognized")
		}
	}
}

// angle extracts the address of "FROM:<a@b> PARAMS" or "TO:<a@b>".
func angle(arg string) string {
	i, j := strings.IndexByte(arg, '<'), strings.IndexByte(arg, '>')
	if i < 0 || j < i {
		return ""
	}
	return arg[i+1 : j]
}

// SelfSigned makes a certificate for 127.0.0.1 and localhost. It returns the
// server's TLS config and a pool that trusts the certificate.
func SelfSigned(t testing.TB) (*tls.Config, *x509.CertPool) {
	t.Helper()
	c := testcert.New(t)
	return c.Server(), c.Pool
}

// Parsed is a received mail taken apart.
type Parsed struct {
	Header mail.Header
	// Subject is the decoded Subject header.
	Subject string
	// Text is the decoded text/plain part.
	Text string
	// Attachments maps file names to decoded contents; Types maps them to
	// their media types.
	Attachments map[string][]byte
	Types       map[string]string
}

// Parse reads a multipart mail with net/mail and mime/multipart, decoding
// quoted-printable and base64 parts.
func Parse(data []byte) (*Parsed, error) {
	msg, err := mail.ReadMessage(bytes.NewReader(data))
	if err != nil {
		return nil, fmt.Errorf("read message: %w", err)
	}
	p := &Parsed{Header: msg.Header, Attachments: map[string][]byte{}, Types: map[string]string{}}
	dec := new(mime.WordDecoder)
	if p.Subject, err = dec.DecodeHeader(msg.Header.Get("Subject")); err != nil {
		return nil, fmt.Errorf("subject: %w", err)
	}
	mt, params, err := mime.ParseMediaType(msg.Header.Get("Content-Type"))
	if err != nil || mt != "multipart/mixed" {
		return nil, fmt.Errorf("content type %q: want multipart/mixed (%v)", msg.Header.Get("Content-Type"), err)
	}
	mr := multipart.NewReader(msg.Body, params["boundary"])
	for {
		part, err := mr.NextRawPart()
		if errors.Is(err, io.EOF) {
			return p, nil
		}
		if err != nil {
			return nil, fmt.Errorf("part: %w", err)
		}
		var body io.Reader = part
		switch cte := strings.ToLower(part.Header.Get("Content-Transfer-Encoding")); cte {
		case "base64":
			body = base64.NewDecoder(base64.StdEncoding, part)
		case "quoted-printable":
			body = quotedprintable.NewReader(part)
		case "", "7bit", "8bit":
		default:
			return nil, fmt.Errorf("unknown transfer encoding %q", cte)
		}
		content, err := io.ReadAll(body)
		if err != nil {
			return nil, fmt.Errorf("part body: %w", err)
		}
		ptype, _, _ := mime.ParseMediaType(part.Header.Get("Content-Type"))
		if _, dp, err := mime.ParseMediaType(part.Header.Get("Content-Disposition")); err == nil && dp["filename"] != "" {
			p.Attachments[dp["filename"]] = content
			p.Types[dp["filename"]] = ptype
			continue
		}
		if ptype == "text/plain" {
			p.Text += string(content)
		}
	}
}
