package e2e

import (
	"bufio"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"switchboard/internal/testphone"
)

var buildOnce struct {
	sync.Once
	path string
	err  error
}

// binary builds cmd/switchboard once per test process.
func binary(t *testing.T) string {
	t.Helper()
	buildOnce.Do(func() {
		dir, err := os.MkdirTemp("", "switchboard-e2e-")
		if err != nil {
			buildOnce.err = err
			return
		}
		buildOnce.path = filepath.Join(dir, "switchboard")
		out, err := exec.Command("go", "build", "-o", buildOnce.path, "../../cmd/switchboard").CombinedOutput()
		if err != nil {
			buildOnce.err = fmt.Errorf("go build: %v\n%s", err, out)
		}
	})
	if buildOnce.err != nil {
		t.Fatal(buildOnce.err)
	}
	return buildOnce.path
}

// proc is a switchboard serve child process.
type proc struct {
	cmd      *exec.Cmd
	sip      string
	http     string
	mu       sync.Mutex
	lines    []string
	newLines chan struct{}
}

var listenLine = regexp.MustCompile(`^(SIP|HTTP)\s+(\S+)://(\S+)`)

// startProc runs `switchboard serve` on config and data, with extra flags
// (e.g. -log-format json), and waits until it prints its HTTP address.
func startProc(t *testing.T, config, data string, extra ...string) *proc {
	t.Helper()
	return startCmd(t, exec.Command(binary(t), append([]string{"serve", "-config", config, "-data", data}, extra...)...))
}

// startCmd runs cmd (a switchboard serve, maybe wrapped) and waits for its listeners.
func startCmd(t *testing.T, cmd *exec.Cmd) *proc {
	t.Helper()
	stdout, _ := cmd.StdoutPipe()
	stderr, _ := cmd.StderrPipe()
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	p := &proc{cmd: cmd, newLines: make(chan struct{}, 1)}
	t.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() })
	ready := make(chan struct{})
	go func() {
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			if m := listenLine.FindStringSubmatch(sc.Text()); m != nil {
				if m[1] == "SIP" && m[2] == "udp" {
					p.sip = m[3]
				}
				if m[1] == "HTTP" {
					p.http = m[3]
					close(ready)
				}
			}
		}
	}()
	go func() {
		sc := bufio.NewScanner(stderr)
		for sc.Scan() {
			p.mu.Lock()
			p.lines = append(p.lines, sc.Text())
			p.mu.Unlock()
			select {
			case p.newLines <- struct{}{}:
			default:
			}
		}
	}()
	select {
	case <-ready:
	case <-time.After(20 * time.Second):
		t.Fatalf("server did not start: %v", p.log())
	}
	return p
}

func (p *proc) log() []string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return append([]string(nil), p.lines...)
}

// waitLog waits for a log line containing s.
func (p *proc) waitLog(t *testing.T, s string) {
	t.Helper()
	deadline := time.After(20 * time.Second)
	for {
		for _, l := range p.log() {
			if strings.Contains(l, s) {
				return
			}
		}
		select {
		case <-p.newLines:
		case <-time.After(50 * time.Millisecond):
		case <-deadline:
			t.Fatalf("no log line %q in:\n%s", s, strings.Join(p.log(), "\n"))
		}
	}
}

func (p *proc) kill9(t *testing.T) {
	t.Helper()
	p.cmd.Process.Signal(syscall.SIGKILL)
	p.cmd.Wait()
}

func apiGet(t *testing.T, addr, data, path string, into any) {
	t.Helper()
	token, err := os.ReadFile(filepath.Join(data, "admin.token"))
	if err != nil {
		t.Fatal(err)
	}
	req, _ := http.NewRequest("GET", "http://"+addr+path, nil)
	req.Header.Set("Authorization", "Bearer "+strings.TrimSpace(string(token)))
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	body, _ := io.ReadAll(res.Body)
	if res.StatusCode != 200 {
		t.Fatalf("GET %s: %d %s", path, res.StatusCode, body)
	}
	if into != nil {
		if err := json.Unmarshal(body, into); err != nil {
			t.Fatalf("GET %s: %v: %s", path, err, body)
		}
	}
}

