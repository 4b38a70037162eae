package database

import (
	"fmt"
	"strings"
)

// ID names a site's database: site/DOMAIN/db:NAME@SERVER. The builder
// names databases through it (desired.DatabaseID), and NameOfID reads the
// name back from an inventory record.
func ID(domain, name, server string) string {
	return fmt.Sprintf("site/%s/db:%s@%s", domain, name, server)
}

// NameOfID returns NAME of an ID.
func NameOfID(id string) string {
	_, rest, _ := strings.Cut(id, "/db:")
	name, _, _ := strings.Cut(rest, "@")
	return name
}
