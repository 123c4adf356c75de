package e2e

import (
	"bufio"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"os/exec"
	"strconv"
	"strings"
	"testing"
	"time"
)

// baresipCtrlConfig loads baresip's command menu and its TCP control interface
// (ctrl_tcp: JSON commands in netstrings) on 127.0.0.1:%d.
const baresipCtrlConfig = `module_app		menu.so
module_app		ctrl_tcp.so
ctrl_tcp_listen		127.0.0.1:%d
`

// baresipCommand sends one command to baresip's ctrl_tcp and returns its response's
// data. Events baresip sends on the same connection are skipped.
func baresipCommand(t *testing.T, addr, command, params string) string {
	t.Helper()
	var conn net.Conn
	var err error
	// ctrl_tcp listens once baresip has loaded its modules.
	waitFor(t, "baresip's control port", func() bool {
		conn, err = net.Dial("tcp", addr)
		return err == nil
	})
	defer conn.Close()
	if err := conn.SetDeadline(time.Now().Add(10 * time.Second)); err != nil {
		t.Fatal(err)
	}
	msg, _ := json.Marshal(map[string]string{"command": command, "params": params, "token": "e2e"})
	if _, err := fmt.Fprintf(conn, "%d:%s,", len(msg), msg); err != nil {
		t.Fatalf("baresip %s: %v", command, err)
	}
	r := bufio.NewReader(conn)
	for {
		n, err := r.ReadString(':')
		if err != nil {
			t.Fatalf("baresip %s: read: %v", command, err)
		}
		size, err := strconv.Atoi(strings.TrimSpace(strings.TrimSuffix(n, ":")))
		if err != nil {
			t.Fatalf("baresip %s: bad netstring length %q", command, n)
		}
		buf := make([]byte, size+1) // the payload and its trailing comma
		if _, err := io.ReadFull(r, buf); err != nil {
			t.Fatalf("baresip %s: read: %v", command, err)
		}
		var res struct {
			Response bool   `json:"response"`
			OK       bool   `json:"ok"`
			Data     string `json:"data"`
			Token    string `json:"token"`
		}
		if err := json.Unmarshal(buf[:size], &res); err != nil {
			t.Fatalf("baresip %s: %v: %s", command, err, buf[:size])
		}
		if !res.Response {
			continue // an event
		}
		if !res.OK {
			t.Fatalf("baresip %s %s: refused: %s", command, params, res.Data)
		}
		return res.Data
	}
}

// baresip's own transfer command: baresip (bob, 1002) answers the customer's call,
// then `/transfer sip:1003@test.local` makes it send REFER; the PBX hands the customer
// to carol, with audio both ways and the hop in the call log.
func TestBaresipTransferCommand(t *testing.T) {
	t.Parallel()
	bin, err := exec.LookPath("baresip")
	if err != nil {
		t.Fatal("baresip not installed: run `make test` (installs baresip-core)")
	}
	s := startServer(t, `
agents:
  - {id: bob, extension: "1002", password: bob-pw, ring_timeout: 15s}
  - {id: carol, extension: "1003", password: carol-pw, ring_timeout: 15s}
  - {id: cust, extension: "1009", password: cust-pw}
`)
	ctrl := freeSIPPort(t)
	bs := startBaresipWith(t, bin, s.SIPAddr(), fmt.Sprintf(baresipCtrlConfig, ctrl))
	bob := s.Config.Firms[0].Agent("bob")
	waitFor(t, "baresip registered as 1002", func() bool { return len(s.PBX.Registrations("test.local", bob)) > 0 })

	cust := s.phone("1009", "cust-pw", "PCMU")
	carol := s.phone("1003", "carol-pw", "PCMA")
	k, err := cust.Dial(ctxT(t, 20*time.Second), "1002")
	if err != nil {
		t.Fatalf("dial baresip: %v\n%s", err, bs.output())
	}
	expectFreq(t, "customer (baresip's aufile)", k, 1000)
	id := liveCallID(t, s)

	baresipCommand(t, fmt.Sprintf("127.0.0.1:%d", ctrl), "transfer", "1003")
	c := answerNext(t, carol)
	tonesBothWays(t, "customer", k, "carol", c)
	// baresip's leg ended: the customer's and carol's are the only dialogs left.
	waitFor(t, "baresip's leg ended", func() bool { return s.SIP.LegCount() == 2 })
	k.Hangup(ctxT(t, 5*time.Second))
	waitDone(t, "carol", c)
	settle(t, s, 0)
	r := callRecord(t, s, id, 1)
	expectTransfers(t, r, [2]string{"bob", "carol"})
	if t.Failed() {
		t.Logf("baresip:\n%s", bs.output())
	}
}
