package render

import (
	"bytes"
	"errors"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"testing/fstest"

	"github.com/berthhq/berth/spec"
)

var update = flag.Bool("update", false, "rewrite the expected output of the golden files in testdata")

// A golden file in testdata is a txtar archive, like caddy's adapt tests:
//
//	comment (optional "env: NAME" line picks the environment; default production;
//	         a "certificate: issued" line renders the sites with tls.acme as
//	         holding their certificate)
//	-- berth.yaml --        (optional; default: one environment, production)
//	-- sites/case.yaml --   any number of repo files, any kinds in any file
//	-- code/index.php --    files of a platform's source.path (under code/)
//	-- want --              one line per rendered directory and file
//	-- web1:/abs/path --    the content of each rendered file, by server
//	-- error --             instead of want: the error Site returns
//
// Every site of the resolved environment is rendered on every server that
// serves it. go test ./render -update rewrites everything from "want" on.

const defaultConfig = "environments:\n  production: { branch: main }\n"

// rendered is one site rendered on one server.
type rendered struct {
	site  *spec.ResolvedSite
	srv   *spec.ResolvedServer
	dirs  []Dir
	files []File
	// settings is the site's settings file (Settings), nil for none.
	settings *File
	// lb is the environment, for a load balancer's files (site nil).
	lb *spec.Resolved
}

type goldenCase struct {
	name   string
	file   string
	arc    *archive
	inputs []section
	out    []rendered
	err    error
	// opts are the Options every site of the case is rendered with.
	opts Options
}

// loadGolden reads a golden file and renders its input.
func loadGolden(t *testing.T, file string) *goldenCase {
	t.Helper()
	data, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	gc := &goldenCase{name: strings.TrimSuffix(filepath.Base(file), ".txtar"), file: file, arc: parseArchive(data)}
	fsys := fstest.MapFS{}
	for _, s := range gc.arc.files {
		if isInput(s.name) {
			gc.inputs = append(gc.inputs, s)
			fsys[s.name] = &fstest.MapFile{Data: s.data}
		}
	}
	if len(gc.inputs) == 0 {
		t.Fatalf("%s: no .yaml input sections", file)
	}
	if fsys[spec.ConfigFile] == nil {
		fsys[spec.ConfigFile] = &fstest.MapFile{Data: []byte(defaultConfig)}
	}
	env := "production"
	var opts Options
	for _, l := range strings.Split(gc.arc.comment, "\n") {
		if v, ok := strings.CutPrefix(l, "env: "); ok {
			env = strings.TrimSpace(v)
		}
		if strings.TrimSpace(l) == "certificate: issued" {
			opts.Certificate = true
		}
	}
	gc.opts = opts
	repo, err := spec.Load(fsys)
	if err != nil {
		t.Fatalf("%s: the input does not load:\n%v", file, err)
	}
	res, err := spec.Resolve(repo, env)
	if err != nil {
		t.Fatalf("%s: resolve %s: %v", file, env, err)
	}
	servers := map[string]*spec.ResolvedServer{}
	for i := range res.Servers {
		servers[res.Servers[i].Name] = &res.Servers[i]
	}
	for i := range res.Sites {
		site := &res.Sites[i]
		for _, sn := range site.Servers {
			srv := servers[sn]
			dirs, files, err := SiteWith(site, srv, opts)
			if err != nil {
				gc.err = errors.Join(gc.err, err)
				continue
			}
			// The settings file, with fixed test secrets.
			set, err := Settings(site, srv, testSecrets(site))
			if err != nil {
				gc.err = errors.Join(gc.err, err)
				continue
			}
			gc.out = append(gc.out, rendered{site: site, srv: srv, dirs: dirs, files: files, settings: set})
		}
	}
	for i := range res.Servers {
		if srv := &res.Servers[i]; srv.LB != nil {
			files, err := LB(res, srv, goldenLBOptions(res, opts))
			if err != nil {
				gc.err = errors.Join(gc.err, err)
				continue
			}
			gc.out = append(gc.out, rendered{srv: srv, files: files, lb: res})
		}
	}
	return gc
}

// goldenLBOptions are the LBOptions of a case: "certificate: issued"
// holds for the sites a load balancer terminates TLS for too.
func goldenLBOptions(res *spec.Resolved, opts Options) LBOptions {
	lo := LBOptions{Certificates: map[string]string{}}
	for _, site := range res.Sites {
		if opts.Certificate && site.TLS.ACME {
			lo.Certificates[site.Domain] = "test-certificate"
		}
	}
	return lo
}

// isInput reports whether a section of a golden file is a file of the
// sites repo rather than expected output.
func isInput(name string) bool {
	return strings.HasSuffix(name, ".yaml") || strings.HasPrefix(name, "code/")
}

// testSecrets are the fixed secrets of golden files.
func testSecrets(site *spec.ResolvedSite) SiteSecrets {
	sec := SiteSecrets{Salts: map[string]string{}}
	if site.DB != nil && site.DB.Type != "sqlite" {
		sec.DBPassword = "test-db-password-" + site.DB.Name
	}
	for _, n := range SaltNames(site.Type) {
		sec.Salts[n] = "test-" + n + "-of-" + site.Domain
	}
	return sec
}

