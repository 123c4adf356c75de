package pbx

import (
	"testing"

	"switchboard/dialplan"
	"switchboard/sip/auth"
)

// The digest accounts are cached per config: the same answer twice, and a
// reload that changes a password is seen at once.
func TestAccountsFollowReload(t *testing.T) {
	t.Parallel()
	const realm = "pbx.example.com"
	conf := func(pw string) string {
		return "domain: " + realm + "\nagents:\n  - {id: alice, extension: \"1001\", password: " + pw + "}\n"
	}
	tp := newTestParts(t, conf("old-pw"), 9, nil)
	defer tp.stopListen()
	for _, tc := range []struct{ password string }{{"old-pw"}, {"old-pw"}, {"new-pw"}, {"new-pw"}} {
		if tc.password != "old-pw" {
			cfg, err := dialplan.Parse("sb.yaml", []byte(conf(tc.password)))
			if err != nil {
				t.Fatal(err)
			}
			tp.p.Reload(cfg)
		}
		for _, user := range []string{"1001", "alice"} {
			acct, ok := tp.p.accts.lookupAccount(realm, user)
			if !ok {
				t.Fatalf("%s unknown", user)
			}
			if want := auth.HA1("MD5", user, realm, tc.password); acct.HA1["MD5"] != want || acct.ID != "alice" {
				t.Errorf("%s with password %s: HA1 %s id %s, want %s alice", user, tc.password, acct.HA1["MD5"], acct.ID, want)
			}
		}
	}
	if _, ok := tp.p.accts.lookupAccount(realm, "1009"); ok {
		t.Error("an unknown extension has an account")
	}
}
