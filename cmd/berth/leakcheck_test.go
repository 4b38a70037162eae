package main

import (
	"database/sql"
	"fmt"
	"io/fs"
	"path/filepath"
	"strings"
	"testing"
)

// stateRecords returns every row of every table of the state store but
// the secrets, tab-separated: where a leaked secret would show. want must
// be in it, proof that the records were read at all.
func stateRecords(t *testing.T, db *sql.DB, want string) string {
	t.Helper()
	var b strings.Builder
	tables, err := db.Query("SELECT name FROM sqlite_master WHERE type = 'table' AND name != 'secrets'")
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for tables.Next() {
		var n string
		tables.Scan(&n)
		names = append(names, n)
	}
	tables.Close()
	for _, tn := range names {
		r, err := db.Query(`SELECT * FROM "` + tn + `"`)
		if err != nil {
			t.Fatal(err)
		}
		cols, _ := r.Columns()
		for r.Next() {
			vals := make([]any, len(cols))
			ptrs := make([]any, len(cols))
			for i := range vals {
				ptrs[i] = &vals[i]
			}
			r.Scan(ptrs...)
			for _, v := range vals {
				fmt.Fprintf(&b, "%s\t", v)
			}
			b.WriteString("\n")
		}
		r.Close()
	}
	if !strings.Contains(b.String(), want) {
		t.Fatalf("the state store's records do not hold %q: they were not read back", want)
	}
	return b.String()
}

// worldReadable returns the regular files under roots that every user may
// read.
func worldReadable(roots ...string) []string {
	var world []string
	for _, root := range roots {
		filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
			if err != nil || !d.Type().IsRegular() {
				return nil
			}
			if info, err := d.Info(); err == nil && info.Mode().Perm()&0o004 != 0 {
				world = append(world, p)
			}
			return nil
		})
	}
	return world
}
