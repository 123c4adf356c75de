package browser

import (
	"context"
	"fmt"
	"slices"
	"testing"
	"time"

	"switchboard/internal/testphone"
)

// memberFreq is the tone of the team member in browserWaitsInQueue: unlike
// phoneFreq it is no note of the hold music, so hearing it proves the bridge.
const memberFreq = 1400

// What an agent does during a call from the browser: mute and unmute, hold and
// resume, watch the timer, send a digit from the keypad. A test phone on the
// other end checks each of them.
func inCallControls(t *testing.T, s *server, browser context.Context) {
	erin := s.phone(t, "1005", "erin-pw")
	p := newPage(t, browser, s)
	p.loginPhone("1017", "keys-pw")
	p.dial("1005")
	c := answerPhone(t, erin, "1005")
	p.visible("incall")
	level := phoneHears(t, c, "1005")
	p.hears(phoneFreq)
	p.waitJS("the in-call timer to start", `/^\d+:\d\d$/.test(document.getElementById('incall-timer')?.innerText ?? '')`,
		`document.getElementById('incall-timer')?.innerText`)
	timer0 := p.text("#incall-timer")

	// Mute: the phone stops hearing the microphone; unmute: it hears it again.
	p.click("#mute")
	p.waitJS("#mute to show it is pressed", `document.getElementById('mute').getAttribute('aria-pressed') === 'true'`,
		`document.getElementById('mute').outerHTML`)
	phoneQuiet(t, c, "1005 with the browser muted", level/10)
	p.click("#mute")
	p.waitJS("#mute to show it is released", `document.getElementById('mute').getAttribute('aria-pressed') === 'false'`,
		`document.getElementById('mute').outerHTML`)
	phoneHears(t, c, "1005 after unmute")

	// Hold: the phone hears the hold music instead of the browser (the PBX plays
	// it; the phone gets no re-INVITE), and the browser no longer hears the phone.
	p.click("#hold")
	p.waitJS("#hold to show the call is held", `document.getElementById('hold').getAttribute('aria-pressed') === 'true'`,
		`document.getElementById('hold').outerHTML`)
	if f, rms, ok := pollPhone(c, func(f, rms float64) bool { return (f < micFreq-15 || f > micFreq+15) && rms > 300 }); !ok {
		t.Fatalf("1005 with the call on hold: want hold music, last %.0f Hz at RMS %.0f", f, rms)
	}
	if d := c.Direction(); d != "sendrecv" {
		t.Fatalf("1005 was re-offered the hold (direction %s); the PBX plays music instead", d)
	}
	p.stopsHearing(phoneFreq)
	p.click("#hold")
	p.waitJS("#hold to show the call resumed", `document.getElementById('hold').getAttribute('aria-pressed') === 'false'`,
		`document.getElementById('hold').outerHTML`)
	phoneHears(t, c, "1005 after resume")
	p.hears(phoneFreq)

	// The keypad sends RFC 4733 events that the PBX passes to the phone.
	drainDTMF(c)
	p.pressKey("7")
	select {
	case d := <-c.DTMF():
		if d != '7' {
			t.Fatalf("1005 received DTMF %q, want '7'", d)
		}
	case <-time.After(guard):
		t.Fatal("1005 never received the DTMF 7 pressed on the in-call keypad")
	}

	// Record: the button turns the PBX's recording of the call on and shows it.
	p.click("#record")
	p.waitJS("#record to show the call is recorded", `document.getElementById('record').getAttribute('aria-pressed') === 'true'`,
		`document.getElementById('record').outerHTML + document.getElementById('error').innerText`)
	// Other scenarios run calls meanwhile: this one is 1017's call to 1005.
	type liveCall struct {
		From      string `json:"from"`
		To        string `json:"to"`
		Recording bool   `json:"recording"`
	}
	var live []liveCall
	err := s.adminGet(context.Background(), "/api/calls/live", &live)
	mine := slices.DeleteFunc(live, func(c liveCall) bool { return c.From != "1017" || c.To != "1005" })
	if err != nil || len(mine) != 1 || !mine[0].Recording {
		t.Fatalf("live calls from 1017 to 1005 after Record: %+v, %v; want one, recorded", mine, err)
	}
	p.click("#record")
	p.waitJS("#record to show the recording stopped", `document.getElementById('record').getAttribute('aria-pressed') === 'false'`,
		`document.getElementById('record').outerHTML`)

	p.waitJS("the in-call timer to advance from "+timer0,
		fmt.Sprintf(`(() => { const s = t => { const m = /^(\d+):(\d\d)$/.exec(t); return m ? 60 * +m[1] + +m[2] : -1 };
			return s(document.getElementById('incall-timer')?.innerText ?? '') > s(%q) })()`, timer0),
		`document.getElementById('incall-timer')?.innerText`)
	p.hangUp(c, "1005")
}

