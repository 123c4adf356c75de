package api_test

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"switchboard/internal/app"
	"switchboard/internal/testphone"
	"switchboard/store"
)

// liveYAML adds a SIP WebSocket listener, a mobile agent and a trunk for
// +1555 numbers only to the test firms.
const liveYAML = `
domain: pbx.test
listen:
  sip: [udp://127.0.0.1:0, ws://127.0.0.1:0]
  http: 127.0.0.1:0
  rtp_ports: %s
firms: [acme.yaml]
agents:
  - {id: alice, name: Alice, extension: "1001", password: alice-pw}
  - {id: bob, name: Bob, extension: "1002", password: bob-pw}
  - {id: erin, name: Erin, extension: "1005", password: erin-pw, routing: mobile, mobile: "+15550001"}
trunks:
  - {id: carrier, uri: "sip:127.0.0.1:9"}
routes:
  outbound:
    - {match: "_+1555X.", trunk: carrier}
mailboxes: [{id: general}]
`

type sseEvent struct {
	name string
	data map[string]any
}

// sseStream reads GET /api/events in a goroutine that the test's cleanup ends
// and waits for.
type sseStream struct {
	t      *testing.T
	header http.Header
	events chan sseEvent
	done   chan struct{} // closed when the server ended the stream (or cleanup)
	cancel context.CancelFunc
}

func openEvents(t *testing.T, c *client) *sseStream {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	req, err := http.NewRequestWithContext(ctx, "GET", "http://"+c.base+"/api/events", nil)
	if err != nil {
		t.Fatal(err)
	}
	if c.token != "" {
		req.Header.Set("Authorization", "Bearer "+c.token)
	}
	res, err := (&http.Client{Jar: c.hc.Jar}).Do(req) // no timeout: the stream is long-lived
	if err != nil {
		cancel()
		t.Fatal(err)
	}
	if res.StatusCode != http.StatusOK {
		cancel()
		res.Body.Close()
		t.Fatalf("GET /api/events: %d", res.StatusCode)
	}
	s := &sseStream{t: t, header: res.Header, events: make(chan sseEvent), done: make(chan struct{}), cancel: cancel}
	go func() {
		defer close(s.done)
		defer res.Body.Close()
		sc := bufio.NewScanner(res.Body)
		var name, data string
		for sc.Scan() {
			line := sc.Text()
			switch {
			case line == "":
				if data != "" {
					ev := sseEvent{name: name}
					if err := json.Unmarshal([]byte(data), &ev.data); err != nil {
						t.Errorf("event %s: data %q: %v", name, data, err)
					}
					select {
					case s.events <- ev:
					case <-ctx.Done():
						return
					}
				}
				name, data = "", ""
			case strings.HasPrefix(line, "event: "):
				name = strings.TrimPrefix(line, "event: ")
			case strings.HasPrefix(line, "data: "):
				data += strings.TrimPrefix(line, "data: ")
			}
		}
	}()
	t.Cleanup(func() {
		cancel()
		<-s.done
	})
	return s
}

// next returns the next event; the stream must deliver one.
func (s *sseStream) next() sseEvent {
	s.t.Helper()
	select {
	case ev := <-s.events:
		return ev
	case <-s.done:
		s.t.Fatal("event stream ended")
	case <-time.After(15 * time.Second):
		s.t.Fatal("no event")
	}
	return sseEvent{}
}

// expect checks that the next event is name with the fields in want.
func (s *sseStream) expect(name string, want map[string]any) sseEvent {
	s.t.Helper()
	ev := s.next()
	if ev.name != name {
		s.t.Fatalf("event %s %v, want %s %v", ev.name, ev.data, name, want)
	}
	for k, v := range want {
		if ev.data[k] != v {
			s.t.Fatalf("event %s: %s = %v, want %v (%v)", name, k, ev.data[k], v, ev.data)
		}
	}
	return ev
}

