package main

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
	"strings"
	"text/tabwriter"
	"time"

	"github.com/berthhq/berth/daemon"
	"github.com/berthhq/berth/redact"
	"github.com/berthhq/berth/state"
)

// runToken is berth token create|list|revoke: the dashboard's and API's
// tokens, kept hashed in the state store. With --server it asks a running
// berth serve (which holds the store) with an admin token; without, it
// opens the state directory itself.
func runToken(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("token", flag.ContinueOnError)
	fs.SetOutput(stderr)
	stateDir := fs.String("state-dir", defaultStateDir(), "berth's state directory; $BERTH_STATE_DIR")
	role := fs.String("role", "viewer", "create: viewer (reads), operator (also starts runs) or admin (also manages tokens)")
	client := fs.String("client", "", "create: confine the token to this client's sites (berth.yaml clients; a viewer)")
	server := fs.String("server", "", "ask a running berth serve at this URL (e.g. http://127.0.0.1:8080) instead of opening the state directory")
	tokenFile := fs.String("token-file", "", "with --server: file holding an admin token (the operator token file's, or one made with --role admin); default $BERTH_API_TOKEN")
	fs.Usage = func() {
		fmt.Fprintf(stderr, `Usage: berth token create [--role viewer|operator|admin] [--client NAME] NAME
       berth token list
       berth token revoke NAME
  (each with --state-dir DIR, or --server URL --token-file FILE while berth serve runs)

Tokens log in to berth serve's dashboard (/ui/) and authorise its API. The
new token is printed once, on stdout; the store keeps only its SHA-256.
A client's token is a viewer of that client's sites only, on its dashboard
hostname. Exit status: %d done, %d error, %d usage error.
`, exitOK, exitError, exitUsage)
		fs.PrintDefaults()
	}
	if len(args) == 0 {
		fs.Usage()
		return exitUsage
	}
	verb := args[0]
	if err := fs.Parse(args[1:]); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return exitOK
		}
		return exitUsage
	}
	rest := fs.Args()
	want := map[string]int{"create": 1, "list": 0, "revoke": 1}
	n, known := want[verb]
	if !known || len(rest) != n {
		fs.Usage()
		return exitUsage
	}
	req := daemon.TokenRequest{Role: *role, Client: *client}
	if n == 1 {
		req.Name = rest[0]
	}
	if verb == "create" {
		if err := daemon.CheckTokenRequest(req); err != nil {
			fmt.Fprintf(stderr, "berth token create: %v\n", err)
			return exitUsage
		}
	}
	var err error
	if *server != "" {
		err = tokenOverAPI(*server, *tokenFile, verb, req, stdout)
	} else {
		err = tokenInStore(*stateDir, verb, req, stdout)
	}
	if err != nil {
		return exitFor(err, "token "+verb, stderr)
	}
	return exitOK
}

func tokenInStore(dir, verb string, req daemon.TokenRequest, stdout io.Writer) error {
	ctx := context.Background()
	st, err := state.Open(ctx, dir, state.Options{Command: "berth token"})
	var le *state.LockedError
	if errors.As(err, &le) && le.API != "" {
		return fmt.Errorf("%w: ask it instead: berth token %s --server http://%s --token-file ADMIN-TOKEN-FILE", le, verb, le.API)
	}
	if err != nil {
		return err
	}
	defer st.Close()
	switch verb {
	case "create":
		tok, err := st.CreateToken(ctx, state.Token{Name: req.Name, Role: req.Role, Client: req.Client})
		if err != nil {
			return err
		}
		fmt.Fprintln(stdout, tok)
	case "list":
		ts, err := st.Tokens(ctx)
		if err != nil {
			return err
		}
		printTokens(stdout, ts)
	case "revoke":
		return st.RevokeToken(ctx, req.Name)
	}
	return nil
}

func printTokens(w io.Writer, ts []state.Token) {
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "NAME\tROLE\tCLIENT\tCREATED")
	for _, t := range ts {
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\n", t.Name, t.Role, t.Client, t.Created.UTC().Format(time.RFC3339))
	}
	tw.Flush()
}

func tokenOverAPI(server, tokenFile, verb string, req daemon.TokenRequest, stdout io.Writer) error {
	token := []byte(strings.TrimSpace(os.Getenv("BERTH_API_TOKEN")))
	if tokenFile != "" {
		t, err := readSecret(tokenFile)
		if err != nil {
			return fmt.Errorf("--token-file: %w", err)
		}
		token = t
	}
	redact.Add(string(token))
	base := strings.TrimSuffix(server, "/") + "/api/v1/tokens"
	var hr *http.Request
	switch verb {
	case "create":
		body, _ := json.Marshal(req)
		hr, _ = http.NewRequest(http.MethodPost, base, bytes.NewReader(body))
		hr.Header.Set("Content-Type", "application/json")
	case "list":
		hr, _ = http.NewRequest(http.MethodGet, base, nil)
	case "revoke":
		hr, _ = http.NewRequest(http.MethodDelete, base+"/"+req.Name, nil)
	}
	hr.Header.Set("Authorization", "Bearer "+string(token))
	resp, err := (&http.Client{Timeout: 10 * time.Second}).Do(hr)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(io.LimitReader(resp.Body, 4<<20))
	if resp.StatusCode/100 != 2 {
		var e struct{ Error string }
		json.Unmarshal(body, &e)
		return fmt.Errorf("%s answered %s: %s", server, resp.Status, e.Error)
	}
	switch verb {
	case "create":
		var out struct{ Token string }
		if err := json.Unmarshal(body, &out); err != nil || out.Token == "" {
			return fmt.Errorf("%s answered no token: %s", server, body)
		}
		fmt.Fprintln(stdout, out.Token)
	case "list":
		var out struct {
			Tokens []struct{ Name, Role, Client, Created string }
		}
		if err := json.Unmarshal(body, &out); err != nil {
			return fmt.Errorf("%s: %w", server, err)
		}
		ts := make([]state.Token, len(out.Tokens))
		for i, t := range out.Tokens {
			c, _ := time.Parse(time.RFC3339, t.Created)
			ts[i] = state.Token{Name: t.Name, Role: t.Role, Client: t.Client, Created: c}
		}
		printTokens(stdout, ts)
	}
	return nil
}
