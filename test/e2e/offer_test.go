package e2e

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"switchboard/internal/sipptest"
)

// An offer the PBX cannot answer gets 488 before anything rings (issue 9): SRTP
// without keys (RTP/SAVP with no a=crypto: nothing to key it with), WebRTC's
// profile without a DTLS fingerprint, and a codec the PBX lacks. The agent's
// registered phone never sees an INVITE, SIPp sees no 180/183, and the call log
// says failed 488.
func TestSIPpUnanswerableOfferGets488(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name, profile, pt, rtpmap string
	}{
		{"plain SRTP without keys", "RTP/SAVP", "0", "PCMU/8000"},
		{"WebRTC profile without fingerprint", "UDP/TLS/RTP/SAVPF", "0", "PCMU/8000"},
		{"no common codec", "RTP/AVP", "18", "G729/8000"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			s := startServer(t, sippAgents)
			bob := s.phone("1002", "bob-pw", "PCMU")
			csv := fmt.Sprintf("SEQUENTIAL\n1001;%s;1002;test.local;%s;%s;%s\n",
				authKeyword("1001", "alice-pw"), tt.profile, tt.pt, tt.rtpmap)
			res, err := sipptest.Run{
				Scenario: sippDir + "uac-savp-488.xml", Remote: s.SIPAddr(), CSV: csv,
				Args: []string{"-m", "1"}, Timeout: 30 * time.Second,
			}.Start(t).Wait()
			if err != nil || res.Successful != 1 || res.Failed != 0 {
				t.Errorf("uac-savp-488.xml (%s %s %s): %v: %d successful, %d failed, want 1/0 (488 without ringing)\n%s",
					tt.profile, tt.pt, tt.rtpmap, err, res.Successful, res.Failed, res.Errors)
			}
			// Once the call is logged the PBX is done with it: whatever it was going
			// to send the agent's phone has been sent.
			r := waitCalls(t, s, 1)[0]
			if r.Outcome != "failed" || !strings.HasPrefix(r.Cause, "488") {
				t.Errorf("call log entry %+v, want outcome failed with cause 488", r)
			}
			if n := bob.Stats().InvitesReceived; n != 0 {
				t.Errorf("the agent's phone received %d INVITEs, want none: the offer must be refused before ringing", n)
			}
			settle(t, s, 0)
		})
	}
}
