package main

import (
	"bytes"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"switchboard/dialplan"
)

// adminCommands are the commands that talk to a running server's HTTP API.
var adminCommands = map[string]func(*adminCLI, []string) int{
	"agents":    (*adminCLI).agents,
	"status":    (*adminCLI).status,
	"calls":     (*adminCLI).calls,
	"callbacks": (*adminCLI).callbacks,
	"callback":  (*adminCLI).callback,
	"voicemail": (*adminCLI).voicemail,
	"dial":      (*adminCLI).dial,
	"backup":    (*adminCLI).backup,
}

// admin runs an admin command; ok is false when cmd is not one.
func admin(cmd string, args []string, stdout, stderr io.Writer) (code int, ok bool) {
	run, ok := adminCommands[cmd]
	if !ok {
		return 0, false
	}
	c := &adminCLI{name: cmd, stdout: stdout, stderr: stderr}
	return run(c, args), true
}

// adminCLI holds the flags every admin command shares and talks HTTP.
type adminCLI struct {
	name           string
	stdout, stderr io.Writer
	server         string
	data           string
	firm           string
	config         string
	json           bool
	token          string
	hc             *http.Client
}

// flags returns a flag set with the common flags; usage is the synopsis.
func (c *adminCLI) flags(usage string) *flag.FlagSet {
	fs := flag.NewFlagSet(c.name, flag.ContinueOnError)
	fs.SetOutput(c.stderr)
	fs.StringVar(&c.server, "server", "http://127.0.0.1:8080", "URL of the running server's HTTP API")
	fs.StringVar(&c.data, "data", "./data", "data directory to read admin.token from when SWITCHBOARD_TOKEN is unset")
	fs.StringVar(&c.firm, "firm", "", "firm (SIP domain) to act in; default: all firms, or the only one that matches")
	fs.StringVar(&c.config, "config", "", "the server's config file: its listen.http and data_dir become the defaults of -server and -data (default ./switchboard.yaml, else "+systemConfig+", when present)")
	fs.BoolVar(&c.json, "json", false, "print the API's raw JSON")
	fs.Usage = func() {
		fmt.Fprintf(c.stderr, "usage: switchboard %s\n\nflags:\n", usage)
		fs.PrintDefaults()
	}
	return fs
}

// parse parses flags and positional arguments in any order ("calls -n 5",
// "voicemail play box 1 -o f.wav"); "--" ends the flags. It checks the number
// of positional arguments against min and max.
func (c *adminCLI) parse(fs *flag.FlagSet, args []string, min, max int) ([]string, bool) {
	pos, err := parseInterleaved(fs, args)
	if err != nil {
		return nil, false
	}
	if len(pos) < min || len(pos) > max {
		fs.Usage()
		return nil, false
	}
	c.defaultsFromConfig(fs)
	c.hc = &http.Client{Timeout: 30 * time.Second}
	c.server = strings.TrimRight(c.server, "/")
	if !strings.Contains(c.server, "://") {
		c.server = "http://" + c.server
	}
	c.token = os.Getenv("SWITCHBOARD_TOKEN")
	if c.token == "" {
		if b, err := os.ReadFile(filepath.Join(c.data, "admin.token")); err == nil {
			c.token = strings.TrimSpace(string(b))
		}
	}
	return pos, true
}

// systemConfig is where the Debian package puts the config file.
const systemConfig = "/etc/switchboard/switchboard.yaml"

