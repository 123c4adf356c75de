package e2e

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/textproto"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/icholy/digest"

	"switchboard/internal/logbuf"
	"switchboard/internal/testphone"
)

// startLimited runs switchboard serve with RLIMIT_NOFILE lowered to nofile (soft
// and hard) through the shell's ulimit, in the child only.
func startLimited(t *testing.T, nofile int, yaml string) (*proc, string) {
	t.Helper()
	dir := t.TempDir()
	data := filepath.Join(dir, "data")
	config := filepath.Join(dir, "switchboard.yaml")
	if err := os.WriteFile(config, []byte(yaml), 0o600); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command("sh", "-c", `ulimit -n "$1" && shift && exec "$@"`, "sh",
		strconv.Itoa(nofile), binary(t), "serve", "-config", config, "-data", data)
	return startCmd(t, cmd), data
}

// flood opens n TCP connections from local to addr and keeps them open.
func flood(t *testing.T, local, addr string, n int) []net.Conn {
	t.Helper()
	d := net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP(local)}, Timeout: 10 * time.Second}
	var cs []net.Conn
	for range n {
		c, err := d.Dial("tcp", addr)
		if err != nil {
			t.Fatalf("flood connection %d: %v", len(cs), err)
		}
		cs = append(cs, c)
	}
	t.Cleanup(func() { closeAll(cs) })
	return cs
}

func closeAll(cs []net.Conn) {
	for _, c := range cs {
		c.Close()
	}
}

// keepAliveHTTP opens n HTTP connections from local that each complete one
// keep-alive request and then sit idle.
func keepAliveHTTP(t *testing.T, local, addr string, n int) []net.Conn {
	t.Helper()
	cs := flood(t, local, addr, n)
	for _, c := range cs {
		fmt.Fprintf(c, "GET /healthz HTTP/1.1\r\nHost: %s\r\n\r\n", addr)
		c.SetReadDeadline(time.Now().Add(10 * time.Second))
		res, err := http.ReadResponse(bufio.NewReader(c), nil)
		if err != nil {
			t.Fatalf("keep-alive request: %v", err)
		}
		io.Copy(io.Discard, res.Body)
		res.Body.Close()
	}
	return cs
}

// rawRegisterTCP registers user over a new TCP connection from local (REGISTER,
// 401, REGISTER with digest), to show that a second address gets service.
func rawRegisterTCP(t *testing.T, local, server, user, password string) int {
	t.Helper()
	d := net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP(local)}, Timeout: 10 * time.Second}
	c, err := d.Dial("tcp", server)
	if err != nil {
		t.Fatalf("register from %s: %v", local, err)
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(10 * time.Second))
	r := textproto.NewReader(bufio.NewReader(c))
	la := c.LocalAddr().String()
	send := func(cseq int, auth string) (int, textproto.MIMEHeader) {
		msg := fmt.Sprintf("REGISTER sip:test.local SIP/2.0\r\nVia: SIP/2.0/TCP %s;branch=z9hG4bK-%d%d;rport\r\n"+
			"Max-Forwards: 70\r\nFrom: <sip:%s@test.local>;tag=t%d\r\nTo: <sip:%s@test.local>\r\nCall-ID: reg-%s\r\n"+
			"CSeq: %d REGISTER\r\nContact: <sip:%s@%s;transport=tcp>\r\nExpires: 300\r\n%sContent-Length: 0\r\n\r\n",
			la, cseq, time.Now().UnixNano(), user, cseq, user, la, cseq, user, la, auth)
		if _, err := io.WriteString(c, msg); err != nil {
			t.Fatalf("register write: %v", err)
		}
		line, err := r.ReadLine()
		if err != nil {
			t.Fatalf("register read: %v", err)
		}
		h, err := r.ReadMIMEHeader()
		if err != nil {
			t.Fatalf("register read headers: %v", err)
		}
		_, code, _ := strings.Cut(line, " ")
		n, _ := strconv.Atoi(code[:3])
		return n, h
	}
	code, h := send(1, "")
	if code != 401 {
		return code
	}
	chal, err := digest.ParseChallenge(h.Get("WWW-Authenticate"))
	if err != nil {
		t.Fatalf("challenge: %v", err)
	}
	cred, err := digest.Digest(chal, digest.Options{Method: "REGISTER", URI: "sip:test.local", Username: user, Password: password})
	if err != nil {
		t.Fatal(err)
	}
	code, _ = send(2, "Authorization: "+cred.String()+"\r\n")
	return code
}

func healthz(t *testing.T, addr string) int {
	t.Helper()
	c := http.Client{Timeout: 10 * time.Second}
	res, err := c.Get("http://" + addr + "/healthz")
	if err != nil {
		t.Fatalf("healthz: %v", err)
	}
	res.Body.Close()
	return res.StatusCode
}

