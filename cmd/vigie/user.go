package main

import (
	"bufio"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"text/tabwriter"

	"github.com/vigie-dev/vigie/dashboards/auth"
	"github.com/vigie-dev/vigie/storage"
)

// userCommands are `vigie user …` and `vigie token …`: they work on the
// state database of a data directory, running vigie or not (SQLite in WAL
// mode takes both).
func userCommands() []command {
	return []command{
		{name: "user add", args: "NAME", about: "add a user (password read from standard input)", nargs: atLeast(1), setup: flagsAfter(1, setupUserAdd)},
		{name: "user passwd", args: "NAME", about: "change a user's password (read from standard input)", nargs: atLeast(1), setup: flagsAfter(1, setupUserPasswd)},
		{name: "user rm", args: "NAME", about: "remove a user and end its sessions", nargs: atLeast(1), setup: flagsAfter(1, setupUserRm)},
		{name: "user list", about: "list the users", nargs: atLeast(0), setup: flagsAfter(0, setupUserList)},
		{name: "token create", args: "NAME", about: "create an API token and print it once", nargs: atLeast(1), setup: flagsAfter(1, setupTokenCreate)},
		{name: "token revoke", args: "ID", about: "revoke an API token", nargs: atLeast(1), setup: flagsAfter(1, setupTokenRevoke)},
		{name: "token list", about: "list the API tokens", nargs: atLeast(0), setup: flagsAfter(0, setupTokenList)},
	}
}

// flagsAfter lets flags follow the positional arguments, as in
// `vigie user add NAME --data-dir DIR`: the arguments left after the first
// parse are parsed again, positional ones collected, until n remain.
func flagsAfter(n int, setup func(*flag.FlagSet) runFunc) func(*flag.FlagSet) runFunc {
	return func(fs *flag.FlagSet) runFunc {
		run := setup(fs)
		return func(ctx context.Context, args []string, stdout, stderr io.Writer) error {
			var pos []string
			for len(args) > 0 {
				pos = append(pos, args[0])
				if err := parseFlags(fs, args[1:], stdout, stderr); err != nil {
					return err
				}
				args = fs.Args()
			}
			if len(pos) != n {
				fs.SetOutput(stderr)
				fs.Usage()
				return errUsage
			}
			return run(ctx, pos, stdout, stderr)
		}
	}
}

// authStoreFlag adds --data-dir and returns a function opening its store.
func authStoreFlag(fs *flag.FlagSet) func(ctx context.Context, f func(*auth.Store) error) error {
	dir := fs.String("data-dir", "./data", "vigie's data directory (global.data_dir)")
	return func(ctx context.Context, f func(*auth.Store) error) error {
		if err := os.MkdirAll(*dir, 0o750); err != nil {
			return err
		}
		st, err := storage.OpenState(ctx, filepath.Join(*dir, "vigie.db"))
		if err != nil {
			return err
		}
		defer st.Close()
		s, err := auth.NewStore(ctx, st.DB, nil, st.Migrate)
		if err != nil {
			return err
		}
		return f(s)
	}
}

// stdin is where passwords are read; tests replace it.
type stdinKey struct{}

func readPassword(ctx context.Context) (string, error) {
	var r io.Reader = os.Stdin
	if v, ok := ctx.Value(stdinKey{}).(io.Reader); ok {
		r = v
	}
	line, err := bufio.NewReader(r).ReadString('\n')
	if err != nil && !errors.Is(err, io.EOF) {
		return "", fmt.Errorf("read the password from standard input: %w", err)
	}
	pass := strings.TrimRight(line, "\r\n")
	if pass == "" {
		return "", errors.New("no password on standard input")
	}
	return pass, nil
}

func setupUserAdd(fs *flag.FlagSet) runFunc {
	open := authStoreFlag(fs)
	role := fs.String("role", auth.ScopeAdmin, "read or admin")
	return func(ctx context.Context, args []string, stdout, _ io.Writer) error {
		pass, err := readPassword(ctx)
		if err != nil {
			return err
		}
		return open(ctx, func(s *auth.Store) error {
			if err := s.AddUser(ctx, args[0], pass, *role); err != nil {
				return err
			}
			_ = s.Audit(ctx, "user_added", args[0], "cli", *role)
			fmt.Fprintf(stdout, "user %s added (%s)\n", args[0], *role)
			return nil
		})
	}
}

