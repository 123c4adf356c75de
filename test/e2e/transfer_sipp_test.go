package e2e

import (
	"fmt"
	"testing"
	"time"

	"switchboard/internal/sipptest"
	"switchboard/internal/testphone"
)

// sippTransferConfig: SIPp is alice (1001) and calls bob (1002, a test phone), then
// transfers him. carol answers, dave is away with voicemail, the team sales (2000)
// has carol and its own music, + numbers go to the carrier (a test phone).
const sippTransferConfig = `
sounds_dir: %s
agents:
  - {id: alice, extension: "1001", password: alice-pw, caller_id: "+15550111"}
  - {id: bob, extension: "1002", password: bob-pw}
  - {id: carol, extension: "1003", password: carol-pw, ring_timeout: 10s}
  - {id: dave, extension: "1004", password: dave-pw, status: away, away: voicemail}
teams:
  - {id: sales, extension: "2000", members: [carol], ring_timeout: 10s, max_wait: 60s, hold_music: team-music.wav}
trunks:
  - {id: carrier, uri: "sip:%s"}
routes:
  outbound:
    - {match: "_+X.", trunk: carrier}
`

// SIPp as agent alice calls bob with digest auth, then blind-transfers bob with REFER
// to each kind of target: the scenario checks the 202, the NOTIFYs (100 then 200,
// terminating) and the BYE of its leg; bob then reaches the target with audio both
// ways (or leaves a message), and the call log holds one entry with the hop.
func TestSIPpTransferBlind(t *testing.T) {
	t.Parallel()
	sipptest.Require(t)
	for _, tc := range []struct {
		name, target, to string
		// reach plays the target's side; b is bob's call, the transferee's.
		reach func(t *testing.T, s *server, carol, carrier *testphone.Phone, b *testphone.Call)
	}{
		{"agent", "1003", "carol", func(t *testing.T, _ *server, carol, _ *testphone.Phone, b *testphone.Call) {
			c := answerNext(t, carol)
			tonesBothWays(t, "bob", b, "carol", c)
			b.Hangup(ctxT(t, 5*time.Second))
			waitDone(t, "carol", c)
		}},
		{"team", "2000", "team:sales", func(t *testing.T, _ *server, carol, _ *testphone.Phone, b *testphone.Call) {
			in := ringNext(t, "carol for the team", carol)
			expectFreq(t, "bob waiting in the team queue", b, teamMusicHz)
			c, err := in.Answer(ctxT(t, 10*time.Second))
			if err != nil {
				t.Fatal(err)
			}
			tonesBothWays(t, "bob", b, "carol", c)
			c.Hangup(ctxT(t, 5*time.Second))
			waitDone(t, "bob", b)
		}},
		{"external", "+15551230001", "+15551230001", func(t *testing.T, _ *server, _, carrier *testphone.Phone, b *testphone.Call) {
			in := ringNext(t, "carrier", carrier)
			if in.From() != "+15550111" {
				t.Errorf("carrier INVITE from %q, want the transferor's caller_id +15550111", in.From())
			}
			m, err := in.Answer(ctxT(t, 10*time.Second))
			if err != nil {
				t.Fatal(err)
			}
			tonesBothWays(t, "bob", b, "carrier", m)
			b.Hangup(ctxT(t, 5*time.Second))
			waitDone(t, "carrier", m)
		}},
		{"away agent's voicemail", "1004", "dave", func(t *testing.T, s *server, _, _ *testphone.Phone, b *testphone.Call) {
			leaveMessage(t, b, 1500*time.Millisecond)
			waitFor(t, "dave's voicemail saved", func() bool {
				msgs, _ := s.Store.ListVoicemail("test.local", "dave")
				return len(msgs) > 0
			})
			msgs, err := s.Store.ListVoicemail("test.local", "dave")
			if err != nil || len(msgs) != 1 || msgs[0].Caller != "1002" {
				t.Fatalf("dave's voicemail %+v %v, want one message from bob (1002)", msgs, err)
			}
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			carrier := carrierPhone(t, "PCMU")
			s := startServer(t, fmt.Sprintf(sippTransferConfig, musicPrompts(t), carrier.ContactAddr()))
			bob := s.phone("1002", "bob-pw", "PCMU")
			carol := s.phone("1003", "carol-pw", "PCMA")
			uac := sipptest.Run{
				Scenario: sippDir + "uac-refer-auth.xml", Remote: s.SIPAddr(),
				CSV:     fmt.Sprintf("SEQUENTIAL\n1001;%s;1002;test.local;%s\n", authKeyword("1001", "alice-pw"), tc.target),
				Args:    []string{"-m", "1", "-d", "200"},
				Timeout: 30 * time.Second,
			}.Start(t)
			b := answerNext(t, bob)
			tc.reach(t, s, carol, carrier, b)
			res, err := uac.Wait()
			if err != nil || res.Successful != 1 || res.Failed != 0 {
				t.Fatalf("uac-refer-auth.xml: %v: %d successful, %d failed\n%s", err, res.Successful, res.Failed, res.Errors)
			}
			settle(t, s, 0)
			expectTransfers(t, waitCalls(t, s, 1)[0], [2]string{"alice", tc.to})
		})
	}
}
