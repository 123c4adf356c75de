package mailer

import (
	"bytes"
	"context"
	"strings"
	"testing"
	"time"

	"switchboard/internal/smtptest"
)

func ctxT(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	t.Cleanup(cancel)
	return ctx
}

// Deliver in each TLS mode, against a sink that checks the password and
// hands back what it received.
func TestDeliver(t *testing.T) {
	t.Parallel()
	serverTLS, roots := smtptest.SelfSigned(t)
	tests := []struct {
		name    string
		sink    smtptest.Options
		srv     Server
		wantTLS bool
		wantErr string // substring; empty: delivered
		perm    bool   // the error is permanent
	}{
		{name: "starttls with auth",
			sink: smtptest.Options{TLS: serverTLS, Username: "pbx", Password: "pw"},
			srv:  Server{Username: "pbx", Password: "pw", RootCAs: roots}, wantTLS: true},
		{name: "starttls is the default mode",
			sink: smtptest.Options{TLS: serverTLS},
			srv:  Server{TLS: "", RootCAs: roots}, wantTLS: true},
		{name: "starttls not offered, no password: plain",
			sink: smtptest.Options{},
			srv:  Server{TLS: StartTLS}},
		{name: "starttls not offered with a password",
			sink: smtptest.Options{Username: "pbx", Password: "pw"},
			srv:  Server{TLS: StartTLS, Username: "pbx", Password: "pw"}, wantErr: "does not offer STARTTLS", perm: true},
		{name: "implicit tls with auth",
			sink: smtptest.Options{TLS: serverTLS, Implicit: true, Username: "pbx", Password: "pw"},
			srv:  Server{TLS: ImplicitTLS, Username: "pbx", Password: "pw", RootCAs: roots}, wantTLS: true},
		{name: "none ignores STARTTLS",
			sink: smtptest.Options{TLS: serverTLS},
			srv:  Server{TLS: NoTLS}},
		{name: "none with a password to loopback",
			sink: smtptest.Options{Username: "pbx", Password: "pw"},
			srv:  Server{TLS: NoTLS, Username: "pbx", Password: "pw"}},
		{name: "untrusted certificate",
			sink: smtptest.Options{TLS: serverTLS},
			srv:  Server{}, wantErr: "STARTTLS", perm: true},
		{name: "insecure_skip_verify",
			sink: smtptest.Options{TLS: serverTLS, Implicit: true},
			srv:  Server{TLS: ImplicitTLS, InsecureSkipVerify: true}, wantTLS: true},
		{name: "wrong password",
			sink: smtptest.Options{TLS: serverTLS, Username: "pbx", Password: "pw"},
			srv:  Server{Username: "pbx", Password: "nope", RootCAs: roots}, wantErr: "535", perm: true},
		{name: "login needed",
			sink: smtptest.Options{Username: "pbx", Password: "pw"},
			srv:  Server{TLS: NoTLS}, wantErr: "530", perm: true},
		{name: "temporary refusal",
			sink: smtptest.Options{Refuse: []int{451}},
			srv:  Server{}, wantErr: "451"},
		{name: "unknown mode",
			sink: smtptest.Options{},
			srv:  Server{TLS: "ssl"}, wantErr: "unknown TLS mode", perm: true},
	}
	msg := []byte("Subject: test\r\n\r\n.leading dot\r\nbody\r\n")
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			sink := smtptest.Start(t, tc.sink)
			srv := tc.srv
			srv.Addr, srv.From = sink.Addr, "Switchboard <pbx@example.com>"
			err := Deliver(ctxT(t), srv, "Office <office@example.com>", msg)
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("err = %v, want %q", err, tc.wantErr)
				}
				if Permanent(err) != tc.perm {
					t.Errorf("Permanent(%v) = %v, want %v", err, !tc.perm, tc.perm)
				}
				if n := len(sink.Received()); n != 0 {
					t.Errorf("sink received %d messages", n)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			got, err := sink.Next(ctxT(t))
			if err != nil {
				t.Fatal(err)
			}
			if got.From != "pbx@example.com" || len(got.To) != 1 || got.To[0] != "office@example.com" {
				t.Errorf("envelope %q -> %q", got.From, got.To)
			}
			if got.TLS != tc.wantTLS || got.User != tc.srv.Username {
				t.Errorf("TLS %v user %q, want %v %q", got.TLS, got.User, tc.wantTLS, tc.srv.Username)
			}
			if want := []byte("Subject: test\n\n.leading dot\nbody\n"); !bytes.Equal(got.Data, want) {
				t.Errorf("data %q, want %q", got.Data, want)
			}
		})
	}
}

// A cancelled context ends a session the server never answers.
func TestDeliverCancelled(t *testing.T) {
	t.Parallel()
	addr, accepted := stallServer(t)
	ctx, cancel := context.WithCancel(ctxT(t))
	errc := make(chan error, 1)
	go func() {
		errc <- Deliver(ctx, Server{Addr: addr, From: "pbx@example.com"}, "a@example.com", []byte("x\r\n"))
	}()
	<-accepted
	cancel()
	if err := <-errc; err == nil || Permanent(err) {
		t.Fatalf("err = %v, want a temporary error", err)
	}
}

func TestLoopback(t *testing.T) {
	t.Parallel()
	for host, want := range map[string]bool{
		"localhost": true, "LOCALHOST": true, "127.0.0.1": true, "127.0.0.2": true, "::1": true, "::ffff:127.0.0.1": true,
		"mail.example.com": false, "10.0.0.1": false, "": false,
	} {
		if got := loopback(host); got != want {
			t.Errorf("loopback(%q) = %v", host, got)
		}
	}
}
