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

// forgeAPI is what berth asks of a forge (forge.Gitea, forge.GitHub,
// forge.GitLab): a commit status, and the one plan comment of an
// environment on a pull (merge) request.
type forgeAPI interface {
	SetStatus(ctx context.Context, sha string, st forge.Status) error
	UpsertComment(ctx context.Context, pr int, marker, body string) (created bool, err error)
}

func (f *forgeFlags) register(fs *flag.FlagSet) {
	kind := os.Getenv("BERTH_FORGE")
	if kind == "" {
		kind = "gitea"
	}
	fs.StringVar(&f.kind, "forge", kind, "the forge's API: gitea (Gitea and Forgejo), github or gitlab; $BERTH_FORGE")
	fs.StringVar(&f.url, "forge-url", os.Getenv("BERTH_FORGE_URL"), "the forge's API address: https://git.example.com (Gitea), "+forge.GitHubAPI+" (the default of --forge github; GitHub Enterprise: https://HOST/api/v3), "+forge.GitLabAPI+" (the default of --forge gitlab); $BERTH_FORGE_URL")
	fs.StringVar(&f.repo, "forge-repo", os.Getenv("BERTH_FORGE_REPO"), "the sites repo on the forge, OWNER/NAME (GitLab: the project's path, GROUP/PROJECT); $BERTH_FORGE_REPO")
	fs.StringVar(&f.tokenFile, "forge-token-file", os.Getenv("BERTH_FORGE_TOKEN_FILE"), "file holding an access token of the forge that may write the repo's statuses and comments; $BERTH_FORGE_TOKEN_FILE")
}

// set says whether a forge was named.
func (f *forgeFlags) set() bool { return f.url != "" || f.repo != "" }

// open returns the forge's API.
func (f *forgeFlags) open() (forgeAPI, error) {
	base := f.url
	switch f.kind {
	case "gitea", "forgejo":
	case "github":
		if base == "" {
			base = forge.GitHubAPI
		}
	case "gitlab":
		if base == "" {
			base = forge.GitLabAPI
		}
	default:
		return nil, fmt.Errorf("--forge %q: berth speaks gitea (Gitea and Forgejo), github and gitlab", f.kind)
	}
	if base == "" || f.repo == "" || f.tokenFile == "" {
		return nil, errors.New("a forge needs --forge-url (but for github and gitlab.com), --forge-repo and --forge-token-file")
	}
	tok, err := readSecret(f.tokenFile)
	if err != nil {
		return nil, fmt.Errorf("--forge-token-file: %w", err)
	}
	redact.Add(string(bytes.TrimSpace(tok)))
	switch f.kind {
	case "github":
		return forge.NewGitHub(base, f.repo, tok, nil)
	case "gitlab":
		return forge.NewGitLab(base, f.repo, tok, nil)
	}
	return forge.NewGitea(base, f.repo, tok, nil)
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
		return fmt.Sprintf("berth plan: commented on %s of %s (environment %s)", f.request(pr), f.repo, p.Env), nil
	}
	return fmt.Sprintf("berth plan: updated the comment of environment %s on %s of %s", p.Env, f.request(pr), f.repo), nil
}

// request names pull request (GitLab: merge request) pr.
func (f *forgeFlags) request(pr int) string {
	if f.kind == "gitlab" {
		return fmt.Sprintf("merge request !%d", pr)
	}
	return fmt.Sprintf("pull request #%d", pr)
}
