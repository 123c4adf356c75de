// Package sipptest runs SIPp (Debian package sip-tester) as a child process from Go
// tests: it finds the binary, picks loopback ports, writes the injection CSV, and turns
// SIPp's statistics file and error log into a Result.
//
// It owns nothing beyond the test process: every file lives in t.TempDir() and the SIPp
// process is killed at t.Cleanup if it is still running.
package sipptest

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

// Require returns the path of the sipp binary. A missing SIPp fails the test rather
// than skipping it, so that interop coverage cannot disappear silently.
func Require(t testing.TB) string {
	t.Helper()
	path, err := exec.LookPath("sipp")
	if err != nil {
		t.Fatal("sipp not installed: run `make test` (installs sip-tester)")
	}
	return path
}

// FreeUDPPort returns a UDP port on 127.0.0.1 that was free a moment ago (the OS picks
// it; another process could still take it before SIPp binds it).
func FreeUDPPort(t testing.TB) int {
	t.Helper()
	c, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatalf("pick a free UDP port: %v", err)
	}
	port := c.LocalAddr().(*net.UDPAddr).Port
	if err := c.Close(); err != nil {
		t.Fatalf("close probe socket: %v", err)
	}
	return port
}

// DefaultTimeout bounds a Run whose Timeout is zero.
const DefaultTimeout = 20 * time.Second

// Run describes one SIPp invocation on loopback.
type Run struct {
	// Scenario is the path of the scenario XML file (relative paths are taken from the
	// test's working directory, the package directory).
	Scenario string
	// Remote is the host:port SIPp sends to.
	Remote string
	// LocalPort is SIPp's own port (-p); 0 picks a free one.
	LocalPort int
	// Args are extra SIPp arguments, e.g. "-m", "10", "-r", "100", "-l", "20".
	// Without -m SIPp runs until Timeout.
	Args []string
	// CSV, when not empty, is written to a file passed with -inf (first line SEQUENTIAL,
	// RANDOM or USER, then one line per call, fields separated by ';').
	CSV string
	// Timeout is SIPp's global -timeout; DefaultTimeout when zero. The process is killed
	// 10 s after it if SIPp has not exited by itself.
	Timeout time.Duration
}

// Result is what a finished SIPp run reported.
type Result struct {
	// ExitCode is SIPp's exit status: 0 when all calls succeeded, 1 when some failed,
	// 97 after an internal exit command, 99 when no call was processed, 255 on a fatal error.
	ExitCode int
	// Successful and Failed are the cumulative call counts from the last statistics line.
	Successful, Failed int
	// Errors is the error log (-trace_err): unexpected messages and what went wrong.
	Errors string
	// Output is SIPp's stdout and stderr (its final screen).
	Output string
}

// Proc is a running SIPp process.
type Proc struct {
	cmd      *exec.Cmd
	dir      string
	statFile string
	errFile  string
	out      *lockedBuffer
	cancel   context.CancelFunc

	once   sync.Once
	result Result
	err    error
}

