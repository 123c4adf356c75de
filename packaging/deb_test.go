// Package packaging holds the Debian package's files (nfpm.yaml, the systemd
// unit, the default configuration, the maintainer scripts) and the test that
// builds the package with `make deb` and inspects what it would install.
package packaging

import (
	"bufio"
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime"
	"strconv"
	"strings"
	"testing"
)

// testVersion is stamped by the test's `make deb`: a Debian version with a
// tilde, which also shows that nothing on the way mangles it.
const testVersion = "9.8.7~test1"

// tools returns the paths of what the test needs, or skips it naming what is
// missing: `make test` installs dpkg and systemd on Debian, other systems may
// lack them.
func tools(t *testing.T) (dpkgDeb, systemdAnalyze string) {
	t.Helper()
	var missing []string
	find := func(name, pkg string) string {
		p, err := exec.LookPath(name)
		if err != nil {
			missing = append(missing, name+" (Debian package "+pkg+")")
		}
		return p
	}
	dpkgDeb, systemdAnalyze = find("dpkg-deb", "dpkg"), find("systemd-analyze", "systemd")
	find("make", "make")
	if len(missing) > 0 {
		t.Skipf("package test skipped: %s not installed; `make test` installs them on Debian", strings.Join(missing, ", "))
	}
	return dpkgDeb, systemdAnalyze
}

// debArch is Debian's name of a GOARCH.
func debArch(goarch string) string {
	switch goarch {
	case "386":
		return "i386"
	case "arm":
		return "armhf"
	}
	return goarch
}

// run runs a command and returns its stdout; a failure ends the test with
// both outputs.
func run(t *testing.T, name string, args ...string) string {
	t.Helper()
	cmd := exec.Command(name, args...)
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	if err := cmd.Run(); err != nil {
		t.Fatalf("%s %s: %v\nstdout:\n%s\nstderr:\n%s", name, strings.Join(args, " "), err, out.String(), errb.String())
	}
	return out.String()
}

