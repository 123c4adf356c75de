package e2e

import (
	"bytes"
	"context"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"switchboard/internal/sipptest"
	"switchboard/internal/testphone"
	"switchboard/store"
)

// Scenario files live in test/sipp; tests run in test/e2e.
const sippDir = "../sipp/"

// sippAgents is the config of the SIPp tests: 1001 calls, 1002 is a SIPp UAS.
const sippAgents = `
agents:
  - {id: alice, extension: "1001", password: alice-pw}
  - {id: bob, extension: "1002", password: bob-pw}
`

// authKeyword is SIPp's [authentication] keyword, pre-built because SIPp 3.6.1 breaks
// [authentication username=[field0] ...] (NOTES-deps section 9).
func authKeyword(user, password string) string {
	return fmt.Sprintf("[authentication username=%s password=%s]", user, password)
}

// callCSV is the injection file of uac-call-auth.xml and uac-cancel-auth.xml.
func callCSV(caller, password, number string) string {
	return fmt.Sprintf("SEQUENTIAL\n%s;%s;%s;test.local\n", caller, authKeyword(caller, password), number)
}

// registerSIPp registers 127.0.0.1:port as a contact of ext with register-auth.xml,
// sending from that port so that the PBX's calls reach whatever SIPp listens there next.
func registerSIPp(t *testing.T, s *server, ext, password string, port int) {
	t.Helper()
	csv := fmt.Sprintf("SEQUENTIAL\n%s;%s;3600;sipp%s\n", ext, authKeyword(ext, password), ext)
	res, err := sipptest.Run{
		Scenario: sippDir + "register-auth.xml", Remote: s.SIPAddr(), LocalPort: port, CSV: csv,
		Args: []string{"-m", "1"}, Timeout: 15 * time.Second,
	}.Start(t).Wait()
	if err != nil || res.Successful != 1 {
		t.Fatalf("register %s from port %d: %v (successful %d)", ext, port, err, res.Successful)
	}
}

// startUAS registers a SIPp UAS as 1002 and starts it with scenario for calls calls.
func startUAS(t *testing.T, s *server, scenario string, calls int, extra ...string) *sipptest.Proc {
	t.Helper()
	port := sipptest.FreeUDPPort(t)
	registerSIPp(t, s, "1002", "bob-pw", port)
	return sipptest.Run{
		Scenario: sippDir + scenario, Remote: s.SIPAddr(), LocalPort: port,
		Args: append([]string{"-m", fmt.Sprint(calls)}, extra...), Timeout: 30 * time.Second,
	}.Start(t)
}

// runUAC places calls calls from 1001 to number with scenario and checks they all pass.
func runUAC(t *testing.T, s *server, scenario, number string, calls int) sipptest.Result {
	t.Helper()
	res, err := sipptest.Run{
		Scenario: sippDir + scenario, Remote: s.SIPAddr(), CSV: callCSV("1001", "alice-pw", number),
		// -d is the pause between ACK and BYE; -l bounds concurrency explicitly (NOTES section 9).
		Args:    []string{"-m", fmt.Sprint(calls), "-r", "10", "-l", fmt.Sprint(calls), "-d", "200"},
		Timeout: 30 * time.Second,
	}.Start(t).Wait()
	if err != nil || res.Successful != calls || res.Failed != 0 {
		t.Fatalf("%s: %v: %d successful, %d failed, want %d/0\n%s", scenario, err, res.Successful, res.Failed, calls, res.Errors)
	}
	return res
}

// waitUAS waits for a UAS and checks that it handled calls calls without failure.
func waitUAS(t *testing.T, p *sipptest.Proc, calls int) {
	t.Helper()
	res, err := p.Wait()
	if err != nil || res.Successful != calls || res.Failed != 0 {
		t.Fatalf("UAS: %v: %d successful, %d failed, want %d/0\n%s", err, res.Successful, res.Failed, calls, res.Errors)
	}
}

