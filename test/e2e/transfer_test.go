package e2e

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/cookiejar"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"switchboard/internal/audio"
	"switchboard/internal/testphone"
	"switchboard/store"
	"switchboard/wav"
)

// writePrompt writes a sine of freq Hz lasting d into dir/name (a µ-law WAV), for
// hold music whose frequency a test can check.
func writePrompt(t *testing.T, dir, name string, freq float64, d time.Duration) {
	t.Helper()
	w, err := wav.Create(filepath.Join(dir, name), wav.FormatULaw)
	if err != nil {
		t.Fatal(err)
	}
	if err := w.WritePCM(audio.Sine(freq, 8000, 0, int(d.Seconds()*audio.SampleRate))); err != nil {
		t.Fatal(err)
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
}

// Frequencies of the prompts the transfer and hold tests configure; shortPrompts'
// own hold.wav is 200 Hz.
const (
	teamMusicHz = 600
	firmMusicHz = 700
	sndHoldHz   = 200
	menuHz      = 500
)

// musicPrompts is shortPrompts plus team-music.wav and firm-music.wav, and a
// main-menu.wav (500 Hz) long enough to be heard after a transfer: a menu prompt
// plays once.
func musicPrompts(t *testing.T) string {
	t.Helper()
	dir := shortPrompts(t)
	writePrompt(t, dir, "main-menu.wav", menuHz, 3*time.Second)
	writePrompt(t, dir, "team-music.wav", teamMusicHz, time.Second)
	writePrompt(t, dir, "firm-music.wav", firmMusicHz, time.Second)
	return dir
}

// carrierPhone is a test phone standing for a carrier: it registers nowhere, and a
// trunk whose uri names its address sends it the PBX's outbound calls (and takes its
// calls as the trunk's, since they come from that address).
func carrierPhone(t *testing.T, codec string) *testphone.Phone {
	t.Helper()
	p, err := testphone.New(ctxT(t, 10*time.Second), testphone.Config{User: "carrier", Codec: codec})
	if err != nil {
		t.Fatalf("carrier phone: %v", err)
	}
	t.Cleanup(func() { p.Close() })
	return p
}

// liveCallID waits until the PBX has exactly one live call and returns its id.
func liveCallID(t *testing.T, s *server) string {
	t.Helper()
	var id string
	waitFor(t, "one live call", func() bool {
		live := s.PBX.LiveCalls("")
		if len(live) == 1 {
			id = live[0].ID
		}
		return len(live) == 1
	})
	return id
}

// collectNotifies reads a REFER's NOTIFY codes in the background from now on (so
// that the phone is never held up delivering them) and returns a function that
// waits for the final one and gives them all.
func collectNotifies(t *testing.T, st *testphone.ReferStatus) func() []int {
	t.Helper()
	done := make(chan []int, 1)
	stop := make(chan struct{})
	t.Cleanup(func() { close(stop) })
	go func() {
		var codes []int
		for {
			select {
			case c, ok := <-st.Notifies():
				if !ok {
					done <- codes
					return
				}
				codes = append(codes, c)
			case <-stop:
				done <- append(codes, -1) // -1: the channel was never closed
				return
			}
		}
	}()
	return func() []int {
		t.Helper()
		select {
		case codes := <-done:
			return codes
		case <-time.After(15 * time.Second):
			t.Fatal("NOTIFYs of the REFER never ended with a final status")
			return nil
		}
	}
}

// expectNotifies checks that a transfer's progress came as 100 Trying then 200 OK.
func expectNotifies(t *testing.T, wait func() []int) {
	t.Helper()
	if got := wait(); !slices.Equal(got, []int{100, 200}) {
		t.Fatalf("NOTIFY sipfrag codes %v, want [100 200]", got)
	}
}

// tonesBothWays checks audio in both directions between two calls bridged by the PBX.
func tonesBothWays(t *testing.T, whoA string, a *testphone.Call, whoB string, b *testphone.Call) {
	t.Helper()
	a.StartTone(1000)
	b.StartTone(400)
	expectFreq(t, whoB, b, 1000)
	expectFreq(t, whoA, a, 400)
}

// callRecord waits for the call log entry with id and checks that the log holds n
// entries in all.
func callRecord(t *testing.T, s *server, id string, n int) store.CallRecord {
	t.Helper()
	for _, r := range waitCalls(t, s, n) {
		if r.ID == id {
			return r
		}
	}
	t.Fatalf("no call log entry with id %s", id)
	return store.CallRecord{}
}

// expectTransfers checks a record's transfer chain: one hop by → to per pair.
func expectTransfers(t *testing.T, r store.CallRecord, hops ...[2]string) {
	t.Helper()
	if len(r.Transfers) != len(hops) {
		t.Fatalf("call %s: transfers %+v, want %v", r.ID, r.Transfers, hops)
	}
	for i, h := range hops {
		tr := r.Transfers[i]
		if tr.By != h[0] || tr.To != h[1] || tr.At.IsZero() || tr.At.Before(r.Start) {
			t.Fatalf("call %s: transfer %d is %+v, want by %s to %s at a time after the start %v", r.ID, i, tr, h[0], h[1], r.Start)
		}
	}
}

// apiTransfers checks the call log JSON of GET /api/calls for the entry id: its
// `transfers` array names the same hops.
func apiTransfers(t *testing.T, s *server, id string, hops ...[2]string) {
	t.Helper()
	var calls []struct {
		ID        string `json:"id"`
		Transfers []struct {
			By string    `json:"by"`
			To string    `json:"to"`
			At time.Time `json:"at"`
		} `json:"transfers"`
	}
	apiGet(t, s.HTTPAddr, s.data, "/api/calls", &calls)
	for _, c := range calls {
		if c.ID != id {
			continue
		}
		if c.Transfers == nil || len(c.Transfers) != len(hops) {
			t.Fatalf("GET /api/calls: call %s transfers %+v, want %v", id, c.Transfers, hops)
		}
		for i, h := range hops {
			if c.Transfers[i].By != h[0] || c.Transfers[i].To != h[1] || c.Transfers[i].At.IsZero() {
				t.Fatalf("GET /api/calls: call %s transfer %d %+v, want by %s to %s", id, i, c.Transfers[i], h[0], h[1])
			}
		}
		return
	}
	t.Fatalf("GET /api/calls has no call %s", id)
}

// apiClient calls the HTTP API as the admin (bearer token) or as an agent (session
// cookie from /api/login).
type apiClient struct {
	t      *testing.T
	base   string
	token  string
	client *http.Client
}

func (s *server) adminAPI() *apiClient {
	return &apiClient{t: s.t, base: "http://" + s.HTTPAddr, token: "test-token", client: &http.Client{Timeout: 15 * time.Second}}
}

// agentAPI logs in as an agent with their SIP credentials.
func (s *server) agentAPI(t *testing.T, user, password string) *apiClient {
	t.Helper()
	jar, err := cookiejar.New(nil)
	if err != nil {
		t.Fatal(err)
	}
	c := &apiClient{t: t, base: "http://" + s.HTTPAddr, client: &http.Client{Jar: jar, Timeout: 15 * time.Second}}
	if code, body := c.do("POST", "/api/login", map[string]string{"username": user, "password": password}); code != 200 {
		t.Fatalf("login %s: %d %s", user, code, body)
	}
	return c
}

// do sends a JSON body (nil for none) and returns the status and the response body.
func (c *apiClient) do(method, path string, body any) (int, []byte) {
	c.t.Helper()
	var r io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			c.t.Fatal(err)
		}
		r = bytes.NewReader(b)
	}
	req, err := http.NewRequest(method, c.base+path, r)
	if err != nil {
		c.t.Fatal(err)
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	if c.token != "" {
		req.Header.Set("Authorization", "Bearer "+c.token)
	} else {
		// A session cookie is the agent app's: its requests come from the
		// PBX's own origin, which the API checks.
		req.Header.Set("Origin", c.base)
	}
	res, err := c.client.Do(req)
	if err != nil {
		c.t.Fatalf("%s %s: %v", method, path, err)
	}
	defer res.Body.Close()
	b, err := io.ReadAll(res.Body)
	if err != nil {
		c.t.Fatalf("%s %s: read: %v", method, path, err)
	}
	return res.StatusCode, b
}

