package main

import (
	"bytes"
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"time"

	"github.com/berthhq/berth/forge"
	"github.com/berthhq/berth/reconcile"
	"github.com/berthhq/berth/redact"
)

// forgeFlags name the forge of the sites repo: berth serve posts commit
// statuses there, berth plan --comment its plan comment.
type forgeFlags struct {
	kind, url, repo, tokenFile string
}

func (f *forgeFlags) register(fs *flag.FlagSet) {
	fs.StringVar(&f.kind, "forge", "gitea", "the forge's API: gitea (Gitea and Forgejo)")
	fs.StringVar(&f.url, "forge-url", os.Getenv("BERTH_FORGE_URL"), "the forge's address, e.g. https://git.example.com; $BERTH_FORGE_URL")
	fs.StringVar(&f.repo, "forge-repo", os.Getenv("BERTH_FORGE_REPO"), "the sites repo on the forge, OWNER/NAME; $BERTH_FORGE_REPO")
	fs.StringVar(&f.tokenFile, "forge-token-file", os.Getenv("BERTH_FORGE_TOKEN_FILE"), "file holding an access token of the forge that may write the repo's statuses and comments; $BERTH_FORGE_TOKEN_FILE")
}

// set says whether a forge was named.
func (f *forgeFlags) set() bool { return f.url != "" || f.repo != "" }

// open returns the forge's API.
func (f *forgeFlags) open() (*forge.Gitea, error) {
	if f.kind != "gitea" && f.kind != "forgejo" {
		return nil, fmt.Errorf("--forge %q: berth speaks gitea (Gitea and Forgejo)", f.kind)
	}
	if f.url == "" || f.repo == "" || f.tokenFile == "" {
		return nil, errors.New("a forge needs --forge-url, --forge-repo and --forge-token-file")
	}
	tok, err := readSecret(f.tokenFile)
	if err != nil {
		return nil, fmt.Errorf("--forge-token-file: %w", err)
	}
	redact.Add(string(bytes.TrimSpace(tok)))
	return forge.NewGitea(f.url, f.repo, tok, nil)
}

// comment creates or updates the plan comment of p's environment on pull
// request pr; it says which on stdout's behalf (the message returned).
func (f *forgeFlags) comment(p *reconcile.Plan, pr int) (string, error) {
	g, err := f.open()
	if err != nil {
		return "", err
	}
	var b bytes.Buffer
	marker := forge.Marker(p.Env)
	b.WriteString(marker + "\n")
	p.WriteMarkdown(&b)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	created, err := g.UpsertComment(ctx, pr, marker, b.String())
	if err != nil {
		return "", err
	}
	if created {
		return fmt.Sprintf("berth plan: commented on pull request #%d of %s (environment %s)", pr, f.repo, p.Env), nil
	}
	return fmt.Sprintf("berth plan: updated the comment of environment %s on pull request #%d of %s", p.Env, pr, f.repo), nil
}
