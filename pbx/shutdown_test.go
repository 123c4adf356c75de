package pbx

import (
	"context"
	"net"
	"net/netip"
	"runtime"
	"strings"
	"testing"
	"time"

	"switchboard/rtp"
	"switchboard/sip"
	"switchboard/store"
)

// pbxGoroutines lists the stacks of the other goroutines that run pbx code.
func pbxGoroutines() []string {
	buf := make([]byte, 1<<22)
	buf = buf[:runtime.Stack(buf, true)]
	var out []string
	for _, g := range strings.Split(string(buf), "\n\n") {
		first, rest, _ := strings.Cut(g, "\n")
		// A goroutine at goexit1 has returned from its function and holds
		// nothing: waitFor's helper is still seen there an instant after it
		// closed the channel Shutdown returned on.
		if strings.HasPrefix(rest, "runtime.goexit1(") {
			continue
		}
		// Not this test's own goroutines, nor other tests waiting to run in parallel.
		mine := strings.Contains(first, "[running]") || strings.Contains(g, "created by switchboard/pbx.Test") ||
			strings.Contains(g, "testing.tRunner")
		if strings.Contains(g, "switchboard/pbx.") && !mine {
			out = append(out, g)
		}
	}
	return out
}

// Shutdown while an automatic callback rings, an MWI NOTIFY waits for its answer
// and hold music plays to a held party: Shutdown returns only when all of
// them ended, so that nothing touches the store after it closed.
func TestShutdownWaitsForGoroutines(t *testing.T) {
	baseline := runtime.NumGoroutine()
	// A phone that receives everything and answers nothing.
	sink, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer sink.Close()
	got := make(chan string, 64)
	go func() {
		buf := make([]byte, 65536)
		for {
			n, _, err := sink.ReadFrom(buf)
			if err != nil {
				close(got)
				return
			}
			select {
			case got <- string(buf[:n]):
			default:
			}
		}
	}()
	sinkAddr := sink.LocalAddr().String()

	tp := newTestParts(t, `domain: pbx.example.com
agents:
  - {id: alice, extension: "1001", password: pw, auto_callback: true}
  - {id: bob, extension: "1002", password: pw}
`, 0, func(st *store.Store, firm string) {
		if err := st.PutRegistration(store.Registration{Firm: firm, User: "1001", Contact: "sip:1001@" + sinkAddr,
			Source: sinkAddr, Transport: "UDP", Expires: time.Now().Add(time.Hour), CallID: "c1", CSeq: 1}); err != nil {
			t.Fatal(err)
		}
		if err := st.AddCallback(&store.Callback{Firm: firm, Caller: "1002", TargetKind: store.TargetAgent, TargetID: "alice"}); err != nil {
			t.Fatal(err)
		}
	})
	p, st, srv, pool, firm, stopListen := tp.p, tp.st, tp.srv, tp.pool, tp.firm, tp.stopListen
	defer stopListen()
	p.Start() // the start-up sweep offers the callback to idle alice

	// An MWI subscription from the silent phone.
	p.mwi.mu.Lock()
	p.mwi.subs[subKey{"mwi-1", "tag1"}] = &subscription{firm: firm, mailbox: "alice", callID: "mwi-1", remoteTag: "tag1",
		localTag: "tag2", remoteURI: sip.Uri{User: "1001", Host: "pbx.example.com"}, localURI: sip.Uri{User: "1001", Host: "pbx.example.com"},
		contact: sip.Uri{User: "1001", Host: "127.0.0.1", Port: sink.LocalAddr().(*net.UDPAddr).Port},
		source:  sinkAddr, transport: "UDP", expires: time.Now().Add(time.Hour)}
	p.mwi.mu.Unlock()
	p.mwi.notify(firm, "alice")

	// Hold music playing to a held party, until the call (here the PBX) ends.
	a, err := pool.Open()
	if err != nil {
		t.Fatal(err)
	}
	defer a.Close()
	b, err := pool.Open()
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	b.SetRemote(netip.MustParseAddrPort("127.0.0.1:9"), rtp.PCMU, rtp.DefaultDTMFPT)
	p.ctl.loopPCM(&Call{ctx: p.ctx, p: p}, b, make([]int16, 160))

	// Wait until both are in flight at the phone: INVITE and NOTIFY.
	guard := time.After(10 * time.Second)
	seen := map[string]bool{}
	for !seen["INVITE"] || !seen["NOTIFY"] {
		select {
		case m := <-got:
			seen[strings.SplitN(m, " ", 2)[0]] = true
		case <-guard:
			t.Fatalf("in flight: %v", seen)
		}
	}

	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := p.Shutdown(ctx); err != nil {
		t.Fatalf("%v; pbx goroutines:\n%s", err, strings.Join(pbxGoroutines(), "\n\n"))
	}
	if left := pbxGoroutines(); len(left) > 0 {
		t.Fatalf("%d pbx goroutines after Shutdown:\n%s", len(left), strings.Join(left, "\n\n"))
	}
	if err := st.Close(); err != nil {
		t.Fatal(err)
	}
	a.Close()
	b.Close()
	srv.Close()
	stopListen()
	pool.Close()
	sink.Close()
	for range got {
	}
	// Everything else the test started is gone too.
	for deadline := time.Now().Add(10 * time.Second); runtime.NumGoroutine() > baseline && time.Now().Before(deadline); {
		time.Sleep(20 * time.Millisecond)
	}
	if n := runtime.NumGoroutine(); n > baseline {
		buf := make([]byte, 1<<20)
		t.Errorf("%d goroutines, %d before the test:\n%s", n, baseline, buf[:runtime.Stack(buf, true)])
	}
	if n := st.ClosedUses(); n != 0 {
		t.Errorf("%d store operations after Close", n)
	}
}
