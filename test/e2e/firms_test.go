package e2e

import (
	"os"
	"path/filepath"
	"testing"
	"time"

	"switchboard/internal/testphone"
)

// Two firms with the same extensions: each phone reaches its own firm's agents only,
// and credentials are per firm.
func TestFirmsAreIsolated(t *testing.T) {
	t.Parallel()
	data := t.TempDir()
	if err := os.MkdirAll(filepath.Join(data, "firms"), 0o755); err != nil {
		t.Fatal(err)
	}
	acme := `domain: acme.test
agents:
  - {id: carol, extension: "1001", password: carol-pw}
  - {id: dave, extension: "1002", password: dave-pw}
`
	if err := os.WriteFile(filepath.Join(data, "firms", "acme.yaml"), []byte(acme), 0o600); err != nil {
		t.Fatal(err)
	}
	s := startServerDir(t, twoAgents+"firms: [firms/acme.yaml]\n", data)
	phone := func(ext, pw, domain string) *testphone.Phone {
		p, err := testphone.New(ctxT(t, 10*time.Second), testphone.Config{
			User: ext, Password: pw, Domain: domain, Server: s.SIPAddr(),
		})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { p.Close() })
		return p
	}
	alice := phone("1001", "alice-pw", "test.local")
	bob := phone("1002", "bob-pw", "test.local")
	dave := phone("1002", "dave-pw", "acme.test")
	for _, p := range []*testphone.Phone{alice, bob, dave} {
		if err := p.Register(ctxT(t, 10*time.Second), time.Hour); err != nil {
			t.Fatal(err)
		}
	}
	// Alice's password is not valid in the other firm.
	wrong := phone("1001", "alice-pw", "acme.test")
	if err := wrong.Register(ctxT(t, 10*time.Second), time.Hour); err == nil {
		t.Fatal("test.local credentials accepted in acme.test")
	}

	pending := alice.DialAsync(ctxT(t, 20*time.Second), "1002")
	b := answerNext(t, bob)
	a, err := pending.Result()
	if err != nil {
		t.Fatal(err)
	}
	a.Hangup(ctxT(t, 5*time.Second))
	<-b.Done()
	if n := dave.Stats().InvitesReceived; n != 0 {
		t.Fatalf("the other firm's 1002 rang %d times", n)
	}
	if recs := nthCall(t, s, 1); recs.Firm != "test.local" {
		t.Fatalf("call logged in firm %q", recs.Firm)
	}
}
