package status

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/http"
	"os"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"
)

// DefaultURL is where the incident CLI finds vigie without --url or $VIGIE_URL.
const DefaultURL = "http://127.0.0.1:9753"

const cliUsage = `Usage: vigie incident COMMAND [flags]

Manage the status page's incidents through a running vigie's API.

Commands:
  open --title TEXT [--component NAME]... [--impact minor|major] [--status S] [--message TEXT]
  update ID --status investigating|identified|monitoring|resolved --message TEXT
  resolve ID [--message TEXT]
  list [--all]

Every command takes --url (default $VIGIE_URL, else ` + DefaultURL + `) and
--token (default $VIGIE_TOKEN), sent as a bearer token: opening and
updating need an admin token, listing a read one.
`

// cliTimeout bounds one command's API call.
const cliTimeout = 30 * time.Second

// errUsage is a misuse of the command line (exit 2).
var errUsage = errors.New("usage")

// RunIncidentCLI runs `vigie incident ARGS…` (args without "incident"):
// 0 on success, 1 when the API call fails, 2 on misuse; --help prints the
// usage on stdout and exits 0.
func RunIncidentCLI(args []string, stdout, stderr io.Writer) int {
	if len(args) == 0 {
		fmt.Fprint(stderr, cliUsage)
		return 2
	}
	switch args[0] {
	case "-h", "-help", "--help", "help":
		fmt.Fprint(stdout, cliUsage)
		return 0
	}
	err := runIncident(context.Background(), args[0], args[1:], stdout, stderr)
	switch {
	case err == nil:
		return 0
	case errors.Is(err, flag.ErrHelp):
		return 0
	case errors.Is(err, errUsage):
		return 2
	}
	fmt.Fprintln(stderr, "vigie incident:", err)
	return 1
}

type cliClient struct {
	url, token string
}

func runIncident(ctx context.Context, cmd string, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("vigie incident "+cmd, flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() { fmt.Fprint(fs.Output(), cliUsage) }
	var c cliClient
	fs.StringVar(&c.url, "url", envOr("VIGIE_URL", DefaultURL), "vigie's URL")
	fs.StringVar(&c.token, "token", os.Getenv("VIGIE_TOKEN"), "API token")
	title := fs.String("title", "", "incident title")
	impact := fs.String("impact", "", "minor or major (default minor)")
	status := fs.String("status", "", "investigating, identified, monitoring or resolved")
	message := fs.String("message", "", "message shown on the page")
	all := fs.Bool("all", false, "list every incident, not only open and recent ones")
	var comps multiFlag
	fs.Var(&comps, "component", "affected component (repeatable)")
	if err := parseInterspersed(fs, args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			fs.SetOutput(stdout)
			fs.Usage()
			return err
		}
		return errUsage
	}
	c.url = strings.TrimSuffix(c.url, "/")
	ctx, cancel := context.WithTimeout(ctx, cliTimeout)
	defer cancel()
	pos := fs.Args()
	var in Incident
	var err error
	switch cmd {
	case "open":
		if *title == "" || len(pos) != 0 {
			return usage(stderr, "open needs --title and no argument")
		}
		err = c.call(ctx, http.MethodPost, "/api/v1/incidents", NewIncident{Title: *title, Impact: *impact, Status: *status,
			Message: *message, Components: comps}, &in)
	case "update", "resolve":
		if len(pos) != 1 {
			return usage(stderr, cmd+" needs one incident ID")
		}
		id, perr := strconv.ParseInt(pos[0], 10, 64)
		if perr != nil {
			return usage(stderr, fmt.Sprintf("%q is not an incident ID", pos[0]))
		}
		if cmd == "resolve" {
			*status = Resolved
			if *message == "" {
				*message = "This incident has been resolved."
			}
		}
		if *status == "" || *message == "" {
			return usage(stderr, "update needs --status and --message")
		}
		err = c.call(ctx, http.MethodPost, fmt.Sprintf("/api/v1/incidents/%d/updates", id),
			map[string]string{"status": *status, "message": *message}, &in)
	case "list":
		q := ""
		if *all {
			q = "?all=true"
		}
		var list []Incident
		if err := c.call(ctx, http.MethodGet, "/api/v1/incidents"+q, nil, &list); err != nil {
			return err
		}
		printIncidents(stdout, list)
		return nil
	default:
		return usage(stderr, fmt.Sprintf("unknown command %q", cmd))
	}
	if err != nil {
		return err
	}
	fmt.Fprintf(stdout, "incident %d: %s (%s)\n", in.ID, in.Title, in.Status)
	return nil
}

func usage(stderr io.Writer, msg string) error {
	fmt.Fprintf(stderr, "vigie incident: %s\n\n%s", msg, cliUsage)
	return errUsage
}

// parseInterspersed lets flags follow the positional ID (`update 3 --status …`).
func parseInterspersed(fs *flag.FlagSet, args []string) error {
	var pos []string
	for {
		if err := fs.Parse(args); err != nil {
			return err
		}
		args = fs.Args()
		if len(args) == 0 {
			break
		}
		pos = append(pos, args[0])
		args = args[1:]
	}
	return fs.Parse(append([]string{"--"}, pos...))
}

func printIncidents(w io.Writer, list []Incident) {
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "ID\tSTATUS\tIMPACT\tCREATED\tCOMPONENTS\tTITLE")
	for _, in := range list {
		fmt.Fprintf(tw, "%d\t%s\t%s\t%s\t%s\t%s\n", in.ID, in.Status, in.Impact, in.CreatedAt.Format(time.RFC3339),
			strings.Join(in.Components, ","), in.Title)
	}
	_ = tw.Flush()
}

func (c cliClient) call(ctx context.Context, method, path string, body, out any) error {
	var rd io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			return err
		}
		rd = bytes.NewReader(b)
	}
	req, err := http.NewRequestWithContext(ctx, method, c.url+path, rd)
	if err != nil {
		return err
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	if c.token != "" {
		req.Header.Set("Authorization", "Bearer "+c.token)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return fmt.Errorf("%s %s: %w", method, path, err)
	}
	defer resp.Body.Close()
	var env struct {
		Status string          `json:"status"`
		Data   json.RawMessage `json:"data"`
		Error  string          `json:"error"`
	}
	raw, _ := io.ReadAll(io.LimitReader(resp.Body, 16<<20))
	if err := json.Unmarshal(raw, &env); err != nil || resp.StatusCode >= 300 {
		msg := env.Error
		if msg == "" {
			msg = strings.TrimSpace(string(raw))
		}
		return fmt.Errorf("%s %s: %s: %s", method, path, resp.Status, msg)
	}
	return json.Unmarshal(env.Data, out)
}

type multiFlag []string

func (m *multiFlag) String() string     { return strings.Join(*m, ",") }
func (m *multiFlag) Set(s string) error { *m = append(*m, s); return nil }

func envOr(key, def string) string {
	if v := os.Getenv(key); v != "" {
		return v
	}
	return def
}
