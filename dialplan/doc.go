// Package dialplan owns the administrator's configuration file: it loads and
// validates the YAML (reporting every problem as "file:line: message"), matches
// dialled numbers against Asterisk-style patterns, and resolves a dialled number
// into a plain-data Decision that the pbx package carries out.
//
// The package is pure: apart from reading the configuration files themselves
// (and Config.CheckPrompts, which looks for the IVR prompt files when asked) it
// performs no I/O, holds no global mutable state and starts no goroutines. A
// *Config is immutable after loading and safe for concurrent use; a reload builds
// a new *Config.
//
// Routing rules, in the order Resolve applies them:
//
//   - A call from an authenticated agent: feature codes (*50, *51, *97, *98)
//     first, then internal extensions (agents, teams, IVRs), then
//     routes.outbound in file order (first match wins), else 404.
//   - A call from a trunk: routes.inbound in file order (first match wins),
//     else 404. Internal extensions are not reachable from a trunk unless a
//     route says so, and a trunk call never leaves through another trunk.
//   - Anything else: 403.
package dialplan
