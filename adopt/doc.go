// Package adopt is what berth import knows: it reads a server's
// hand-made web sites through the host drivers (Read: the web server's
// configuration files in its conf_dir, the PHP-FPM pools of its pool_dir,
// whether their document roots exist, and the databases of its db
// service through kind/database's catalogue query), parses them (nginx
// server blocks, apache VirtualHosts, PHP-FPM pool files) and models what
// berth can express as Platform and Site documents (Model), each with
// the schema line every repo file carries (Result.Files).
//
// Everything read from a server is hostile input. A value only reaches a
// document after the rule the loader applies to its field (spec/rules.go)
// accepted it; a site with a value that breaks its rule, a directive berth
// cannot express, a PHP socket no pool listens on, or a file where berth
// would not keep it is listed in Result.Skipped with the reason, never
// guessed. So are pools no modelled site uses and databases no site was
// given (Input.Pairs pairs a database with a site by name; a database
// named as berth would name the site's is paired by itself). A MariaDB or
// MySQL database is adopted as it is (berth only adds the site's user and
// grant), unless the server already has a user of the name berth would
// give the site's (berth would set its password); a PostgreSQL one is
// listed, not adopted, since berth would make the site's role its owner
// and revoke PUBLIC's rights on it.
//
// A modelled site's platform serves the document root in place
// (source.dir: berth never writes into it) with isolation off, since the
// hand-made files are not owned by a site user. What berth adopts — the
// vhost file, at the path berth keeps it, and the database — is listed in
// Result.Sites for the caller (cmd/berth) to record in the inventory as
// adopted and imported (reconcile.Record.Imported, AsFound): the vhost keeps its
// bytes until the repo changes the site, and berth never deletes either.
//
// The package sits beside cmd/berth's init and doctor: it imports spec,
// host, render and kind/database; nothing but cmd/berth imports it, and
// it never writes to a server or to the repo.
package adopt
