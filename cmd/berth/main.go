package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"runtime"
	"runtime/pprof"
	"strings"

	"github.com/berthhq/berth/redact"
)

// version is set at build time with -ldflags "-X main.version=...".
var version = "dev"

type command struct {
	name    string
	summary string
	run     func(args []string, stdout, stderr io.Writer) int
}

func commands() []command {
	return []command{
		{"init", "write a new sites repo to start from", runInit},
		{"validate", "check a sites repo and print every problem", runValidate},
		{"import", "write sites found on a server into the repo and adopt them", runImport},
		{"plan", "show what apply would change on each server", runPlan},
		{"apply", "converge an environment's servers to the repo", runApply},
		{"verify", "re-render one site, show its drift and fix it (Aegir's verify)", runVerify},
		{"doctor", "check servers as berth will use them, with what to fix", runDoctor},
		{"status", "show per environment and site whether the servers match the repo", runStatus},
		{"backup", "back a site up, take the scheduled backups that are due, or restore-test a backup (backup verify)", runBackup},
		{"backups", "list a site's backups and verify them", runBackups},
		{"restore", "restore a site from a backup, after backing it up", runRestore},
		{"sync-data", "copy a site's data down from another environment, sanitized", runSyncData},
		{"rollback-migration", "move a migrated site back to the server it left, with the data written since", runRollbackMigration},
		{"serve", "run the daemon: keep every environment converged to its branch", runServe},
		{"token", "create, list and revoke the dashboard's and API's tokens", runToken},
		{"schema", "print the JSON Schema of sites repo files", runSchema},
		{"version", "print berth's version", runVersion},
		{"completion", "print the shell completion script for bash, zsh or fish", runCompletion},
	}
}

func main() {
	stop := startProfiles(os.Stderr)
	code := run(os.Args[1:], os.Stdout, os.Stderr)
	stop()
	os.Exit(code)
}

// startProfiles writes a CPU profile to $BERTH_CPUPROFILE and a heap
// profile to $BERTH_MEMPROFILE, for the benchmarks (make bench).
func startProfiles(stderr io.Writer) (stop func()) {
	var stops []func()
	if p := os.Getenv("BERTH_CPUPROFILE"); p != "" {
		f, err := os.Create(p)
		if err == nil {
			err = pprof.StartCPUProfile(f)
		}
		if err != nil {
			fmt.Fprintf(stderr, "berth: cpu profile: %v\n", err)
		} else {
			stops = append(stops, func() { pprof.StopCPUProfile(); f.Close() })
		}
	}
	if p := os.Getenv("BERTH_MEMPROFILE"); p != "" {
		stops = append(stops, func() {
			f, err := os.Create(p)
			if err == nil {
				runtime.GC()
				err = errors.Join(pprof.Lookup("allocs").WriteTo(f, 0), f.Close())
			}
			if err != nil {
				fmt.Fprintf(stderr, "berth: memory profile: %v\n", err)
			}
		})
	}
	if p := os.Getenv("BERTH_PEAKRSS"); p != "" {
		// berth's own peak RSS (VmHWM): rusage of a waited-for berth
		// includes the nginx -t it ran, which dwarfs berth at scale.
		stops = append(stops, func() {
			status, err := os.ReadFile("/proc/self/status")
			for line := range strings.Lines(string(status)) {
				if v, ok := strings.CutPrefix(line, "VmHWM:"); ok {
					err = os.WriteFile(p, []byte(strings.TrimSpace(v)+"\n"), 0o644)
				}
			}
			if err != nil {
				fmt.Fprintf(stderr, "berth: peak RSS: %v\n", err)
			}
		})
	}
	return func() {
		for _, s := range stops {
			s()
		}
	}
}

// run runs a command. Its standard output and error are the CLI's sinks:
// everything written there, log lines included, has every secret the
// process knows redacted (package redact).
func run(args []string, stdout, stderr io.Writer) int {
	stdout, stderr = redact.Writer(stdout), redact.Writer(stderr)
	if len(args) == 0 {
		usage(stderr)
		return exitUsage
	}
	if args[0] == "--version" {
		return runVersion(args[1:], stdout, stderr)
	}
	if args[0] == "-h" || args[0] == "--help" || args[0] == "help" {
		return help(args[1:], stdout, stderr)
	}
	if c := findCommand(args[0]); c != nil {
		return c.run(args[1:], stdout, stderr)
	}
	if args[0] == "__complete" { // hidden: the completion scripts' helper
		return runComplete(args[1:], stdout, stderr)
	}
	if args[0] == "bench-gen" { // hidden: make bench's repo generator
		return runBenchGen(args[1:], stdout, stderr)
	}
	fmt.Fprintf(stderr, "berth: unknown command %q\n\n", args[0])
	usage(stderr)
	return exitUsage
}

func findCommand(name string) *command {
	for _, c := range commands() {
		if c.name == name {
			return &c
		}
	}
	return nil
}

// help answers berth help [COMMAND] on stdout: the commands and the exit
// statuses, or one command's usage and flags.
func help(args []string, stdout, stderr io.Writer) int {
	switch {
	case len(args) == 0:
		usage(stdout)
		return exitOK
	case len(args) == 1 && findCommand(args[0]) != nil:
		return findCommand(args[0]).run([]string{"-h"}, stdout, stdout)
	}
	if len(args) == 1 {
		fmt.Fprintf(stderr, "berth help: unknown command %q\n\n", args[0])
	} else {
		fmt.Fprintf(stderr, "berth help: give one command, not %d\n\n", len(args))
	}
	usage(stderr)
	return exitUsage
}

func usage(w io.Writer) {
	fmt.Fprintln(w, "berth — GitOps hosting for web sites\n\nUsage: berth COMMAND [flags] [args]\n\nCommands:")
	for _, c := range commands() {
		fmt.Fprintf(w, "  %-10s %s\n", c.name, c.summary)
	}
	fmt.Fprintln(w)
	writeExitStatuses(w)
	fmt.Fprintln(w, "\nRun 'berth help COMMAND' or 'berth COMMAND -h' for a command's flags.")
}

func runVersion(args []string, stdout, stderr io.Writer) int {
	if len(args) > 0 {
		fmt.Fprintln(stderr, "Usage: berth version\n\nPrints berth's version.")
		if args[0] == "-h" || args[0] == "--help" {
			return exitOK
		}
		return exitUsage
	}
	fmt.Fprintln(stdout, "berth", version)
	return exitOK
}

// parse parses flags that may come before or after the positional arguments
// (berth validate DIR --json) and returns the positional ones. ok is false
// when the command line is wrong, after the problem has been printed.
func parse(fs *flag.FlagSet, args []string) (pos []string, code int, ok bool) {
	for {
		if err := fs.Parse(args); err != nil {
			if errors.Is(err, flag.ErrHelp) {
				return nil, exitOK, false
			}
			return nil, exitUsage, false
		}
		args = fs.Args()
		if len(args) == 0 {
			return pos, exitOK, true
		}
		if args[0] == "--" {
			return append(pos, args[1:]...), exitOK, true
		}
		pos = append(pos, args[0])
		args = args[1:]
	}
}

// parseNoArgs is parse for a command that takes flags only.
func parseNoArgs(fs *flag.FlagSet, args []string, stderr io.Writer) (code int, ok bool) {
	pos, code, ok := parse(fs, args)
	if ok && len(pos) > 0 {
		fmt.Fprintf(stderr, "berth %s: takes no arguments, got %q (flags are --name value, e.g. --env ENV)\n", fs.Name(), pos)
		return exitUsage, false
	}
	return code, ok
}
