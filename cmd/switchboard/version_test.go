package main

import (
	"bufio"
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime"
	"strings"
	"testing"
)

// parsedVersion is what a script reads back from `switchboard version`.
type parsedVersion struct {
	version, commit, goVersion, platform string
	modified                             bool
}

// parseVersion reads the three "key value" lines of printVersion.
func parseVersion(t *testing.T, out string) parsedVersion {
	t.Helper()
	var p parsedVersion
	sc := bufio.NewScanner(strings.NewReader(out))
	for sc.Scan() {
		key, val, ok := strings.Cut(sc.Text(), " ")
		if !ok {
			t.Fatalf("line %q is not \"key value\" in:\n%s", sc.Text(), out)
		}
		switch key {
		case "switchboard":
			p.version = val
		case "commit":
			p.commit, p.modified = strings.CutSuffix(val, " (modified)")
		case "go":
			p.goVersion, p.platform, _ = strings.Cut(val, " ")
		default:
			t.Fatalf("unknown key %q in:\n%s", key, out)
		}
	}
	if p.version == "" || p.commit == "" || p.goVersion == "" || p.platform == "" {
		t.Fatalf("incomplete version output:\n%s", out)
	}
	return p
}

// The binary built with -ldflags prints the stamped version and commit, and
// the toolchain's Go version from its build info; -version is the same.
func TestVersionCommand(t *testing.T) {
	t.Parallel()
	bin := filepath.Join(t.TempDir(), "switchboard")
	build := exec.Command("go", "build", "-ldflags", "-X main.version=1.2.3~test -X main.commit=0123abcd", "-o", bin, ".")
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	for _, args := range [][]string{{"version"}, {"-version"}, {"--version"}} {
		out, err := exec.Command(bin, args...).Output()
		if err != nil {
			t.Fatalf("%v: %v", args, err)
		}
		v := parseVersion(t, string(out))
		if v.version != "1.2.3~test" || v.commit != "0123abcd" {
			t.Errorf("%v: version %q commit %q, want the stamped 1.2.3~test and 0123abcd", args, v.version, v.commit)
		}
		if v.goVersion != runtime.Version() || v.platform != runtime.GOOS+"/"+runtime.GOARCH {
			t.Errorf("%v: go %q %q, want %s %s/%s", args, v.goVersion, v.platform, runtime.Version(), runtime.GOOS, runtime.GOARCH)
		}
	}
}

// Without stamps, the version comes from the build info: this test binary's
// own (a test has no VCS stamp and the module is "(devel)"), and the commit
// is "unknown" rather than empty.
func TestVersionFromBuildInfo(t *testing.T) {
	t.Parallel()
	code, out, _ := runCLI("version")
	if code != 0 {
		t.Fatalf("exit %d", code)
	}
	v := parseVersion(t, out)
	if !regexp.MustCompile(`^(devel|v\S+)$`).MatchString(v.version) || !regexp.MustCompile(`^([0-9a-f]{7,}|unknown)$`).MatchString(v.commit) {
		t.Errorf("version %q commit %q", v.version, v.commit)
	}
	if code, _, errOut := runCLI("version", "extra"); code != 2 || !strings.Contains(errOut, "usage") {
		t.Errorf("version extra: exit %d, %q", code, errOut)
	}
}
