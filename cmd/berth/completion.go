package main

import (
	"bytes"
	"fmt"
	"io"
	"regexp"
	"slices"
	"strings"
)

// Shell completion: berth completion SHELL prints a script for bash, zsh
// or fish that asks berth itself (the hidden __complete command) for the
// candidates, so completions follow the commands and flags of the berth
// that is installed without being regenerated.

var completionScripts = map[string]string{
	"bash": `# berth completion for bash: source <(berth completion bash)
_berth() {
  local cur=${COMP_WORDS[COMP_CWORD]}
  local IFS=$'\n'
  local words
  words=$(berth __complete "${COMP_WORDS[@]:1:COMP_CWORD}" 2>/dev/null)
  if [ -z "$words" ]; then
    COMPREPLY=($(compgen -f -- "$cur"))
  else
    COMPREPLY=($(compgen -W "$words" -- "$cur"))
  fi
}
complete -o filenames -F _berth berth
`,
	"zsh": `#compdef berth
# berth completion for zsh: berth completion zsh > "${fpath[1]}/_berth"
_berth() {
  local -a words_out
  words_out=("${(@f)$(berth __complete "${(@)words[2,CURRENT]}" 2>/dev/null)}")
  if [[ -z "${words_out[1]}" ]]; then
    _files
  else
    compadd -- "${words_out[@]}"
  fi
}
compdef _berth berth
`,
	"fish": `# berth completion for fish: berth completion fish > ~/.config/fish/completions/berth.fish
function __berth_complete
    set -l args (commandline -opc)[2..-1] (commandline -ct)
    berth __complete $args 2>/dev/null
end
complete -c berth -f -a '(__berth_complete)'
complete -c berth -n 'test -z (__berth_complete)' -F
`,
}

func runCompletion(args []string, stdout, stderr io.Writer) int {
	shells := slices.Sorted(func(yield func(string) bool) {
		for s := range completionScripts {
			if !yield(s) {
				return
			}
		}
	})
	if len(args) != 1 || completionScripts[args[0]] == "" {
		fmt.Fprintf(stderr, "Usage: berth completion %s\n\nPrints the shell completion script, e.g. source <(berth completion bash).\n", strings.Join(shells, "|"))
		if len(args) == 1 && (args[0] == "-h" || args[0] == "--help") {
			return exitOK
		}
		return exitUsage
	}
	io.WriteString(stdout, completionScripts[args[0]])
	return exitOK
}

// runComplete answers berth __complete WORD... with the candidates for
// the last word, one per line: command names for the first, the
// command's flags for a word that starts with -, nothing otherwise (the
// shell completes file names then).
func runComplete(args []string, stdout, _ io.Writer) int {
	var out []string
	switch {
	case len(args) <= 1:
		for _, c := range commands() {
			out = append(out, c.name)
		}
	case strings.HasPrefix(args[len(args)-1], "-"):
		if c := findCommand(args[0]); c != nil {
			out = commandFlags(c)
		}
	}
	for _, w := range out {
		fmt.Fprintln(stdout, w)
	}
	return exitOK
}

var flagLine = regexp.MustCompile(`(?m)^  -([a-z][a-z0-9-]*)`)

// commandFlags lists a command's flags as --name, read from its usage
// (the flag package's "  -name" lines), so there is no second list to keep.
func commandFlags(c *command) []string {
	var usage bytes.Buffer
	c.run([]string{"-h"}, &usage, &usage)
	var out []string
	for _, m := range flagLine.FindAllStringSubmatch(usage.String(), -1) {
		out = append(out, "--"+m[1])
	}
	return out
}
