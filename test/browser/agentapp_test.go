package browser

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"switchboard/store"
	"switchboard/voicemail"
)

// appConfig gives every scenario agents of its own, so that scenarios share no
// session, registration or call log. The namespace is the test's own, so a fixed
// RTP range collides with nobody.
const appConfig = `
domain: test.local
listen:
  sip: [udp://127.0.0.1:0, ws://127.0.0.1:0]
  http: 127.0.0.1:0
  rtp_ports: 20000-20999
voicemail: {silence_timeout: 1s, max_length: 20s}
agents:
  - {id: multi, extension: "1010", password: multi-pw}
  - {id: homer, extension: "1011", password: homer-pw}
  - {id: ada, extension: "1012", password: ada-pw}
  - {id: dialer, extension: "1013", password: dialer-pw}
  - {id: taker, extension: "1014", password: taker-pw, ring_timeout: 15s}
  - {id: ivrer, extension: "1015", password: ivrer-pw}
  - {id: mobi, extension: "1016", password: mobi-pw, routing: mobile, mobile: "+15550001"}
  - {id: bob, extension: "1002", password: bob-pw, ring_timeout: 15s}
  - {id: carol, extension: "1003", password: carol-pw, ring_timeout: 15s}
  - {id: dan, extension: "1004", password: dan-pw}
  - {id: keys, extension: "1017", password: keys-pw}
  - {id: queuer, extension: "1018", password: queuer-pw, ring_timeout: 15s}
  - {id: waiter, extension: "1019", password: waiter-pw}
  - {id: erin, extension: "1005", password: erin-pw, ring_timeout: 15s}
  - {id: fay, extension: "1006", password: fay-pw}
  - {id: gus, extension: "1007", password: gus-pw, ring_timeout: 15s}
teams:
  - {id: support, extension: "2000", members: [carol], strategy: ring-all, ring_timeout: 15s, max_wait: 30s, on_timeout: "voicemail:general"}
  - {id: sales, extension: "2001", members: [queuer], strategy: ring-all, ring_timeout: 15s, max_wait: 60s, on_timeout: "voicemail:general"}
  - {id: help, extension: "2002", members: [gus], strategy: ring-all, ring_timeout: 15s, max_wait: 60s, on_timeout: "voicemail:general"}
ivrs:
  - {id: main, extension: "3000", prompt: main-menu.wav, timeout: 10s, options: {"1": "team:support"}, default: "voicemail:general"}
mailboxes: [{id: general}]
# The mobile agent's own number has a route, to a carrier nobody answers for (on
# another loopback address, so that calls from 127.0.0.1 are not taken for its calls);
# the customer's number has none.
trunks:
  - {id: carrier, uri: "sip:127.0.0.9:9"}
routes:
  outbound:
    - {match: "+15550001", trunk: carrier}
firms: [firms/acme.yaml]
`

// acmeConfig is the second firm: multi holds an account in both.
const acmeConfig = `
domain: acme.test
agents:
  - {id: multi, extension: "1010", password: multi-pw}
`

const firm = "test.local"

// The agent app in a real browser, one scenario per part of issue 9's "Must show"
// list, all against one server and one Chromium.
func TestAgentApp(t *testing.T) {
	dir := t.TempDir()
	if err := os.MkdirAll(filepath.Join(dir, "firms"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "firms", "acme.yaml"), []byte(acmeConfig), 0o600); err != nil {
		t.Fatal(err)
	}
	s := startServer(t, appConfig, dir)
	mic := filepath.Join(t.TempDir(), "mic.wav")
	writeToneWAV(t, mic, micFreq, 2*time.Second)
	browser := startBrowser(t, mic)

	// The scenarios share nothing but the server and the browser process.
	t.Run("group", func(t *testing.T) {
		t.Run("LoginPickFirmReload", func(t *testing.T) { t.Parallel(); loginPickFirmReload(t, s, browser) })
		t.Run("HomeCallsVoicemail", func(t *testing.T) { t.Parallel(); homeCallsVoicemail(t, s, browser) })
		t.Run("AwayFromProfileMenu", func(t *testing.T) { t.Parallel(); awayFromProfileMenu(t, s, browser) })
		t.Run("BrowserDialsPhone", func(t *testing.T) { t.Parallel(); browserDialsPhone(t, s, browser) })
		t.Run("PhoneCallsBrowser", func(t *testing.T) { t.Parallel(); phoneCallsBrowser(t, s, browser) })
		t.Run("IVRKeypadToTeam", func(t *testing.T) { t.Parallel(); ivrKeypadToTeam(t, s, browser) })
		t.Run("MobileClickToCallFails", func(t *testing.T) { t.Parallel(); mobileClickToCallFails(t, s, browser) })
		t.Run("InCallControls", func(t *testing.T) { t.Parallel(); inCallControls(t, s, browser) })
		t.Run("QueuedCallToBrowser", func(t *testing.T) { t.Parallel(); queuedCallToBrowser(t, s, browser) })
		t.Run("BrowserWaitsInQueue", func(t *testing.T) { t.Parallel(); browserWaitsInQueue(t, s, browser) })
	})
}

