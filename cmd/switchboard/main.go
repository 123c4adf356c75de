// Command switchboard is the Switchboard PBX: `serve` runs it, `check` validates a
// config file, and the admin commands talk to a running server's HTTP API.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	_ "net/http/pprof"
	"os"
	"os/signal"
	"path/filepath"
	"runtime/debug"
	"strconv"
	"strings"
	"syscall"
	"time"

	"switchboard/dialplan"
	"switchboard/internal/app"
	"switchboard/internal/hugepages"
	"switchboard/internal/logbuf"
	"switchboard/internal/procs"
	"switchboard/sounds"
)

const usage = `usage: switchboard [global flags] <command> [flags]

commands:
  serve [-config F | F] [-data DIR] [-log-format text|json]
                                     run the PBX (demo config when no file exists)
  check [-config F | F]              validate a config file
  version                            print the version, commit and Go version
  backup FILE                        copy the running server's database to FILE
  agents                             list agents with status and registrations
  status AGENT online|away|offline   set an agent's status
  calls [-n N] [-csv]                call log
  callbacks [-all]                   callback queue
  callback done|cancel|claim ID      change a callback entry
  voicemail MAILBOX                  list voicemail
  voicemail play MAILBOX ID          fetch a message (WAV)
  voicemail delete MAILBOX ID        delete a message
  dial AGENT NUMBER                  click-to-call
admin commands take -server URL (default http://127.0.0.1:8080), -json, -firm and
-config F (the server's config: its listen.http and data_dir become the defaults); the
token comes from SWITCHBOARD_TOKEN or the data dir (-data, default ./data).
Global flags (-server, -config, -data, -firm, -json) may come before the command
or after it; the command's own flags (-n, -csv, -all, ...) come after it.
`

func main() {
	os.Exit(run(os.Args[1:], os.Stdout, os.Stderr))
}

func run(args []string, stdout, stderr io.Writer) int {
	cmd, rest, err := splitCommand(args)
	switch {
	case errors.Is(err, errHelp):
		fmt.Fprint(stdout, usage)
		return 0
	case err != nil:
		fmt.Fprintf(stderr, "switchboard: %v\n\n%s", err, usage)
		return 2
	}
	switch cmd {
	case "serve":
		return serve(rest, stdout, stderr)
	case "check":
		return check(rest, stdout, stderr)
	case "version":
		return versionCmd(rest, stdout, stderr)
	case "help":
		fmt.Fprint(stdout, usage)
		return 0
	}
	if code, ok := admin(cmd, rest, stdout, stderr); ok {
		return code
	}
	fmt.Fprintf(stderr, "switchboard: unknown command %q\n\n%s", cmd, usage)
	return 2
}

// globalFlags are the flags that may come before the command name, and
// whether each takes a value. They are the flags the admin commands share;
// serve and check define -config (and serve -data) themselves.
var globalFlags = map[string]bool{"server": true, "config": true, "data": true, "firm": true, "json": false}

var errHelp = errors.New("help requested")

// splitCommand finds the command name after any global flags and moves those
// flags behind it: "-server U agents -n 5" runs as "agents -server U -n 5",
// and a flag given on both sides takes the later value, as the flag package
// does. "--" ends the global flags.
func splitCommand(args []string) (cmd string, rest []string, err error) {
	var lead []string
	for i := 0; i < len(args); i++ {
		a := args[i]
		switch {
		case a == "--":
			if i+1 == len(args) {
				return "", nil, errors.New("missing command")
			}
			return args[i+1], append(lead, args[i+2:]...), nil
		case a == "-" || !strings.HasPrefix(a, "-"):
			return a, append(lead, args[i+1:]...), nil
		}
		name, _, hasValue := strings.Cut(strings.TrimPrefix(strings.TrimPrefix(a, "-"), "-"), "=")
		if name == "h" || name == "help" {
			return "", nil, errHelp
		}
		if name == "version" && !hasValue {
			// What admins try first; the same as the version command.
			return "version", nil, nil
		}
		takesValue, ok := globalFlags[name]
		if !ok {
			return "", nil, fmt.Errorf("flag -%s must come after the command (only -server, -config, -data, -firm and -json may come before it)", name)
		}
		lead = append(lead, a)
		if takesValue && !hasValue {
			if i+1 == len(args) {
				return "", nil, fmt.Errorf("flag needs an argument: -%s", name)
			}
			i++
			lead = append(lead, args[i])
		}
	}
	return "", nil, errors.New("missing command")
}

