package browser

import (
	"context"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"switchboard/dialplan"
	"switchboard/internal/app"
	"switchboard/internal/audio"
	"switchboard/internal/testphone"
	"switchboard/wav"
)

// chromiumPath is Debian's chromium; `make deps` installs it when missing.
const chromiumPath = "/usr/bin/chromium"

// guard bounds every wait of the test: a failure guard for a loaded machine,
// never a timed assertion.
const guard = 20 * time.Second

// adminToken is the admin API token of the test server.
const adminToken = "test-token"

// micFreq is the tone of the browser's fake microphone; phoneFreq the tone of the
// test phones. Different, so each side proves it hears the other.
const (
	micFreq   = 440
	phoneFreq = 1000
)

// server is a Switchboard running in this process on loopback.
type server struct {
	*app.App
	base string // http://127.0.0.1:PORT
}

// startServer runs Switchboard on config text yaml with data in dir.
func startServer(t *testing.T, yaml, dir string) *server {
	t.Helper()
	cfg, err := dialplan.Parse(filepath.Join(dir, "switchboard.yaml"), []byte(yaml))
	if err != nil {
		t.Fatalf("config: %v", err)
	}
	a, err := app.Start(context.Background(), cfg, app.Options{DataDir: dir, Logger: testLogger(t), Token: adminToken})
	if err != nil {
		t.Fatalf("start: %v", err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), guard)
		defer cancel()
		if err := a.Stop(ctx); err != nil {
			t.Errorf("stop: %v", err)
		}
	})
	return &server{App: a, base: "http://" + a.HTTPAddr}
}

func testLogger(t *testing.T) *slog.Logger {
	if os.Getenv("E2E_QUIET") != "" {
		return slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	return slog.New(slog.NewTextHandler(testWriter{t}, &slog.HandlerOptions{Level: slog.LevelInfo}))
}

// testWriter sends server logs to the test log, shown only for failing tests.
type testWriter struct{ t *testing.T }

func (w testWriter) Write(b []byte) (int, error) {
	w.t.Log(strings.TrimRight(string(b), "\n"))
	return len(b), nil
}

// adminGet fetches path with the admin token and decodes the JSON answer into v.
func (s *server) adminGet(ctx context.Context, path string, v any) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, s.base+path, nil)
	if err != nil {
		return err
	}
	req.Header.Set("Authorization", "Bearer "+adminToken)
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		return fmt.Errorf("GET %s: %w", path, err)
	}
	defer res.Body.Close()
	if res.StatusCode != http.StatusOK {
		b, _ := io.ReadAll(res.Body)
		return fmt.Errorf("GET %s: %s: %s", path, res.Status, b)
	}
	if err := json.NewDecoder(res.Body).Decode(v); err != nil {
		return fmt.Errorf("GET %s: %w", path, err)
	}
	return nil
}

// phone starts a test phone for ext@domain on the server's UDP listener and
// registers it.
func (s *server) phone(t *testing.T, ext, password string) *testphone.Phone {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), guard)
	defer cancel()
	p, err := testphone.New(ctx, testphone.Config{
		User: ext, Password: password, Domain: "test.local", Server: s.SIPAddr(), Codec: "PCMU",
	})
	if err != nil {
		t.Fatalf("phone %s: %v", ext, err)
	}
	t.Cleanup(func() { p.Close() })
	if err := p.Register(ctx, time.Hour); err != nil {
		t.Fatalf("register %s: %v", ext, err)
	}
	return p
}

// writeToneWAV writes a 16-bit PCM WAV of a sine at freq Hz: the browser's fake
// microphone. Two seconds hold a whole number of periods of micFreq, so the loop
// Chromium plays has no click.
func writeToneWAV(t *testing.T, path string, freq float64, d time.Duration) {
	t.Helper()
	pcm := audio.Sine(freq, 12000, 0, int(d.Seconds()*audio.SampleRate))
	data := make([]byte, 2*len(pcm))
	for i, s := range pcm {
		binary.LittleEndian.PutUint16(data[2*i:], uint16(s))
	}
	if err := wav.WriteFileAtomic(path, wav.FormatPCM, data); err != nil {
		t.Fatalf("tone wav: %v", err)
	}
}

