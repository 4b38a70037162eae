package main

import (
	"fmt"
	"io"

	"github.com/berthhq/berth/spec"
)

func runSchema(args []string, stdout, stderr io.Writer) int {
	if len(args) > 0 {
		fmt.Fprintln(stderr, "Usage: berth schema > berth.schema.json\n\nPrints the JSON Schema of sites repo files (berth.yaml, Server, Platform, Site, Zone).")
		if args[0] == "-h" || args[0] == "--help" {
			return exitOK
		}
		return exitUsage
	}
	stdout.Write(spec.Schema())
	return exitOK
}
