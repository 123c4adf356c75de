package bench

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"os"
	"runtime"
	"strconv"
	"testing"
	"time"

	"switchboard/dialplan"
	"switchboard/internal/app"
	"switchboard/internal/sipptest"
)

// memCalls is how many calls BenchmarkMemoryPerCall holds open (BENCH_MEM_CALLS).
func memCalls() int {
	if n, err := strconv.Atoi(os.Getenv("BENCH_MEM_CALLS")); err == nil && n > 0 {
		return n
	}
	return 500
}

// BenchmarkMemoryPerCall runs a server in-process, holds K bridged calls open between a
// SIPp UAC and a SIPp UAS (separate processes, so only the server's memory is in this
// heap), and reports the memory (live heap after GC plus goroutine stacks) it holds per call:
//
//   - B/call-setup: just after the calls are up; this includes the INVITE transactions,
//     which sipgo keeps for 64*T1 = 32 s after they complete.
//   - B/call-steady: 34 s later, when only the calls themselves remain.
//
// The SIP signalling has no media (SIPp sends no RTP), but every call owns its RTP
// sessions (two UDP port pairs and relay state), which is what an idle call costs.
// One run takes about 50 s whatever b.N is, so it runs once.
func BenchmarkMemoryPerCall(b *testing.B) {
	sipptest.Require(b)
	k := memCalls()
	rtpFirst := 30000 + 2*(os.Getpid()%2000)
	yaml := fmt.Sprintf(`
domain: bench.local
listen:
  sip: [udp://127.0.0.1:0]
  http: 127.0.0.1:0
  rtp_ports: %d-%d
agents:
  - {id: a1001, extension: "1001", password: pw-1001}
  - {id: a1002, extension: "1002", password: pw-1002, ring_timeout: 30s}
`, rtpFirst, rtpFirst+4*k+99)
	dir := b.TempDir()
	cfg, err := dialplan.Parse(dir+"/switchboard.yaml", []byte(yaml))
	if err != nil {
		b.Fatalf("config: %v", err)
	}
	a, err := app.Start(context.Background(), cfg, app.Options{
		DataDir: dir, Logger: slog.New(slog.NewTextHandler(io.Discard, nil)), Token: "bench",
	})
	if err != nil {
		b.Fatalf("start: %v", err)
	}
	defer func() {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		a.Stop(ctx)
	}()
	addr := a.SIPAddr()

	uasPort := sipptest.FreeUDPPort(b)
	reg, err := sipptest.Run{
		Scenario: "../test/sipp/register-auth.xml", Remote: addr, LocalPort: uasPort,
		CSV:  "SEQUENTIAL\n1002;[authentication username=1002 password=pw-1002];3600;uas\n",
		Args: []string{"-m", "1"}, Timeout: 10 * time.Second,
	}.Start(b).Wait()
	if err != nil || reg.Successful != 1 {
		b.Fatalf("register UAS: %v", err)
	}
	// Every call is held past the steady-state measurement, then hung up by the UAC.
	const hold = 45 * time.Second
	uas := sipptest.Run{
		Scenario: "../test/sipp/uas-answer.xml", Remote: addr, LocalPort: uasPort,
		Args: []string{"-m", strconv.Itoa(k)}, Timeout: hold + 30*time.Second,
	}.Start(b)

	base := liveHeap()
	baseG := runtime.NumGoroutine()
	b.ResetTimer()
	uac := sipptest.Run{
		Scenario: "../test/sipp/uac-call-auth.xml", Remote: addr,
		CSV: "SEQUENTIAL\n1001;[authentication username=1001 password=pw-1001];1002;bench.local\n",
		Args: []string{"-m", strconv.Itoa(k), "-r", "200", "-l", strconv.Itoa(k),
			"-d", strconv.Itoa(int(hold / time.Millisecond))},
		Timeout: hold + 30*time.Second,
	}.Start(b)

	deadline := time.Now().Add(60 * time.Second)
	for talking(a) < k {
		if time.Now().After(deadline) {
			b.Fatalf("%d of %d calls up", talking(a), k)
		}
		time.Sleep(100 * time.Millisecond)
	}
	setup := liveHeap()
	goroutines := runtime.NumGoroutine()
	time.Sleep(34 * time.Second)
	if n := talking(a); n < k {
		b.Fatalf("%d of %d calls still up after the wait", n, k)
	}
	steady := liveHeap()
	b.StopTimer()
	for name, p := range map[string]*sipptest.Proc{"UAC": uac, "UAS": uas} {
		if res, err := p.Wait(); err != nil || res.Successful != k {
			b.Errorf("%s: %v (%d of %d calls successful)", name, err, res.Successful, k)
		}
	}

	b.ReportMetric(float64(setup-base)/float64(k), "B/call-setup")
	b.ReportMetric(float64(steady-base)/float64(k), "B/call-steady")
	b.ReportMetric(float64(goroutines-baseG)/float64(k), "goroutines/call")
}

// talking counts the server's calls in the talking state.
func talking(a *app.App) int {
	n := 0
	for _, c := range a.PBX.LiveCalls("") {
		if c.State == "talking" {
			n++
		}
	}
	return n
}

// liveHeap returns the memory still in use after a full collection: live heap plus
// goroutine stacks (a call's goroutines are part of its cost, and their stacks are
// not heap).
func liveHeap() int64 {
	runtime.GC()
	runtime.GC()
	var m runtime.MemStats
	runtime.ReadMemStats(&m)
	return int64(m.HeapAlloc + m.StackInuse)
}