// waitCalls waits until the call log holds n entries and returns them.
func waitCalls(t *testing.T, s *server, n int) []store.CallRecord {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		recs, err := s.Store.ListCalls("test.local", storeQuery(n+1))
		if err != nil {
			t.Fatal(err)
		}
		if len(recs) >= n {
			if len(recs) > n {
				t.Fatalf("call log holds %d entries, want %d: %+v", len(recs), n, recs)
			}
			return recs
		}
		if time.Now().After(deadline) {
			t.Fatalf("call log holds %d entries, want %d", len(recs), n)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// SIPp calls SIPp through the PBX with digest authentication on both sides: every
// call is bridged and logged as answered.
func TestSIPpCallsThroughPBX(t *testing.T) {
	t.Parallel()
	const calls = 5
	s := startServer(t, sippAgents)
	uas := startUAS(t, s, "uas-answer.xml", calls)
	runUAC(t, s, "uac-call-auth.xml", "1002", calls)
	waitUAS(t, uas, calls)
	for _, r := range waitCalls(t, s, calls) {
		if r.Outcome != "answered" || r.Agent != "bob" || r.From != "1001" || r.Direction != "internal" {
			t.Errorf("call log entry %+v, want answered internal call 1001 → bob", r)
		}
	}
	settle(t, s, 0)
}

// A busy callee (486) sends the call to the agent's no_answer action, voicemail by
// default: the callee saw and refused the INVITE, the caller is answered by voicemail,
// and the log keeps the 486 as the cause.
func TestSIPpBusyCalleeGoesToVoicemail(t *testing.T) {
	t.Parallel()
	s := startServer(t, sippAgents)
	uas := startUAS(t, s, "uas-busy.xml", 1)
	runUAC(t, s, "uac-call-auth.xml", "1002", 1)
	waitUAS(t, uas, 1)
	r := waitCalls(t, s, 1)[0]
	if r.Outcome != "voicemail" || r.Cause != "486 Busy Here" || r.Agent != "bob" {
		t.Fatalf("call log entry %+v, want outcome voicemail with cause 486 Busy Here", r)
	}
	settle(t, s, 0)
}

// The caller gives up while the callee rings: CANCEL reaches the callee (200 + 487 on
// both legs) and the call is logged as abandoned.
func TestSIPpCancelWhileRinging(t *testing.T) {
	t.Parallel()
	s := startServer(t, sippAgents)
	uas := startUAS(t, s, "uas-ring.xml", 1)
	runUAC(t, s, "uac-cancel-auth.xml", "1002", 1)
	waitUAS(t, uas, 1)
	r := waitCalls(t, s, 1)[0]
	if r.Outcome != "abandoned" {
		t.Fatalf("call log entry %+v, want outcome abandoned", r)
	}
	settle(t, s, 0)
}

// Broken requests get 400 or no answer, and the PBX keeps serving afterwards.
func TestSIPpMalformedRequests(t *testing.T) {
	t.Parallel()
	s := startServer(t, sippAgents)
	res, err := sipptest.Run{
		Scenario: sippDir + "malformed.xml", Remote: s.SIPAddr(), Args: []string{"-m", "1"}, Timeout: 30 * time.Second,
	}.Start(t).Wait()
	if err != nil || res.Successful != 1 {
		t.Fatalf("malformed.xml: %v (successful %d)\n%s", err, res.Successful, res.Errors)
	}
	// Still fully working: a phone registers and a SIPp call goes through.
	s.phone("1001", "alice-pw", "PCMU")
	uas := startUAS(t, s, "uas-answer.xml", 1)
	runUAC(t, s, "uac-call-auth.xml", "1002", 1)
	waitUAS(t, uas, 1)
}

// A request without Call-ID is malformed (RFC 3261 section 8.1.1): the PBX must answer
// 400 or nothing, never process it. SIPp cannot check this (it discards a response
// without Call-ID), so a raw socket does.
func TestRequestWithoutCallIDIsRejected(t *testing.T) {
	t.Parallel()
	s := startServer(t, sippAgents)
	for _, method := range []string{"OPTIONS", "REGISTER", "INVITE"} {
		t.Run(method, func(t *testing.T) {
			c, err := net.Dial("udp", s.SIPAddr())
			if err != nil {
				t.Fatal(err)
			}
			defer c.Close()
			local := c.LocalAddr().String()
			msg := fmt.Sprintf("%s sip:1002@test.local SIP/2.0\r\n"+
				"Via: SIP/2.0/UDP %s;branch=z9hG4bK-nocallid-%s;rport\r\n"+
				"From: <sip:1001@test.local>;tag=probe\r\nTo: <sip:1002@test.local>\r\n"+
				"CSeq: 1 %s\r\nMax-Forwards: 70\r\nContent-Length: 0\r\n\r\n", method, local, method, method)
			if _, err := c.Write([]byte(msg)); err != nil {
				t.Fatal(err)
			}
			buf := make([]byte, 4096)
			// The deadline only bounds the wait for an answer that may rightly never come.
			if err := c.SetReadDeadline(time.Now().Add(2 * time.Second)); err != nil {
				t.Fatal(err)
			}
			n, err := c.Read(buf)
			if err != nil {
				return // no answer: acceptable
			}
			if first, _, _ := bytes.Cut(buf[:n], []byte("\r\n")); !bytes.HasPrefix(first, []byte("SIP/2.0 400 ")) {
				t.Fatalf("%s without Call-ID answered %q, want 400 or nothing", method, first)
			}
		})
	}
}

// Toll fraud: an INVITE to an international number without credentials gets 401 and
// never reaches the carrier. The same carrier then takes an authenticated call, which
// shows the route works and that its INVITE log would have shown a leak.
func TestSIPpUnauthenticatedCallNeverReachesCarrier(t *testing.T) {
	t.Parallel()
	carrierPort := sipptest.FreeUDPPort(t)
	s := startServer(t, sippAgents+fmt.Sprintf(`
trunks:
  - {id: carrier, uri: "sip:127.0.0.1:%d", allow_from: [192.0.2.0/24]}
routes:
  outbound:
    - {match: "_+X.", trunk: carrier}
`, carrierPort))
	trace := filepath.Join(t.TempDir(), "carrier-messages.log")
	carrier := sipptest.Run{
		Scenario: sippDir + "uas-answer.xml", Remote: s.SIPAddr(), LocalPort: carrierPort,
		Args: []string{"-m", "1", "-trace_msg", "-message_file", trace}, Timeout: 30 * time.Second,
	}.Start(t)

	const number = "+15551234567"
	res, err := sipptest.Run{
		Scenario: sippDir + "uac-noauth.xml", Remote: s.SIPAddr(),
		CSV:  "SEQUENTIAL\n1001;" + number + ";test.local\n",
		Args: []string{"-m", "3", "-r", "10", "-l", "3"}, Timeout: 20 * time.Second,
	}.Start(t).Wait()
	if err != nil || res.Successful != 3 {
		t.Fatalf("unauthenticated INVITEs: %v: %d got 401, want 3\n%s", err, res.Successful, res.Errors)
	}
	if recs, err := s.Store.ListCalls("test.local", storeQuery(10)); err != nil || len(recs) != 0 {
		t.Fatalf("unauthenticated INVITEs created calls: %+v (%v)", recs, err)
	}

	runUAC(t, s, "uac-call-auth.xml", number, 1)
	waitUAS(t, carrier, 1)
	b, err := os.ReadFile(trace)
	if err != nil {
		t.Fatalf("carrier trace: %v", err)
	}
	if ids := invitesReceived(string(b)); len(ids) != 1 {
		t.Fatalf("carrier received INVITEs for %d calls (%v), want only the authenticated one", len(ids), ids)
	}
	r := waitCalls(t, s, 1)[0]
	if r.Direction != "outbound" || r.Outcome != "answered" || r.To != number {
		t.Fatalf("call log entry %+v, want the answered outbound call to %s", r, number)
	}
}

// invitesReceived returns the distinct Call-IDs of INVITEs in a SIPp -trace_msg file.
func invitesReceived(trace string) []string {
	seen := map[string]bool{}
	var ids []string
	for _, block := range strings.Split(trace, "message received")[1:] {
		lines := strings.Split(block, "\n")
		isInvite := false
		for _, l := range lines {
			l = strings.TrimSpace(l)
			if strings.HasPrefix(l, "INVITE ") {
				isInvite = true
			}
			if id, ok := strings.CutPrefix(l, "Call-ID:"); ok && isInvite {
				id = strings.TrimSpace(id)
				if !seen[id] {
					seen[id] = true
					ids = append(ids, id)
				}
				break
			}
		}
	}
	return ids
}

// A carrier's early media (183 with SDP) reaches the caller as 183 before the answer,
// and the call then connects normally.
func TestEarlyMediaFromCarrier(t *testing.T) {
	t.Parallel()
	carrierPort := sipptest.FreeUDPPort(t)
	s := startServer(t, twoAgents+fmt.Sprintf(`
trunks:
  - {id: carrier, uri: "sip:127.0.0.1:%d"}
routes:
  outbound:
    - {match: "_+X.", trunk: carrier}
`, carrierPort))
	carrier := sipptest.Run{
		Scenario: sippDir + "uas-early-media.xml", Remote: s.SIPAddr(), LocalPort: carrierPort,
		Args: []string{"-m", "1"}, Timeout: 30 * time.Second,
	}.Start(t)
	alice := s.phone("1001", "alice-pw", "PCMU")
	pending := alice.DialAsync(ctxT(t, 20*time.Second), "+15551234567")
	select {
	case <-pending.Ringing():
	case <-pending.Done():
		t.Fatal("no provisional answer before the final one")
	case <-time.After(10 * time.Second):
		t.Fatal("no 183 relayed")
	}
	c, err := pending.Result()
	if err != nil {
		t.Fatalf("call through the carrier: %v", err)
	}
	c.Hangup(ctxT(t, 5*time.Second))
	waitUAS(t, carrier, 1)
	if r := waitCalls(t, s, 1)[0]; r.Outcome != "answered" || r.Direction != "outbound" {
		t.Fatalf("call log %+v", r)
	}
}

// A caller whose INVITE has no SDP (late offer) gets our offer in the 200 and answers
// in its ACK; the call is bridged to the callee and ends normally.
func TestSIPpLateOffer(t *testing.T) {
	t.Parallel()
	s := startServer(t, twoAgents)
	bob := s.phone("1002", "bob-pw", "PCMU")
	answered := make(chan *testphone.Call, 1)
	go func() {
		if in, ok := <-bob.Incoming(); ok {
			if c, err := in.Answer(context.Background()); err == nil {
				answered <- c
			}
		}
	}()
	runUAC(t, s, "uac-late-offer-auth.xml", "1002", 1)
	var b *testphone.Call
	select {
	case b = <-answered:
	case <-time.After(10 * time.Second):
		t.Fatal("callee never answered")
	}
	select {
	case <-b.Done():
	case <-time.After(10 * time.Second):
		t.Fatal("callee not hung up after the caller's BYE")
	}
	if r := waitCalls(t, s, 1)[0]; r.Outcome != "answered" {
		t.Fatalf("call log %+v", r)
	}
}
