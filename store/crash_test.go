package store

import (
	"bufio"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// crashChildEnv, when set, turns TestCrashSafety into the child process: it
// holds the database path to write to.
const crashChildEnv = "SWITCHBOARD_STORE_CRASH_CHILD"

// TestCrashSafety kills a writer with SIGKILL mid-stream and checks that
// every callback the writer was told had been stored is still there, which
// is the promise the PBX makes to a caller before hanging up.
func TestCrashSafety(t *testing.T) {
	if path := os.Getenv(crashChildEnv); path != "" {
		crashChild(path)
		return
	}
	t.Parallel()
	path := filepath.Join(t.TempDir(), "switchboard.db")
	cmd := exec.Command(os.Args[0], "-test.run=^TestCrashSafety$")
	cmd.Env = append(os.Environ(), crashChildEnv+"="+path)
	cmd.Stderr = os.Stderr
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}

	const killAfter = 25
	acked := make(chan string)
	go func() {
		defer close(acked)
		sc := bufio.NewScanner(out)
		for sc.Scan() {
			if id, ok := strings.CutPrefix(sc.Text(), "ok "); ok {
				acked <- id
			}
		}
	}()
	var ids []string
	guard := time.After(10 * time.Second)
collect:
	for len(ids) < killAfter {
		select {
		case id, ok := <-acked:
			if !ok {
				break collect
			}
			ids = append(ids, id)
		case <-guard:
			break collect
		}
	}
	// Process.Kill is SIGKILL on Unix: no deferred cleanup, no Close.
	if err := cmd.Process.Kill(); err != nil {
		t.Fatalf("kill child: %v", err)
	}
	// Drain acknowledgements printed before the kill landed; they count too.
	for id := range acked {
		ids = append(ids, id)
	}
	err = cmd.Wait()
	var exitErr *exec.ExitError
	if !errors.As(err, &exitErr) || exitErr.ExitCode() != -1 {
		t.Fatalf("child was not killed by a signal (finished on its own?): %v", err)
	}
	if len(ids) < killAfter {
		t.Fatalf("child acknowledged only %d callbacks before the deadline", len(ids))
	}

	s, err := Open(path)
	if err != nil {
		t.Fatalf("reopen after kill: %v", err)
	}
	defer s.Close()
	for _, id := range ids {
		c, err := s.GetCallback("crash.example", id)
		if err != nil {
			t.Errorf("acknowledged callback %s lost: %v", id, err)
			continue
		}
		if c.State != StatePending || !strings.HasPrefix(c.Caller, "+49") {
			t.Errorf("callback %s damaged: %+v", id, c)
		}
	}
	// The database must still accept writes (no leftover lock, sane freelist).
	if err := s.AddCallback(&Callback{Firm: "crash.example", Caller: "+1", TargetKind: TargetTeam, TargetID: "t"}); err != nil {
		t.Errorf("write after crash: %v", err)
	}
}

// crashChild adds callbacks until it is killed, acknowledging each one on
// stdout only after AddCallback returned.
func crashChild(path string) {
	s, err := Open(path)
	if err != nil {
		fmt.Fprintln(os.Stderr, "child:", err)
		os.Exit(2)
	}
	deadline := time.Now().Add(20 * time.Second) // in case the parent died
	for i := 0; time.Now().Before(deadline); i++ {
		c := &Callback{Firm: "crash.example", Caller: fmt.Sprintf("+49%08d", i), TargetKind: TargetTeam, TargetID: "sales"}
		if err := s.AddCallback(c); err != nil {
			fmt.Fprintln(os.Stderr, "child:", err)
			os.Exit(2)
		}
		fmt.Printf("ok %s\n", c.ID)
	}
	os.Exit(3)
}