func addVoicemail(t *testing.T, a *app.App, firm, mailbox string) store.Voicemail {
	t.Helper()
	f := filepath.Join(t.TempDir(), "m.wav")
	if err := os.WriteFile(f, []byte("RIFF\x24\x00\x00\x00WAVEfmt fake"), 0o600); err != nil {
		t.Fatal(err)
	}
	v := &store.Voicemail{Firm: firm, Mailbox: mailbox, Caller: "+15559990000", Duration: time.Second, File: f, Codec: "PCMU"}
	if err := a.Store.AddVoicemail(v); err != nil {
		t.Fatal(err)
	}
	return *v
}

// An agent's stream carries their own status, voicemail and callback events and
// nobody else's; the admin's carries everything.
func TestEventsStatusVoicemailCallbacks(t *testing.T) {
	t.Parallel()
	a := startAppYAML(t, liveYAML)
	admin := adminClient(t, a.HTTPAddr)
	alice := agentClient(t, a.HTTPAddr, "1001", "alice-pw", "pbx.test")
	adminEv := openEvents(t, admin)
	aliceEv := openEvents(t, alice)
	if ct, cc := aliceEv.header.Get("Content-Type"), aliceEv.header.Get("Cache-Control"); ct != "text/event-stream" || cc != "no-cache" {
		t.Errorf("headers: Content-Type %q, Cache-Control %q", ct, cc)
	}

	// Bob's change first: alice's next event must still be her own.
	admin.mustDo("PUT", "/api/agents/bob/status", map[string]string{"status": "away"}, http.StatusOK, nil)
	alice.mustDo("PUT", "/api/agents/alice/status", map[string]string{"status": "away"}, http.StatusOK, nil)
	aliceEv.expect("status", map[string]any{"agent": "alice", "firm": "pbx.test", "status": "away"})
	adminEv.expect("status", map[string]any{"agent": "bob", "status": "away"})
	adminEv.expect("status", map[string]any{"agent": "alice", "status": "away"})

	// Voicemail: heard once (a second mark changes nothing), then deleted.
	vm := addVoicemail(t, a, "pbx.test", "alice")
	var out struct{ ID, Mailbox string }
	alice.mustDo("POST", "/api/voicemail/alice/"+vm.ID+"/heard", nil, http.StatusOK, &out)
	var heard map[string]any
	alice.mustDo("POST", "/api/voicemail/alice/"+vm.ID+"/heard", nil, http.StatusOK, &heard)
	if heard["heard"] != true || heard["read"] != true {
		t.Errorf("heard answer %v", heard)
	}
	alice.wantError("POST", "/api/voicemail/alice/nope/heard", nil, http.StatusNotFound)
	alice.wantError("POST", "/api/voicemail/general/"+vm.ID+"/heard", nil, http.StatusForbidden)
	alice.mustDo("DELETE", "/api/voicemail/alice/"+vm.ID, nil, http.StatusNoContent, nil)
	want := map[string]any{"mailbox": "alice", "id": vm.ID, "firm": "pbx.test", "agent": "alice"}
	want["action"] = "heard"
	aliceEv.expect("voicemail", want)
	want["action"] = "deleted"
	aliceEv.expect("voicemail", want)

	// Callbacks: bob's entry is not alice's business; hers is.
	var ids []string
	for _, target := range []string{"bob", "alice"} {
		cb := &store.Callback{Firm: "pbx.test", Caller: "+15558880000", TargetKind: store.TargetAgent, TargetID: target}
		if err := a.Store.AddCallback(cb); err != nil {
			t.Fatal(err)
		}
		ids = append(ids, cb.ID)
	}
	admin.mustDo("POST", "/api/callbacks/"+ids[0]+"/claim", map[string]string{"agent": "bob"}, http.StatusOK, nil)
	alice.mustDo("POST", "/api/callbacks/"+ids[1]+"/claim", nil, http.StatusOK, nil)
	alice.mustDo("POST", "/api/callbacks/"+ids[1]+"/done", nil, http.StatusOK, nil)
	aliceEv.expect("callback", map[string]any{"id": ids[1], "state": "dialing", "agent": "alice", "firm": "pbx.test", "number": "+15558880000"})
	aliceEv.expect("callback", map[string]any{"id": ids[1], "state": "done"})
	adminEv.expect("voicemail", map[string]any{"action": "heard"})
	adminEv.expect("voicemail", map[string]any{"action": "deleted"})
	adminEv.expect("callback", map[string]any{"id": ids[0], "agent": "bob"})
}

