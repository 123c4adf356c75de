package e2e

import (
	"errors"
	"fmt"
	"net"
	"strings"
	"testing"
	"time"

	"switchboard/internal/testphone"
)

// fraudConfig: the carrier trunk (a test phone) brings +15550100 to alice and takes
// every + number; alice may call out.
const fraudConfig = `
agents:
  - {id: alice, extension: "1001", password: alice-pw, caller_id: "+15550111"}
trunks:
  - {id: carrier, uri: "sip:%s"}
routes:
  inbound:
    - {match: "+15550100", to: "agent:alice"}
  outbound:
    - {match: "_+X.", trunk: carrier}
`

// Toll fraud through transfers: the carrier's side of a call (a trunk leg, not an
// authenticated agent) asks for a transfer to an international number. The REFER is
// refused with 403, the carrier never gets an INVITE for it, and the call goes on.
func TestTransferFromTrunkLegNeverReachesCarrier(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name string
		// call sets up the call between alice and the carrier; it returns the
		// carrier's side, alice's side and the INVITEs the carrier legitimately got.
		call func(t *testing.T, s *server, alice, carrier *testphone.Phone) (c, a *testphone.Call, invites int)
	}{
		{"inbound from the trunk", func(t *testing.T, s *server, alice, carrier *testphone.Phone) (*testphone.Call, *testphone.Call, int) {
			c, a := connect(t, carrier, alice, "sip:+15550100@"+s.SIPAddr())
			return c, a, 0
		}},
		{"outbound to the trunk", func(t *testing.T, s *server, alice, carrier *testphone.Phone) (*testphone.Call, *testphone.Call, int) {
			a, c := connect(t, alice, carrier, "+15557770000")
			return c, a, 1
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			carrier := carrierPhone(t, "PCMU")
			s := startServer(t, fmt.Sprintf(fraudConfig, carrier.ContactAddr()))
			alice := s.phone("1001", "alice-pw", "PCMU")
			c, a, invites := tc.call(t, s, alice, carrier)

			_, err := c.Refer(ctxT(t, 10*time.Second), "+15551234567")
			var se *testphone.StatusError
			if !errors.As(err, &se) || se.Code != 403 {
				t.Fatalf("REFER from the trunk leg to an external number: %v, want 403", err)
			}
			// The call is untouched: audio still flows, and no INVITE went out.
			tonesBothWays(t, "carrier", c, "alice", a)
			if n := carrier.Stats().InvitesReceived; n != invites {
				t.Fatalf("carrier got %d INVITEs, want %d: the refused transfer reached it", n, invites)
			}
			a.Hangup(ctxT(t, 5*time.Second))
			waitDone(t, "carrier", c)
			settle(t, s, 0)
			if r := waitCalls(t, s, 1)[0]; len(r.Transfers) != 0 {
				t.Fatalf("refused transfer logged: %+v", r)
			}
			if n := carrier.Stats().InvitesReceived; n != invites {
				t.Fatalf("carrier got %d INVITEs, want %d", n, invites)
			}
		})
	}
}

// A REFER from anybody outside a dialog (no credentials, no call) is refused: 405
// outside any dialog, 481 for a dialog that does not exist; the carrier never rings.
func TestTransferREFEROutsideDialogNeverReachesCarrier(t *testing.T) {
	t.Parallel()
	carrier := carrierPhone(t, "PCMU")
	s := startServer(t, fmt.Sprintf(fraudConfig, carrier.ContactAddr()))
	conn, err := net.Dial("udp", s.SIPAddr())
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	local := conn.LocalAddr().String()
	for _, tc := range []struct {
		name, toTag, want string
	}{
		{"no dialog", "", "SIP/2.0 405 "},
		{"unknown dialog", ";tag=forged", "SIP/2.0 481 "},
	} {
		msg := fmt.Sprintf("REFER sip:1001@test.local SIP/2.0\r\n"+
			"Via: SIP/2.0/UDP %s;branch=z9hG4bK-refer-%d;rport\r\n"+
			"From: <sip:1001@test.local>;tag=fraud\r\nTo: <sip:1001@test.local>%s\r\n"+
			"Call-ID: fraud-%d@%s\r\nCSeq: 1 REFER\r\nMax-Forwards: 70\r\n"+
			"Contact: <sip:fraud@%s>\r\nRefer-To: <sip:+15551234567@test.local>\r\nContent-Length: 0\r\n\r\n",
			local, len(tc.toTag), tc.toTag, len(tc.toTag), local, local)
		if _, err := conn.Write([]byte(msg)); err != nil {
			t.Fatal(err)
		}
		if err := conn.SetReadDeadline(time.Now().Add(10 * time.Second)); err != nil {
			t.Fatal(err)
		}
		buf := make([]byte, 4096)
		n, err := conn.Read(buf)
		if err != nil {
			t.Fatalf("%s: no answer to the REFER: %v", tc.name, err)
		}
		if first, _, _ := strings.Cut(string(buf[:n]), "\r\n"); !strings.HasPrefix(first, tc.want) {
			t.Errorf("%s: REFER answered %q, want %q", tc.name, first, tc.want)
		}
	}
	// Both were refused outright, so nothing can be on its way to the carrier.
	if live := s.PBX.LiveCalls(""); len(live) != 0 {
		t.Fatalf("live calls after stray REFERs: %+v", live)
	}
	if n := carrier.Stats().InvitesReceived; n != 0 {
		t.Fatalf("carrier got %d INVITEs from stray REFERs", n)
	}
}