// loadConfig reads -config, else ./switchboard.yaml, else the embedded demo.
func loadConfig(path string) (*dialplan.Config, bool, error) {
	if path == "" {
		if _, err := os.Stat("switchboard.yaml"); err == nil {
			path = "switchboard.yaml"
		}
	}
	if path == "" {
		cfg, err := dialplan.Demo()
		return cfg, true, err
	}
	cfg, err := dialplan.Load(path)
	return cfg, false, err
}

// configArg returns the config file named by -config or by the one
// positional argument; naming two different files is a usage error.
func configArg(flagValue string, pos []string) (string, error) {
	switch {
	case len(pos) > 1:
		return "", fmt.Errorf("one config file at most, got %q", pos)
	case len(pos) == 0:
		return flagValue, nil
	case flagValue != "" && !sameFile(flagValue, pos[0]):
		return "", fmt.Errorf("two config files given (-config %s and %s): name one", flagValue, pos[0])
	}
	return pos[0], nil
}

func sameFile(a, b string) bool {
	if filepath.Clean(a) == filepath.Clean(b) {
		return true
	}
	sa, errA := os.Stat(a)
	sb, errB := os.Stat(b)
	return errA == nil && errB == nil && os.SameFile(sa, sb)
}

// parseWithConfig parses a serve or check command line: flags and at most one
// positional config file, in any order.
func parseWithConfig(fs *flag.FlagSet, config *string, args []string, stderr io.Writer) bool {
	pos, err := parseInterleaved(fs, args)
	if err != nil {
		return false
	}
	file, err := configArg(*config, pos)
	if err != nil {
		fmt.Fprintf(stderr, "switchboard %s: %v\n", fs.Name(), err)
		fs.Usage()
		return false
	}
	*config = file
	return true
}

func check(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("check", flag.ContinueOnError)
	fs.SetOutput(stderr)
	config := fs.String("config", "", "config file (default ./switchboard.yaml); or name it without -config")
	fs.Usage = func() {
		fmt.Fprint(stderr, "usage: switchboard check [-config F | F]\n\nflags:\n")
		fs.PrintDefaults()
	}
	if !parseWithConfig(fs, config, args, stderr) {
		return 2
	}
	if *config == "" {
		*config = "switchboard.yaml"
	}
	cfg, err := dialplan.Load(*config)
	if err != nil {
		fmt.Fprintln(stderr, err)
		return 1
	}
	// Warnings do not fail check: serve runs such a file (a menu without its
	// prompt file plays none, a mailbox email without smtp: gets no mail).
	for _, w := range warnings(cfg) {
		fmt.Fprintln(stderr, w.File+":"+strconv.Itoa(w.Line)+": warning: "+w.Msg)
	}
	agents := 0
	for _, f := range cfg.Firms {
		agents += len(f.Agents)
	}
	fmt.Fprintf(stdout, "%s: ok (%s, %s)\n", *config, count(len(cfg.Firms), "firm"), count(agents, "agent"))
	return 0
}

// count writes "1 firm", "2 firms", "0 firms".
func count(n int, noun string) string {
	if n == 1 {
		return "1 " + noun
	}
	return strconv.Itoa(n) + " " + noun + "s"
}