// Log in through the form, pick the second firm, reload: still in that firm.
func loginPickFirmReload(t *testing.T, s *server, browser context.Context) {
	p := newPage(t, browser, s)
	p.do("open the app", chromedp.Navigate(p.base+"/"))
	p.visible("login-form")
	p.screenshot("login")
	p.login("1010", "multi-pw")
	p.visible("firm-picker")
	firms := eval[[]string](p, `[...document.querySelectorAll('#firm-picker button[data-firm]')].map(b => b.dataset.firm)`)
	if len(firms) != 2 {
		t.Fatalf("firm picker offers %v, want test.local and acme.test", firms)
	}
	second := firms[1]
	p.click(fmt.Sprintf(`#firm-picker button[data-firm=%q]`, second))
	p.loggedIn()
	inFirm := fmt.Sprintf(`document.getElementById('firm')?.innerText.includes(%q)`, second)
	p.waitJS("the top bar to show firm "+second, inFirm, `document.getElementById('firm')?.innerText`)
	p.do("reload", chromedp.Reload())
	p.loggedIn()
	p.waitJS("the top bar to still show firm "+second+" after a reload", inFirm, `document.getElementById('firm')?.innerText`)
	if got := eval[string](p, `fetch('/api/me').then(r => r.json()).then(m => m.firm)`); got != second {
		t.Fatalf("after the reload GET /api/me says firm %q, want %q", got, second)
	}
}

// The home page lists seeded calls and voicemail; a voicemail plays in the page.
func homeCallsVoicemail(t *testing.T, s *server, browser context.Context) {
	now := time.Now()
	calls := []store.CallRecord{
		{Firm: firm, Start: now.Add(-2 * time.Hour), Answer: now.Add(-2*time.Hour + 5*time.Second), End: now.Add(-2*time.Hour + 65*time.Second),
			Direction: "inbound", From: "+15550111", To: "1011", Agent: "homer", Outcome: "answered", TalkTime: time.Minute},
		{Firm: firm, Start: now.Add(-time.Hour), End: now.Add(-time.Hour + 20*time.Second),
			Direction: "inbound", From: "+15550122", To: "1011", Agent: "homer", Outcome: "no-answer", Cause: "480 Temporarily Unavailable"},
	}
	for i := range calls {
		if err := s.Store.AddCall(&calls[i]); err != nil {
			t.Fatal(err)
		}
	}
	vmFile := voicemail.MessagePath(s.DataDir, firm, "homer", "seeded")
	if err := os.MkdirAll(filepath.Dir(vmFile), 0o755); err != nil {
		t.Fatal(err)
	}
	writeToneWAV(t, vmFile, 600, 3*time.Second)
	vm := store.Voicemail{Firm: firm, Mailbox: "homer", Caller: "+15550122", Time: now.Add(-time.Hour),
		Duration: 3 * time.Second, File: vmFile}
	if err := s.Store.AddVoicemail(&vm); err != nil {
		t.Fatal(err)
	}

	p := newPage(t, browser, s)
	p.login("1011", "homer-pw")
	p.loggedIn()
	p.waitJS("the call log to list both seeded calls",
		`(() => { const t = document.getElementById('calls')?.innerText ?? ''; return t.includes('+15550111') && t.includes('+15550122') })()`,
		`document.getElementById('calls')?.innerText`)
	missed := eval[[]string](p, `[...document.querySelectorAll('#calls tr[data-call-id].missed')].map(r => r.innerText)`)
	if len(missed) != 1 || !strings.Contains(missed[0], "+15550122") {
		t.Fatalf("missed rows %q, want the one from +15550122", missed)
	}
	row := fmt.Sprintf(`#voicemail tr[data-vm-id=%q]`, vm.ID)
	p.do("wait for the seeded voicemail", chromedp.WaitVisible(chromedp.CSS(row)))
	p.screenshot("home")
	p.do("size 400x600", chromedp.EmulateViewport(400, 600))
	if w := eval[[]int](p, `[document.documentElement.scrollWidth, document.documentElement.clientWidth]`); w[0] > w[1] {
		t.Errorf("the home page scrolls sideways at 400 px: %d px wide in %d", w[0], w[1])
	}
	p.do("size 1280x800", chromedp.EmulateViewport(1280, 800))
	audioEl := fmt.Sprintf(`document.querySelector('%s audio.vm-audio')`, row)
	eval[bool](p, audioEl+`.play().then(() => true)`)
	p.waitJS("the voicemail to play (its currentTime to advance)", audioEl+`.currentTime > 0.5`,
		fmt.Sprintf(`(() => { const a = %s; return 'time ' + a.currentTime + ' error ' + (a.error && a.error.message) + ' src ' + a.currentSrc })()`, audioEl))
}

