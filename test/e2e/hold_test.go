package e2e

import (
	"fmt"
	"math"
	"testing"
	"time"

	"switchboard/internal/audio"
	"switchboard/internal/testphone"
	"switchboard/sounds"
)

// builtinHoldHeard checks that what c receives is the built-in hold music: loud
// enough, and with a dominant frequency that some stretch of the built-in prompt has
// too (its chords change every two seconds).
func builtinHoldHeard(t *testing.T, who string, c *testphone.Call) {
	t.Helper()
	pcm, err := sounds.New("").Get("hold")
	if err != nil {
		t.Fatal(err)
	}
	const window = 4000 // 500 ms, as expectFreq hears
	var prompt []float64
	for i := 0; i+window <= len(pcm); i += 800 {
		prompt = append(prompt, audio.DominantFrequency(pcm[i:i+window]))
	}
	f, rms, err := c.ReceivedFrequency(ctxT(t, 10*time.Second), 500*time.Millisecond)
	if err != nil {
		t.Fatalf("%s: receive: %v", who, err)
	}
	for _, p := range prompt {
		if math.Abs(f-p) <= 15 && rms >= 500 {
			return
		}
	}
	t.Fatalf("%s heard %.0f Hz at RMS %.0f; the built-in hold prompt's frequencies are %v", who, f, rms, prompt)
}

// Hold: whichever side holds (a=sendonly), the other hears the hold music that
// applies (team, else top-level hold_music, else the prompt called hold: sounds_dir's
// or the built-in), the re-INVITE is not relayed, resume brings the bridge back with
// audio both ways, and the hold time lands in the call log.
func TestHoldPlaysMusicAndResumes(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name       string
		config     string // %[1]s: the sounds dir
		number     string // what the customer dials
		agentHolds bool   // else the customer holds the agent
		music      float64
	}{
		{"default hold prompt from sounds_dir", "sounds_dir: %[1]s\n", "1001", true, sndHoldHz},
		{"built-in hold prompt", "", "1001", true, 0},
		{"top-level hold_music", "sounds_dir: %[1]s\nhold_music: firm-music.wav\n", "1001", true, firmMusicHz},
		{"team hold_music over the top-level one", "sounds_dir: %[1]s\nhold_music: firm-music.wav\n", "2000", true, teamMusicHz},
		{"caller holds the agent", "sounds_dir: %[1]s\nhold_music: firm-music.wav\n", "1001", false, firmMusicHz},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			config := tc.config
			if config != "" {
				config = fmt.Sprintf(config, musicPrompts(t))
			}
			s := startServer(t, config+`
agents:
  - {id: alice, extension: "1001", password: alice-pw}
  - {id: cust, extension: "1009", password: cust-pw}
teams:
  - {id: sales, extension: "2000", members: [alice], ring_timeout: 10s, hold_music: team-music.wav}
`)
			cust := s.phone("1009", "cust-pw", "PCMU")
			alice := s.phone("1001", "alice-pw", "PCMA")
			k, a := connect(t, cust, alice, tc.number)
			tonesBothWays(t, "customer", k, "alice", a)

			holder, held, heldPhone, who := a, k, cust, "customer held by alice"
			if !tc.agentHolds {
				holder, held, heldPhone, who = k, a, alice, "alice held by the customer"
			}
			if tc.music == 0 {
				// The built-in music has many frequencies: the holder's tone could
				// pass for one of them.
				holder.StopAudio()
			}
			if err := holder.Hold(ctxT(t, 10*time.Second)); err != nil {
				t.Fatalf("hold: %v", err)
			}
			if tc.music == 0 {
				builtinHoldHeard(t, who, held)
			} else {
				expectFreq(t, who, held, tc.music)
			}
			if err := holder.Unhold(ctxT(t, 10*time.Second)); err != nil {
				t.Fatalf("resume: %v", err)
			}
			tonesBothWays(t, "customer after resume", k, "alice after resume", a)
			if n := heldPhone.Stats().ReInvitesReceived; n != 0 {
				t.Errorf("hold relayed to the other side as %d re-INVITEs, want it answered by the PBX", n)
			}
			k.Hangup(ctxT(t, 5*time.Second))
			waitDone(t, "alice", a)
			settle(t, s, 0)
			if r := waitCalls(t, s, 1)[0]; r.HoldTime <= 0 {
				t.Errorf("call log hold time %v, want the time on hold", r.HoldTime)
			}
			var calls []struct {
				HoldSeconds *float64 `json:"hold_seconds"`
			}
			apiGet(t, s.HTTPAddr, s.data, "/api/calls", &calls)
			if len(calls) != 1 || calls[0].HoldSeconds == nil || *calls[0].HoldSeconds <= 0 {
				t.Errorf("GET /api/calls hold_seconds: %+v, want a positive number", calls)
			}
		})
	}
}