// Start launches SIPp with r and returns at once. The test fails if SIPp cannot be
// started. The process is killed at t.Cleanup if still running.
func (r Run) Start(t testing.TB) *Proc {
	t.Helper()
	sipp := Require(t)
	scenario, err := filepath.Abs(r.Scenario)
	if err != nil {
		t.Fatalf("scenario path %q: %v", r.Scenario, err)
	}
	if _, err := os.Stat(scenario); err != nil {
		t.Fatalf("scenario: %v", err)
	}
	timeout := r.Timeout
	if timeout <= 0 {
		timeout = DefaultTimeout
	}
	port := r.LocalPort
	if port == 0 {
		port = FreeUDPPort(t)
	}
	dir := t.TempDir()
	p := &Proc{
		dir:      dir,
		statFile: filepath.Join(dir, "stat.csv"),
		errFile:  filepath.Join(dir, "errors.log"),
		out:      &lockedBuffer{},
	}
	var args []string
	if r.Remote != "" { // a UAS scenario has no remote
		args = append(args, r.Remote)
	}
	args = append(args,
		"-sf", scenario,
		"-i", "127.0.0.1",
		"-p", strconv.Itoa(port),
		"-nostdin",
		// The default 64 KiB socket buffer drops responses under load.
		"-buff_size", "4194304",
		"-timeout", fmt.Sprintf("%ds", int((timeout+time.Second-1)/time.Second)),
		"-trace_err", "-error_file", p.errFile,
		"-trace_stat", "-stf", p.statFile,
	)
	if r.CSV != "" {
		csv := filepath.Join(dir, "inject.csv")
		if err := os.WriteFile(csv, []byte(r.CSV), 0o600); err != nil {
			t.Fatalf("write injection file: %v", err)
		}
		args = append(args, "-inf", csv)
	}
	args = append(args, r.Args...)

	ctx, cancel := context.WithTimeout(context.Background(), timeout+10*time.Second)
	p.cancel = cancel
	p.cmd = exec.CommandContext(ctx, sipp, args...)
	p.cmd.Dir = dir // SIPp drops other log files in its working directory
	p.cmd.Stdout = p.out
	p.cmd.Stderr = p.out
	if err := p.cmd.Start(); err != nil {
		cancel()
		t.Fatalf("start sipp: %v", err)
	}
	t.Cleanup(func() {
		_ = p.cmd.Process.Kill() // no-op error when it has already exited
		_, _ = p.Wait()
	})
	return p
}

// Wait waits for SIPp to exit and returns its result. The error is non-nil when SIPp
// exited with a non-zero status or could not be waited for; Result is filled as far as
// possible either way. Wait may be called more than once.
func (p *Proc) Wait() (Result, error) {
	p.once.Do(func() {
		waitErr := p.cmd.Wait()
		p.cancel()
		p.result.ExitCode = p.cmd.ProcessState.ExitCode()
		p.result.Output = p.out.String()
		if b, err := os.ReadFile(p.errFile); err == nil {
			p.result.Errors = string(b)
		}
		var statErr error
		p.result.Successful, p.result.Failed, statErr = readStats(p.statFile)
		var exitErr *exec.ExitError
		switch {
		case errors.As(waitErr, &exitErr):
			p.err = fmt.Errorf("sipp exited with status %d (successful %d, failed %d): %s", p.result.ExitCode,
				p.result.Successful, p.result.Failed, lastLines(p.result.Errors+p.result.Output, 15))
		case waitErr != nil:
			p.err = fmt.Errorf("wait for sipp: %w", waitErr)
		case statErr != nil:
			p.err = statErr
		}
	})
	return p.result, p.err
}

// readStats returns the cumulative SuccessfulCall(C) and FailedCall(C) columns of the
// last line of SIPp's -trace_stat file (';'-separated, header on the first line).
func readStats(path string) (ok, failed int, err error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return 0, 0, fmt.Errorf("sipp statistics: %w", err)
	}
	lines := strings.Split(strings.TrimSpace(string(b)), "\n")
	if len(lines) < 2 {
		return 0, 0, fmt.Errorf("sipp statistics %s: no data line", path)
	}
	header := strings.Split(strings.TrimSpace(lines[0]), ";")
	last := strings.Split(strings.TrimSpace(lines[len(lines)-1]), ";")
	col := func(name string) (int, error) {
		for i, h := range header {
			if h == name && i < len(last) {
				n, err := strconv.Atoi(strings.TrimSpace(last[i]))
				if err != nil {
					return 0, fmt.Errorf("sipp statistics column %s: %w", name, err)
				}
				return n, nil
			}
		}
		return 0, fmt.Errorf("sipp statistics: no column %s", name)
	}
	if ok, err = col("SuccessfulCall(C)"); err != nil {
		return 0, 0, err
	}
	if failed, err = col("FailedCall(C)"); err != nil {
		return 0, 0, err
	}
	return ok, failed, nil
}

func lastLines(s string, n int) string {
	lines := strings.Split(strings.TrimRight(s, "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}

// lockedBuffer lets os/exec's copy goroutines and Wait share one buffer.
type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}
