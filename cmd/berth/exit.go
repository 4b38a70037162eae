package main

import (
	"fmt"
	"io"
	"strings"
)

// Exit statuses, the same for every command:
//
//	0   exitOK       success: valid, applied, verified, no changes to make
//	1   exitError    error: invalid repo, unreachable server, failed or declined run
//	2   exitChanges  changes: berth plan has changes to make (plan only)
//	64  exitUsage    usage: a wrong command line (flag, argument, missing --env,
//	                 unknown environment or site, apply off a terminal
//	                 without --auto-approve); nothing was done
//
// 2 means "changes" as in terraform plan -detailed-exitcode, so a CI job
// can tell "the plan has changes" from "berth failed". The usage status is
// 64, EX_USAGE of sysexits.h, and not Go's flag package habit of 2, which
// would make a mistyped flag read as "changes". exitStatuses is this table
// as berth help prints it and the README states it.
const (
	exitOK      = 0
	exitError   = 1
	exitChanges = 2
	exitUsage   = 64
)

// exitStatuses is the table of exit statuses, one line per status.
var exitStatuses = []struct {
	code    int
	meaning string
}{
	{exitOK, "success: valid, applied, verified, no changes to make"},
	{exitError, "error: invalid repo, unreachable server, failed or declined run"},
	{exitChanges, "changes: berth plan has changes to make (plan only)"},
	{exitUsage, "usage: a wrong command line (flag, argument, missing --env, unknown environment or site, apply off a terminal without --auto-approve); nothing was done"},
}

// writeExitStatuses prints the table for berth help, each meaning
// wrapped to fit 80 columns.
func writeExitStatuses(w io.Writer) {
	fmt.Fprintln(w, "Exit status, for every command:")
	for _, s := range exitStatuses {
		line := fmt.Sprintf("  %-3d", s.code)
		for _, word := range strings.Fields(s.meaning) {
			if len(line)+1+len(word) > 78 {
				fmt.Fprintln(w, line)
				line = strings.Repeat(" ", 5)
			}
			line += " " + word
		}
		fmt.Fprintln(w, line)
	}
}
