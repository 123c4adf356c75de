package registrar

import (
	"fmt"
	"strings"
	"testing"

	"switchboard/internal/sipptest"
)

// sippCSV builds an injection file for test/sipp/register-auth.xml: user, the pre-built
// [authentication] keyword, Expires, Contact user.
func sippCSV(lines ...[4]string) string {
	var b strings.Builder
	b.WriteString("SEQUENTIAL\n")
	for _, l := range lines {
		fmt.Fprintf(&b, "%s;[authentication username=%s password=%s];%s;%s\n", l[0], l[0], l[1], l[2], l[3])
	}
	return b.String()
}

func TestRegisterWithSIPp(t *testing.T) {
	t.Parallel()
	sipptest.Require(t)
	rg := newRig(t, Config{})
	port := sipptest.FreeUDPPort(t)
	run := func(scenario string, csv string, calls int) sipptest.Result {
		t.Helper()
		p := sipptest.Run{
			Scenario:  "../../test/sipp/" + scenario,
			Remote:    rg.addr,
			LocalPort: port,
			CSV:       csv,
			Args:      []string{"-m", fmt.Sprint(calls), "-l", "1", "-r", "50"},
		}.Start(t)
		res, err := p.Wait()
		if err != nil {
			t.Fatalf("%s: %v", scenario, err)
		}
		if res.Successful != calls || res.Failed != 0 {
			t.Fatalf("%s: %d successful, %d failed, want %d/0\n%s", scenario, res.Successful, res.Failed, calls, res.Errors)
		}
		return res
	}

	// Two contacts for 1001 (as two calls, in sequence), one for 1002.
	run("register-auth.xml", sippCSV(
		[4]string{"1001", "pw1001", "120", "phoneA"},
		[4]string{"1001", "pw1001", "120", "phoneB"},
		[4]string{"1002", "pw1002", "120", "desk"},
	), 3)
	got := rg.reg.Contacts("acme", "1001")
	want := []string{
		fmt.Sprintf("sip:phoneA@127.0.0.1:%d;transport=UDP", port),
		fmt.Sprintf("sip:phoneB@127.0.0.1:%d;transport=UDP", port),
	}
	if c := contactsOf(got); len(c) != 2 || c[0] != want[0] || c[1] != want[1] {
		t.Fatalf("1001 contacts %v, want %v", c, want)
	}
	if b := got[0]; b.Source != fmt.Sprintf("127.0.0.1:%d", port) || b.Transport != "UDP" || b.UserAgent != "SIPp register-auth" {
		t.Fatalf("binding %+v", b)
	}
	if n := rg.reg.Count(); n != 3 {
		t.Fatalf("Count = %d, want 3", n)
	}
	if saved, _, _ := rg.store.count(); saved != 3 {
		t.Fatalf("store holds %d, want 3", saved)
	}

	// Wrong password and unknown user: both get the second 401 the scenario expects.
	run("register-badauth.xml", sippCSV(
		[4]string{"1001", "wrong", "120", "phoneC"},
		[4]string{"4242", "pw1001", "120", "ghost"},
	), 2)
	if got := rg.auth.Failures(); got != 2 {
		t.Fatalf("auth failures %d, want 2", got)
	}

	// sipptest reports a failing run: register-auth.xml expects 200 but gets 401.
	p := sipptest.Run{
		Scenario: "../../test/sipp/register-auth.xml", Remote: rg.addr, LocalPort: port,
		CSV:  sippCSV([4]string{"1002", "wrong", "120", "desk"}),
		Args: []string{"-m", "1"},
	}.Start(t)
	if res, err := p.Wait(); err == nil || res.ExitCode != 1 || res.Failed != 1 || res.Successful != 0 || !strings.Contains(res.Errors, "401") {
		t.Fatalf("failing run: err=%v exit=%d ok=%d failed=%d errors=%q", err, res.ExitCode, res.Successful, res.Failed, res.Errors)
	}

	// Un-register everything with Expires: 0.
	run("register-auth.xml", sippCSV(
		[4]string{"1001", "pw1001", "0", "phoneA"},
		[4]string{"1001", "pw1001", "0", "phoneB"},
		[4]string{"1002", "pw1002", "0", "desk"},
	), 3)
	if n := rg.reg.Count(); n != 0 {
		t.Fatalf("Count = %d after un-register, want 0", n)
	}
	if saved, _, _ := rg.store.count(); saved != 0 {
		t.Fatalf("store holds %d after un-register, want 0", saved)
	}
}