// warnings are the config's problems that do not stop the PBX: the loader's
// (a mailbox email without smtp:) and IVR prompts no file stands for.
func warnings(cfg *dialplan.Config) []dialplan.Problem {
	ws := append([]dialplan.Problem(nil), cfg.Warnings...)
	var ve *dialplan.ValidationError
	if errors.As(cfg.CheckPrompts(sounds.Names()), &ve) {
		ws = append(ws, ve.Problems...)
	}
	return ws
}

// logWarnings logs what warnings finds when the PBX starts or reloads.
func logWarnings(cfg *dialplan.Config, log *slog.Logger) {
	for _, w := range warnings(cfg) {
		log.Warn("config warning", "problem", w.String())
	}
}

func serve(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("serve", flag.ContinueOnError)
	fs.SetOutput(stderr)
	config := fs.String("config", "", "config file (default ./switchboard.yaml, else the built-in demo); or name it without -config")
	data := fs.String("data", "", "data directory (overrides data_dir)")
	logFormat := fs.String("log-format", logText, "log format on stderr: text (key=value) or json (one object a line)")
	fs.Usage = func() {
		fmt.Fprint(fs.Output(), "usage: switchboard serve [-config F | F] [-data DIR] [-log-format text|json]\n\nflags:\n")
		fs.PrintDefaults()
	}
	if !parseWithConfig(fs, config, args, stderr) {
		return 2
	}
	// Log lines wait up to logbuf.Window for company, warnings and errors
	// do not (internal/logbuf); serve's own messages on stderr keep their
	// place among them.
	logw := logbuf.New(stderr, logbuf.Window)
	defer logw.Close()
	log, err := newLogger(logw, *logFormat, logLevel())
	if err != nil {
		fmt.Fprintf(stderr, "switchboard serve: %v\n", err)
		fs.Usage()
		return 2
	}
	log = slog.New(logbuf.Handler(log.Handler(), logw, slog.LevelWarn))
	stderr = logw
	if os.Getenv("GOGC") == "" {
		// A PBX's heap is small and short-lived (transactions live 32 s): trading
		// some memory for fewer collections lowers CPU per call (see bench/README.md).
		debug.SetGCPercent(400)
	}
	cfg, demo, err := loadConfig(*config)
	if err != nil {
		fmt.Fprintln(stderr, err)
		return 1
	}
	logWarnings(cfg, log)
	if os.Getenv("GOMAXPROCS") == "" {
		// One processor while one core is enough, all once the load needs
		// them (internal/procs, bench/README.md).
		defer procs.Start(log)()
	}
	// The heap on 2 MiB pages where the system lets each program choose
	// (internal/hugepages, README.md).
	defer hugepages.Start(log, os.Getenv)()
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	// SIGHUP is caught before anything listens: once the listeners are printed a
	// reload may come at once, and SIGHUP's default action would kill us.
	hup := make(chan os.Signal, 1)
	signal.Notify(hup, syscall.SIGHUP)
	defer signal.Stop(hup)
	a, err := app.Start(ctx, cfg, app.Options{DataDir: *data, Logger: log})
	if err != nil {
		fmt.Fprintf(stderr, "switchboard: %v\n", err)
		return 1
	}
	logw.Flush() // what starting logged comes before the listeners on a shared terminal
	for _, l := range a.SIP.Listeners() {
		fmt.Fprintf(stdout, "SIP  %s://%s\n", l.Network, l.Addr)
	}
	if a.HTTPAddr != "" {
		fmt.Fprintf(stdout, "HTTP http://%s (admin token in %s, or SWITCHBOARD_TOKEN)\n", a.HTTPAddr, a.DataDir)
	}
	if a.HTTPSAddr != "" {
		fmt.Fprintf(stdout, "HTTPS https://%s\n", a.HTTPSAddr)
	}
	if demo {
		printDemo(stdout, cfg)
	}
	log.Info("switchboard running", "config", cfg.File, "data", a.DataDir)
	if addr := os.Getenv("SWITCHBOARD_PPROF"); addr != "" {
		// Profiling on demand (loopback address expected), for bench/README.md.
		go func() {
			if err := http.ListenAndServe(addr, nil); err != nil {
				log.Error("pprof listener", "err", err)
			}
		}()
	}

	if !demo {
		go watchConfig(ctx, cfg.File, a, log)
	}
	for {
		select {
		case <-hup:
			// The certificate first: renewed on disk, it is what SIGHUP is sent for.
			if file, err := a.ReloadCerts(); err != nil {
				log.Error("TLS certificate not reloaded, keeping the running one", "err", err)
			} else if file != "" {
				log.Info("TLS certificate reloaded", "file", file)
			}
			if demo {
				log.Info("SIGHUP: demo config has no file to reload")
				continue
			}
			reload(cfg.File, a, log)
		case <-ctx.Done():
			log.Info("draining: new calls get 503, calls in progress may finish", "shutdown_timeout", a.Config.ShutdownTimeout)
			dctx, dcancel := context.WithTimeout(context.Background(), a.Config.ShutdownTimeout)
			if err := a.Drain(dctx); err != nil {
				log.Info("shutdown_timeout passed: hanging up the calls left", "err", err)
			}
			dcancel()
			log.Info("shutting down")
			sctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			err := a.Stop(sctx)
			cancel()
			if err != nil {
				log.Error("shutdown", "err", err)
				return 1
			}
			log.Info("stopped")
			return 0
		}
	}
}

