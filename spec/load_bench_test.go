package spec

import (
	"fmt"
	"testing"
	"testing/fstest"
)

// BenchmarkLoad10k loads a repo of 10,000 sites (one file each), the
// part of a no-op run that reads and validates the repo.
func BenchmarkLoad10k(b *testing.B) {
	fsys := fstest.MapFS{
		"berth.yaml":         {Data: []byte("environments:\n  production: { branch: main }\n")},
		"servers/web.yaml":   {Data: []byte("kind: Server\nname: web\naddress: local\nservices:\n  http: { type: nginx, listen: \"127.0.0.1:8080\" }\n  php: { type: php-fpm }\n")},
		"platforms/app.yaml": {Data: []byte("kind: Platform\nname: app\ntype: php\nsource: { path: code }\nservers: [web]\n")},
		"code/index.php":     {Data: []byte("<?php echo 1;\n")},
	}
	for i := range 10000 {
		fsys[fmt.Sprintf("sites/s%05d.example.com.yaml", i)] = &fstest.MapFile{Data: []byte(fmt.Sprintf(
			"kind: Site\nname: s%05d.example.com\nplatform: app\naliases: [www.s%05d.example.com]\nweb:\n  headers: { X-Site: s%05d }\n", i, i, i))}
	}
	b.ReportAllocs()
	for b.Loop() {
		if _, err := Load(fsys); err != nil {
			b.Fatal(err)
		}
	}
}
