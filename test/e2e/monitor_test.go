package e2e

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"switchboard/internal/audio"
	"switchboard/internal/testphone"
)

// Tones of the three parties of a supervised call.
const (
	custHz = 440
	agtHz  = 1000
	supHz  = 1800
)

const monitorConfig = `
agents:
  - {id: cust, extension: "1001", password: cust-pw}
  - {id: bob, extension: "1002", password: bob-pw}
  - {id: sam, extension: "1003", password: sam-pw}
  - {id: olga, extension: "1004", password: olga-pw}
teams:
  - {id: sales, extension: "2000", members: [bob], supervisors: [sam]}
  - {id: other, extension: "2001", members: [olga], supervisors: [olga]}
`

// hears waits until c hears every tone of want and none of deaf, each judged by
// its Goertzel power over half a second.
func hears(t *testing.T, who string, c *testphone.Call, want, deaf []float64) {
	t.Helper()
	const present, absent = 2e5, 2e4
	var last string
	for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline); {
		pcm, err := c.Received(ctxT(t, 5*time.Second), 500*time.Millisecond)
		if err != nil {
			t.Fatalf("%s: receive: %v", who, err)
		}
		ok := true
		var b strings.Builder
		for _, f := range want {
			p := audio.Power(pcm, f)
			fmt.Fprintf(&b, "%.0f Hz: %.0f ", f, p)
			ok = ok && p > present
		}
		for _, f := range deaf {
			p := audio.Power(pcm, f)
			fmt.Fprintf(&b, "%.0f Hz: %.0f ", f, p)
			ok = ok && p < absent
		}
		if ok {
			return
		}
		last = b.String()
	}
	t.Fatalf("%s: want %v and not %v; last powers %s", who, want, deaf, last)
}

// A supervisor dials *33 and the agent's extension: they listen (both tones,
// nobody hears them); 5 whispers (the agent hears them, the customer does not); 6
// barges (everyone hears the two others); hanging up gives the parties their call
// back as it was.
func TestSupervisorByPhoneListenWhisperBarge(t *testing.T) {
	t.Parallel()
	s := startServer(t, monitorConfig)
	cust := s.phone("1001", "cust-pw", "PCMU")
	bob := s.phone("1002", "bob-pw", "PCMA")
	sam := s.phone("1003", "sam-pw", "PCMU")
	k, b := connect(t, cust, bob, "1002")
	k.StartTone(custHz)
	b.StartTone(agtHz)
	hears(t, "agent before", b, []float64{custHz}, nil)

	sv, err := sam.Dial(ctxT(t, 20*time.Second), "*331002")
	if err != nil {
		t.Fatalf("*33: %v", err)
	}
	sv.StartTone(supHz)
	hears(t, "supervisor listening", sv, []float64{custHz, agtHz}, nil)
	hears(t, "customer while listened to", k, []float64{agtHz}, []float64{supHz, custHz})
	hears(t, "agent while listened to", b, []float64{custHz}, []float64{supHz, agtHz})

	if err := sv.SendDTMF('5'); err != nil {
		t.Fatal(err)
	}
	hears(t, "agent whispered to", b, []float64{custHz, supHz}, []float64{agtHz})
	hears(t, "customer during the whisper", k, []float64{agtHz}, []float64{supHz})
	hears(t, "supervisor whispering", sv, []float64{custHz, agtHz}, []float64{supHz})

	if err := sv.SendDTMF('6'); err != nil {
		t.Fatal(err)
	}
	hears(t, "customer in the barge", k, []float64{agtHz, supHz}, []float64{custHz})
	hears(t, "agent in the barge", b, []float64{custHz, supHz}, []float64{agtHz})
	hears(t, "supervisor barging", sv, []float64{custHz, agtHz}, []float64{supHz})

	if err := sv.Hangup(ctxT(t, 5*time.Second)); err != nil {
		t.Fatal(err)
	}
	hears(t, "customer after", k, []float64{agtHz}, []float64{supHz})
	hears(t, "agent after", b, []float64{custHz}, []float64{supHz})
	k.Hangup(ctxT(t, 5*time.Second))
	noLegLeft(t, s)
}

// POST /api/calls/{id}/monitor rings the supervisor, who joins in the mode asked;
// an agent who supervises another team gets 403, an unknown call 404, a call not
// answered 409.
func TestSupervisorByAPI(t *testing.T) {
	t.Parallel()
	s := startServer(t, monitorConfig)
	cust := s.phone("1001", "cust-pw", "PCMU")
	bob := s.phone("1002", "bob-pw", "PCMU")
	sam := s.phone("1003", "sam-pw", "PCMA")
	s.phone("1004", "olga-pw", "PCMU")
	samAPI := s.agentAPI(t, "1003", "sam-pw")
	olgaAPI := s.agentAPI(t, "1004", "olga-pw")
	monitor := func(c *apiClient, id, mode string) (int, string) {
		t.Helper()
		code, b := c.do("POST", "/api/calls/"+id+"/monitor", map[string]string{"mode": mode})
		return code, string(b)
	}
	if code, body := monitor(samAPI, "no-such-call", "listen"); code != 404 {
		t.Errorf("unknown call: %d %s, want 404", code, body)
	}
	pending := cust.DialAsync(ctxT(t, 30*time.Second), "1002")
	in := ringNext(t, "bob", bob)
	id := liveCallID(t, s)
	if code, body := monitor(samAPI, id, "listen"); code != 409 {
		t.Errorf("ringing call: %d %s, want 409", code, body)
	}
	b, err := in.Answer(ctxT(t, 10*time.Second))
	if err != nil {
		t.Fatal(err)
	}
	k, err := pending.Result()
	if err != nil {
		t.Fatal(err)
	}
	if code, body := monitor(olgaAPI, id, "listen"); code != 403 {
		t.Errorf("supervisor of another team: %d %s, want 403", code, body)
	}
	if code, body := monitor(samAPI, id, "shout"); code != 400 {
		t.Errorf("bad mode: %d %s, want 400", code, body)
	}
	k.StartTone(custHz)
	b.StartTone(agtHz)
	if code, body := monitor(samAPI, id, "whisper"); code != 202 {
		t.Fatalf("monitor: %d %s, want 202", code, body)
	}
	sv := answerNext(t, sam)
	sv.StartTone(supHz)
	hears(t, "supervisor", sv, []float64{custHz, agtHz}, nil)
	hears(t, "agent whispered to", b, []float64{custHz, supHz}, nil)
	hears(t, "customer", k, []float64{agtHz}, []float64{supHz})
	k.Hangup(ctxT(t, 5*time.Second))
	waitDone(t, "supervisor's leg when the call ends", sv)
	noLegLeft(t, s)
}
