package main

import (
	"bytes"
	"context"
	"slices"
	"strings"
	"testing"
)

func runArgs(args ...string) (code int, stdout, stderr string) {
	var out, errOut bytes.Buffer
	code = runMain(context.Background(), args, &out, &errOut)
	return code, out.String(), errOut.String()
}

// Every command and subcommand answers --help and -h with its usage and
// flags on stdout (exit 0), and misuse with its usage on stderr (exit 2).
func TestEveryCommandAnswersHelp(t *testing.T) {
	want := []string{"run", "agent", "check config", "check rules", "test rules", "rules export", "notify test",
		"silence add", "silence list", "silence expire", "ack", "job run", "heartbeat list", "incident",
		"user add", "user passwd", "user rm", "user list", "token create", "token revoke", "token list", "version", "help"}
	var names []string
	for _, c := range commands() {
		names = append(names, c.name)
	}
	if !slices.Equal(names, want) {
		t.Fatalf("command table %q, want %q", names, want)
	}
	for _, c := range commands() {
		words := strings.Fields(c.name)
		t.Run(c.name, func(t *testing.T) {
			for _, h := range []string{"--help", "-h"} {
				code, out, errOut := runArgs(append(words, h)...)
				if code != 0 || !strings.HasPrefix(out, "Usage: vigie "+c.name) || errOut != "" {
					t.Errorf("%s %s: exit %d\nstdout %q\nstderr %q", c.name, h, code, out, errOut)
				}
			}
			code, out, errOut := runArgs(append(words, "--no-such-flag")...)
			if code != 2 || out != "" || !strings.Contains(errOut, "Usage: vigie "+c.name) {
				t.Errorf("%s with a bad flag: exit %d\nstdout %q\nstderr %q", c.name, code, out, errOut)
			}
			// The wrong number of arguments: none where some are needed, one too many otherwise.
			args := words
			if c.nargs(0) {
				args = append(slices.Clone(words), "extra", "args", "here")
			}
			if c.nargs(len(args) - len(words)) {
				return // takes any number
			}
			code, out, errOut = runArgs(args...)
			if code != 2 || out != "" || !strings.Contains(errOut, "Usage: vigie "+c.name) {
				t.Errorf("%v: exit %d\nstdout %q\nstderr %q", args, code, out, errOut)
			}
		})
	}
	// Groups and the whole table.
	for _, g := range []string{"", "check", "test", "rules", "notify", "silence", "job", "heartbeat"} {
		words := strings.Fields(g)
		for _, h := range []string{"--help", "-h"} {
			code, out, errOut := runArgs(append(words, h)...)
			if code != 0 || !strings.Contains(out, "Usage:\n  vigie "+g) || errOut != "" {
				t.Errorf("%q %s: exit %d\nstdout %q\nstderr %q", g, h, code, out, errOut)
			}
		}
		code, out, errOut := runArgs(words...)
		if code != 2 || out != "" || !strings.Contains(errOut, "Usage:\n  vigie "+g) {
			t.Errorf("%q alone: exit %d\nstdout %q\nstderr %q", g, code, out, errOut)
		}
	}
	if code, _, errOut := runArgs("frobnicate"); code != 2 || !strings.Contains(errOut, `unknown command "frobnicate"`) {
		t.Errorf("unknown command: exit %d, %q", code, errOut)
	}
	if code, out, _ := runArgs("--version"); code != 0 || !strings.HasPrefix(out, "vigie ") {
		t.Errorf("--version: exit %d, %q", code, out)
	}
}
