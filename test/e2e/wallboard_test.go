package e2e

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"math"
	"net/http"
	"strings"
	"testing"
	"time"

	"switchboard/store"
)

// wallTeam is a team as GET /api/queues shows it.
type wallTeam struct {
	Firm    string `json:"firm"`
	Team    string `json:"team"`
	Waiting []struct {
		Call        string  `json:"call"`
		From        string  `json:"from"`
		WaitSeconds float64 `json:"wait_seconds"`
	} `json:"waiting"`
	LongestWaitSeconds float64 `json:"longest_wait_seconds"`
	Members            []struct {
		Agent string `json:"agent"`
		State string `json:"state"`
	} `json:"members"`
	Today struct {
		Offered   int `json:"offered"`
		Answered  int `json:"answered"`
		Abandoned int `json:"abandoned"`
		Callbacks int `json:"callbacks"`
	} `json:"today"`
	ServiceLevel   float64 `json:"service_level"`
	AvgWaitSeconds float64 `json:"avg_wait_seconds"`
	AvgTalkSeconds float64 `json:"avg_talk_seconds"`
}

func (w wallTeam) state(agent string) string {
	for _, m := range w.Members {
		if m.Agent == agent {
			return m.State
		}
	}
	return ""
}

// wallboard polls GET /api/queues?team=support as c until ok holds for the
// team; the guard only bounds a hang.
func wallboard(t *testing.T, c *apiClient, what string, ok func(wallTeam) bool) wallTeam {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	var last []byte
	for {
		code, body := c.do("GET", "/api/queues?team=support", nil)
		if code != http.StatusOK {
			t.Fatalf("%s: GET /api/queues: %d %s", what, code, body)
		}
		var got []wallTeam
		if err := json.Unmarshal(body, &got); err != nil || len(got) != 1 {
			t.Fatalf("%s: GET /api/queues: %s (%v)", what, body, err)
		}
		if ok(got[0]) {
			return got[0]
		}
		last = body
		if time.Now().After(deadline) {
			t.Fatalf("%s: wallboard never got there: %s", what, last)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// eventStream reads GET /api/events as c into a channel of raw events; the
// reader ends with the test.
type eventStream struct {
	events chan map[string]any // data of "queue" events
}

func openQueueEvents(t *testing.T, c *apiClient) *eventStream {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	req, err := http.NewRequestWithContext(ctx, "GET", c.base+"/api/events", nil)
	if err != nil {
		t.Fatal(err)
	}
	if c.token != "" {
		req.Header.Set("Authorization", "Bearer "+c.token)
	}
	res, err := (&http.Client{Jar: c.client.Jar}).Do(req) // no timeout: a stream
	if err != nil || res.StatusCode != http.StatusOK {
		cancel()
		t.Fatalf("GET /api/events: %v %v", res, err)
	}
	s := &eventStream{events: make(chan map[string]any, 256)}
	done := make(chan struct{})
	go func() {
		defer close(done)
		defer res.Body.Close()
		sc := bufio.NewScanner(res.Body)
		name := ""
		for sc.Scan() {
			line := sc.Text()
			switch {
			case strings.HasPrefix(line, "event: "):
				name = strings.TrimPrefix(line, "event: ")
			case strings.HasPrefix(line, "data: ") && name == "queue":
				var d map[string]any
				if json.Unmarshal([]byte(strings.TrimPrefix(line, "data: ")), &d) == nil {
					select {
					case s.events <- d:
					default: // the test reads only what it needs
					}
				}
			case line == "":
				name = ""
			}
		}
	}()
	t.Cleanup(func() {
		cancel()
		<-done
	})
	return s
}

// next waits for a queue event with action.
func (s *eventStream) next(t *testing.T, who, action string) map[string]any {
	t.Helper()
	timeout := time.After(20 * time.Second)
	for {
		select {
		case d := <-s.events:
			if d["action"] == action {
				return d
			}
		case <-timeout:
			t.Fatalf("%s: no queue event %q", who, action)
		}
	}
}

// A scripted day of team calls, each figure of GET /api/queues checked against
// it: a call answered at once, one answered after the service level, one
// abandoned in the queue, one that waits max_wait and leaves a callback. The
// live parts (waiting callers, member states, the supervisor's queue events,
// the team's live calls) are checked on the way, the figures on /metrics, and
// again after a restart (rebuilt from the call log).
func TestWallboardDay(t *testing.T) {
	t.Parallel()
	data := t.TempDir()
	cfg := fmt.Sprintf(`
sounds_dir: %s
agents:
  - {id: a1, extension: "1001", password: pw1}
  - {id: other, extension: "1007", password: pw7}
  - {id: boss, extension: "1008", password: pw8}
  - {id: cust, extension: "1009", password: pw9}
teams:
  - {id: support, extension: "2000", members: [a1], supervisors: [boss], service_level: 2s, ring_timeout: 20s, max_wait: 5s, on_timeout: callback}
`, shortPrompts(t))
	s := startServerDir(t, cfg, data)
	a1 := s.phone("1001", "pw1", "PCMU")
	cust := s.phone("1009", "pw9", "PCMU")
	admin := s.adminAPI()
	boss := s.agentAPI(t, "1008", "pw8")
	member := s.agentAPI(t, "1001", "pw1")
	other := s.agentAPI(t, "1007", "pw7")
	if code, body := member.do("GET", "/api/queues", nil); code != http.StatusForbidden {
		t.Fatalf("a member who supervises nothing: %d %s, want 403", code, body)
	}
	bossEvents := openQueueEvents(t, boss)
	memberEvents := openQueueEvents(t, member)

	wallboard(t, boss, "start of the day", func(w wallTeam) bool {
		return w.state("a1") == "idle" && w.ServiceLevel == 1 && w.Today.Offered == 0 && len(w.Waiting) == 0
	})

	// 1. Answered at once.
	pending := cust.DialAsync(ctxT(t, 20*time.Second), "2000")
	a := answerNext(t, a1)
	k, err := pending.Result()
	if err != nil {
		t.Fatal(err)
	}
	wallboard(t, boss, "a1 talking", func(w wallTeam) bool { return w.state("a1") == "in-call" })
	liveIDs := func(c *apiClient) []string {
		code, body := c.do("GET", "/api/calls/live", nil)
		var calls []struct{ ID, Agent string }
		if code != http.StatusOK || json.Unmarshal(body, &calls) != nil {
			t.Fatalf("GET /api/calls/live: %d %s", code, body)
		}
		var ids []string
		for _, c := range calls {
			ids = append(ids, c.ID+"/"+c.Agent)
		}
		return ids
	}
	if ids := liveIDs(boss); len(ids) != 1 || !strings.HasSuffix(ids[0], "/a1") {
		t.Errorf("the supervisor's live calls %v, want a1's call", ids)
	}
	if ids := liveIDs(other); len(ids) != 0 {
		t.Errorf("another agent's live calls %v, want none", ids)
	}
	k.Hangup(ctxT(t, 5*time.Second))
	waitDone(t, "a1 after call 1", a)
	settle(t, s, 0)

	// 2. Answered after the service level: a1 lets it ring until the caller
	// has waited longer than it (the wallboard says when).
	pending = cust.DialAsync(ctxT(t, 20*time.Second), "2000")
	in := ringNext(t, "a1", a1)
	w := wallboard(t, boss, "a1 rung, the caller waiting past the service level", func(w wallTeam) bool {
		return w.state("a1") == "ringing" && len(w.Waiting) == 1 && w.Waiting[0].WaitSeconds >= 2.5
	})
	if w.Waiting[0].From != "1009" || w.LongestWaitSeconds != w.Waiting[0].WaitSeconds {
		t.Errorf("waiting %+v, longest %v", w.Waiting, w.LongestWaitSeconds)
	}
	a, err = in.Answer(ctxT(t, 10*time.Second))
	if err != nil {
		t.Fatal(err)
	}
	if k, err = pending.Result(); err != nil {
		t.Fatal(err)
	}
	// The queue answered the caller long ago (music): hanging up before the
	// PBX has bridged a1's answer would make the call abandoned.
	wallboard(t, boss, "a1 talking on call 2", func(w wallTeam) bool { return w.state("a1") == "in-call" })
	k.Hangup(ctxT(t, 5*time.Second))
	waitDone(t, "a1 after call 2", a)
	settle(t, s, 0)

	// 3. Abandoned: nobody is free (a1 away), the caller hangs up in the queue.
	if code, body := admin.do("PUT", "/api/agents/a1/status", map[string]string{"status": "away"}); code != http.StatusOK {
		t.Fatalf("a1 away: %d %s", code, body)
	}
	wallboard(t, boss, "a1 away", func(w wallTeam) bool { return w.state("a1") == "away" })
	k, err = cust.Dial(ctxT(t, 20*time.Second), "2000")
	if err != nil {
		t.Fatal(err)
	}
	w = wallboard(t, boss, "a caller waiting", func(w wallTeam) bool { return len(w.Waiting) == 1 })
	if w.Waiting[0].From != "1009" || w.Waiting[0].Call == "" {
		t.Errorf("waiting %+v", w.Waiting)
	}
	// The supervisor's join event carries the snapshot; the member's does not.
	for {
		d := bossEvents.next(t, "boss", "join")
		if d["call"] != w.Waiting[0].Call {
			continue // calls 1 and 2
		}
		if waiting, _ := d["waiting"].([]any); len(waiting) != 1 || d["today"] == nil || d["from"] != "1009" {
			t.Errorf("the supervisor's join event %v", d)
		}
		break
	}
	for {
		d := memberEvents.next(t, "a1", "join")
		if d["call"] != w.Waiting[0].Call {
			continue // calls 1 and 2
		}
		if _, ok := d["waiting"]; ok || d["from"] != "1009" || d["length"] != 1.0 {
			t.Errorf("the member's join event %v: want the caller, not the wallboard", d)
		}
		break
	}
	k.Hangup(ctxT(t, 5*time.Second))
	settle(t, s, 0)

	// 4. Nobody answers within max_wait: the caller leaves a callback request.
	k, err = cust.Dial(ctxT(t, 20*time.Second), "2000")
	if err != nil {
		t.Fatal(err)
	}
	waitDone(t, "the caller after max_wait", k)
	settle(t, s, 0)

	// The call log says what the day was; the wallboard must agree with it.
	recs, err := s.Store.ListCalls("test.local", store.CallQuery{})
	if err != nil || len(recs) != 4 {
		t.Fatalf("call log: %d entries, %v", len(recs), err)
	}
	var waits, talks []time.Duration
	for i, r := range recs {
		if r.Team != "support" || r.QueueWait <= 0 {
			t.Fatalf("call %d: %+v", i, r)
		}
		waits = append(waits, r.QueueWait)
		if r.Outcome == "answered" {
			talks = append(talks, r.TalkTime)
		}
	}
	// Newest first: the callback, the abandoned call, the late and the quick answer.
	outcomes := []string{string(recs[0].Outcome), string(recs[1].Outcome), string(recs[2].Outcome), string(recs[3].Outcome)}
	if strings.Join(outcomes, ",") != "callback,abandoned,answered,answered" {
		t.Fatalf("outcomes %v", outcomes)
	}
	if recs[3].QueueWait >= 2*time.Second || recs[2].QueueWait <= 2*time.Second || recs[0].QueueWait < 5*time.Second {
		t.Fatalf("waits %v: the script did not shape the day (quick < 2s < late; max_wait 5s)", waits)
	}
	mean := func(ds []time.Duration) float64 {
		var sum time.Duration
		for _, d := range ds {
			sum += d
		}
		return math.Round(sum.Seconds()/float64(len(ds))*10) / 10
	}
	check := func(who string, w wallTeam) {
		t.Helper()
		if w.Today.Offered != 4 || w.Today.Answered != 2 || w.Today.Abandoned != 1 || w.Today.Callbacks != 1 {
			t.Errorf("%s: today %+v, want offered 4, answered 2, abandoned 1, callbacks 1", who, w.Today)
		}
		if w.ServiceLevel != 0.25 {
			t.Errorf("%s: service level %v, want 0.25 (1 of 4 offered answered within 2s)", who, w.ServiceLevel)
		}
		if want := mean(waits); math.Abs(w.AvgWaitSeconds-want) > 0.1001 {
			t.Errorf("%s: average wait %v, want %v", who, w.AvgWaitSeconds, want)
		}
		if want := mean(talks); math.Abs(w.AvgTalkSeconds-want) > 0.1001 {
			t.Errorf("%s: average talk %v, want %v", who, w.AvgTalkSeconds, want)
		}
		if len(w.Waiting) != 0 || w.LongestWaitSeconds != 0 || w.state("a1") != "away" {
			t.Errorf("%s: waiting %+v, longest %v, members %+v", who, w.Waiting, w.LongestWaitSeconds, w.Members)
		}
	}
	day := wallboard(t, boss, "the day's figures", func(w wallTeam) bool { return w.Today.Offered == 4 && w.Today.Callbacks == 1 })
	check("live", day)

	// The same figures on /metrics.
	code, body := admin.do("GET", "/metrics", nil)
	if code != http.StatusOK {
		t.Fatalf("/metrics: %d", code)
	}
	for _, line := range []string{
		`switchboard_queue_offered_today{firm="test.local",team="support"} 4`,
		`switchboard_queue_answered_today{firm="test.local",team="support"} 2`,
		`switchboard_queue_abandoned_today{firm="test.local",team="support"} 1`,
		`switchboard_queue_callbacks_today{firm="test.local",team="support"} 1`,
		`switchboard_queue_service_level{firm="test.local",team="support"} 0.25`,
		fmt.Sprintf(`switchboard_queue_avg_wait_seconds{firm="test.local",team="support"} %v`, day.AvgWaitSeconds),
		fmt.Sprintf(`switchboard_queue_avg_talk_seconds{firm="test.local",team="support"} %v`, day.AvgTalkSeconds),
		`switchboard_queue_members{firm="test.local",state="away",team="support"} 1`,
	} {
		if !strings.Contains(string(body), line+"\n") {
			t.Errorf("/metrics lacks %q", line)
		}
	}

	// A restart rebuilds the day from the call log and the callback queue.
	s.stop()
	s2 := startServerDir(t, cfg, data)
	var again []wallTeam
	code, body = s2.adminAPI().do("GET", "/api/queues?team=support", nil)
	if code != http.StatusOK || json.Unmarshal(body, &again) != nil || len(again) != 1 {
		t.Fatalf("after the restart: %d %s", code, body)
	}
	check("after a restart", again[0])
	if again[0].AvgWaitSeconds != day.AvgWaitSeconds || again[0].AvgTalkSeconds != day.AvgTalkSeconds {
		t.Errorf("after a restart: averages %v/%v, before %v/%v", again[0].AvgWaitSeconds, again[0].AvgTalkSeconds, day.AvgWaitSeconds, day.AvgTalkSeconds)
	}
}
