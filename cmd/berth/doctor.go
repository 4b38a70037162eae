package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"slices"
	"syscall"

	"github.com/berthhq/berth/doctor"
	"github.com/berthhq/berth/spec"
)

// runDoctor checks each server of an environment as berth will use it
// (package doctor) and prints one line per finding with what to do.
func runDoctor(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("doctor", flag.ContinueOnError)
	fs.SetOutput(stderr)
	var f envFlags
	f.register(fs, true)
	asJSON := fs.Bool("json", false, "print the findings as JSON")
	quiet := fs.Bool("problems", false, "print only what is wrong")
	fs.Usage = func() {
		fmt.Fprintf(stderr, "Usage: berth doctor --env ENV [--repo DIR] [SERVER...]\n\nChecks every server of the environment (or those named) as berth will use\nit: reachable, sudo without a password, GNU find 4.9 or newer, the\nservices' commands, directories writable, ports free or the web server's.\nOne line per finding, each failure with what to do.\nExit status: %d all fine, %d a check failed, %d usage error.\n", exitOK, exitError, exitUsage)
		fs.PrintDefaults()
	}
	pos, code, ok := parse(fs, args)
	if !ok {
		return code
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	l, err := f.load(stderr)
	if err != nil {
		return exitFor(err, "doctor", stderr)
	}
	for _, name := range pos {
		if !slices.ContainsFunc(l.res.Servers, func(s spec.ResolvedServer) bool { return s.Name == name }) {
			return exitFor(usageError(fmt.Sprintf("server %q is not in environment %s", name, l.res.Environment)), "doctor", stderr)
		}
	}
	conn := newConnector(l.res, sshOptions{keyFiles: f.keyFiles, knownHosts: f.knownHosts})
	defer conn.Close()
	var findings []doctor.Finding
	for _, srv := range l.res.Servers {
		if len(pos) > 0 && !slices.Contains(pos, srv.Name) {
			continue
		}
		if srv.Local() {
			srv = srv.WithBase(l.stateDir)
		}
		h, err := conn.Host(ctx, srv.Name)
		if err != nil {
			findings = append(findings, doctor.Finding{Server: srv.Name, Check: "reach", Severity: doctor.Fail, Message: err.Error(),
				Fix: fmt.Sprintf("check that %s answers SSH at %s, the key (--ssh-key) and known_hosts (--known-hosts) berth uses, and ssh.user", srv.Name, srv.Address)})
			continue
		}
		findings = append(findings, doctor.Check(ctx, h, srv, phpVersionsOn(l.res, srv.Name))...)
	}
	failed := slices.ContainsFunc(findings, func(x doctor.Finding) bool { return x.Severity == doctor.Fail })
	if *asJSON {
		enc := json.NewEncoder(stdout)
		enc.SetIndent("", "  ")
		enc.Encode(findings)
	} else {
		for _, x := range findings {
			if !*quiet || x.Severity != doctor.OK {
				fmt.Fprintln(stdout, x)
			}
		}
	}
	if failed {
		return exitError
	}
	return exitOK
}

// phpVersionsOn lists the PHP versions the sites on server run.
func phpVersionsOn(res *spec.Resolved, server string) []string {
	var out []string
	for _, s := range res.Sites {
		if s.PHP != "" && slices.Contains(s.Servers, server) && !slices.Contains(out, s.PHP) {
			out = append(out, s.PHP)
		}
	}
	slices.Sort(out)
	return out
}