// Calls as the agent's app sees them: an incoming call rings, is answered and
// ends; a click-to-call shows its phases and why it failed.
func TestEventsCalls(t *testing.T) {
	t.Parallel()
	a := startAppYAML(t, liveYAML)
	alice := agentClient(t, a.HTTPAddr, "1001", "alice-pw", "pbx.test")
	ev := openEvents(t, alice)
	aPhone := registerPhone(t, a, testphone.Config{User: "1001", Password: "alice-pw", Domain: "pbx.test"})
	ePhone := registerPhone(t, a, testphone.Config{User: "1005", Password: "erin-pw", Domain: "pbx.test"})

	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	pending := ePhone.DialAsync(ctx, "1001")
	ring := ev.expect("call", map[string]any{"state": "ringing", "agent": "alice", "from": "1005", "to": "1001",
		"direction": "internal", "firm": "pbx.test", "click_to_call": false})
	in := <-aPhone.Incoming()
	ac, err := in.Answer(ctx)
	if err != nil {
		t.Fatal(err)
	}
	bc, err := pending.Result()
	if err != nil {
		t.Fatal(err)
	}
	ev.expect("call", map[string]any{"state": "answered", "id": ring.data["id"], "agent": "alice"})
	// The caller holds and resumes: the agent's app sees held, then answered.
	if err := bc.Hold(ctx); err != nil {
		t.Fatal(err)
	}
	ev.expect("call", map[string]any{"state": "held", "id": ring.data["id"], "agent": "alice"})
	if err := bc.Unhold(ctx); err != nil {
		t.Fatal(err)
	}
	ev.expect("call", map[string]any{"state": "answered", "id": ring.data["id"], "agent": "alice"})
	bc.Hangup(ctx)
	<-ac.Done()
	ev.expect("call", map[string]any{"state": "ended", "id": ring.data["id"], "outcome": "answered"})

	// Click-to-call to bob, who has no phone: alice rings, answers, the
	// customer leg fails.
	var res map[string]string
	alice.mustDo("POST", "/api/calls", map[string]string{"number": "1002"}, http.StatusAccepted, &res)
	ev.expect("call", map[string]any{"id": res["id"], "state": "ringing", "phase": "agent", "click_to_call": true, "to": "1002"})
	in = <-aPhone.Incoming()
	if _, err := in.Answer(ctx); err != nil {
		t.Fatal(err)
	}
	ev.expect("call", map[string]any{"id": res["id"], "state": "ringing", "phase": "customer"})
	ev.expect("call", map[string]any{"id": res["id"], "state": "ended", "outcome": "failed", "cause": "404 Not Found"})
}

// A stream ends when its client goes away and when the server shuts down; the
// shutdown does not wait for streams.
func TestEventsEnd(t *testing.T) {
	t.Parallel()
	a := startAppYAML(t, liveYAML)
	admin := adminClient(t, a.HTTPAddr)
	first := openEvents(t, admin)
	openEvents(t, admin)
	hub := a.PBX.Events()
	if n := hub.Subscribers(); n != 2 {
		t.Fatalf("%d subscribers, want 2", n)
	}
	first.cancel()
	<-first.done
	deadline := time.Now().Add(10 * time.Second)
	for hub.Subscribers() != 1 { // the handler notices the closed connection
		if time.Now().After(deadline) {
			t.Fatalf("%d subscribers after a client left, want 1", hub.Subscribers())
		}
		time.Sleep(5 * time.Millisecond)
	}
	second := openEvents(t, admin)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := a.Stop(ctx); err != nil {
		t.Fatal(err)
	}
	// Stop waited for the stream handlers: nothing is subscribed any more, and
	// the client sees the end of the stream.
	if n := hub.Subscribers(); n != 0 {
		t.Errorf("%d subscribers after Stop", n)
	}
	select {
	case <-second.done:
	case <-time.After(10 * time.Second):
		t.Error("stream still open after Stop")
	}
}