// startBrowser starts one headless Chromium for the whole test and returns a
// context that has run once (so the browser is up); each scenario opens its own
// browser context (cookies, storage) from it with newPage.
func startBrowser(t *testing.T, mic string) context.Context {
	t.Helper()
	if _, err := os.Stat(chromiumPath); err != nil {
		t.Fatalf("the browser test needs Debian's chromium at %s (make deps installs it): %v", chromiumPath, err)
	}
	// Chromium keeps its singleton socket in a directory of its own under
	// TMPDIR and leaves it behind when it is killed, so it gets a directory
	// that goes with the test. A short one: the socket's path must fit in
	// 107 bytes, and a test's own directory carries the test's name.
	tmp, err := os.MkdirTemp("", "cr")
	if err != nil {
		t.Fatalf("chromium's temp dir: %v", err)
	}
	t.Cleanup(func() { os.RemoveAll(tmp) }) // after the browser's, registered below
	opts := append(chromedp.DefaultExecAllocatorOptions[:],
		chromedp.ExecPath(chromiumPath),
		chromedp.UserDataDir(t.TempDir()),
		chromedp.Env("TMPDIR="+tmp),
		chromedp.NoSandbox, // the test runs as root; Chromium refuses to sandbox as root
		chromedp.DisableGPU,
		chromedp.Flag("disable-quic", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("use-fake-ui-for-media-stream", true),
		chromedp.Flag("use-fake-device-for-media-stream", true),
		chromedp.Flag("use-file-for-fake-audio-capture", mic),
		// Chromium leaves loopback out of ICE unless told; loopback is all there is.
		chromedp.Flag("allow-loopback-in-peer-connection", true),
		chromedp.Flag("autoplay-policy", "no-user-gesture-required"),
		chromedp.WindowSize(1280, 800),
	)
	actx, cancelAlloc := chromedp.NewExecAllocator(context.Background(), opts...)
	bctx, cancelBrowser := chromedp.NewContext(actx, chromedp.WithLogf(t.Logf))
	t.Cleanup(func() {
		cancelBrowser()
		cancelAlloc()
	})
	if err := chromedp.Do(bctx); err != nil {
		t.Fatalf("starting chromium: %v", err)
	}
	return bctx
}

// page is one tab in a browser context of its own, so that scenarios share no
// cookies; it fails the test on any error of its steps.
type page struct {
	t    *testing.T
	ctx  context.Context
	base string
}

// newPage opens a tab in a fresh browser context at 1280x800.
func newPage(t *testing.T, browser context.Context, s *server) *page {
	t.Helper()
	// The browser context goes with the tab when cancel closes it.
	ctx, cancel := chromedp.NewContext(browser, chromedp.WithNewBrowserContext())
	t.Cleanup(cancel)
	// The first run opens the tab and binds it to the context it is given: that
	// must be the tab's own context, not one with the guard's deadline.
	if err := chromedp.Do(ctx, chromedp.EmulateViewport(1280, 800)); err != nil {
		t.Fatalf("open a tab: %v", err)
	}
	return &page{t: t, ctx: ctx, base: s.base}
}

// do runs steps with the guard as deadline and fails the test with what on error.
func (p *page) do(what string, steps ...chromedp.Action[chromedp.Void]) {
	p.t.Helper()
	ctx, cancel := context.WithTimeout(p.ctx, guard)
	defer cancel()
	if err := chromedp.Do(ctx, steps...); err != nil {
		p.t.Fatalf("%s: %v", what, err)
	}
}

// eval evaluates a JavaScript expression (awaiting a promise) into T.
func eval[T any](p *page, expr string) T {
	p.t.Helper()
	ctx, cancel := context.WithTimeout(p.ctx, guard)
	defer cancel()
	v, err := chromedp.Run(ctx, chromedp.Evaluate[T](expr, chromedp.EvalAwaitPromise))
	if err != nil {
		p.t.Fatalf("evaluate %s: %v", expr, err)
	}
	return v
}

// waitJS polls a JavaScript expression until it is truthy. On the guard's
// deadline it fails with what and the value of detail, an expression that says
// what the page showed instead.
func (p *page) waitJS(what, expr, detail string) {
	p.t.Helper()
	ctx, cancel := context.WithTimeout(p.ctx, guard)
	defer cancel()
	_, err := chromedp.Run(ctx, chromedp.Poll[chromedp.Void](expr,
		chromedp.WithPollingInterval(100*time.Millisecond), chromedp.WithPollingTimeout(guard)))
	if err == nil {
		return
	}
	got := "?"
	if detail != "" {
		dctx, dcancel := context.WithTimeout(p.ctx, 5*time.Second)
		defer dcancel()
		if v, derr := chromedp.Run(dctx, chromedp.Evaluate[any](detail, chromedp.EvalAwaitPromise)); derr == nil {
			got = fmt.Sprint(v)
		} else {
			got = derr.Error()
		}
	}
	p.t.Fatalf("%s: %v (page: %s)", what, err, got)
}

// visible waits until the element with id is shown.
func (p *page) visible(id string) {
	p.t.Helper()
	p.do("wait for #"+id+" to show", chromedp.WaitVisible(chromedp.ID(id)))
}

// hidden waits until the element with id is hidden or gone.
func (p *page) hidden(id string) {
	p.t.Helper()
	p.waitJS("#"+id+" to hide",
		fmt.Sprintf(`(() => { const e = document.getElementById(%q); return !e || e.closest('[hidden]') !== null || e.getClientRects().length === 0 })()`, id), "")
}

// click clicks the first element that matches a CSS selector once it is visible.
func (p *page) click(css string) {
	p.t.Helper()
	p.do("click "+css, chromedp.WaitVisible(chromedp.CSS(css)), chromedp.Click(chromedp.CSS(css)))
}

// text returns the text of the first element matching css.
func (p *page) text(css string) string {
	p.t.Helper()
	return eval[string](p, fmt.Sprintf(`(document.querySelector(%q)?.innerText ?? "")`, css))
}

// login opens the app and logs in through the form.
func (p *page) login(user, password string) {
	p.t.Helper()
	p.do("log in as "+user,
		chromedp.Navigate(p.base+"/"),
		chromedp.WaitVisible(chromedp.ID("login-form")),
		chromedp.SendKeys(chromedp.ID("login-username"), user),
		chromedp.SendKeys(chromedp.ID("login-password"), password),
		chromedp.Click(chromedp.ID("login-submit")),
	)
}

// loggedIn waits for the home page after a login: the form gone, the firm shown.
func (p *page) loggedIn() {
	p.t.Helper()
	p.hidden("login-form")
	p.visible("firm")
}

// registered waits for the browser softphone (computer routing) to register.
func (p *page) registered() {
	p.t.Helper()
	p.waitJS("the softphone to register", `window.switchboardReady === true`, `String(window.switchboardReady)`)
}

// screenshot writes the page at 1280x800 and at 400x600 as DIR/name-WxH.png when
// SWITCHBOARD_SHOTS=DIR is set, then goes back to 1280x800.
func (p *page) screenshot(name string) {
	p.t.Helper()
	dir := os.Getenv("SWITCHBOARD_SHOTS")
	if dir == "" {
		return
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		p.t.Fatalf("screenshots: %v", err)
	}
	for _, size := range [][2]int64{{1280, 800}, {400, 600}} {
		ctx, cancel := context.WithTimeout(p.ctx, guard)
		err := chromedp.Do(ctx, chromedp.EmulateViewport(size[0], size[1]))
		var img []byte
		if err == nil {
			img, err = chromedp.Run(ctx, chromedp.CaptureScreenshot())
		}
		cancel()
		if err != nil {
			p.t.Fatalf("screenshot %s: %v", name, err)
		}
		file := filepath.Join(dir, fmt.Sprintf("%s-%dx%d.png", name, size[0], size[1]))
		if err := os.WriteFile(file, img, 0o644); err != nil {
			p.t.Fatalf("screenshot: %v", err)
		}
	}
	p.do("restore the viewport", chromedp.EmulateViewport(1280, 800))
}

// answerPhone waits for the next call offered to ph, answers it and makes the phone
// play its tone.
func answerPhone(t *testing.T, ph *testphone.Phone, who string) *testphone.Call {
	t.Helper()
	select {
	case in := <-ph.Incoming():
		ctx, cancel := context.WithTimeout(context.Background(), guard)
		defer cancel()
		c, err := in.Answer(ctx)
		if err != nil {
			t.Fatalf("%s: answer: %v", who, err)
		}
		c.StartTone(phoneFreq)
		return c
	case <-time.After(guard):
		t.Fatalf("%s never rang", who)
		return nil
	}
}

// phoneHears waits until the phone receives the browser's microphone tone and
// returns the RMS level it arrived at.
func phoneHears(t *testing.T, c *testphone.Call, who string) float64 {
	t.Helper()
	f, rms, ok := pollPhone(c, func(f, rms float64) bool { return f > micFreq-15 && f < micFreq+15 && rms > 300 })
	if !ok {
		t.Fatalf("%s never heard the browser's %d Hz: last %.0f Hz at RMS %.0f", who, micFreq, f, rms)
	}
	return rms
}

// pollPhone measures half a second of what the phone receives at a time until
// done holds for a measurement (ok) or guard passes; it returns the last one.
func pollPhone(c *testphone.Call, done func(f, rms float64) bool) (f, rms float64, ok bool) {
	ctx, cancel := context.WithTimeout(context.Background(), guard)
	defer cancel()
	for ctx.Err() == nil {
		var err error
		f, rms, err = c.ReceivedFrequency(ctx, 500*time.Millisecond)
		if err != nil {
			break
		}
		if done(f, rms) {
			return f, rms, true
		}
	}
	return f, rms, false
}

// loginPhone logs in through the form and waits for the browser phone to register.
func (p *page) loginPhone(user, password string) {
	p.t.Helper()
	p.login(user, password)
	p.loggedIn()
	p.registered()
}

// dial types number into the number box and presses Call.
func (p *page) dial(number string) {
	p.t.Helper()
	p.do("dial "+number, chromedp.SendKeys(chromedp.CSS("#dial-number"), number), chromedp.Click(chromedp.CSS("#dial-button")))
}

// hangUp presses Hang up and waits until the phone's call ended and the in-call
// panel is gone.
func (p *page) hangUp(c *testphone.Call, who string) {
	p.t.Helper()
	p.click("#hangup")
	waitPhoneDone(p.t, c, who)
	p.hidden("incall")
}

// waitPhoneDone waits until the phone's call ended.
func waitPhoneDone(t *testing.T, c *testphone.Call, who string) {
	t.Helper()
	select {
	case <-c.Done():
	case <-time.After(guard):
		t.Fatalf("%s: call not ended", who)
	}
}