// Issue 14, problem 1: with the process out of file descriptors (idle HTTP
// keep-alive and SIP TCP connections up to RLIMIT_NOFILE), the accept loops back
// off instead of ending; once the flood is gone, TCP REGISTER and a call with
// audio work again and /healthz says ok.
func TestFDExhaustionRecovers(t *testing.T) {
	t.Parallel()
	const nofile = 128
	yaml := fmt.Sprintf(baseConfig, rtpRange()) + twoAgents + `
limits: {max_connections: 100000, max_connections_per_ip: 100000, sip_idle_timeout: 1h, http_idle_timeout: 1h}
`
	p, _ := startLimited(t, nofile, yaml)
	httpConns := keepAliveHTTP(t, "127.0.0.1", p.http, 10)
	sipConns := flood(t, "127.0.0.1", p.sip, 2*nofile)
	p.waitLog(t, "accept failing")
	released := time.Now()
	closeAll(httpConns)
	closeAll(sipConns)

	alice, err := testphone.New(ctxT(t, 10*time.Second), testphone.Config{
		User: "1001", Password: "alice-pw", Domain: "test.local", Server: p.sip, Transport: "tcp",
	})
	if err != nil {
		t.Fatal(err)
	}
	defer alice.Close()
	if err := alice.Register(ctxT(t, 20*time.Second), time.Hour); err != nil {
		t.Fatalf("TCP REGISTER after the flood: %v\n%s", err, strings.Join(p.log(), "\n"))
	}
	t.Logf("TCP REGISTER succeeded %v after the flood was released", time.Since(released).Round(time.Millisecond))
	p.waitLog(t, "accept recovered")
	if code := healthz(t, p.http); code != 200 {
		t.Fatalf("healthz after recovery: %d", code)
	}
	bob, err := testphone.New(ctxT(t, 10*time.Second), testphone.Config{
		User: "1002", Password: "bob-pw", Domain: "test.local", Server: p.sip,
	})
	if err != nil {
		t.Fatal(err)
	}
	defer bob.Close()
	if err := bob.Register(ctxT(t, 10*time.Second), time.Hour); err != nil {
		t.Fatal(err)
	}
	pending := alice.DialAsync(ctxT(t, 20*time.Second), "1002")
	b := answerNext(t, bob)
	a, err := pending.Result()
	if err != nil {
		t.Fatalf("call after the flood: %v", err)
	}
	b.StartTone(700)
	if _, err := a.Received(ctxT(t, 10*time.Second), 200*time.Millisecond); err != nil {
		t.Fatalf("no audio after the flood: %v", err)
	}
	t.Logf("call with audio %v after the flood was released", time.Since(released).Round(time.Millisecond))
	a.Hangup(ctxT(t, 10*time.Second))
}

// Issue 14, problem 2: one address is capped (its extra connections are closed
// at once, HTTP and SIP counting together), while a second address still
// registers over TCP during the flood.
func TestConnectionCapPerAddress(t *testing.T) {
	t.Parallel()
	const perIP = 30
	yaml := fmt.Sprintf(baseConfig, rtpRange()) + twoAgents + fmt.Sprintf(`
limits: {max_connections_per_ip: %d, sip_idle_timeout: 1h, http_idle_timeout: 1h}
`, perIP)
	p, _ := startLimited(t, 256, yaml)
	keepAliveHTTP(t, "127.0.0.1", p.http, 10)
	sipConns := flood(t, "127.0.0.1", p.sip, 100)
	// The server closes what is over the cap without reading it: 10 HTTP plus
	// 20 SIP connections are held, the other 80 see EOF.
	var wg sync.WaitGroup
	closed := make(chan struct{}, len(sipConns))
	for _, c := range sipConns {
		wg.Add(1)
		go func() {
			defer wg.Done()
			c.SetReadDeadline(time.Now().Add(20 * time.Second))
			if _, err := c.Read(make([]byte, 1)); err != nil && !isTimeout(err) {
				closed <- struct{}{}
			}
		}()
	}
	deadline := time.After(20 * time.Second)
	for n := 0; n < 100-(perIP-10); n++ {
		select {
		case <-closed:
		case <-deadline:
			t.Fatalf("only %d of the connections over the cap were closed", n)
		}
	}
	if code := rawRegisterTCP(t, "127.0.0.2", p.sip, "1002", "bob-pw"); code != 200 {
		t.Fatalf("REGISTER from a second address during the flood: %d", code)
	}
	closeAll(sipConns)
	wg.Wait()
}

func isTimeout(err error) bool {
	ne, ok := err.(net.Error)
	return ok && ne.Timeout()
}