// transferConfig: cust (1009) calls alice (1001), who transfers. bob answers,
// carol is away with voicemail, dave away with callback; the team sales (2000) has
// bob and its own hold music; the menu 3000 offers bob on 1; numbers starting with +
// go to the carrier trunk.
const transferConfig = `
sounds_dir: %s
agents:
  - {id: alice, extension: "1001", password: alice-pw, caller_id: "+15550111"}
  - {id: bob, extension: "1002", password: bob-pw, ring_timeout: 10s}
  - {id: carol, extension: "1003", password: carol-pw, status: away, away: voicemail}
  - {id: dave, extension: "1004", password: dave-pw, status: away, away: callback}
  - {id: cust, extension: "1009", password: cust-pw}
teams:
  - {id: sales, extension: "2000", members: [bob], ring_timeout: 10s, max_wait: 60s, hold_music: team-music.wav}
ivrs:
  - {id: main, extension: "3000", prompt: main-menu.wav, timeout: 10s, options: {"1": "agent:bob"}, default: "voicemail:general"}
mailboxes: [{id: general}]
trunks:
  - {id: carrier, uri: "sip:%s", caller_id: "+15550999"}
routes:
  outbound:
    - {match: "_+X.", trunk: carrier}
`

// transferEnv is one server with the phones of transferConfig.
type transferEnv struct {
	s                  *server
	cust, alice, bob   *testphone.Phone
	carol, dave, carry *testphone.Phone
}