func printDemo(w io.Writer, cfg *dialplan.Config) {
	f := cfg.Firms[0]
	fmt.Fprintf(w, "\nDemo configuration (no switchboard.yaml here). Register a softphone to %s:\n", cfg.Listen.SIP[0])
	for _, a := range f.Agents {
		fmt.Fprintf(w, "  %-6s extension %s@%s  password %s\n", a.ID, a.Extension, f.Domain, a.Password)
	}
	for _, t := range f.Teams {
		fmt.Fprintf(w, "  team %s: dial %s\n", t.ID, t.Extension)
	}
	for _, i := range f.IVRs {
		fmt.Fprintf(w, "  menu %s: dial %s\n", i.ID, i.Extension)
	}
	fmt.Fprintln(w, "  *50 online, *51 away, *97 voicemail")
	if cfg.Listen.HTTP != "" {
		fmt.Fprintf(w, "Or open http://%s/ in a browser and log in with an extension and its password:\n"+
			"the agent app places and takes calls from the browser (WebRTC).\n", cfg.Listen.HTTP)
	}
}

// reload loads the file again; an invalid file is logged and the running dialplan stays.
func reload(path string, a *app.App, log *slog.Logger) {
	cfg, err := dialplan.Load(path)
	if err != nil {
		var ve *dialplan.ValidationError
		if errors.As(err, &ve) {
			for _, p := range ve.Problems {
				log.Error("config rejected, keeping the running one", "problem", p.String())
			}
		} else {
			log.Error("config rejected, keeping the running one", "err", err)
		}
		return
	}
	logWarnings(cfg, log)
	a.Reload(cfg)
}

// watchConfig reloads when the file's modification time or size changes. Polling
// keeps us on the standard library and works across editors' rename-on-save.
func watchConfig(ctx context.Context, path string, a *app.App, log *slog.Logger) {
	stamp := func() (time.Time, int64) {
		st, err := os.Stat(path)
		if err != nil {
			return time.Time{}, -1
		}
		return st.ModTime(), st.Size()
	}
	mt, sz := stamp()
	t := time.NewTicker(2 * time.Second)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			m, s := stamp()
			if s < 0 || (m.Equal(mt) && s == sz) {
				continue
			}
			mt, sz = m, s
			log.Info("config file changed", "file", path)
			reload(path, a, log)
		}
	}
}