// defaultsFromConfig takes -server and -data from the server's config file when
// they were not given: admins run commands next to the config they edit, and
// on a packaged install (no ./switchboard.yaml) `sudo switchboard agents`
// finds the service's address and token through systemConfig.
func (c *adminCLI) defaultsFromConfig(fs *flag.FlagSet) {
	set := map[string]bool{}
	fs.Visit(func(f *flag.Flag) { set[f.Name] = true })
	path := c.config
	if path == "" {
		for _, p := range []string{"switchboard.yaml", systemConfig} {
			if _, err := os.Stat(p); err == nil {
				path = p
				break
			}
		}
		if path == "" {
			return
		}
	}
	cfg, err := dialplan.Load(path)
	if err != nil {
		if c.config != "" {
			fmt.Fprintf(c.stderr, "switchboard %s: %v\n", c.name, err)
		}
		return
	}
	if !set["data"] {
		c.data = cfg.DataDir
	}
	if !set["server"] && cfg.Listen.HTTP != "" {
		host, port, err := net.SplitHostPort(cfg.Listen.HTTP)
		if err == nil {
			if ip := net.ParseIP(host); host == "" || (ip != nil && ip.IsUnspecified()) {
				host = "127.0.0.1"
			}
			c.server = "http://" + net.JoinHostPort(host, port)
		}
	}
}

func parseInterleaved(fs *flag.FlagSet, args []string) ([]string, error) {
	var pos []string
	for {
		if err := fs.Parse(args); err != nil {
			return nil, err
		}
		rest := fs.Args()
		if len(rest) == 0 {
			return pos, nil
		}
		if consumed := len(args) - len(rest); consumed > 0 && args[consumed-1] == "--" {
			return append(pos, rest...), nil
		}
		pos = append(pos, rest[0])
		args = rest[1:]
	}
}

// apiError is an error answer of the API.
type apiError struct {
	status int
	msg    string
}

func (e *apiError) Error() string { return e.msg }

var (
	// firmParam is the API's way to name a firm in its messages ("add ?firm=").
	firmParam = regexp.MustCompile(`\?firm=(\S*)`)
	// firmChoice is the list of candidate firms in the API's "exists in several
	// firms (a.example, b.example): add ?firm=".
	firmChoice = regexp.MustCompile(`\(([^,()\s]+),[^()]*\): add \?firm=$`)
)

// cliWording rewrites the API's advice to add ?firm= into the CLI's -firm
// flag, with the first candidate firm as an example when the message lists
// them.
func cliWording(msg string) string {
	if !strings.Contains(msg, "?firm=") {
		return msg
	}
	example := ""
	if m := firmChoice.FindStringSubmatch(msg); m != nil {
		example = " (e.g. -firm " + m[1] + ")"
	}
	return firmParam.ReplaceAllStringFunc(msg, func(s string) string {
		if firm := strings.TrimPrefix(s, "?firm="); firm != "" {
			return "-firm " + firm
		}
		return "-firm FIRM" + example
	})
}

// request sends a request and returns the answer of a 2xx status; other
// statuses become an *apiError carrying the API's message.
func (c *adminCLI) request(method, path string, query url.Values, body any) (*http.Response, error) {
	if c.firm != "" {
		if query == nil {
			query = url.Values{}
		}
		query.Set("firm", c.firm)
	}
	u := c.server + path
	if len(query) > 0 {
		u += "?" + query.Encode()
	}
	var rd io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			return nil, err
		}
		rd = bytes.NewReader(b)
	}
	req, err := http.NewRequest(method, u, rd)
	if err != nil {
		return nil, fmt.Errorf("bad -server URL: %w", err)
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	if c.token != "" {
		req.Header.Set("Authorization", "Bearer "+c.token)
	}
	res, err := c.hc.Do(req)
	if err != nil {
		return nil, fmt.Errorf("cannot reach the server (is `switchboard serve` running? -server %s): %w", c.server, err)
	}
	if res.StatusCode/100 == 2 {
		return res, nil
	}
	defer res.Body.Close()
	b, _ := io.ReadAll(io.LimitReader(res.Body, 64<<10))
	var e struct {
		Error string `json:"error"`
	}
	msg := res.Status
	if json.Unmarshal(b, &e) == nil && e.Error != "" {
		msg = e.Error
	}
	msg = cliWording(msg)
	if res.StatusCode == http.StatusUnauthorized && c.token == "" {
		msg += " (no admin token: set SWITCHBOARD_TOKEN or point -data at the server's data directory)"
	}
	return nil, &apiError{res.StatusCode, msg}
}