// sections returns the expected-output sections of what was rendered.
func (gc *goldenCase) sections() []section {
	if gc.err != nil {
		return []section{{name: "error", data: []byte(gc.err.Error() + "\n")}}
	}
	var want bytes.Buffer
	var contents []section
	for _, r := range gc.out {
		for _, d := range r.dirs {
			fmt.Fprintf(&want, "dir  %s:%s %04o %s:%s\n", r.srv.Name, d.Path, uint32(d.Mode), dash(d.Owner), dash(d.Group))
		}
		files := r.files
		if r.settings != nil {
			files = append(slices.Clone(files), *r.settings)
		}
		for _, f := range files {
			fmt.Fprintf(&want, "file %s:%s %04o %s:%s %s\n", r.srv.Name, f.Path, uint32(f.Mode), dash(f.Owner), dash(f.Group), dash(f.Service))
			contents = append(contents, section{name: r.srv.Name + ":" + f.Path, data: f.Content})
		}
	}
	return append([]section{{name: "want", data: want.Bytes()}}, contents...)
}

func dash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

func goldenFiles(t *testing.T) []string {
	t.Helper()
	files, err := filepath.Glob(filepath.Join("testdata", "*.txtar"))
	if err != nil {
		t.Fatal(err)
	}
	if len(files) < 20 {
		t.Fatalf("want at least 20 golden files in testdata, found %d", len(files))
	}
	return files
}

func loadAllGolden(t *testing.T) []*goldenCase {
	t.Helper()
	var cases []*goldenCase
	for _, f := range goldenFiles(t) {
		cases = append(cases, loadGolden(t, f))
	}
	return cases
}

func TestGolden(t *testing.T) {
	for _, f := range goldenFiles(t) {
		t.Run(strings.TrimSuffix(filepath.Base(f), ".txtar"), func(t *testing.T) {
			gc := loadGolden(t, f)
			got := gc.sections()
			if *update {
				gc.arc.files = append(gc.inputs, got...)
				if err := os.WriteFile(f, formatArchive(gc.arc), 0o644); err != nil {
					t.Fatal(err)
				}
				return
			}
			var want []section
			for _, s := range gc.arc.files {
				if !isInput(s.name) {
					want = append(want, s)
				}
			}
			if g, w := formatArchive(&archive{files: got}), formatArchive(&archive{files: want}); !bytes.Equal(g, w) {
				t.Errorf("%s: output differs (go test ./render -update rewrites it); diff of want and got:\n%s", f, lineDiff(string(w), string(g)))
			}
		})
	}
}

// lineDiff is a small line diff for test failures: lines only in a are
// marked -, lines only in b +, using a longest common subsequence.
func lineDiff(a, b string) string {
	x, y := strings.SplitAfter(a, "\n"), strings.SplitAfter(b, "\n")
	n, m := len(x), len(y)
	lcs := make([][]int, n+1)
	for i := range lcs {
		lcs[i] = make([]int, m+1)
	}
	for i := n - 1; i >= 0; i-- {
		for j := m - 1; j >= 0; j-- {
			if x[i] == y[j] {
				lcs[i][j] = lcs[i+1][j+1] + 1
			} else {
				lcs[i][j] = max(lcs[i+1][j], lcs[i][j+1])
			}
		}
	}
	var out strings.Builder
	i, j := 0, 0
	for i < n || j < m {
		switch {
		case i < n && j < m && x[i] == y[j]:
			i, j = i+1, j+1
		case j < m && (i == n || lcs[i][j+1] >= lcs[i+1][j]):
			out.WriteString("+ " + y[j])
			j++
		default:
			out.WriteString("- " + x[i])
			i++
		}
	}
	return out.String()
}

// archive is a txtar archive: a comment, then named sections.
type archive struct {
	comment string
	files   []section
}

type section struct {
	name string
	data []byte
}

func marker(line string) (string, bool) {
	line = strings.TrimSuffix(line, "\n")
	if strings.HasPrefix(line, "-- ") && strings.HasSuffix(line, " --") && len(line) >= 6 {
		return strings.TrimSpace(line[3 : len(line)-3]), true
	}
	return "", false
}

func parseArchive(data []byte) *archive {
	a := &archive{}
	var cur *section
	var text strings.Builder
	flush := func() {
		if cur == nil {
			a.comment = text.String()
		} else {
			cur.data = []byte(text.String())
			a.files = append(a.files, *cur)
		}
		text.Reset()
	}
	for _, line := range strings.SplitAfter(string(data), "\n") {
		if name, ok := marker(line); ok {
			flush()
			cur = &section{name: name}
			continue
		}
		text.WriteString(line)
	}
	flush()
	return a
}

func formatArchive(a *archive) []byte {
	var b bytes.Buffer
	b.WriteString(a.comment)
	for _, s := range a.files {
		fmt.Fprintf(&b, "-- %s --\n", s.name)
		b.Write(s.data)
		if len(s.data) > 0 && s.data[len(s.data)-1] != '\n' {
			b.WriteByte('\n')
		}
	}
	return b.Bytes()
}