func wsListener(t *testing.T, a *app.App) string {
	t.Helper()
	for _, l := range a.SIP.Listeners() {
		if l.Network == "ws" {
			return l.Addr.String()
		}
	}
	t.Fatal("no ws listener")
	return ""
}

type sipCreds struct {
	WSURL    string `json:"ws_url"`
	URI      string `json:"uri"`
	Username string `json:"username"`
	Password string `json:"password"`
	Expires  time.Time
}

// Session SIP credentials register the browser as the agent, only while the
// session lives, and only for the agent's own address.
func TestMeSIP(t *testing.T) {
	t.Parallel()
	plain := startApp(t)
	msg := agentClient(t, plain.HTTPAddr, "1001", "alice-pw", "pbx.test").wantError("GET", "/api/me/sip", nil, http.StatusConflict)
	if !strings.Contains(msg, "WebSocket") {
		t.Errorf("no ws listener: %q", msg)
	}

	a := startAppYAML(t, liveYAML)
	ws := wsListener(t, a)
	alice := agentClient(t, a.HTTPAddr, "1001", "alice-pw", "pbx.test")
	var c, again sipCreds
	r := alice.mustDo("GET", "/api/me/sip", nil, http.StatusOK, &c)
	if c.WSURL != "ws://"+ws || c.URI != "sip:1001@pbx.test" || c.Username == "" || c.Password == "" ||
		c.Username == "1001" || c.Username == "alice" || c.Expires.IsZero() {
		t.Fatalf("credentials %+v", c)
	}
	if strings.Contains(string(r.body), "alice-pw") {
		t.Fatal("the agent's password was handed out")
	}
	alice.mustDo("GET", "/api/me/sip", nil, http.StatusOK, &again)
	if again != c {
		t.Errorf("second call issued new credentials: %+v, then %+v", c, again)
	}
	adminClient(t, a.HTTPAddr).wantError("GET", "/api/me/sip", nil, http.StatusBadRequest)
	page := alice.mustDo("GET", "/", nil, http.StatusOK, nil)
	if csp := page.header.Get("Content-Security-Policy"); !strings.Contains(csp, "connect-src 'self' ws://"+ws+";") ||
		!strings.Contains(csp, "media-src 'self' blob:") {
		t.Errorf("CSP %q", csp)
	}

	phone := func(user, authUser, password string) error {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		ph, err := testphone.New(ctx, testphone.Config{User: user, AuthUser: authUser, Password: password,
			Domain: "pbx.test", Server: ws, Transport: "ws"})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { ph.Close() })
		return ph.Register(ctx, time.Hour)
	}
	if err := phone("1001", c.Username, c.Password); err != nil {
		t.Fatalf("register with session credentials: %v", err)
	}
	var ag struct {
		Registrations []struct{ Transport string }
	}
	alice.mustDo("GET", "/api/agents/alice", nil, http.StatusOK, &ag)
	if len(ag.Registrations) != 1 || !strings.EqualFold(ag.Registrations[0].Transport, "ws") {
		t.Errorf("alice's registrations %+v", ag.Registrations)
	}
	var se *testphone.StatusError
	if err := phone("1001", c.Username, "wrong"); !errors.As(err, &se) || se.Code != http.StatusUnauthorized {
		t.Errorf("wrong session password: %v", err)
	}
	if err := phone("1002", c.Username, c.Password); !errors.As(err, &se) || se.Code != http.StatusForbidden {
		t.Errorf("alice's credentials registered bob's address: %v", err)
	}
	alice.mustDo("POST", "/api/logout", nil, http.StatusNoContent, nil)
	if err := phone("1001", c.Username, c.Password); !errors.As(err, &se) || se.Code != http.StatusUnauthorized {
		t.Errorf("credentials still valid after logout: %v", err)
	}
}