func newTransferEnv(t *testing.T) *transferEnv {
	t.Helper()
	e := &transferEnv{carry: carrierPhone(t, "PCMA")}
	e.s = startServer(t, fmt.Sprintf(transferConfig, musicPrompts(t), e.carry.ContactAddr()))
	e.cust = e.s.phone("1009", "cust-pw", "PCMU")
	e.alice = e.s.phone("1001", "alice-pw", "PCMA")
	e.bob = e.s.phone("1002", "bob-pw", "PCMA")
	e.carol = e.s.phone("1003", "carol-pw", "PCMU")
	e.dave = e.s.phone("1004", "dave-pw", "PCMU")
	return e
}

// Blind transfer from the phone: cust calls alice, alice's phone sends REFER to a
// target; the PBX accepts (202), reports 100 then 200 in NOTIFYs, hangs up alice and
// places cust exactly as if alice had dialled the target. Afterwards the call is one
// log entry with the same id and the hop in `transfers`, and nothing is left over.
func TestTransferBlindByREFER(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name, target, to string
		outcome, agent   string
		holdFirst        bool // alice holds the customer before the REFER, as many phones do
		// reach plays the target's side once the transfer is accepted; k is the
		// customer's call.
		reach func(t *testing.T, e *transferEnv, k *testphone.Call)
	}{
		{"agent", "1002", "bob", "answered", "bob", false, func(t *testing.T, e *transferEnv, k *testphone.Call) {
			b := answerNext(t, e.bob)
			tonesBothWays(t, "customer", k, "bob", b)
			k.Hangup(ctxT(t, 5*time.Second))
			waitDone(t, "bob", b)
		}},
		{"agent after hold", "1002", "bob", "answered", "bob", true, func(t *testing.T, e *transferEnv, k *testphone.Call) {
			b := answerNext(t, e.bob)
			tonesBothWays(t, "customer", k, "bob", b)
			k.Hangup(ctxT(t, 5*time.Second))
			waitDone(t, "bob", b)
		}},
		{"team", "2000", "team:sales", "answered", "bob", false, func(t *testing.T, e *transferEnv, k *testphone.Call) {
			var in *testphone.Incoming
			select {
			case in = <-e.bob.Incoming():
			case <-time.After(10 * time.Second):
				t.Fatal("the team's member was never offered the transferred call")
			}
			// bob's phone rings: the customer waits in the queue with the team's music.
			k.StartTone(0)
			expectFreq(t, "customer waiting in the team queue", k, teamMusicHz)
			b, err := in.Answer(ctxT(t, 10*time.Second))
			if err != nil {
				t.Fatal(err)
			}
			tonesBothWays(t, "customer", k, "bob", b)
			b.Hangup(ctxT(t, 5*time.Second))
			waitDone(t, "customer", k)
		}},
		{"ivr", "3000", "ivr:main", "answered", "bob", false, func(t *testing.T, e *transferEnv, k *testphone.Call) {
			k.StartTone(0)
			expectFreq(t, "customer hearing the menu", k, menuHz)
			if err := k.SendDTMF('1'); err != nil {
				t.Fatal(err)
			}
			b := answerNext(t, e.bob)
			tonesBothWays(t, "customer", k, "bob", b)
			k.Hangup(ctxT(t, 5*time.Second))
			waitDone(t, "bob", b)
		}},
		{"external", "+15551230001", "+15551230001", "answered", "", false, func(t *testing.T, e *transferEnv, k *testphone.Call) {
			var in *testphone.Incoming
			select {
			case in = <-e.carry.Incoming():
			case <-time.After(10 * time.Second):
				t.Fatal("the carrier never got the transferred call")
			}
			if in.To() != "+15551230001" || in.From() != "+15550111" {
				t.Errorf("carrier INVITE from %q to %q, want from the transferor's caller_id +15550111 to +15551230001", in.From(), in.To())
			}
			m, err := in.Answer(ctxT(t, 10*time.Second))
			if err != nil {
				t.Fatal(err)
			}
			tonesBothWays(t, "customer", k, "carrier", m)
			m.Hangup(ctxT(t, 5*time.Second))
			waitDone(t, "customer", k)
		}},
		{"away-voicemail", "1003", "carol", "voicemail", "carol", false, func(t *testing.T, e *transferEnv, k *testphone.Call) {
			leaveMessage(t, k, 1500*time.Millisecond)
			waitFor(t, "carol's voicemail saved", func() bool {
				msgs, _ := e.s.Store.ListVoicemail("test.local", "carol")
				return len(msgs) > 0
			})
			msgs, err := e.s.Store.ListVoicemail("test.local", "carol")
			if err != nil || len(msgs) != 1 || msgs[0].Caller != "1009" {
				t.Fatalf("carol's voicemail %+v %v, want one message from 1009", msgs, err)
			}
			if n := e.carol.Stats().InvitesReceived; n != 0 {
				t.Errorf("away agent's phone rang %d times", n)
			}
		}},
		{"away-callback", "1004", "dave", "callback", "dave", false, func(t *testing.T, e *transferEnv, k *testphone.Call) {
			waitDone(t, "customer after the callback prompt", k)
			cbs, err := e.s.Store.ListCallbacks("test.local", store.StatePending, store.Page{})
			if err != nil || len(cbs) != 1 || cbs[0].Caller != "1009" || cbs[0].TargetKind != "agent" || cbs[0].TargetID != "dave" {
				t.Fatalf("callback entries %+v %v, want one for dave from 1009", cbs, err)
			}
			if n := e.dave.Stats().InvitesReceived; n != 0 {
				t.Errorf("away agent's phone rang %d times", n)
			}
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			e := newTransferEnv(t)
			k, a := connect(t, e.cust, e.alice, "1001")
			id := liveCallID(t, e.s)
			if tc.holdFirst {
				if err := a.Hold(ctxT(t, 10*time.Second)); err != nil {
					t.Fatal(err)
				}
				expectFreq(t, "customer on hold", k, sndHoldHz)
			}
			st, err := a.Refer(ctxT(t, 10*time.Second), tc.target)
			if err != nil {
				t.Fatalf("REFER to %s: %v", tc.target, err)
			}
			notifies := collectNotifies(t, st)
			tc.reach(t, e, k)
			waitDone(t, "transferor (alice)", a)
			expectNotifies(t, notifies)
			settle(t, e.s, 0)

			r := callRecord(t, e.s, id, 1)
			if string(r.Outcome) != tc.outcome || (tc.agent != "" && r.Agent != tc.agent) {
				t.Errorf("call log %+v, want outcome %s agent %s", r, tc.outcome, tc.agent)
			}
			expectTransfers(t, r, [2]string{"alice", tc.to})
			apiTransfers(t, e.s, id, [2]string{"alice", tc.to})
			if n := e.carry.Stats().InvitesReceived; tc.name != "external" && n != 0 {
				t.Errorf("carrier got %d INVITEs for an internal transfer", n)
			}
		})
	}
}