// TestDeb builds the package as `make deb` does and checks it from the
// outside: control fields, file list and modes, conffiles, maintainer
// scripts; then, unpacked into a temp root, the packaged binary accepts the
// packaged config and systemd finds nothing to say about the unit.
func TestDeb(t *testing.T) {
	t.Parallel()
	dpkgDeb, analyze := tools(t)
	out := t.TempDir()
	run(t, "make", "-C", "..", "--no-print-directory", "deb", "DEB_DIR="+out, "VERSION="+testVersion)
	arch := debArch(runtime.GOARCH)
	deb := filepath.Join(out, "switchboard_"+testVersion+"_"+arch+".deb")
	st, err := os.Stat(deb)
	if err != nil {
		t.Fatalf("make deb did not leave %s: %v", filepath.Base(deb), err)
	}
	t.Logf("%s: %d bytes", filepath.Base(deb), st.Size())

	t.Run("control", func(t *testing.T) {
		fields := map[string]string{}
		sc := bufio.NewScanner(strings.NewReader(run(t, dpkgDeb, "--field", deb)))
		for sc.Scan() {
			if k, v, ok := strings.Cut(sc.Text(), ": "); ok && !strings.HasPrefix(k, " ") {
				fields[k] = v
			}
		}
		want := map[string]string{
			"Package": "switchboard", "Version": testVersion, "Architecture": arch,
			"Section": "net", "Priority": "optional", "Depends": "adduser",
		}
		for k, v := range want {
			if fields[k] != v {
				t.Errorf("control %s = %q, want %q", k, fields[k], v)
			}
		}
		for _, k := range []string{"Maintainer", "Description", "Installed-Size"} {
			if fields[k] == "" {
				t.Errorf("control field %s missing", k)
			}
		}
		conffiles := strings.Fields(run(t, dpkgDeb, "--info", deb, "conffiles"))
		if len(conffiles) != 1 || conffiles[0] != "/etc/switchboard/switchboard.yaml" {
			t.Errorf("conffiles %q, want only /etc/switchboard/switchboard.yaml", conffiles)
		}
	})

	t.Run("files", func(t *testing.T) {
		// dpkg-deb -c: "drwxr-x--- root/root 0 2026-01-01 00:00 ./var/lib/switchboard/"
		files := map[string]string{}
		for _, line := range strings.Split(strings.TrimSpace(run(t, dpkgDeb, "--contents", deb)), "\n") {
			f := strings.Fields(line)
			if len(f) < 6 {
				t.Fatalf("unexpected dpkg-deb -c line %q", line)
			}
			path := strings.TrimSuffix(strings.TrimPrefix(f[5], "."), "/")
			files[path] = f[0]
		}
		want := map[string]string{
			"/usr/bin/switchboard":                    "-rwxr-xr-x",
			"/lib/systemd/system/switchboard.service": "-rw-r--r--",
			"/etc/switchboard":                        "drwxr-x---",
			"/etc/switchboard/switchboard.yaml":       "-rw-r-----",
			"/var/lib/switchboard":                    "drwxr-x---",
			"/usr/share/doc/switchboard/README.md":    "-rw-r--r--",
		}
		for path, mode := range want {
			if files[path] != mode {
				t.Errorf("%s: mode %q, want %q", path, files[path], mode)
			}
		}
		for path, mode := range files {
			if _, ok := want[path]; !ok && mode[0] != 'd' {
				t.Errorf("unexpected file in the package: %s", path)
			}
		}
	})

	root := filepath.Join(t.TempDir(), "root")
	run(t, dpkgDeb, "--extract", deb, root)
	bin := filepath.Join(root, "usr/bin/switchboard")
	config := filepath.Join(root, "etc/switchboard/switchboard.yaml")
	unit := filepath.Join(root, "lib/systemd/system/switchboard.service")

	t.Run("maintainer scripts", func(t *testing.T) {
		ctrl := filepath.Join(t.TempDir(), "DEBIAN")
		run(t, dpkgDeb, "--control", deb, ctrl)
		for _, s := range []string{"postinst", "prerm", "postrm"} {
			path := filepath.Join(ctrl, s)
			st, err := os.Stat(path)
			if err != nil || st.Mode().Perm()&0o111 == 0 {
				t.Errorf("%s missing or not executable: %v", s, err)
				continue
			}
			run(t, "sh", "-n", path)
		}
		postrm, err := os.ReadFile(filepath.Join(ctrl, "postrm"))
		if err != nil {
			t.Fatal(err)
		}
		// The data directory goes on purge only: its rm lies in the purge case.
		purge := regexp.MustCompile(`(?s)\npurge\)(.*?);;`).FindSubmatch(postrm)
		if purge == nil || !strings.Contains(string(purge[1]), `rm -rf "$DATA"`) ||
			strings.Count(string(postrm), "rm -rf") != 1 {
			t.Errorf("postrm must remove the data directory in its purge case only:\n%s", postrm)
		}
	})

	t.Run("version", func(t *testing.T) {
		lines := strings.Split(strings.TrimSpace(run(t, bin, "version")), "\n")
		if len(lines) != 3 || lines[0] != "switchboard "+testVersion ||
			!regexp.MustCompile(`^commit ([0-9a-f]{40}(-dirty)?|unknown)$`).MatchString(lines[1]) ||
			lines[2] != "go "+runtime.Version()+" linux/"+runtime.GOARCH {
			t.Errorf("packaged switchboard version:\n%s", strings.Join(lines, "\n"))
		}
	})

	t.Run("check default config", func(t *testing.T) {
		got := run(t, bin, "check", "-config", config)
		if !strings.Contains(got, ": ok (1 firm, 1 agent)") {
			t.Errorf("check: %s", got)
		}
		// The commented trunk block is valid once uncommented.
		b, err := os.ReadFile(config)
		if err != nil {
			t.Fatal(err)
		}
		head, block, ok := strings.Cut(string(b), "\n# trunks:")
		if !ok {
			t.Fatal("no commented trunks: block in the default config")
		}
		for _, want := range []string{"127.0.0.1:5060", "http: 127.0.0.1:8080", "data_dir: /var/lib/switchboard"} {
			if !strings.Contains(head, want) {
				t.Errorf("default config lacks %q", want)
			}
		}
		uncommented := regexp.MustCompile(`(?m)^# ?`).ReplaceAllString("# trunks:"+block, "")
		trunk := filepath.Join(t.TempDir(), "trunk.yaml")
		if err := os.WriteFile(trunk, []byte(head+"\n"+uncommented), 0o600); err != nil {
			t.Fatal(err)
		}
		if got := run(t, bin, "check", "-config", trunk); !strings.Contains(got, "ok") {
			t.Errorf("check with the trunk block: %s", got)
		}
	})

	t.Run("systemd-analyze", func(t *testing.T) {
		// verify resolves the unit's dependencies (sysinit.target, ...) and its
		// commands under --root: the unpacked package plus this system's units.
		units := "/lib/systemd/system"
		if _, err := os.Stat(filepath.Join(units, "sysinit.target")); err != nil {
			t.Skipf("no systemd units in %s to verify against (install systemd): %v", units, err)
		}
		packaged, err := os.ReadFile(unit)
		if err != nil {
			t.Fatal(err)
		}
		run(t, "cp", "-a", units+"/.", filepath.Join(root, "lib/systemd/system"))
		// The package's unit, not a copy installed on this machine.
		if err := os.WriteFile(unit, packaged, 0o644); err != nil {
			t.Fatal(err)
		}
		cmd := exec.Command(analyze, "verify", "--root="+root, unit)
		findings, err := cmd.CombinedOutput()
		if err != nil || len(bytes.TrimSpace(findings)) > 0 {
			t.Errorf("systemd-analyze verify: %v\n%s", err, findings)
		}

		// security --offline rates the unit file itself: 0 (locked down) to 10.
		sec, _ := exec.Command(analyze, "security", "--offline=yes", unit).CombinedOutput()
		m := regexp.MustCompile(`Overall exposure level for switchboard\.service: ([0-9.]+) (\S+)`).FindSubmatch(sec)
		if m == nil {
			t.Fatalf("no overall exposure level in:\n%s", sec)
		}
		level, err := strconv.ParseFloat(string(m[1]), 64)
		if err != nil || level > 3.0 {
			t.Errorf("systemd-analyze security: exposure %s %s, want 3.0 or better:\n%s", m[1], m[2], sec)
		}
		t.Logf("systemd-analyze security: %s %s", m[1], m[2])
	})
}
