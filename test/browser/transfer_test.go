package browser

// Issue 11 in the agent app: the Transfer picker on the live call, and the
// wrap-up countdown with its Ready button. The elements the scenarios use:
//
//	#transfer                   the in-call panel's Transfer button (opens and closes the picker)
//	#transfer-picker            the picker, inside #incall
//	#transfer-agents            one <button data-target=EXT data-agent=ID data-status=STATE> per
//	                            colleague; STATE is online, away, offline or wrap-up
//	#transfer-teams             one <button data-target="team:ID" data-team=ID> per team of the firm
//	#transfer-form              the free number: #transfer-number and #transfer-number-submit
//	#transfer-error             the API's refusal of the last transfer, shown in the picker
//	#transfer-progress          "Transferring to X…", then "Transferred to X"
//	#transfer-cancel            closes the picker
//	#wrapup                     the wrap-up card: #wrapup-left (m:ss left) and #wrapup-ready

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"switchboard/internal/testphone"
)

// transferConfig: tina, tess and wendy use the browser (one each, since the
// scenarios run in parallel and a call rings every page of its agent); uma takes transfers on a test
// phone; vic is away; the customers walt, xena and yuri call from test phones.
const transferConfig = `
domain: test.local
listen:
  sip: [udp://127.0.0.1:0, ws://127.0.0.1:0]
  http: 127.0.0.1:0
  rtp_ports: 21000-21999
agents:
  - {id: tina, name: Tina, extension: "1021", password: tina-pw, ring_timeout: 15s}
  - {id: uma, name: Uma, extension: "1022", password: uma-pw, ring_timeout: 15s}
  - {id: vic, name: Vic, extension: "1023", password: vic-pw, status: away}
  - {id: walt, extension: "1024", password: walt-pw}
  - {id: wendy, name: Wendy, extension: "1025", password: wendy-pw, ring_timeout: 15s}
  - {id: xena, extension: "1026", password: xena-pw}
  - {id: yuri, extension: "1027", password: yuri-pw}
  - {id: tess, name: Tess, extension: "1028", password: tess-pw, ring_timeout: 15s}
teams:
  - {id: billing, name: Billing, extension: "2010", members: [uma], ring_timeout: 15s, max_wait: 60s}
  - {id: wrap, name: Wrap, extension: "2011", members: [wendy], ring_timeout: 15s, max_wait: 60s, wrap_up: 30s}
mailboxes: [{id: general}]
`

func TestTransferAndWrapUp(t *testing.T) {
	dir := t.TempDir()
	s := startServer(t, transferConfig, dir)
	mic := filepath.Join(t.TempDir(), "mic.wav")
	writeToneWAV(t, mic, micFreq, 2*time.Second)
	browser := startBrowser(t, mic)
	t.Run("group", func(t *testing.T) {
		t.Run("TransferPicker", func(t *testing.T) { t.Parallel(); transferPicker(t, s, browser) })
		t.Run("TransferToAgent", func(t *testing.T) { t.Parallel(); transferToAgent(t, s, browser) })
		t.Run("WrapUpAndReady", func(t *testing.T) { t.Parallel(); wrapUpAndReady(t, s, browser) })
	})
}

// adminDo sends a JSON request with the admin token and decodes the answer into
// out (when not nil); any status but want is an error.
func (s *server) adminDo(ctx context.Context, method, path string, body any, want int, out any) error {
	var rd io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			return err
		}
		rd = bytes.NewReader(b)
	}
	req, err := http.NewRequestWithContext(ctx, method, s.base+path, rd)
	if err != nil {
		return err
	}
	req.Header.Set("Authorization", "Bearer "+adminToken)
	req.Header.Set("Content-Type", "application/json")
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		return fmt.Errorf("%s %s: %w", method, path, err)
	}
	defer res.Body.Close()
	b, _ := io.ReadAll(res.Body)
	if res.StatusCode != want {
		return fmt.Errorf("%s %s: %s (want %d): %s", method, path, res.Status, want, b)
	}
	if out != nil {
		if err := json.Unmarshal(b, out); err != nil {
			return fmt.Errorf("%s %s: %w", method, path, err)
		}
	}
	return nil
}

// callBrowser makes a test phone (ext) call target, answers the popup in the
// browser and waits until each side hears the other; it returns the phone's call
// and the PBX's id of the call.
func callBrowser(t *testing.T, s *server, p *page, ext, password, target string) (*testphone.Call, string) {
	t.Helper()
	ph := s.phone(t, ext, password)
	ctx, cancel := context.WithTimeout(context.Background(), guard)
	defer cancel()
	pending := ph.DialAsync(ctx, target)
	p.visible("incoming")
	p.click("#answer")
	c, err := pending.Result()
	if err != nil {
		t.Fatalf("%s dialling %s: %v", ext, target, err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), guard)
		defer cancel()
		_ = c.Hangup(ctx)
	})
	c.StartTone(phoneFreq)
	p.visible("incall")
	phoneHears(t, c, ext)
	p.hears(phoneFreq)
	var live []struct{ ID, From string }
	if err := s.adminGet(ctx, "/api/calls/live?firm=test.local", &live); err != nil {
		t.Fatal(err)
	}
	for _, l := range live {
		if l.From == ext {
			return c, l.ID
		}
	}
	t.Fatalf("no live call from %s: %+v", ext, live)
	return nil, ""
}

