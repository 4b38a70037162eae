package main

import (
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"io/fs"
	"maps"
	"os"
	"slices"

	"github.com/berthhq/berth/source"
	"github.com/berthhq/berth/spec"
)

func runValidate(args []string, stdout, stderr io.Writer) int {
	flags := flag.NewFlagSet("validate", flag.ContinueOnError)
	flags.SetOutput(stderr)
	asJSON := flags.Bool("json", false, "print the result as JSON on stdout (for CI annotations)")
	flags.Usage = func() {
		fmt.Fprintln(stderr, "Usage: berth validate [--json] [DIR]\n\nChecks the sites repo in DIR (default .) and prints every problem as\nfile:line:column: message.")
		fmt.Fprintf(stderr, "Exit status: %d valid, %d invalid, %d usage error.\n", exitOK, exitError, exitUsage)
		flags.PrintDefaults()
	}
	pos, code, ok := parse(flags, args)
	if !ok {
		return code
	}
	if len(pos) > 1 {
		fmt.Fprintf(stderr, "berth validate: want at most one directory, got %d\n", len(pos))
		return exitUsage
	}
	dir := "."
	if len(pos) == 1 {
		dir = pos[0]
	}
	if st, err := os.Stat(dir); err != nil || !st.IsDir() {
		fmt.Fprintf(stderr, "berth validate: %s is not a directory\n", dir)
		return exitUsage
	}

	fsys, err := source.OpenDirFS(dir)
	if err != nil {
		fmt.Fprintf(stderr, "berth validate: %v\n", err)
		return exitUsage
	}
	defer fsys.Close()
	repo, problems, envs, err := checkRepo(fsys)
	if err != nil {
		fmt.Fprintf(stderr, "berth validate: %v\n", err)
		return exitError
	}

	if *asJSON {
		out := validateJSON{Valid: len(problems) == 0, Dir: dir, Problems: problems, Environments: envs}
		if out.Problems == nil {
			out.Problems = spec.Problems{}
		}
		if len(problems) == 0 {
			out.Files, out.Servers, out.Platforms, out.Sites = len(repo.Files), len(repo.Servers), len(repo.Platforms), len(repo.Sites)
		}
		enc := json.NewEncoder(stdout)
		enc.SetIndent("", "  ")
		_ = enc.Encode(out)
	} else if len(problems) > 0 {
		for _, p := range problems {
			fmt.Fprintln(stderr, p)
		}
		fmt.Fprintf(stderr, "%s: %s\n", dir, count(len(problems), "problem"))
	} else {
		fmt.Fprintf(stdout, "%s: valid: %s, %s, %s, %s\n",
			dir, count(len(repo.Files), "file"), count(len(repo.Servers), "server"), count(len(repo.Platforms), "platform"), count(len(repo.Sites), "site"))
		for _, e := range envs {
			fmt.Fprintf(stdout, "  %-12s branch %-10s %s, %s, %s\n", e.Name, e.Branch, count(e.Servers, "server"), count(e.Platforms, "platform"), count(e.Sites, "site"))
		}
	}
	if len(problems) > 0 {
		return exitError
	}
	return exitOK
}

// checkRepo loads the sites repo in fsys (which checks the code of its
// path platforms as a build would) and resolves every environment, as plan and
// apply will: the problems are every reason they would refuse the repo.
func checkRepo(fsys fs.FS) (*spec.Repo, spec.Problems, []envSummary, error) {
	repo, err := spec.Load(fsys)
	var problems spec.Problems
	if err != nil && !errors.As(err, &problems) {
		return nil, nil, nil, err
	}
	if len(problems) > 0 {
		return repo, problems, nil, nil
	}
	// Every environment must resolve, too: that is what plan and apply use.
	var envs []envSummary
	for _, name := range slices.Sorted(maps.Keys(repo.Config.Environments)) {
		r, err := spec.Resolve(repo, name)
		if err != nil {
			problems = append(problems, spec.Problem{Pos: spec.Pos{File: spec.ConfigFile, Line: 1, Column: 1}, Message: err.Error()})
			continue
		}
		envs = append(envs, envSummary{Name: name, Branch: r.Branch, Servers: len(r.Servers), Platforms: len(r.Platforms), Sites: len(r.Sites)})
	}
	return repo, problems, envs, nil
}

type envSummary struct {
	Name      string `json:"name"`
	Branch    string `json:"branch"`
	Servers   int    `json:"servers"`
	Platforms int    `json:"platforms"`
	Sites     int    `json:"sites"`
}

type validateJSON struct {
	Valid        bool          `json:"valid"`
	Dir          string        `json:"dir"`
	Files        int           `json:"files,omitempty"`
	Servers      int           `json:"servers,omitempty"`
	Platforms    int           `json:"platforms,omitempty"`
	Sites        int           `json:"sites,omitempty"`
	Environments []envSummary  `json:"environments,omitempty"`
	Problems     spec.Problems `json:"problems"`
}

// count spells n things: "1 server", "2 servers".
func count(n int, noun string) string {
	if n == 1 {
		return "1 " + noun
	}
	return fmt.Sprintf("%d %ss", n, noun)
}