func setupUserPasswd(fs *flag.FlagSet) runFunc {
	open := authStoreFlag(fs)
	return func(ctx context.Context, args []string, stdout, _ io.Writer) error {
		pass, err := readPassword(ctx)
		if err != nil {
			return err
		}
		return open(ctx, func(s *auth.Store) error {
			if err := s.SetPassword(ctx, args[0], pass); err != nil {
				return err
			}
			_ = s.Audit(ctx, "password_changed", args[0], "cli", "")
			fmt.Fprintf(stdout, "password of %s changed; its sessions ended\n", args[0])
			return nil
		})
	}
}

func setupUserRm(fs *flag.FlagSet) runFunc {
	open := authStoreFlag(fs)
	return func(ctx context.Context, args []string, stdout, _ io.Writer) error {
		return open(ctx, func(s *auth.Store) error {
			if err := s.RemoveUser(ctx, args[0]); err != nil {
				return err
			}
			_ = s.Audit(ctx, "user_removed", args[0], "cli", "")
			fmt.Fprintf(stdout, "user %s removed\n", args[0])
			return nil
		})
	}
}

func setupUserList(fs *flag.FlagSet) runFunc {
	open := authStoreFlag(fs)
	return func(ctx context.Context, _ []string, stdout, _ io.Writer) error {
		return open(ctx, func(s *auth.Store) error {
			us, err := s.Users(ctx)
			if err != nil {
				return err
			}
			tw := tabwriter.NewWriter(stdout, 0, 4, 2, ' ', 0)
			fmt.Fprintln(tw, "NAME\tROLE\tCREATED")
			for _, u := range us {
				fmt.Fprintf(tw, "%s\t%s\t%s\n", u.Name, u.Role, u.CreatedAt.Format("2006-01-02 15:04"))
			}
			return tw.Flush()
		})
	}
}

func setupTokenCreate(fs *flag.FlagSet) runFunc {
	open := authStoreFlag(fs)
	scope := fs.String("scope", auth.ScopeRead, "read or admin")
	return func(ctx context.Context, args []string, stdout, stderr io.Writer) error {
		if *scope != auth.ScopeRead && *scope != auth.ScopeAdmin {
			fmt.Fprintf(stderr, "vigie token create: --scope must be read or admin, got %q\n", *scope)
			return errUsage
		}
		return open(ctx, func(s *auth.Store) error {
			t, secret, err := s.CreateToken(ctx, args[0], *scope)
			if err != nil {
				return err
			}
			_ = s.Audit(ctx, "token_created", "cli", "cli", t.ID+" "+t.Name+" "+t.Scope)
			fmt.Fprintf(stderr, "token %s (%s, id %s) created; it is shown once:\n", t.Name, t.Scope, t.ID)
			fmt.Fprintln(stdout, secret)
			return nil
		})
	}
}

func setupTokenRevoke(fs *flag.FlagSet) runFunc {
	open := authStoreFlag(fs)
	return func(ctx context.Context, args []string, stdout, _ io.Writer) error {
		return open(ctx, func(s *auth.Store) error {
			if err := s.RevokeToken(ctx, args[0]); err != nil {
				return err
			}
			_ = s.Audit(ctx, "token_revoked", "cli", "cli", args[0])
			fmt.Fprintf(stdout, "token %s revoked\n", args[0])
			return nil
		})
	}
}

func setupTokenList(fs *flag.FlagSet) runFunc {
	open := authStoreFlag(fs)
	return func(ctx context.Context, _ []string, stdout, _ io.Writer) error {
		return open(ctx, func(s *auth.Store) error {
			ts, err := s.Tokens(ctx)
			if err != nil {
				return err
			}
			tw := tabwriter.NewWriter(stdout, 0, 4, 2, ' ', 0)
			fmt.Fprintln(tw, "ID\tNAME\tSCOPE\tCREATED\tREVOKED")
			for _, t := range ts {
				rev := "-"
				if !t.RevokedAt.IsZero() {
					rev = t.RevokedAt.Format("2006-01-02 15:04")
				}
				fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\n", t.ID, t.Name, t.Scope, t.CreatedAt.Format("2006-01-02 15:04"), rev)
			}
			return tw.Flush()
		})
	}
}
