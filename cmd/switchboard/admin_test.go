package main

import (
	"bytes"
	"context"
	"encoding/csv"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"switchboard/dialplan"
	"switchboard/internal/app"
	"switchboard/internal/testphone"
	"switchboard/store"
)

const cliYAML = `
domain: cli.test
listen:
  sip: [udp://127.0.0.1:0]
  http: 127.0.0.1:0
  rtp_ports: %s
agents:
  - {id: alice, name: Alice Smith, extension: "1001", password: alice-pw}
  - {id: bob, name: Bob, extension: "1002", password: bob-pw}
teams:
  - {id: support, extension: "2000", members: [alice, bob]}
mailboxes: [{id: general}]
`

func TestParseInterleaved(t *testing.T) {
	t.Parallel()
	tests := []struct {
		args []string
		pos  []string
		n    int
		o    string
	}{
		{nil, nil, 20, ""},
		{[]string{"-n", "5"}, nil, 5, ""},
		{[]string{"play", "box", "id", "-o", "f.wav"}, []string{"play", "box", "id"}, 20, "f.wav"},
		{[]string{"play", "-o=f.wav", "box", "-n", "3", "id"}, []string{"play", "box", "id"}, 3, "f.wav"},
		{[]string{"dial", "--", "-n", "x"}, []string{"dial", "-n", "x"}, 20, ""},
		{[]string{"+15551234", "-"}, []string{"+15551234", "-"}, 20, ""},
	}
	for _, tc := range tests {
		fs := flag.NewFlagSet("t", flag.ContinueOnError)
		n := fs.Int("n", 20, "")
		o := fs.String("o", "", "")
		pos, err := parseInterleaved(fs, tc.args)
		if err != nil || !slices.Equal(pos, tc.pos) || *n != tc.n || *o != tc.o {
			t.Errorf("%q: pos %q n %d o %q err %v", tc.args, pos, *n, *o, err)
		}
	}
	fs := flag.NewFlagSet("t", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	if _, err := parseInterleaved(fs, []string{"x", "-nope"}); err == nil {
		t.Error("unknown flag accepted")
	}
}

func TestAdminIgnoresOtherCommands(t *testing.T) {
	t.Parallel()
	for _, cmd := range []string{"serve", "check", "bogus", ""} {
		if _, ok := admin(cmd, nil, io.Discard, io.Discard); ok {
			t.Errorf("admin claimed %q", cmd)
		}
	}
}

// TestCLI builds the real binary and runs every admin command against a
// server running in this process.
func TestCLI(t *testing.T) {
	t.Parallel()
	bin := filepath.Join(t.TempDir(), "switchboard")
	build := exec.Command("go", "build", "-o", bin, ".")
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}

	dir := t.TempDir()
	lo := 24000 + (os.Getpid()%400)*40
	cfg, err := dialplan.Parse(filepath.Join(dir, "switchboard.yaml"), []byte(fmt.Sprintf(cliYAML, fmt.Sprintf("%d-%d", lo, lo+39))))
	if err != nil {
		t.Fatal(err)
	}
	data := filepath.Join(dir, "data")
	a, err := app.Start(context.Background(), cfg, app.Options{DataDir: data, Token: "cli-token", Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		a.Stop(ctx)
	})
	// What the server writes at start (internal/app writeTokenFile), for -data.
	tokenDir := t.TempDir()
	if err := os.WriteFile(filepath.Join(tokenDir, "admin.token"), []byte(a.Token+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	server := "http://" + a.HTTPAddr

	t0 := time.Now().Add(-time.Hour)
	for i, ag := range []string{"alice", "bob", "alice"} {
		r := &store.CallRecord{Firm: "cli.test", Start: t0.Add(time.Duration(i) * time.Minute), Direction: "inbound",
			From: "+1555000" + fmt.Sprint(i), To: "1001", Agent: ag, Outcome: "answered", TalkTime: 61 * time.Second}
		if err := a.Store.AddCall(r); err != nil {
			t.Fatal(err)
		}
	}
	var cbIDs []string
	for _, target := range []string{"alice", "bob"} {
		cb := &store.Callback{Firm: "cli.test", Caller: "+15558880000", TargetKind: store.TargetAgent, TargetID: target}
		if err := a.Store.AddCallback(cb); err != nil {
			t.Fatal(err)
		}
		cbIDs = append(cbIDs, cb.ID)
	}
	wav := []byte("RIFF\x24\x00\x00\x00WAVEfmt test")
	wavFile := filepath.Join(dir, "m.wav")
	if err := os.WriteFile(wavFile, wav, 0o600); err != nil {
		t.Fatal(err)
	}
	vm := &store.Voicemail{Firm: "cli.test", Mailbox: "general", Caller: "+15559990000", Duration: 7 * time.Second, File: wavFile, Codec: "PCMU"}
	if err := a.Store.AddVoicemail(vm); err != nil {
		t.Fatal(err)
	}

	type result struct {
		code           int
		stdout, stderr string
	}
	run := func(env []string, args ...string) result {
		t.Helper()
		cmd := exec.Command(bin, args...)
		cmd.Env = append(slices.DeleteFunc(os.Environ(), func(e string) bool { return strings.HasPrefix(e, "SWITCHBOARD_TOKEN=") }), env...)
		var out, errb bytes.Buffer
		cmd.Stdout, cmd.Stderr = &out, &errb
		err := cmd.Run()
		code := 0
		if ee, ok := err.(*exec.ExitError); ok {
			code = ee.ExitCode()
		} else if err != nil {
			t.Fatal(err)
		}
		return result{code, out.String(), errb.String()}
	}
	tok := []string{"SWITCHBOARD_TOKEN=cli-token"}
	sb := func(args ...string) result { return run(tok, append(args, "-server", server)...) }
	ok := func(r result, wants ...string) {
		t.Helper()
		if r.code != 0 {
			t.Fatalf("exit %d, stderr %s", r.code, r.stderr)
		}
		for _, w := range wants {
			if !strings.Contains(r.stdout, w) {
				t.Errorf("stdout lacks %q:\n%s", w, r.stdout)
			}
		}
	}
	fails := func(r result, code int, want string) {
		t.Helper()
		if r.code != code || !strings.Contains(r.stderr, want) {
			t.Errorf("want exit %d with %q; got %d, stderr %q stdout %q", code, want, r.code, r.stderr, r.stdout)
		}
	}

	t.Run("agents", func(t *testing.T) {
		r := sb("agents")
		ok(r, "ID", "STATUS", "Alice Smith", "1002")
		lines := strings.Split(strings.TrimSpace(r.stdout), "\n")
		if len(lines) != 3 || strings.Index(lines[0], "STATUS") != strings.Index(lines[1], "online") {
			t.Errorf("table not aligned:\n%s", r.stdout)
		}
		var list []map[string]any
		r = sb("agents", "-json")
		ok(r)
		if err := json.Unmarshal([]byte(r.stdout), &list); err != nil || len(list) != 2 {
			t.Errorf("-json: %v %s", err, r.stdout)
		}
	})
	t.Run("token from -data", func(t *testing.T) {
		ok(run(nil, "agents", "-server", server, "-data", tokenDir), "alice")
		fails(run(nil, "agents", "-server", server, "-data", t.TempDir()), 1, "SWITCHBOARD_TOKEN")
		fails(run([]string{"SWITCHBOARD_TOKEN=wrong"}, "agents", "-server", server), 1, "invalid bearer token")
	})
	t.Run("status", func(t *testing.T) {
		ok(sb("status", "bob", "away"), "bob (cli.test) is now away")
		if a.PBX.AgentStatus("cli.test", "bob") != "away" {
			t.Error("status not applied")
		}
		ok(sb("status", "-json", "1002", "online"), `"status": "online"`)
		fails(sb("status", "bob", "lunch"), 1, "invalid status")
		fails(sb("status", "zed", "away"), 1, "unknown agent")
		fails(sb("status", "bob"), 2, "usage: switchboard status")
	})
	t.Run("calls", func(t *testing.T) {
		r := sb("calls", "-n", "2")
		ok(r, "OUTCOME", "answered", "1m1s")
		if n := strings.Count(strings.TrimSpace(r.stdout), "\n"); n != 2 {
			t.Errorf("-n 2 printed %d rows:\n%s", n, r.stdout)
		}
		r = sb("calls", "-csv")
		ok(r)
		rows, err := csv.NewReader(strings.NewReader(r.stdout)).ReadAll()
		if err != nil || len(rows) != 4 || rows[0][0] != "id" {
			t.Errorf("csv: %v %q", err, rows)
		}
		r = sb("calls", "-agent", "bob", "-json")
		var list []map[string]any
		if err := json.Unmarshal([]byte(r.stdout), &list); err != nil || len(list) != 1 {
			t.Errorf("-agent bob -json: %v %s", err, r.stdout)
		}
		fails(sb("calls", "-n", "0"), 1, "limit")
		fails(sb("calls", "extra"), 2, "usage")
	})
	t.Run("callbacks", func(t *testing.T) {
		ok(sb("callbacks"), "CALLER", cbIDs[0], cbIDs[1], "agent:alice")
		ok(sb("callback", "claim", cbIDs[0]), "dialing, claimed by admin")
		fails(sb("callback", "claim", cbIDs[0]), 1, "cannot be claimed")
		ok(sb("callback", "done", cbIDs[0], "-note", "called back"), "done")
		ok(sb("callback", "cancel", cbIDs[1]), "cancelled")
		r := sb("callbacks")
		ok(r)
		if strings.Contains(r.stdout, cbIDs[0]) {
			t.Errorf("finished entry listed by default:\n%s", r.stdout)
		}
		ok(sb("callbacks", "-all"), cbIDs[0], "called back", cbIDs[1])
		fails(sb("callback", "retry", cbIDs[0]), 2, "unknown action")
		fails(sb("callback", "done", "nope"), 1, "unknown callback")
	})
	t.Run("voicemail", func(t *testing.T) {
		ok(sb("voicemail", "general"), vm.ID, "+15559990000", "7s", "new")
		r := sb("voicemail", "play", "general", vm.ID)
		ok(r)
		if r.stdout != string(wav) {
			t.Errorf("play to stdout: %q", r.stdout)
		}
		out := filepath.Join(t.TempDir(), "msg.wav")
		ok(sb("voicemail", "play", "general", vm.ID, "-o", out))
		if b, err := os.ReadFile(out); err != nil || !bytes.Equal(b, wav) {
			t.Errorf("play -o: %q %v", b, err)
		}
		ok(sb("voicemail", "general"), "old")
		fails(sb("voicemail", "play", "general", "nope"), 1, "no message")
		fails(sb("voicemail", "nobody"), 1, "unknown mailbox")
		ok(sb("voicemail", "delete", "general", vm.ID), "deleted")
		r = sb("voicemail", "general")
		ok(r)
		if strings.Contains(r.stdout, vm.ID) {
			t.Error("message still listed after delete")
		}
	})
	t.Run("dial", func(t *testing.T) {
		fails(sb("dial", "alice", "1002"), 1, "no phone registered")
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		ph, err := testphone.New(ctx, testphone.Config{User: "1001", Password: "alice-pw", Domain: "cli.test", Server: a.SIPAddr()})
		if err != nil {
			t.Fatal(err)
		}
		defer ph.Close()
		if err := ph.Register(ctx, time.Hour); err != nil {
			t.Fatal(err)
		}
		ok(sb("dial", "alice", "1002"), "ringing alice first, then 1002")
		fails(sb("dial", "alice", "12ab"), 1, "invalid number")
		fails(sb("dial", "zed", "1002"), 1, "unknown agent")
	})
	t.Run("backup", func(t *testing.T) {
		dir := t.TempDir()
		file := filepath.Join(dir, "copy.db")
		ok(sb("backup", file), "wrote "+file, "bbolt check passed")
		st, err := os.Stat(file)
		if err != nil {
			t.Fatal(err)
		}
		if st.Mode().Perm() != 0o600 {
			t.Errorf("backup mode %v, want 0600 (it holds the admin token)", st.Mode().Perm())
		}
		if err := store.Verify(file); err != nil {
			t.Fatal(err)
		}
		cp, err := store.Open(file)
		if err != nil {
			t.Fatal(err)
		}
		for _, id := range cbIDs {
			if _, err := cp.GetCallback("cli.test", id); err != nil {
				t.Errorf("callback %s not in the backup: %v", id, err)
			}
		}
		if err := cp.Close(); err != nil {
			t.Fatal(err)
		}
		// Refused: the old file stays, and no partial file is left beside it.
		fails(run([]string{"SWITCHBOARD_TOKEN=wrong"}, "backup", file, "-server", server), 1, "invalid bearer token")
		fails(run(tok, "backup", file, "-server", "http://127.0.0.1:1"), 1, "cannot reach the server")
		entries, err := os.ReadDir(dir)
		if err != nil {
			t.Fatal(err)
		}
		if len(entries) != 1 || entries[0].Name() != "copy.db" {
			t.Errorf("backup dir holds %v, want only copy.db", entries)
		}
		fails(sb("backup"), 2, "usage: switchboard backup")
	})
	t.Run("server down", func(t *testing.T) {
		fails(run(tok, "agents", "-server", "http://127.0.0.1:1"), 1, "cannot reach the server")
	})
	t.Run("config file", func(t *testing.T) {
		// -config gives the server's address (listen.http) and its data dir (the
		// token the server wrote there): no -server, -data or SWITCHBOARD_TOKEN.
		cfgFile := filepath.Join(t.TempDir(), "switchboard.yaml")
		body := fmt.Sprintf("domain: cli.test\nlisten: {http: %q}\ndata_dir: %q\nagents:\n  - {id: alice, extension: \"1001\", password: x}\n", a.HTTPAddr, data)
		if err := os.WriteFile(cfgFile, []byte(body), 0o600); err != nil {
			t.Fatal(err)
		}
		ok(run(nil, "agents", "-config", cfgFile), "alice")
	})
}
