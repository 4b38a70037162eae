package reconcile

import (
	"fmt"
	"io"
	"strings"
)

// TextOptions control the human form of a plan.
type TextOptions struct {
	Color bool
	// MaxDiffs bounds how many diffs are printed (0: all), so a first
	// converge of thousands of sites stays readable.
	MaxDiffs int
}

const (
	ansiReset  = "\x1b[0m"
	ansiBold   = "\x1b[1m"
	ansiGreen  = "\x1b[32m"
	ansiYellow = "\x1b[33m"
	ansiRed    = "\x1b[31m"
	ansiCyan   = "\x1b[36m"
)

func (a Action) color() string {
	switch a {
	case Create:
		return ansiGreen
	case Update:
		return ansiYellow
	case Delete:
		return ansiRed
	case Conflict:
		return ansiRed + ansiBold
	}
	return ""
}

// SummaryLine is Terraform's last line of a plan.
func (p *Plan) SummaryLine() string {
	s := p.Summary()
	line := fmt.Sprintf("Plan: %d to add, %d to change, %d to destroy.", s.Add, s.Change, s.Destroy)
	if s.Conflict > 0 {
		line += fmt.Sprintf(" %d conflict%s not applied (use --adopt to take over).", s.Conflict, plural(s.Conflict))
	}
	if n := len(p.Pending); n > 0 {
		line += fmt.Sprintf(" %d service%s to check and reload after an interrupted run.", n, plural(n))
	}
	return line
}

func plural(n int) string {
	if n == 1 {
		return ""
	}
	return "s"
}

// WriteText prints the plan for a person: grouped by server, one line per
// change with its action sign, then the diff of each file change.
func (p *Plan) WriteText(w io.Writer, o TextOptions) {
	paint := func(code, s string) string {
		if !o.Color || code == "" {
			return s
		}
		return code + s + ansiReset
	}
	fmt.Fprintf(w, "berth plan: environment %s at revision %s\n", paint(ansiBold, p.Env), ShortRevision(p.Revision))
	diffs, omitted := 0, 0
	server := ""
	for _, c := range p.Changes {
		if c.Server != server {
			server = c.Server
			fmt.Fprintf(w, "\n%s\n", paint(ansiBold, "server "+server+":"))
		}
		line := fmt.Sprintf("  %c %s", rune(c.Action), c.ID)
		fmt.Fprint(w, paint(c.Action.color(), line))
		if c.Reason != "" {
			fmt.Fprintf(w, "  (%s)", c.Reason)
		}
		fmt.Fprintln(w)
		switch {
		case c.Sensitive && (c.Action == Create || c.Action == Update) && c.Hidden != "":
			fmt.Fprintf(w, "      (%s)\n", c.Hidden)
		case c.Sensitive && (c.Action == Create || c.Action == Update):
			fmt.Fprintln(w, "      (secret values hidden)")
		case c.Diff != "" && (o.MaxDiffs == 0 || diffs < o.MaxDiffs):
			diffs++
			for _, l := range strings.Split(strings.TrimRight(c.Diff, "\n"), "\n") {
				code := ""
				switch {
				case strings.HasPrefix(l, "+++"), strings.HasPrefix(l, "---"):
					code = ansiBold
				case strings.HasPrefix(l, "+"):
					code = ansiGreen
				case strings.HasPrefix(l, "-"):
					code = ansiRed
				case strings.HasPrefix(l, "@@"):
					code = ansiCyan
				}
				fmt.Fprintln(w, "      "+paint(code, l))
			}
		case c.Diff != "":
			omitted++
		}
	}
	omitted += p.OmittedDiffs
	if omitted > 0 {
		fmt.Fprintf(w, "\n(%d more diff%s not shown; --full-diff shows every diff)\n", omitted, plural(omitted))
	}
	for _, u := range p.Unreachable {
		fmt.Fprintf(w, "\n%s server %s could not be observed, nothing is planned for it: %s\n", paint(ansiRed, "Error:"), u.Server, u.Error)
	}
	for _, warn := range p.Warnings {
		fmt.Fprintf(w, "\n%s %s\n", paint(ansiYellow, "Warning:"), warn)
	}
	writeMigrations(w, p.Migrations)
	if len(p.DeletedSites) > 0 {
		fmt.Fprintf(w, "\nSites deleted by this plan: %s\n", strings.Join(p.DeletedSites, ", "))
	}
	if len(p.Pending) > 0 {
		fmt.Fprintln(w)
	}
	for _, pr := range p.Pending {
		fmt.Fprintln(w, paint(ansiYellow, pr.String()))
	}
	if p.Empty() && len(p.Changes) == 0 {
		fmt.Fprintf(w, "\nNo changes: %d resources match the revision.\n", p.Unchanged)
	}
	fmt.Fprintf(w, "\n%s\n", paint(ansiBold, p.SummaryLine()))
}

// ShortRevision shortens a Git commit hash to 12 characters for people;
// other revisions ("dir:…") are already short.
func ShortRevision(r string) string {
	if r == "" {
		return "(none)"
	}
	if len(r) > 12 && !strings.Contains(r, ":") {
		return r[:12]
	}
	return r
}
