package browser

// Issue 12 in the agent app: the Team view a supervisor opens next to their
// calls. The elements the scenario uses:
//
//	#views, #view-team, #view-desk  the view switch (shown to supervisors only)
//	#team                           the Team view: one .team-card[data-team=ID] per team supervised
//	[data-figure=KEY] .tile-value   today's figures: waiting, longest, offered, answered,
//	                                abandoned, callbacks, service-level, avg-wait, avg-talk
//	tr[data-waiting=CALL]           a caller waiting, with the live wait
//	li.member[data-agent=ID]        a member, data-state one of idle, ringing, in-call,
//	                                wrap-up, away, offline
//	tr[data-call-id=ID]             a live call of the team: button[data-listen=ID] posts
//	                                /api/calls/{id}/monitor {"mode":"listen"}, and
//	                                [data-listen-msg=ID] shows the API's answer

import (
	"context"
	"fmt"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// teamConfig: sam supervises support from the browser; ann (a test phone) and
// ben (away) are its members; the customers call from test phones. lee is a
// member who supervises nothing.
const teamConfig = `
domain: test.local
listen:
  sip: [udp://127.0.0.1:0, ws://127.0.0.1:0]
  http: 127.0.0.1:0
  rtp_ports: 22000-22999
agents:
  - {id: sam, name: Sam Super, extension: "1030", password: sam-pw, ring_timeout: 15s}
  - {id: ann, name: Ann, extension: "1031", password: ann-pw, ring_timeout: 15s}
  - {id: ben, name: Ben, extension: "1032", password: ben-pw, status: away}
  - {id: lee, name: Lee, extension: "1033", password: lee-pw}
  - {id: cus1, extension: "1034", password: cus1-pw}
  - {id: cus2, extension: "1035", password: cus2-pw}
teams:
  - {id: support, name: Support, extension: "2030", members: [ann, ben, lee], supervisors: [sam], ring_timeout: 15s, max_wait: 120s}
`

func TestTeamView(t *testing.T) {
	dir := t.TempDir()
	s := startServer(t, teamConfig, dir)
	mic := filepath.Join(t.TempDir(), "mic.wav")
	writeToneWAV(t, mic, micFreq, 2*time.Second)
	browser := startBrowser(t, mic)
	// lee is a member but no supervisor: no Team view, and the API says no.
	if err := s.adminDo(context.Background(), "PUT", "/api/agents/lee/status", map[string]string{"status": "away"}, 200, nil); err != nil {
		t.Fatal(err)
	}
	ann := s.phone(t, "1031", "ann-pw")
	cus1 := s.phone(t, "1034", "cus1-pw")
	cus2 := s.phone(t, "1035", "cus2-pw")
	ctx, cancel := context.WithTimeout(context.Background(), guard)
	defer cancel()

	// The morning so far: one call answered and over.
	pending := cus1.DialAsync(ctx, "2030")
	a := answerPhone(t, ann, "ann")
	k, err := pending.Result()
	if err != nil {
		t.Fatal(err)
	}
	// The queue answered the caller long before ann did: the hang-up waits until
	// the server has ann in the call, or ann's 200 and the caller's BYE race.
	waitLiveAgent(ctx, t, s, "1034", "ann")
	k.Hangup(ctx)
	waitPhoneDone(t, a, "ann after the first call")

	// Now: ann talks to cus1, and cus2 waits (ben and lee are away).
	pending = cus1.DialAsync(ctx, "2030")
	a = answerPhone(t, ann, "ann")
	if k, err = pending.Result(); err != nil {
		t.Fatal(err)
	}
	k.StartTone(phoneFreq)
	t.Cleanup(func() { k.Hangup(context.Background()) })
	waiter, err := cus2.Dial(ctx, "2030")
	if err != nil {
		t.Fatal(err)
	}

	p := newPage(t, browser, s)
	p.loginPhone("1030", "sam-pw")
	p.visible("view-team")
	p.click("#view-team")
	p.visible("team")
	p.hidden("lists")
	card := `#team .team-card[data-team="support"]`
	figure := func(key string) string {
		return fmt.Sprintf(`(document.querySelector('%s [data-figure="%s"] .tile-value')?.textContent ?? "")`, card, key)
	}
	state := func(agent string) string {
		return fmt.Sprintf(`(document.querySelector('%s li.member[data-agent="%s"]')?.dataset.state ?? "")`, card, agent)
	}
	p.waitJS("the team's figures", fmt.Sprintf(`%s === "1" && %s === "1" && %s === "100%%" && %s === "0"`,
		figure("offered"), figure("answered"), figure("service-level"), figure("abandoned")),
		fmt.Sprintf(`document.querySelector('%s')?.innerText`, card))
	p.waitJS("the waiting caller", fmt.Sprintf(`(() => { const r = document.querySelectorAll('%s tr[data-waiting]'); return r.length === 1 && r[0].innerText.includes("1035") })()`, card),
		fmt.Sprintf(`document.querySelector('%s')?.innerText`, card))
	p.waitJS("the members' states", fmt.Sprintf(`%s === "in-call" && %s === "away" && %s === "away"`, state("ann"), state("ben"), state("lee")),
		fmt.Sprintf(`[%s, %s, %s].join()`, state("ann"), state("ben"), state("lee")))
	if got := p.text(card + ` li.member[data-agent="ann"]`); !strings.Contains(got, "Ann") || !strings.Contains(got, "In call") {
		t.Errorf("ann's member entry %q", got)
	}
	// The wait counts on between two snapshots.
	p.waitJS("the wait to count", fmt.Sprintf(`(document.querySelector('%s tr[data-waiting] .wait')?.textContent ?? "0:00") !== "0:00"`, card), "")
	p.waitJS("ann's live call with a Listen button", fmt.Sprintf(`document.querySelectorAll('%s tr[data-call-id] button[data-listen]').length === 1`, card),
		fmt.Sprintf(`document.querySelector('%s')?.innerText`, card))
	p.screenshot("team")

	// Listen: the API rings sam's browser; the view shows its answer.
	p.click(card + ` button[data-listen]`)
	p.waitJS("the Listen answer", fmt.Sprintf(`(document.querySelector('%s [data-listen-msg]')?.textContent ?? "").startsWith("Your phone rings")`, card),
		fmt.Sprintf(`document.querySelector('%s [data-listen-msg]')?.textContent`, card))
	p.visible("incoming")
	p.click("#decline")
	p.hidden("incoming")

	// Live updates: the waiting caller hangs up, ann's call ends.
	waiter.Hangup(ctx)
	p.waitJS("the abandoned call", fmt.Sprintf(`%s === "1" && %s === "2" && document.querySelectorAll('%s tr[data-waiting]').length === 0`,
		figure("abandoned"), figure("offered"), card), fmt.Sprintf(`document.querySelector('%s')?.innerText`, card))
	k.Hangup(ctx)
	waitPhoneDone(t, a, "ann")
	p.waitJS("ann idle, the call gone", fmt.Sprintf(`%s === "idle" && %s === "3" && %s === "2" && document.querySelectorAll('%s tr[data-call-id]').length === 0`,
		state("ann"), figure("offered"), figure("answered"), card), fmt.Sprintf(`document.querySelector('%s')?.innerText`, card))
	p.click("#view-desk")
	p.visible("lists")
	p.hidden("team")

	// A member who supervises nothing gets no Team view.
	p2 := newPage(t, browser, s)
	p2.login("1033", "lee-pw")
	p2.loggedIn()
	p2.hidden("views")
}

// waitLiveAgent waits until GET /api/calls/live shows the call from from taken
// by agent.
func waitLiveAgent(ctx context.Context, t *testing.T, s *server, from, agent string) {
	t.Helper()
	var live []struct{ From, Agent string }
	for {
		if err := s.adminGet(ctx, "/api/calls/live?firm=test.local", &live); err != nil {
			t.Fatal(err)
		}
		for _, l := range live {
			if l.From == from && l.Agent == agent {
				return
			}
		}
		select {
		case <-ctx.Done():
			t.Fatalf("no live call from %s with %s: %+v", from, agent, live)
		case <-time.After(20 * time.Millisecond):
		}
	}
}