// recordRequestsJS makes the page keep every API request it sends in
// window.__sbRequests: what the server was asked, whatever it answered.
const recordRequestsJS = `(() => {
	if (!window.__sbRequests) {
		window.__sbRequests = [];
		const orig = window.fetch;
		window.fetch = (url, opts) => {
			window.__sbRequests.push({url: String(url), method: (opts && opts.method) || 'GET', body: (opts && opts.body) || ''});
			return orig(url, opts);
		};
	}
	return true;
})()`

// The picker lists the colleagues with their live status and the teams; a
// number the dialplan cannot reach is sent to the API and its refusal shown,
// with the call still up.
func transferPicker(t *testing.T, s *server, browser context.Context) {
	p := newPage(t, browser, s)
	p.loginPhone("1021", "tina-pw")
	c, id := callBrowser(t, s, p, "1024", "walt-pw", "1021")

	p.click("#transfer")
	p.visible("transfer-picker")
	agentIs := func(agent, state string) {
		p.t.Helper()
		p.waitJS(fmt.Sprintf("the picker to list %s as %s", agent, state),
			fmt.Sprintf(`!!document.querySelector('#transfer-agents button[data-agent=%q][data-status=%q]')`, agent, state),
			`[...document.querySelectorAll('#transfer-agents button')].map(b => b.dataset.agent + ':' + b.dataset.status).join(' ')`)
	}
	agentIs("uma", "online")
	agentIs("vic", "away")
	if eval[bool](p, `!!document.querySelector('#transfer-agents button[data-agent="tina"]')`) {
		t.Error("the picker offers the agent herself")
	}
	if got := eval[string](p, `document.querySelector('#transfer-agents button[data-agent="uma"]').dataset.target`); got != "1022" {
		t.Errorf("uma's target %q, want her extension 1022", got)
	}
	teams := eval[[]string](p, `[...document.querySelectorAll('#transfer-teams button')].map(b => b.dataset.target)`)
	if strings.Join(teams, " ") != "team:billing team:wrap" {
		t.Errorf("the picker's teams %v, want team:billing team:wrap", teams)
	}
	p.screenshot("transfer-picker")

	// A colleague's status changes while the picker is open (vic: uma takes
	// the transfers of the scenarios running meanwhile).
	ctx, cancel := context.WithTimeout(context.Background(), guard)
	defer cancel()
	if err := s.adminDo(ctx, "PUT", "/api/agents/vic/status", map[string]string{"status": "online"}, http.StatusOK, nil); err != nil {
		t.Fatal(err)
	}
	agentIs("vic", "online")
	if err := s.adminDo(ctx, "PUT", "/api/agents/vic/status", map[string]string{"status": "away"}, http.StatusOK, nil); err != nil {
		t.Fatal(err)
	}
	agentIs("vic", "away")

	// No route goes anywhere from 99999: the API refuses, the picker says so.
	eval[bool](p, recordRequestsJS)
	p.do("transfer to 99999", chromedp.SendKeys(chromedp.ID("transfer-number"), "99999"), chromedp.Click(chromedp.ID("transfer-number-submit")))
	p.waitJS("#transfer-error to show the refusal", `(document.getElementById('transfer-error')?.innerText ?? '').length > 0 && !document.getElementById('transfer-error').hidden`,
		`document.getElementById('transfer-picker')?.innerText`)
	t.Logf("#transfer-error: %s", p.text("#transfer-error"))
	sent := eval[[]map[string]string](p, `window.__sbRequests.filter(r => r.method === 'POST')`)
	want := map[string]string{"url": "/api/calls/" + id + "/transfer", "method": "POST", "body": `{"target":"99999"}`}
	if len(sent) != 1 || sent[0]["url"] != want["url"] || sent[0]["body"] != want["body"] {
		t.Errorf("the page sent %v, want one %v", sent, want)
	}
	if !p.visibleNow("incall") || !p.visibleNow("transfer-picker") {
		t.Error("a refused transfer closed the call panel or the picker")
	}
	phoneHears(t, c, "1024 after the refused transfer")
	p.click("#transfer-cancel")
	p.hidden("transfer-picker")
	p.hangUp(c, "1024")
}

