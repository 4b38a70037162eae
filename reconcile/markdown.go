package reconcile

import (
	"fmt"
	"io"
	"maps"
	"slices"
	"strings"
)

// MarkdownLimit is the size WriteMarkdown keeps a plan under: a
// pull-request comment (GitHub's limit is 65,536 characters) with room
// for a forge's own framing.
const MarkdownLimit = 60000

// WriteMarkdown prints the plan as Markdown for a pull-request comment,
// in at most MarkdownLimit characters at any size: the summary, the
// changes counted per server and per site, then as many of the changes'
// lines and diffs as fit, and a note of what was left out. Problems
// (unreachable servers, pending reloads, warnings) always come first.
func (p *Plan) WriteMarkdown(w io.Writer) { p.writeMarkdown(w, MarkdownLimit) }

// WriteMarkdownFull prints the whole plan as Markdown, every change and
// every diff (berth plan --out).
func (p *Plan) WriteMarkdownFull(w io.Writer) { p.writeMarkdown(w, 0) }

// budget is a Markdown document of at most limit bytes (0: no limit).
type budget struct {
	b     strings.Builder
	limit int
}

// fits says whether s may still be written, keeping reserve bytes.
func (b *budget) fits(s string, reserve int) bool {
	return b.limit == 0 || b.b.Len()+len(s)+reserve <= b.limit
}

func (b *budget) write(s string) { b.b.WriteString(s) }

// reserve is what the notes of what was left out may take.
const reserve = 600

func (p *Plan) writeMarkdown(w io.Writer, limit int) {
	b := &budget{limit: limit}
	b.write(fmt.Sprintf("### berth plan: `%s` at `%s`\n\n**%s**\n", p.Env, ShortRevision(p.Revision), p.SummaryLine()))
	var notes []string
	problems := 0
	problem := func(line string) {
		if b.fits(line, reserve) {
			b.write(line)
		} else {
			problems++
		}
	}
	for _, u := range p.Unreachable {
		problem(fmt.Sprintf("\n> **Error:** server `%s` could not be observed: %s\n", u.Server, u.Error))
	}
	for _, pr := range p.Pending {
		problem(fmt.Sprintf("\n> **Pending:** `%s`\n", pr.String()))
	}
	for _, warn := range p.Warnings {
		problem(fmt.Sprintf("\n> **Warning:** %s\n", warn))
	}
	if problems > 0 {
		notes = append(notes, fmt.Sprintf("%d more errors, pending reloads or warnings", problems))
	}
	if len(p.Changes) == 0 {
		io.WriteString(w, b.b.String())
		return
	}

	// Counts per server: always complete (a fleet has few servers).
	type counts struct{ add, change, destroy, conflict int }
	count := func(m map[string]*counts, key string, a Action) {
		c := m[key]
		if c == nil {
			c = &counts{}
			m[key] = c
		}
		switch a {
		case Create:
			c.add++
		case Update:
			c.change++
		case Delete:
			c.destroy++
		case Conflict:
			c.conflict++
		}
	}
	servers, sites := map[string]*counts{}, map[string]*counts{}
	siteServers := map[string]map[string]bool{}
	for _, c := range p.Changes {
		count(servers, c.Server, c.Action)
		if c.Site != "" {
			count(sites, c.Site, c.Action)
			if siteServers[c.Site] == nil {
				siteServers[c.Site] = map[string]bool{}
			}
			siteServers[c.Site][c.Server] = true
		}
	}
	row := func(c *counts) string {
		return fmt.Sprintf("%d | %d | %d | %d", c.add, c.change, c.destroy, c.conflict)
	}
	b.write("\n| server | add | change | destroy | conflict |\n|---|---|---|---|---|\n")
	for _, s := range slices.Sorted(maps.Keys(servers)) {
		b.write(fmt.Sprintf("| `%s` | %s |\n", s, row(servers[s])))
	}

	// Migrations, each one line with its state (they are few).
	if len(p.Migrations) > 0 {
		b.write("\n#### Migrations\n\n")
		for _, m := range p.Migrations {
			b.write(fmt.Sprintf("- `%s` (%s)\n", m, m.State))
		}
	}

	// Per site, as many as fit in the first 30% of the comment; the
	// changes' lines up to 75%; the diffs in the rest.
	if len(sites) > 0 {
		half := limit * 30 / 100
		names := slices.Sorted(maps.Keys(sites))
		b.write(fmt.Sprintf("\n#### Sites (%d)\n\n| site | add | change | destroy | conflict | servers |\n|---|---|---|---|---|---|\n", len(names)))
		shown := 0
		for _, s := range names {
			line := fmt.Sprintf("| `%s` | %s | %s |\n", s, row(sites[s]), strings.Join(slices.Sorted(maps.Keys(siteServers[s])), ", "))
			if limit > 0 && b.b.Len()+len(line) > half {
				break
			}
			b.write(line)
			shown++
		}
		if shown < len(names) {
			b.write(fmt.Sprintf("| … %d more sites | | | | | |\n", len(names)-shown))
		}
	}

	// The changes, server by server, as many as fit.
	shown, server := 0, ""
	for _, c := range p.Changes {
		var line string
		if c.Server != server {
			line = fmt.Sprintf("\n#### server `%s`\n\n| | resource | why |\n|---|---|---|\n", c.Server)
		}
		line += fmt.Sprintf("| `%c` | `%s` | %s |\n", rune(c.Action), c.ID, strings.ReplaceAll(c.Reason, "|", "\\|"))
		if !b.fits(line, reserve+limit/4) {
			break
		}
		server = c.Server
		b.write(line)
		shown++
	}
	if shown < len(p.Changes) {
		notes = append(notes, fmt.Sprintf("%d of %d changes listed", shown, len(p.Changes)))
	}

	// Diffs, as many as fit.
	var diffs []string
	for _, c := range p.Changes {
		if c.Diff != "" && !c.Sensitive {
			diffs = append(diffs, fmt.Sprintf("```diff\n%s```\n", c.Diff))
		}
	}
	if len(diffs) > 0 {
		const open, closing = "\n<details><summary>Diffs</summary>\n\n", "\n</details>\n"
		if b.fits(open+diffs[0]+closing, reserve) {
			b.write(open)
			n := 0
			for _, d := range diffs {
				if !b.fits(d+closing, reserve) {
					break
				}
				b.write(d)
				n++
			}
			b.write(closing)
			if n < len(diffs) {
				notes = append(notes, fmt.Sprintf("%d of %d diffs shown", n, len(diffs)))
			}
		} else {
			notes = append(notes, fmt.Sprintf("0 of %d diffs shown", len(diffs)))
		}
	}
	if len(notes) > 0 {
		b.write(fmt.Sprintf("\n> **Shortened** to fit a comment (%s): `berth plan --markdown --out FILE` writes the whole plan.\n", strings.Join(notes, "; ")))
	}
	io.WriteString(w, b.b.String())
}
