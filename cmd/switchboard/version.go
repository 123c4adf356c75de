package main

import (
	"fmt"
	"io"
	"runtime"
	"runtime/debug"
)

// version and commit are stamped by `make deb` (and `make build`) with
// -ldflags "-X main.version=... -X main.commit=...". When they are empty the
// build info fills them in: a `go build` in a git checkout records the
// revision, and `go install module@version` records the module version.
var (
	version string
	commit  string
)

// buildVersion is what `switchboard version` prints.
type buildVersion struct {
	Version  string // the package version, or the module's, or "devel"
	Commit   string // the VCS revision, or "unknown"
	Modified bool   // the work tree had uncommitted changes at build time
	Go       string // the Go toolchain that built the binary
	Platform string // GOOS/GOARCH
}

// currentVersion combines the stamped variables with debug.ReadBuildInfo. The
// stamped values win: a package's version is the Debian version the admin
// sees in dpkg -l, whatever the module thinks it is.
func currentVersion() buildVersion {
	v := buildVersion{Version: version, Commit: commit, Go: runtime.Version(), Platform: runtime.GOOS + "/" + runtime.GOARCH}
	if bi, ok := debug.ReadBuildInfo(); ok {
		v.Go = bi.GoVersion
		if v.Version == "" && bi.Main.Version != "" && bi.Main.Version != "(devel)" {
			v.Version = bi.Main.Version
		}
		for _, s := range bi.Settings {
			switch s.Key {
			case "vcs.revision":
				if v.Commit == "" {
					v.Commit = s.Value
				}
			case "vcs.modified":
				v.Modified = s.Value == "true"
			}
		}
	}
	if v.Version == "" {
		v.Version = "devel"
	}
	if v.Commit == "" {
		v.Commit = "unknown"
	}
	return v
}

// printVersion writes one "key value" pair per line, so that scripts and
// bug reports can pick the fields out without guessing at a format.
func printVersion(w io.Writer, v buildVersion) {
	commit := v.Commit
	if v.Modified {
		commit += " (modified)"
	}
	fmt.Fprintf(w, "switchboard %s\ncommit %s\ngo %s %s\n", v.Version, commit, v.Go, v.Platform)
}

func versionCmd(args []string, stdout, stderr io.Writer) int {
	if len(args) > 0 {
		fmt.Fprintln(stderr, "usage: switchboard version")
		return 2
	}
	printVersion(stdout, currentVersion())
	return 0
}