// do runs a JSON request: with -json it prints the answer, else it decodes it
// into out for the caller to print. It reports whether the caller should print.
func (c *adminCLI) do(method, path string, query url.Values, body, out any) (show bool, err error) {
	res, err := c.request(method, path, query, body)
	if err != nil {
		return false, err
	}
	defer res.Body.Close()
	b, err := io.ReadAll(res.Body)
	if err != nil {
		return false, fmt.Errorf("read answer: %w", err)
	}
	if c.json {
		var buf bytes.Buffer
		if json.Indent(&buf, b, "", "  ") == nil {
			b = append(buf.Bytes(), '\n')
		}
		_, err := c.stdout.Write(b)
		return false, err
	}
	if out != nil && len(b) > 0 {
		if err := json.Unmarshal(b, out); err != nil {
			return false, fmt.Errorf("unexpected answer from the server: %w", err)
		}
	}
	return true, nil
}

// exit prints err (if any) and returns the exit code.
func (c *adminCLI) exit(err error) int {
	if err == nil {
		return 0
	}
	fmt.Fprintf(c.stderr, "switchboard %s: %v\n", c.name, err)
	return 1
}

func (c *adminCLI) table(header string, rows [][]string) error {
	tw := tabwriter.NewWriter(c.stdout, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, header)
	for _, r := range rows {
		for i, v := range r {
			if v == "" {
				r[i] = "-"
			}
		}
		fmt.Fprintln(tw, strings.Join(r, "\t"))
	}
	return tw.Flush()
}

func when(t time.Time) string {
	if t.IsZero() {
		return ""
	}
	return t.Local().Format("2006-01-02 15:04:05")
}

func secs(s float64) string {
	return (time.Duration(s * float64(time.Second))).Round(time.Second).String()
}

func seg(s string) string { return url.PathEscape(s) }

type agentRow struct {
	ID, Name, Extension, Firm, Routing, Status string
	Registrations                              []struct {
		Contact, Source, Transport string
		UserAgent                  string `json:"user_agent"`
	}
}

func (c *adminCLI) agents(args []string) int {
	fs := c.flags("agents [-firm F]")
	if _, ok := c.parse(fs, args, 0, 0); !ok {
		return 2
	}
	var list []agentRow
	show, err := c.do("GET", "/api/agents", nil, nil, &list)
	if err != nil || !show {
		return c.exit(err)
	}
	rows := make([][]string, 0, len(list))
	for _, a := range list {
		var regs []string
		for _, r := range a.Registrations {
			s := r.Transport + " " + r.Source
			if r.UserAgent != "" {
				s += " (" + r.UserAgent + ")"
			}
			regs = append(regs, s)
		}
		rows = append(rows, []string{a.ID, a.Name, a.Extension, a.Firm, a.Routing, a.Status, strings.Join(regs, ", ")})
	}
	return c.exit(c.table("ID\tNAME\tEXT\tFIRM\tROUTING\tSTATUS\tREGISTRATIONS", rows))
}

func (c *adminCLI) status(args []string) int {
	fs := c.flags("status AGENT online|away|offline [-firm F]")
	pos, ok := c.parse(fs, args, 2, 2)
	if !ok {
		return 2
	}
	var a agentRow
	show, err := c.do("PUT", "/api/agents/"+seg(pos[0])+"/status", nil, map[string]string{"status": pos[1]}, &a)
	if err != nil || !show {
		return c.exit(err)
	}
	fmt.Fprintf(c.stdout, "%s (%s) is now %s\n", a.ID, a.Firm, a.Status)
	return 0
}

