//go:build linux && (amd64 || arm64)

// Command rtpload measures the RTP relay of a running Switchboard under load: it
// registers two test phones, holds a number of calls between them with G.711 audio
// flowing both ways (one packet per 20 ms per direction), and reports the packets
// received against the packets sent, and, when given the server's PID, the server's
// CPU time per relayed packet (utime+stime from /proc/PID/stat). The phones only
// signal; the media of all calls moves on a few shared sockets (see engine), so that
// the generator needs far less CPU than the server it measures.
//
// It prints one summary line on stdout; progress and errors go to stderr. It is run by
// bench/sipp-load.sh; see bench/README.md.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"os"
	"strconv"
	"strings"
	"sync"
	"time"

	"switchboard/internal/testphone"
)

// frame is the packet interval of the test phones.
const frame = 20 * time.Millisecond

type options struct {
	server, domain          string
	caller, callerPW        string
	callee, calleePW        string
	calls                   int
	seconds                 float64
	pid                     int
	parallel                int
	sockets                 int
	callTimeout, settleTime time.Duration
}

func main() {
	var o options
	flag.StringVar(&o.server, "server", "127.0.0.1:5060", "switchboard UDP SIP address")
	flag.StringVar(&o.domain, "domain", "localhost", "SIP domain (digest realm)")
	flag.StringVar(&o.caller, "caller", "1001", "calling extension")
	flag.StringVar(&o.callerPW, "caller-pw", "", "its password")
	flag.StringVar(&o.callee, "callee", "1002", "called extension")
	flag.StringVar(&o.calleePW, "callee-pw", "", "its password")
	flag.IntVar(&o.calls, "calls", 50, "concurrent calls to hold")
	flag.Float64Var(&o.seconds, "seconds", 10, "measurement time once every call is up")
	flag.IntVar(&o.pid, "pid", 0, "server PID for CPU accounting (0: skip)")
	flag.IntVar(&o.parallel, "parallel", 20, "calls set up at the same time")
	flag.IntVar(&o.sockets, "sockets", 8, "UDP sockets the media of all calls shares")
	flag.DurationVar(&o.callTimeout, "call-timeout", 20*time.Second, "bound on setting up one call")
	flag.DurationVar(&o.settleTime, "settle", time.Second, "wait after setup before measuring")
	flag.Parse()
	log := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
	line, err := run(context.Background(), o, log)
	if err != nil {
		fmt.Fprintln(os.Stderr, "rtpload:", err)
		os.Exit(1)
	}
	fmt.Println(line)
}

// pair is one call as both phones see it.
type pair struct{ a, b *testphone.Call }