// Graceful drain: after SIGTERM a new INVITE gets 503 with Retry-After, the
// call in progress goes on until its parties hang up, then the process exits.
func TestSIGTERMDrains(t *testing.T) {
	t.Parallel()
	p, _ := startLimited(t, 1024, fmt.Sprintf(baseConfig, rtpRange())+twoAgents+"shutdown_timeout: 1h\n")
	phone := func(ext, pw string) *testphone.Phone {
		ph, err := testphone.New(ctxT(t, 10*time.Second), testphone.Config{User: ext, Password: pw, Domain: "test.local", Server: p.sip})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { ph.Close() })
		if err := ph.Register(ctxT(t, 10*time.Second), time.Hour); err != nil {
			t.Fatal(err)
		}
		return ph
	}
	alice, bob := phone("1001", "alice-pw"), phone("1002", "bob-pw")
	pending := alice.DialAsync(ctxT(t, 20*time.Second), "1002")
	b := answerNext(t, bob)
	a, err := pending.Result()
	if err != nil {
		t.Fatal(err)
	}
	p.cmd.Process.Signal(syscall.SIGTERM)
	p.waitLog(t, "draining")
	_, err = bob.Dial(ctxT(t, 20*time.Second), "1001")
	var se *testphone.StatusError
	if !errors.As(err, &se) || se.Code != 503 {
		t.Fatalf("new call while draining: %v, want 503; server log:\n%s", err, strings.Join(p.log(), "\n"))
	}
	select {
	case <-a.Done():
		t.Fatal("call hung up although shutdown_timeout is an hour")
	default:
	}
	b.StartTone(500)
	if _, err := a.Received(ctxT(t, 10*time.Second), 100*time.Millisecond); err != nil {
		t.Fatalf("no audio while draining: %v", err)
	}
	a.Hangup(ctxT(t, 10*time.Second))
	done := make(chan error, 1)
	go func() { done <- p.cmd.Wait() }()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("exit after drain: %v", err)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("no exit once the last call ended")
	}
}

// Issue 14, problem 3 (log volume): megabytes of garbage over UDP and TCP grow
// the real server's log by a few kilobytes.
func TestGarbageLogVolume(t *testing.T) {
	t.Parallel()
	p, _ := startLimited(t, 1024, fmt.Sprintf(baseConfig, rtpRange())+twoAgents)
	logBytes := func() int {
		n := 0
		for _, l := range p.log() {
			n += len(l) + 1
		}
		return n
	}
	before := logBytes()
	// The garbage comes from 127.0.0.2, which it gets banned; OPTIONS from
	// 127.0.0.1 tells when the server has read everything sent before it.
	c, err := net.Dial("udp", p.sip)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	g, err := (&net.Dialer{LocalAddr: &net.UDPAddr{IP: net.ParseIP("127.0.0.2")}}).Dial("udp", p.sip)
	if err != nil {
		t.Fatal(err)
	}
	defer g.Close()
	garbage := []byte(strings.Repeat("INVITE \x00\x01\x1b[2J junk\r\n", 60000/24))
	options := func() {
		la := c.LocalAddr().String()
		fmt.Fprintf(c, "OPTIONS sip:test.local SIP/2.0\r\nVia: SIP/2.0/UDP %s;branch=z9hG4bK-%d\r\nMax-Forwards: 70\r\n"+
			"From: <sip:x@test.local>;tag=1\r\nTo: <sip:test.local>\r\nCall-ID: o-%d\r\nCSeq: 1 OPTIONS\r\nContent-Length: 0\r\n\r\n",
			la, time.Now().UnixNano(), time.Now().UnixNano())
		c.SetReadDeadline(time.Now().Add(10 * time.Second))
		if _, err := c.Read(make([]byte, 4096)); err != nil {
			t.Fatalf("OPTIONS: %v", err)
		}
	}
	sent := 0
	for i := range 200 {
		if i%20 == 0 {
			options() // paces the flood to what the socket buffer holds
		}
		g.Write(garbage)
		sent += len(garbage)
	}
	for range 20 {
		tc, err := (&net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP("127.0.0.2")}}).Dial("tcp", p.sip)
		if err != nil {
			t.Fatal(err)
		}
		tc.Write(garbage[:8000])
		tc.SetReadDeadline(time.Now().Add(10 * time.Second))
		tc.Read(make([]byte, 1))
		tc.Close()
		sent += 8000
	}
	options() // every datagram before it has been read
	p.waitLog(t, "msg=banned ip=127.0.0.2 reason=malformed")
	// Info lines reach the log up to logbuf.Window after they are written.
	time.Sleep(2 * logbuf.Window)
	grew := logBytes() - before
	t.Logf("%d bytes of garbage grew the log by %d bytes", sent, grew)
	if grew > 16<<10 {
		t.Fatalf("log grew by %d bytes:\n%.3000s", grew, strings.Join(p.log(), "\n"))
	}
}