func (c *adminCLI) calls(args []string) int {
	fs := c.flags("calls [-n N] [-csv] [-agent A] [-outcome O] [-firm F]")
	n := fs.Int("n", 20, "how many calls, newest first")
	asCSV := fs.Bool("csv", false, "print CSV (with -n, the newest N calls; without, every call)")
	agent := fs.String("agent", "", "only calls of this agent")
	outcome := fs.String("outcome", "", "only calls with this outcome (answered, voicemail, callback, ...)")
	if _, ok := c.parse(fs, args, 0, 0); !ok {
		return 2
	}
	q := url.Values{}
	nSet := false
	fs.Visit(func(f *flag.Flag) { nSet = nSet || f.Name == "n" })
	if !*asCSV || nSet {
		q.Set("limit", strconv.Itoa(*n))
	}
	if *agent != "" {
		q.Set("agent", *agent)
	}
	if *outcome != "" {
		q.Set("outcome", *outcome)
	}
	if *asCSV {
		q.Set("format", "csv")
		res, err := c.request("GET", "/api/calls", q, nil)
		if err != nil {
			return c.exit(err)
		}
		defer res.Body.Close()
		_, err = io.Copy(c.stdout, res.Body)
		return c.exit(err)
	}
	var list []struct {
		Start                                                  time.Time
		Direction, From, To, Agent, Team, Outcome, Cause, Firm string
		QueueWait                                              float64 `json:"queue_wait"`
		TalkTime                                               float64 `json:"talk_time"`
	}
	show, err := c.do("GET", "/api/calls", q, nil, &list)
	if err != nil || !show {
		return c.exit(err)
	}
	rows := make([][]string, 0, len(list))
	for _, r := range list {
		rows = append(rows, []string{when(r.Start), r.Direction, r.From, r.To, r.Agent, r.Team, r.Outcome,
			secs(r.QueueWait), secs(r.TalkTime), r.Cause})
	}
	return c.exit(c.table("START\tDIRECTION\tFROM\tTO\tAGENT\tTEAM\tOUTCOME\tWAIT\tTALK\tCAUSE", rows))
}

type callbackRow struct {
	ID, Firm, Caller, Target, State, Note string
	Created                               time.Time
	Attempts                              int
	ClaimedBy                             string `json:"claimed_by"`
}

func (c *adminCLI) callbacks(args []string) int {
	fs := c.flags("callbacks [-all] [-firm F]")
	all := fs.Bool("all", false, "every entry, also done, failed and cancelled ones (default: pending and dialing)")
	if _, ok := c.parse(fs, args, 0, 0); !ok {
		return 2
	}
	q := url.Values{}
	if !*all {
		q.Set("state", "pending,dialing")
	}
	var list []callbackRow
	show, err := c.do("GET", "/api/callbacks", q, nil, &list)
	if err != nil || !show {
		return c.exit(err)
	}
	rows := make([][]string, 0, len(list))
	for _, r := range list {
		rows = append(rows, []string{r.ID, when(r.Created), r.Caller, r.Target, r.Firm, r.State,
			strconv.Itoa(r.Attempts), r.ClaimedBy, r.Note})
	}
	return c.exit(c.table("ID\tCREATED\tCALLER\tTARGET\tFIRM\tSTATE\tATTEMPTS\tCLAIMED BY\tNOTE", rows))
}