// A caller waits in a team's queue while its only member, the browser agent, is
// away; once the agent is online again the popup shows the team and the wait.
func queuedCallToBrowser(t *testing.T, s *server, browser context.Context) {
	fay := s.phone(t, "1006", "fay-pw")
	p := newPage(t, browser, s)
	p.loginPhone("1018", "queuer-pw")
	p.setStatus("away")

	ctx, cancel := context.WithTimeout(context.Background(), guard)
	defer cancel()
	c, err := fay.Dial(ctx, "2001")
	if err != nil {
		t.Fatalf("1006 dialling team sales: %v", err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), guard)
		defer cancel()
		_ = c.Hangup(ctx)
	})
	c.StartTone(phoneFreq)
	// A second of hold music, heard by the caller, is the wait the popup shows.
	f, rms, err := c.ReceivedFrequency(ctx, time.Second)
	if err != nil || rms < 300 {
		t.Fatalf("1006 in the queue: want hold music, got %.0f Hz at RMS %.0f (%v)", f, rms, err)
	}
	if p.visibleNow("incoming") {
		t.Fatal("the popup rang the agent while away")
	}

	p.setStatus("online")
	p.visible("incoming")
	p.waitJS("the popup to show the caller", `(document.getElementById('incoming-from')?.innerText ?? '').includes('1006')`,
		`document.getElementById('incoming-from')?.innerText`)
	p.waitJS("the popup to show the team", `/sales/.test(document.getElementById('incoming-team')?.innerText ?? '')`,
		`document.getElementById('incoming-team')?.innerText`)
	p.waitJS("the popup to show the queue wait", `/\d/.test(document.getElementById('incoming-wait')?.innerText ?? '')`,
		`document.getElementById('incoming-wait')?.innerText`)
	t.Logf("popup: %q %q %q", p.text("#incoming-from"), p.text("#incoming-team"), p.text("#incoming-wait"))
	p.screenshot("incoming-team")
	p.click("#answer")
	p.visible("incall")
	p.hidden("incoming")
	// The page hears the caller only once bridged, when the hold music (which has
	// an A at 440 Hz) has stopped: only then is the phone's 440 Hz the browser.
	p.hears(phoneFreq)
	phoneHears(t, c, "1006")
	p.hangUp(c, "1006")
}

// The browser calls a team whose member lets it ring: the page hears the hold
// music, then the member answers and the page hears the member.
func browserWaitsInQueue(t *testing.T, s *server, browser context.Context) {
	gus := s.phone(t, "1007", "gus-pw")
	p := newPage(t, browser, s)
	p.loginPhone("1019", "waiter-pw")
	p.dial("2002")
	var in *testphone.Incoming
	select {
	case in = <-gus.Incoming():
	case <-time.After(guard):
		t.Fatal("team member 1007 never rang")
	}
	p.visible("incall")
	// The member rings and does not answer yet: the browser hears hold music.
	p.hearsSound("the hold music")
	t.Logf("the page hears the hold music: %s", eval[string](p, `JSON.stringify(window.__sbLast)`))
	ctx, cancel := context.WithTimeout(context.Background(), guard)
	defer cancel()
	c, err := in.Answer(ctx)
	if err != nil {
		t.Fatalf("1007: answer: %v", err)
	}
	c.StartTone(memberFreq)
	phoneHears(t, c, "1007")
	p.hears(memberFreq)
	p.hangUp(c, "1007")
}

// setStatus picks status in the profile menu and waits for the top bar to show it.
func (p *page) setStatus(status string) {
	p.t.Helper()
	p.click("#profile-button")
	p.visible("profile-menu")
	p.click(fmt.Sprintf(`#profile-menu button[data-status=%q]`, status))
	p.waitJS("the top bar to say "+status,
		fmt.Sprintf(`(document.getElementById('status')?.innerText ?? '').toLowerCase().includes(%q)`, status),
		`document.getElementById('status')?.innerText`)
}

// visibleNow says whether the element with id is shown at this moment.
func (p *page) visibleNow(id string) bool {
	p.t.Helper()
	return eval[bool](p, fmt.Sprintf(`(() => { const e = document.getElementById(%q); return !!e && e.closest('[hidden]') === null && e.getClientRects().length > 0 })()`, id))
}

// stopsHearing waits until the page's remote audio no longer carries freq: five
// readings in a row, 100 ms apart, so that one late or lost packet is not taken
// for silence.
func (p *page) stopsHearing(freq float64) {
	p.t.Helper()
	eval[bool](p, analyserJS)
	p.waitJS(fmt.Sprintf("the page to stop hearing %.0f Hz on #remote-audio", freq),
		fmt.Sprintf(`(async () => {
			for (let i = 0; i < 5; i++) {
				const r = await window.__sbLevel();
				if (Math.abs(r.freq - %f) < 30 && r.db > -75) return false;
				await new Promise(ok => setTimeout(ok, 100));
			}
			return true;
		})()`, freq),
		`JSON.stringify(window.__sbLast)`)
}

// phoneQuiet waits until half a second of what the phone receives is below the
// RMS level limit: silence, or a tone much weaker than before.
func phoneQuiet(t *testing.T, c *testphone.Call, who string, limit float64) {
	t.Helper()
	f, rms, ok := pollPhone(c, func(_, rms float64) bool { return rms < limit })
	if !ok {
		t.Fatalf("%s: still hears %.0f Hz at RMS %.0f, want below %.0f", who, f, rms, limit)
	}
	t.Logf("%s: hears %.0f Hz at RMS %.0f (limit %.0f)", who, f, rms, limit)
}

// drainDTMF forgets digits the phone received before the one the test sends.
func drainDTMF(c *testphone.Call) {
	for {
		select {
		case <-c.DTMF():
		default:
			return
		}
	}
}