// A SIGKILL right after the callback prompt starts, and right after a voicemail is
// saved, loses neither: after a restart the entry and the WAV are there.
func TestKill9KeepsCallbacksAndVoicemail(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	data := filepath.Join(dir, "data")
	config := filepath.Join(dir, "switchboard.yaml")
	yaml := fmt.Sprintf(baseConfig, rtpRange()) + fmt.Sprintf(`
sounds_dir: %s
agents:
  - {id: alice, extension: "1001", password: alice-pw}
  - {id: bob, extension: "1002", password: bob-pw, status: away, away: callback}
  - {id: carol, extension: "1003", password: carol-pw, status: away, away: voicemail}
`, shortPrompts(t))
	if err := os.WriteFile(config, []byte(yaml), 0o600); err != nil {
		t.Fatal(err)
	}
	phone := func(p *proc) *testphone.Phone {
		ph, err := testphone.New(ctxT(t, 10*time.Second), testphone.Config{
			User: "1001", Password: "alice-pw", Domain: "test.local", Server: p.sip, Codec: "PCMU",
		})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { ph.Close() })
		return ph
	}

	// 1. Callback: killed as soon as the caller hears the prompt.
	p := startProc(t, config, data)
	c, err := phone(p).Dial(ctxT(t, 20*time.Second), "1002")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.Received(ctxT(t, 10*time.Second), 40*time.Millisecond); err != nil {
		t.Fatalf("callback prompt: %v", err)
	}
	p.kill9(t)

	// 2. Voicemail: killed right after the server logs it saved.
	p = startProc(t, config, data)
	c, err = phone(p).Dial(ctxT(t, 20*time.Second), "1003")
	if err != nil {
		t.Fatal(err)
	}
	leaveMessageNoHangup(t, c, 1500*time.Millisecond)
	p.waitLog(t, "voicemail saved")
	p.kill9(t)

	// 3. Restart: the database opens and both records are there.
	p = startProc(t, config, data)
	var raw []map[string]any
	apiGet(t, p.http, data, "/api/callbacks?state=pending", &raw)
	if len(raw) != 1 || raw[0]["caller"] != "1001" {
		t.Fatalf("callbacks after kill -9: %v", raw)
	}
	var msgs []map[string]any
	apiGet(t, p.http, data, "/api/voicemail/carol", &msgs)
	if len(msgs) != 1 {
		t.Fatalf("voicemail after kill -9: %v", msgs)
	}
	apiGet(t, p.http, data, fmt.Sprintf("/api/voicemail/carol/%v.wav", msgs[0]["id"]), nil)
	p.cmd.Process.Signal(syscall.SIGTERM)
	done := make(chan error, 1)
	go func() { done <- p.cmd.Wait() }()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("graceful stop: %v\n%s", err, strings.Join(p.log(), "\n"))
		}
	case <-time.After(30 * time.Second):
		t.Fatal("no graceful stop on SIGTERM")
	}
}

// leaveMessageNoHangup is leaveMessage without waiting for the PBX's hang-up.
func leaveMessageNoHangup(t *testing.T, c *testphone.Call, d time.Duration) {
	t.Helper()
	ctx := ctxT(t, 20*time.Second)
	c.StartTone(0)
	for {
		pcm, err := c.Received(ctx, 60*time.Millisecond)
		if err != nil {
			t.Fatalf("waiting for the beep: %v", err)
		}
		if isBeep(pcm) {
			break
		}
	}
	c.StartTone(1000)
	time.Sleep(d)
	c.StartTone(0)
}

// A registration acknowledged with 200 survives a kill -9 right after it.
func TestKill9KeepsRegistration(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	data := filepath.Join(dir, "data")
	config := filepath.Join(dir, "switchboard.yaml")
	yaml := fmt.Sprintf(baseConfig, rtpRange()) + twoAgents
	if err := os.WriteFile(config, []byte(yaml), 0o600); err != nil {
		t.Fatal(err)
	}
	p := startProc(t, config, data)
	ph, err := testphone.New(ctxT(t, 10*time.Second), testphone.Config{
		User: "1001", Password: "alice-pw", Domain: "test.local", Server: p.sip,
	})
	if err != nil {
		t.Fatal(err)
	}
	defer ph.Close()
	if err := ph.Register(ctxT(t, 10*time.Second), time.Hour); err != nil {
		t.Fatal(err)
	}
	p.kill9(t)
	p = startProc(t, config, data)
	var agents []struct {
		ID            string           `json:"id"`
		Registrations []map[string]any `json:"registrations"`
	}
	apiGet(t, p.http, data, "/api/agents", &agents)
	for _, a := range agents {
		if a.ID == "alice" {
			if len(a.Registrations) != 1 {
				t.Fatalf("alice's registrations after kill -9: %v", a.Registrations)
			}
			return
		}
	}
	t.Fatal("alice not listed")
}

// SIGTERM hangs up the calls in progress with BYE, logs them and exits cleanly.
func TestSIGTERMHangsUpCalls(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	data := filepath.Join(dir, "data")
	config := filepath.Join(dir, "switchboard.yaml")
	// Calls may go on for shutdown_timeout after SIGTERM, then get BYE.
	if err := os.WriteFile(config, []byte(fmt.Sprintf(baseConfig, rtpRange())+twoAgents+"shutdown_timeout: 200ms\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	p := startProc(t, config, data)
	phone := func(ext, pw string) *testphone.Phone {
		ph, err := testphone.New(ctxT(t, 10*time.Second), testphone.Config{
			User: ext, Password: pw, Domain: "test.local", Server: p.sip,
		})
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
	for who, c := range map[string]*testphone.Call{"caller": a, "callee": b} {
		select {
		case <-c.Done():
		case <-time.After(15 * time.Second):
			t.Fatalf("%s not hung up on SIGTERM", who)
		}
	}
	done := make(chan error, 1)
	go func() { done <- p.cmd.Wait() }()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("exit after SIGTERM: %v\n%s", err, strings.Join(p.log(), "\n"))
		}
	case <-time.After(30 * time.Second):
		t.Fatal("no exit after SIGTERM")
	}
	p = startProc(t, config, data)
	var calls []map[string]any
	apiGet(t, p.http, data, "/api/calls", &calls)
	if len(calls) != 1 || calls[0]["outcome"] != "answered" {
		t.Fatalf("call log after SIGTERM: %v", calls)
	}
}