// Picking a colleague hands the customer over: the colleague's phone rings and
// talks to the customer, the browser's leg ends, and the call log keeps one
// entry with the transfer.
func transferToAgent(t *testing.T, s *server, browser context.Context) {
	uma := s.phone(t, "1022", "uma-pw")
	p := newPage(t, browser, s)
	p.loginPhone("1028", "tess-pw")
	c, id := callBrowser(t, s, p, "1026", "xena-pw", "1028")

	p.click("#transfer")
	p.visible("transfer-picker")
	p.click(`#transfer-agents button[data-agent="uma"]`)
	colleague := answerPhone(t, uma, "1022")
	colleague.StartTone(memberFreq)
	p.hidden("incall")
	p.waitJS("#call-progress to say where the call went", `(document.getElementById('call-progress')?.innerText ?? '').includes('Transferred to 1022')`,
		`document.getElementById('call-progress')?.innerText`)
	f, rms, ok := pollPhone(c, func(f, rms float64) bool { return f > memberFreq-15 && f < memberFreq+15 && rms > 300 })
	if !ok {
		t.Fatalf("1026 never heard uma's %d Hz after the transfer: last %.0f Hz at RMS %.0f", memberFreq, f, rms)
	}
	f, rms, ok = pollPhone(colleague, func(f, rms float64) bool { return f > phoneFreq-15 && f < phoneFreq+15 && rms > 300 })
	if !ok {
		t.Fatalf("1022 never heard the customer's %d Hz: last %.0f Hz at RMS %.0f", phoneFreq, f, rms)
	}
	ctx, cancel := context.WithTimeout(context.Background(), guard)
	defer cancel()
	if err := c.Hangup(ctx); err != nil {
		t.Fatal(err)
	}
	waitPhoneDone(t, colleague, "1022")

	type transfer struct{ By, To string }
	var calls []struct {
		ID        string
		Agent     string
		Transfers []transfer
	}
	for {
		if err := s.adminGet(ctx, "/api/calls?firm=test.local&agent=uma", &calls); err != nil {
			t.Fatal(err)
		}
		if len(calls) > 0 && calls[0].ID == id {
			break
		}
		select {
		case <-ctx.Done():
			t.Fatalf("no call log entry %s for uma: %+v", id, calls)
		case <-time.After(100 * time.Millisecond):
		}
	}
	// The chain names the agent the call went to, not the extension dialled.
	if got := calls[0]; got.Agent != "uma" || len(got.Transfers) != 1 || got.Transfers[0] != (transfer{By: "tess", To: "uma"}) {
		t.Errorf("call log entry %+v, want agent uma and one transfer by tess to uma", got)
	}
}

// After a team call the member gets a wrap-up: the page counts it down, and Ready
// ends it at once.
func wrapUpAndReady(t *testing.T, s *server, browser context.Context) {
	p := newPage(t, browser, s)
	p.loginPhone("1025", "wendy-pw")
	if p.visibleNow("wrapup") {
		t.Fatal("wrap-up shown before any call")
	}
	c, _ := callBrowser(t, s, p, "1027", "yuri-pw", "2011")
	ctx, cancel := context.WithTimeout(context.Background(), guard)
	defer cancel()
	if err := c.Hangup(ctx); err != nil {
		t.Fatal(err)
	}
	p.hidden("incall")
	p.visible("wrapup")
	clock := regexp.MustCompile(`^(\d+):(\d\d)$`)
	first := p.text("#wrapup-left")
	if m := clock.FindStringSubmatch(first); m == nil || first == "0:00" {
		t.Fatalf("#wrapup-left says %q, want the time left as m:ss", first)
	}
	p.waitJS("the wrap-up countdown to go down from "+first,
		fmt.Sprintf(`(() => { const s = t => { const m = /^(\d+):(\d\d)$/.exec(t); return m ? 60 * +m[1] + +m[2] : 1e9 };
			return s(document.getElementById('wrapup-left')?.innerText ?? '') < s(%q) })()`, first),
		`document.getElementById('wrapup-left')?.innerText`)
	var agent map[string]any
	if err := s.adminGet(ctx, "/api/agents/wendy", &agent); err != nil {
		t.Fatal(err)
	}
	if _, ok := agent["wrap_up_until"]; !ok {
		t.Errorf("GET /api/agents/wendy during wrap-up: %v, want wrap_up_until", agent)
	}
	p.screenshot("wrap-up")
	p.click("#wrapup-ready")
	p.hidden("wrapup")
	agent = nil // Unmarshal would keep the old keys
	if err := s.adminGet(ctx, "/api/agents/wendy", &agent); err != nil {
		t.Fatal(err)
	}
	if until, ok := agent["wrap_up_until"]; ok {
		t.Errorf("wrap_up_until %v after Ready", until)
	}
}
