// Command berth is the CLI of berth, the GitOps hosting platform: it parses
// flags into a configuration, sets up logging and signals, and calls the
// packages that do the work. It holds no logic of its own beyond presenting
// results; nothing imports it.
//
// Usage:
//
//	berth validate [--json] [DIR]   check a sites repo; exit 0 valid, 1 invalid, 64 usage
//	berth schema                    print the JSON Schema of sites repo files
//	berth version                   print the version
package main
