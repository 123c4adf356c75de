package pbx

import (
	"context"
	"net/netip"
	"os"
	"path/filepath"
	"testing"
	"time"

	"switchboard/dialplan"
	"switchboard/internal/audio"
	"switchboard/rtp"
	"switchboard/sip"
	"switchboard/store"
	"switchboard/wav"
)

// testParts is a PBX built from real parts on loopback, not started.
type testParts struct {
	p          *PBX
	st         *store.Store
	srv        *sip.Server
	pool       *rtp.Pool
	firm       string
	stopListen context.CancelFunc
}

// newTestParts builds a PBX for the dialplan yaml; prep fills the store first.
// slot picks the test's own RTP ports (tests of this package run in one process).
func newTestParts(t *testing.T, yaml string, slot int, prep func(st *store.Store, firm string)) *testParts {
	t.Helper()
	cfg, err := dialplan.Parse("sb.yaml", []byte(yaml))
	if err != nil {
		t.Fatal(err)
	}
	st, err := store.Open(filepath.Join(t.TempDir(), "db"))
	if err != nil {
		t.Fatal(err)
	}
	firm := cfg.Firms[0].ID
	if prep != nil {
		prep(st, firm)
	}
	srv, err := sip.New(sip.Config{Listen: []string{"udp://127.0.0.1:0"}})
	if err != nil {
		t.Fatal(err)
	}
	lctx, stopListen := context.WithCancel(context.Background())
	if err := srv.Listen(lctx); err != nil {
		t.Fatal(err)
	}
	base := 20000 + (os.Getpid()%200)*200 + slot*40
	pool, err := rtp.NewPool(netip.MustParseAddr("127.0.0.1"), base, base+39)
	if err != nil {
		t.Fatal(err)
	}
	p, err := New(Deps{Config: cfg, Store: st, SIP: srv, Pool: pool, DataDir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	return &testParts{p: p, st: st, srv: srv, pool: pool, firm: firm, stopListen: stopListen}
}

// close shuts the PBX down and closes its parts, store last.
func (tp *testParts) close(t *testing.T) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := tp.p.Shutdown(ctx); err != nil {
		t.Error(err)
	}
	tp.srv.Close()
	tp.stopListen()
	tp.pool.Close()
	if err := tp.st.Close(); err != nil {
		t.Error(err)
	}
}

// register puts a phone's binding in the store (before New loads it).
func register(t *testing.T, st *store.Store, firm, user, contact string) {
	t.Helper()
	err := st.PutRegistration(store.Registration{Firm: firm, User: user, Contact: contact, Source: "127.0.0.1:9",
		Transport: "UDP", Expires: time.Now().Add(time.Hour), CallID: "c-" + user, CSeq: 1})
	if err != nil {
		t.Fatal(err)
	}
}

// shortPrompts writes 20 ms prompts of the given names to a directory for
// sounds_dir, so that calls do not wait for the real ones.
func shortPrompts(t *testing.T, names ...string) string {
	t.Helper()
	dir := t.TempDir()
	for _, name := range names {
		w, err := wav.Create(filepath.Join(dir, name+".wav"), wav.FormatULaw)
		if err != nil {
			t.Fatal(err)
		}
		if err := w.WritePCM(audio.Sine(400, 8000, 0, 160)); err != nil {
			t.Fatal(err)
		}
		if err := w.Close(); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

// fakeAnswer is the SDP a fake callee answers with: PCMU on a loopback port.
func fakeAnswer(t *testing.T) []byte {
	t.Helper()
	sdp, err := rtp.BuildSDP(rtp.SDPParams{SessionID: 1, Version: 1, Addr: netip.MustParseAddr("127.0.0.1"), Port: 9,
		Codecs: []rtp.Codec{rtp.PCMU}, DTMFPT: rtp.DefaultDTMFPT, Direction: rtp.SendRecv})
	if err != nil {
		t.Fatal(err)
	}
	return sdp
}
