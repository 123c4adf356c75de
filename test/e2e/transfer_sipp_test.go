package e2e

import (
	"fmt"
	"testing"
	"time"

	"switchboard/internal/sipptest"
)

// SIPp as agent alice (1001) calls bob (1002, a test phone) with digest auth, then
// blind-transfers bob to carol (1003) with REFER: the scenario checks the 202, the
// NOTIFYs (100 then 200, terminating) and the BYE of its leg; bob and carol then talk
// with audio both ways, and the call log holds one entry with the hop.
func TestSIPpTransferBlind(t *testing.T) {
	t.Parallel()
	sipptest.Require(t)
	s := startServer(t, `
agents:
  - {id: alice, extension: "1001", password: alice-pw}
  - {id: bob, extension: "1002", password: bob-pw}
  - {id: carol, extension: "1003", password: carol-pw, ring_timeout: 10s}
`)
	bob := s.phone("1002", "bob-pw", "PCMU")
	carol := s.phone("1003", "carol-pw", "PCMA")
	uac := sipptest.Run{
		Scenario: sippDir + "uac-refer-auth.xml", Remote: s.SIPAddr(),
		CSV:     fmt.Sprintf("SEQUENTIAL\n1001;%s;1002;test.local;1003\n", authKeyword("1001", "alice-pw")),
		Args:    []string{"-m", "1", "-d", "200"},
		Timeout: 30 * time.Second,
	}.Start(t)
	b := answerNext(t, bob)
	c := answerNext(t, carol)
	res, err := uac.Wait()
	if err != nil || res.Successful != 1 || res.Failed != 0 {
		t.Fatalf("uac-refer-auth.xml: %v: %d successful, %d failed\n%s", err, res.Successful, res.Failed, res.Errors)
	}
	tonesBothWays(t, "bob", b, "carol", c)
	b.Hangup(ctxT(t, 5*time.Second))
	waitDone(t, "carol", c)
	settle(t, s, 0)
	expectTransfers(t, waitCalls(t, s, 1)[0], [2]string{"alice", "carol"})
}