func (c *adminCLI) callback(args []string) int {
	fs := c.flags("callback claim|release|done|cancel ID [-note TEXT] [-agent A] [-firm F]")
	note := fs.String("note", "", "replace the entry's note")
	agent := fs.String("agent", "", "claim on behalf of this agent (default: admin)")
	pos, ok := c.parse(fs, args, 2, 2)
	if !ok {
		return 2
	}
	action, id := pos[0], pos[1]
	if action != "claim" && action != "release" && action != "done" && action != "cancel" {
		fmt.Fprintf(c.stderr, "switchboard callback: unknown action %q: want claim, release, done or cancel\n", action)
		return 2
	}
	body := map[string]string{}
	fs.Visit(func(f *flag.Flag) {
		if f.Name == "note" {
			body["note"] = *note
		}
	})
	if *agent != "" {
		body["agent"] = *agent
	}
	var cb callbackRow
	show, err := c.do("POST", "/api/callbacks/"+seg(id)+"/"+action, nil, body, &cb)
	if err != nil || !show {
		return c.exit(err)
	}
	msg := fmt.Sprintf("callback %s (%s for %s): %s", cb.ID, cb.Caller, cb.Target, cb.State)
	if cb.State == "dialing" && cb.ClaimedBy != "" {
		msg += ", claimed by " + cb.ClaimedBy
	}
	fmt.Fprintln(c.stdout, msg)
	return 0
}

func (c *adminCLI) voicemail(args []string) int {
	fs := c.flags("voicemail MAILBOX | voicemail play MAILBOX ID [-o FILE] | voicemail delete MAILBOX ID")
	out := fs.String("o", "", "play: write the WAV to this file instead of stdout")
	pos, ok := c.parse(fs, args, 1, 3)
	if !ok {
		return 2
	}
	switch {
	case len(pos) == 3 && pos[0] == "play":
		return c.exit(c.play(pos[1], pos[2], *out))
	case len(pos) == 3 && pos[0] == "delete":
		path := "/api/voicemail/" + seg(pos[1]) + "/" + seg(pos[2])
		res, err := c.request("DELETE", path, nil, nil)
		if err != nil {
			return c.exit(err)
		}
		res.Body.Close()
		fmt.Fprintf(c.stdout, "deleted message %s from mailbox %s\n", pos[2], pos[1])
		return 0
	case len(pos) != 1:
		fs.Usage()
		return 2
	}
	var list []struct {
		ID, Caller string
		Time       time.Time
		Duration   float64
		Read       bool
	}
	show, err := c.do("GET", "/api/voicemail/"+seg(pos[0]), nil, nil, &list)
	if err != nil || !show {
		return c.exit(err)
	}
	rows := make([][]string, 0, len(list))
	for _, v := range list {
		state := "new"
		if v.Read {
			state = "old"
		}
		rows = append(rows, []string{v.ID, when(v.Time), v.Caller, secs(v.Duration), state})
	}
	return c.exit(c.table("ID\tTIME\tCALLER\tDURATION\tSTATE", rows))
}

// play fetches a message's WAV into file, or stdout when file is empty.
func (c *adminCLI) play(mailbox, id, file string) error {
	res, err := c.request("GET", "/api/voicemail/"+seg(mailbox)+"/"+seg(strings.TrimSuffix(id, ".wav"))+".wav", nil, nil)
	if err != nil {
		return err
	}
	defer res.Body.Close()
	if file == "" {
		_, err = io.Copy(c.stdout, res.Body)
		return err
	}
	f, err := os.Create(file)
	if err != nil {
		return err
	}
	if _, err := io.Copy(f, res.Body); err != nil {
		f.Close()
		return errors.Join(err, os.Remove(file))
	}
	if err := f.Close(); err != nil {
		return err
	}
	fmt.Fprintf(c.stderr, "wrote %s\n", file)
	return nil
}

func (c *adminCLI) dial(args []string) int {
	fs := c.flags("dial AGENT NUMBER [-firm F]")
	pos, ok := c.parse(fs, args, 2, 2)
	if !ok {
		return 2
	}
	body := map[string]string{"agent": pos[0], "number": pos[1]}
	var res struct{ ID string }
	show, err := c.do("POST", "/api/calls", nil, body, &res)
	if err != nil || !show {
		return c.exit(err)
	}
	fmt.Fprintf(c.stdout, "ringing %s first, then %s (call %s)\n", pos[0], pos[1], res.ID)
	return 0
}
