package app

import (
	"context"
	"io"
	"log/slog"
	"testing"

	"switchboard/dialplan"
)

// The mailer starts with the first config that has smtp:, is kept over
// reloads (with or without smtp:), and never starts after Stop.
func TestStartMailer(t *testing.T) {
	t.Parallel()
	parse := func(body string) *dialplan.Config {
		t.Helper()
		cfg, err := dialplan.Parse("sb.yaml", []byte(body))
		if err != nil {
			t.Fatal(err)
		}
		return cfg
	}
	without := parse("domain: a.example\n")
	with := parse("smtp: {addr: \"127.0.0.1:25\", from: pbx@a.example}\n")
	a := &App{log: slog.New(slog.NewTextHandler(io.Discard, nil))}
	if m := a.startMailer(without); m != nil {
		t.Fatal("mailer started without smtp:")
	}
	m := a.startMailer(with)
	if m == nil {
		t.Fatal("no mailer with smtp:")
	}
	if again := a.startMailer(with); again != m {
		t.Error("a second mailer started")
	}
	if kept := a.startMailer(without); kept != m {
		t.Error("reload without smtp: lost the running mailer")
	}
	a.stopMailer(context.Background())

	b := &App{log: a.log}
	b.stopped.Store(true)
	if m := b.startMailer(with); m != nil {
		t.Error("mailer started after Stop")
	}
	b.stopMailer(context.Background())
}