// Away from the profile menu: GET /api/agents says away, and an SSE event arrived.
func awayFromProfileMenu(t *testing.T, s *server, browser context.Context) {
	p := newPage(t, browser, s)
	p.login("1012", "ada-pw")
	p.loggedIn()
	// A listener of the test's own on the same SSE endpoint the page uses.
	eval[bool](p, `new Promise((resolve, reject) => {
		window.__sse = [];
		const es = new EventSource('/api/events');
		es.addEventListener('status', e => window.__sse.push(JSON.parse(e.data)));
		es.onopen = () => resolve(true);
		setTimeout(() => reject(new Error('EventSource state ' + es.readyState)), 15000);
	})`)
	p.click("#profile-button")
	p.visible("profile-menu")
	p.click(`#profile-menu button[data-status="away"]`)
	p.waitJS("a status event saying ada is away",
		`window.__sse.some(e => e.agent === 'ada' && e.status === 'away')`, `JSON.stringify(window.__sse)`)
	p.waitJS("the top bar to say away", `/away/i.test(document.getElementById('status')?.innerText ?? '')`,
		`document.getElementById('status')?.innerText`)

	ctx, cancel := context.WithTimeout(context.Background(), guard)
	defer cancel()
	var agents []struct{ ID, Firm, Status string }
	if err := s.adminGet(ctx, "/api/agents", &agents); err != nil {
		t.Fatal(err)
	}
	for _, a := range agents {
		if a.ID == "ada" && a.Firm == firm {
			if a.Status != "away" {
				t.Fatalf("GET /api/agents says ada is %q, want away", a.Status)
			}
			return
		}
	}
	t.Fatalf("ada missing from GET /api/agents: %+v", agents)
}

// The browser dials a test phone: each hears the other's tone.
func browserDialsPhone(t *testing.T, s *server, browser context.Context) {
	bob := s.phone(t, "1002", "bob-pw")
	p := newPage(t, browser, s)
	p.loginPhone("1013", "dialer-pw")
	p.dial("1002")
	c := answerPhone(t, bob, "1002")
	p.visible("incall")
	phoneHears(t, c, "1002")
	p.hears(phoneFreq)
	p.hangUp(c, "1002")
}

// A test phone calls the agent: the popup appears without reload, Answer, audio
// both ways, hang up; the call log shows the call.
func phoneCallsBrowser(t *testing.T, s *server, browser context.Context) {
	dan := s.phone(t, "1004", "dan-pw")
	p := newPage(t, browser, s)
	p.loginPhone("1014", "taker-pw")

	ctx, cancel := context.WithTimeout(context.Background(), guard)
	defer cancel()
	pending := dan.DialAsync(ctx, "1014")
	p.visible("incoming")
	p.waitJS("the popup to show the caller", `(document.getElementById('incoming-from')?.innerText ?? '').includes('1004')`,
		`document.getElementById('incoming-from')?.innerText`)
	p.screenshot("incoming")
	p.click("#answer")
	c, err := pending.Result()
	if err != nil {
		t.Fatalf("1004 dialling the agent: %v", err)
	}
	c.StartTone(phoneFreq)
	p.visible("incall")
	p.hidden("incoming")
	phoneHears(t, c, "1004")
	p.hears(phoneFreq)
	p.screenshot("incall")
	p.hangUp(c, "1004")
	p.waitJS("the call log to show the call from 1004",
		`[...document.querySelectorAll('#calls tr[data-call-id]')].some(r => r.innerText.includes('1004'))`,
		`document.getElementById('calls')?.innerText`)
}