func run(ctx context.Context, o options, log *slog.Logger) (string, error) {
	if o.calls <= 0 || o.seconds <= 0 || o.sockets <= 0 {
		return "", errors.New("-calls, -seconds and -sockets must be positive")
	}
	eng, err := newEngine(o.sockets)
	if err != nil {
		return "", err
	}
	defer eng.close()
	newPhone := func(user, pw string) (*testphone.Phone, error) {
		rctx, cancel := context.WithTimeout(ctx, 10*time.Second)
		defer cancel()
		p, err := testphone.New(rctx, testphone.Config{
			User: user, Password: pw, Domain: o.domain, Server: o.server, Codec: "PCMU", Logger: log,
			ExternalMedia: eng.addr,
		})
		if err != nil {
			return nil, fmt.Errorf("phone %s: %w", user, err)
		}
		if err := p.Register(rctx, time.Hour); err != nil {
			p.Close()
			return nil, fmt.Errorf("register %s: %w", user, err)
		}
		return p, nil
	}
	// done unregisters a phone before it goes: rounds run again and again (the
	// soak), and each would leave a binding behind until the PBX's contact limit
	// refuses the next.
	done := func(p *testphone.Phone) {
		uctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		p.Unregister(uctx)
		p.Close()
	}
	callee, err := newPhone(o.callee, o.calleePW)
	if err != nil {
		return "", err
	}
	defer done(callee)
	caller, err := newPhone(o.caller, o.callerPW)
	if err != nil {
		return "", err
	}
	defer done(caller)

	// The callee answers everything. The PBX is a B2BUA, so the two legs of a call share
	// no Call-ID; both sides are collected separately, which is all the counts need.
	answered := make(chan *testphone.Call, o.calls)
	actx, stopAnswering := context.WithCancel(ctx)
	defer stopAnswering()
	go func() {
		for {
			select {
			case in := <-callee.Incoming():
				go func() {
					c, err := in.Answer(actx)
					if err != nil {
						log.Warn("answer", "err", err)
						return
					}
					answered <- c
				}()
			case <-actx.Done():
				return
			}
		}
	}()

	start := time.Now()
	callers := make([]*testphone.Call, 0, o.calls)
	var mu sync.Mutex
	var setupErr error
	sem := make(chan struct{}, o.parallel)
	var wg sync.WaitGroup
	for range o.calls {
		sem <- struct{}{}
		wg.Add(1)
		go func() {
			defer func() { <-sem; wg.Done() }()
			dctx, cancel := context.WithTimeout(ctx, o.callTimeout)
			defer cancel()
			c, err := caller.Dial(dctx, o.callee)
			mu.Lock()
			defer mu.Unlock()
			if err != nil {
				setupErr = errors.Join(setupErr, err)
				return
			}
			callers = append(callers, c)
		}()
	}
	wg.Wait()
	setup := time.Since(start)
	callees := make([]*testphone.Call, 0, o.calls)
	deadline := time.After(o.callTimeout)
collect:
	for len(callees) < len(callers) {
		select {
		case c := <-answered:
			callees = append(callees, c)
		case <-deadline:
			break collect
		}
	}
	defer func() {
		stopAnswering() // no late call asks the closed engine for media
		eng.close()     // no packets to ports that are closing
		hctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		for _, c := range callers {
			c.Hangup(hctx)
		}
	}()
	if len(callers) < o.calls {
		return "", fmt.Errorf("%d of %d calls set up: %w", len(callers), o.calls, setupErr)
	}
	fmt.Fprintf(os.Stderr, "rtpload: %d calls up in %v\n", len(callers), setup.Round(time.Millisecond))

	all := append(append([]*testphone.Call(nil), callers...), callees...)
	for _, c := range all {
		if err := eng.add(c.LocalMedia(), c.RemoteMedia()); err != nil {
			return "", err
		}
	}
	eng.start()
	time.Sleep(o.settleTime)
	counts := func() (received, sent uint64) { return eng.received.Load(), eng.sent.Load() }
	cpu0, err := cpuTicks(o.pid)
	if err != nil {
		return "", err
	}
	got0, sent0 := counts()
	t0 := time.Now()
	time.Sleep(time.Duration(o.seconds * float64(time.Second)))
	got1, sent1 := counts()
	t1 := time.Now()
	cpu1, err := cpuTicks(o.pid)
	if err != nil {
		return "", err
	}
	for _, c := range all {
		select {
		case <-c.Done():
			return "", errors.New("a call ended during the measurement")
		default:
		}
	}

	elapsed := t1.Sub(t0)
	// Loss is against what was really sent: a load generator short of CPU sends
	// late and skips beats, which is not the server's loss. No per-call figure:
	// a B2BUA leg's peer is on the other side of the PBX, so which leg sent what
	// a leg received is not known here.
	sent := float64(sent1 - sent0)
	if sent == 0 {
		return "", errors.New("nothing was sent during the measurement")
	}
	got := got1 - got0
	loss := 1 - float64(got)/sent
	line := fmt.Sprintf("media %4d calls  %7.0f pkt/s relayed  loss %5.2f%%  sent %.1f%% of the 20 ms pace",
		len(callers), float64(got)/elapsed.Seconds(), max(loss, 0)*100,
		sent/(float64(elapsed)/float64(frame)*float64(len(all)))*100)
	if o.pid > 0 {
		us := float64(cpu1-cpu0) * 1e6 / float64(clockTicks) / float64(max(got, 1))
		line += fmt.Sprintf("  CPU %5.2f us/packet (%4.0f%% of a core)", us,
			float64(cpu1-cpu0)/float64(clockTicks)/elapsed.Seconds()*100)
	}
	return line, nil
}

// clockTicks is USER_HZ, the unit of utime and stime in /proc/PID/stat; it is 100 on
// every Linux architecture Go supports.
const clockTicks = 100

// cpuTicks returns utime+stime of pid in clock ticks, or 0 when pid is 0.
func cpuTicks(pid int) (uint64, error) {
	if pid <= 0 {
		return 0, nil
	}
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return 0, fmt.Errorf("server cpu: %w", err)
	}
	// The command name (field 2) may hold spaces; fields after its ')' are fixed.
	s := string(b)
	i := strings.LastIndexByte(s, ')')
	if i < 0 {
		return 0, fmt.Errorf("server cpu: unexpected /proc/%d/stat", pid)
	}
	f := strings.Fields(s[i+1:])
	if len(f) < 13 {
		return 0, fmt.Errorf("server cpu: short /proc/%d/stat", pid)
	}
	// f[0] is field 3 (state): utime is field 14, stime field 15.
	utime, err1 := strconv.ParseUint(f[11], 10, 64)
	stime, err2 := strconv.ParseUint(f[12], 10, 64)
	if err := errors.Join(err1, err2); err != nil {
		return 0, fmt.Errorf("server cpu: %w", err)
	}
	return utime + stime, nil
}