// A REFER whose target the dialplan cannot reach is refused with 404 and the call
// goes on as it was.
func TestTransferREFERUnknownTarget(t *testing.T) {
	t.Parallel()
	e := newTransferEnv(t)
	k, a := connect(t, e.cust, e.alice, "1001")
	_, err := a.Refer(ctxT(t, 10*time.Second), "1999")
	var se *testphone.StatusError
	if !errors.As(err, &se) || se.Code != 404 {
		t.Fatalf("REFER to 1999: %v, want 404", err)
	}
	tonesBothWays(t, "customer", k, "alice", a)
	k.Hangup(ctxT(t, 5*time.Second))
	waitDone(t, "alice", a)
	settle(t, e.s, 0)
	if r := waitCalls(t, e.s, 1)[0]; len(r.Transfers) != 0 || r.Agent != "alice" {
		t.Fatalf("call log after a refused REFER %+v", r)
	}
}

// The customer hangs up while the transfer target rings: the target's phone is
// cancelled, the call is logged once with its hop, and nothing is left over.
func TestTransferCallerHangsUpWhileTargetRings(t *testing.T) {
	t.Parallel()
	e := newTransferEnv(t)
	k, a := connect(t, e.cust, e.alice, "1001")
	id := liveCallID(t, e.s)
	st, err := a.Refer(ctxT(t, 10*time.Second), "1002")
	if err != nil {
		t.Fatal(err)
	}
	notifies := collectNotifies(t, st)
	in := ringNext(t, "bob", e.bob)
	if err := k.Hangup(ctxT(t, 5*time.Second)); err != nil {
		t.Fatal(err)
	}
	select {
	case <-in.Cancelled():
	case <-time.After(10 * time.Second):
		t.Fatal("transfer target not cancelled after the customer hung up")
	}
	waitDone(t, "alice", a)
	if got := notifies(); len(got) < 2 || got[0] != 100 || got[len(got)-1] == -1 {
		t.Errorf("NOTIFY codes %v, want 100 then a final one", got)
	}
	settle(t, e.s, 0)
	waitFor(t, "no dialog left in the SIP layer", func() bool { return e.s.SIP.LegCount() == 0 })
	r := callRecord(t, e.s, id, 1)
	expectTransfers(t, r, [2]string{"alice", "bob"})
	if r.Outcome == "answered" && r.Agent == "bob" {
		t.Errorf("call log %+v: bob never answered", r)
	}
}