// The browser calls an IVR and picks an option with the in-call keypad (RFC 4733);
// the call reaches the team member with audio.
func ivrKeypadToTeam(t *testing.T, s *server, browser context.Context) {
	carol := s.phone(t, "1003", "carol-pw")
	p := newPage(t, browser, s)
	p.loginPhone("1015", "ivrer-pw")
	p.dial("3000")
	p.visible("incall")
	// The menu prompt reaching the page proves the media path is up, so the
	// digit is not sent into a transport that is still connecting.
	p.hearsSound("the IVR prompt")
	p.pressKey("1")
	c := answerPhone(t, carol, "team member 1003")
	phoneHears(t, c, "1003")
	p.hears(phoneFreq)
	p.click("#hangup")
	waitPhoneDone(t, c, "1003")
}

// A mobile agent's click-to-call with nothing reachable shows why it failed.
func mobileClickToCallFails(t *testing.T, s *server, browser context.Context) {
	p := newPage(t, browser, s)
	p.login("1016", "mobi-pw")
	p.loggedIn()
	p.waitJS("the profile to say mobile routing", `(document.getElementById('routing')?.textContent ?? '').includes('mobile')`,
		`document.getElementById('routing')?.textContent`)
	p.dial("+15550002")
	p.visible("call-progress")
	p.waitJS("#call-progress to give the reason the call failed",
		`/^Failed: .*no route/i.test(document.getElementById('call-progress')?.innerText ?? '')`,
		`document.getElementById('call-progress')?.innerText`)
	t.Logf("#call-progress: %s", p.text("#call-progress"))
}

// analyserJS defines window.__sbLevel(): the dominant frequency and its level (dB)
// of the remote stream in #remote-audio, through a WebAudio AnalyserNode.
const analyserJS = `window.__sbLevel = window.__sbLevel || (async () => {
	const el = document.getElementById('remote-audio');
	if (!el || !el.srcObject) return window.__sbLast = {freq: 0, db: null, why: 'no srcObject on #remote-audio'};
	if (window.__sbStream !== el.srcObject) {
		const ac = window.__sbAC || (window.__sbAC = new AudioContext());
		const an = ac.createAnalyser();
		an.fftSize = 4096;
		an.smoothingTimeConstant = 0;
		ac.createMediaStreamSource(el.srcObject).connect(an);
		window.__sbAn = an;
		window.__sbStream = el.srcObject;
	}
	await window.__sbAC.resume();
	const an = window.__sbAn;
	const d = new Float32Array(an.frequencyBinCount);
	an.getFloatFrequencyData(d);
	let best = 1;
	for (let i = 2; i < d.length; i++) if (d[i] > d[best]) best = i;
	return window.__sbLast = {freq: best * an.context.sampleRate / an.fftSize, db: d[best]};
}); true`

// hears waits until the page's remote audio carries freq.
func (p *page) hears(freq float64) {
	p.t.Helper()
	eval[bool](p, analyserJS)
	p.waitJS(fmt.Sprintf("the page to hear %.0f Hz on #remote-audio", freq),
		fmt.Sprintf(`window.__sbLevel().then(r => Math.abs(r.freq - %f) < 30 && r.db > -75)`, freq),
		`JSON.stringify(window.__sbLast)`)
	p.t.Logf("the page hears %s", eval[string](p, `JSON.stringify(window.__sbLast)`))
}

// hearsSound waits until the page's remote audio carries anything but silence.
func (p *page) hearsSound(what string) {
	p.t.Helper()
	eval[bool](p, analyserJS)
	p.waitJS("the page to hear "+what, `window.__sbLevel().then(r => r.freq > 0 && r.db > -75)`, `JSON.stringify(window.__sbLast)`)
}

// pressKey presses digit on the in-call keypad (RFC 4733 from the browser). The
// keypad may sit behind a toggle (the element whose aria-controls names it), and
// its keys may stay disabled until the call is up: wait for that.
func (p *page) pressKey(digit string) {
	p.t.Helper()
	if eval[bool](p, `(() => { const k = document.getElementById('incall-keypad'); return !k || k.closest('[hidden]') !== null || k.getClientRects().length === 0 })()`) {
		p.click(`[aria-controls="incall-keypad"]`)
	}
	key := fmt.Sprintf(`#incall-keypad button[data-dtmf=%q]`, digit)
	p.do("press "+digit+" on the in-call keypad",
		chromedp.WaitVisible(chromedp.CSS(key)), chromedp.WaitEnabled(chromedp.CSS(key)), chromedp.Click(chromedp.CSS(key)))
}