// The firm choice lives in the session; switching needs no password and
// revokes the softphone credentials of the old firm.
func TestMeFirmAndRouting(t *testing.T) {
	t.Parallel()
	a := startAppYAML(t, liveYAML)
	c := anonClient(t, a.HTTPAddr)
	var me struct {
		Agent, Firm, Routing, Mailbox string
		Firms                         []struct{ Firm, Agent string }
	}
	c.mustDo("POST", "/api/login", map[string]string{"username": "alice", "password": "alice-pw"}, http.StatusOK, &me)
	if me.Firm != "pbx.test" || me.Routing != "computer" || me.Mailbox != "alice" || len(me.Firms) != 2 {
		t.Fatalf("me after login: %+v", me)
	}
	var old, fresh sipCreds
	c.mustDo("GET", "/api/me/sip", nil, http.StatusOK, &old)
	c.mustDo("POST", "/api/me/firm", map[string]string{"firm": "acme.test"}, http.StatusOK, &me)
	if me.Firm != "acme.test" || me.Agent != "alice" {
		t.Fatalf("after the switch: %+v", me)
	}
	c.mustDo("GET", "/api/me", nil, http.StatusOK, &me)
	if me.Firm != "acme.test" {
		t.Errorf("the switch did not stay in the session: %+v", me)
	}
	c.mustDo("GET", "/api/me/sip", nil, http.StatusOK, &fresh)
	if fresh.Username == old.Username || fresh.URI != "sip:1001@acme.test" {
		t.Errorf("credentials after the switch: %+v (before %+v)", fresh, old)
	}
	c.wantError("POST", "/api/me/firm", map[string]string{"firm": "other.test"}, http.StatusForbidden)
	c.wantError("POST", "/api/me/firm", map[string]string{}, http.StatusForbidden)
	adminClient(t, a.HTTPAddr).wantError("POST", "/api/me/firm", map[string]string{"firm": "acme.test"}, http.StatusBadRequest)

	erin := agentClient(t, a.HTTPAddr, "1005", "erin-pw", "")
	erin.mustDo("GET", "/api/me", nil, http.StatusOK, &me)
	if me.Routing != "mobile" {
		t.Errorf("erin's routing %q", me.Routing)
	}
}

// Click-to-call says at once when nothing can ring.
func TestClickToCallUnreachable(t *testing.T) {
	t.Parallel()
	a := startAppYAML(t, liveYAML)
	tests := []struct {
		user, pw, number, want string
	}{
		{"1001", "alice-pw", "1002", "no phone registered"},
		{"1005", "erin-pw", "+4930123456", "no route to +4930123456"},
	}
	for _, tt := range tests {
		c := agentClient(t, a.HTTPAddr, tt.user, tt.pw, "pbx.test")
		if msg := c.wantError("POST", "/api/calls", map[string]string{"number": tt.number}, http.StatusConflict); msg != tt.want {
			t.Errorf("%s dials %s: %q, want %q", tt.user, tt.number, msg, tt.want)
		}
	}
	registerPhone(t, a, testphone.Config{User: "1001", Password: "alice-pw", Domain: "pbx.test"})
	c := agentClient(t, a.HTTPAddr, "1001", "alice-pw", "pbx.test")
	if msg := c.wantError("POST", "/api/calls", map[string]string{"number": "+4930123456"}, http.StatusConflict); msg != "no route to +4930123456" {
		t.Errorf("unrouted number: %q", msg)
	}
}
