package spec

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"hash"
	"io"
	"io/fs"
	"reflect"
	"runtime"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"unicode"
	"unicode/utf8"

	"go.yaml.in/yaml/v4"
)

// ConfigFile is the repo file at the root of every sites repo.
const ConfigFile = "berth.yaml"

// DocumentDirs are the directories whose YAML files hold Server, Platform,
// Site and Zone documents. Any kind may live in any of them; the directory is only a
// convention.
var DocumentDirs = []string{"servers", "platforms", "sites", "zones"}

// maxFileSize bounds one spec file; a sites repo file is a few kilobytes.
const maxFileSize = 4 << 20

// Repo is a decoded sites repo: the repo file and every document, in the
// order they appear (files sorted by path).
type Repo struct {
	Config    *Config
	Servers   []*Server
	Platforms []*Platform
	Sites     []*Site
	Zones     []*Zone
	Files     []string // spec files read, in order
	// Digest is the SHA-256 (hex) of the spec files read, names and
	// contents in the order of Files: the revision of a repo that is a
	// plain directory.
	Digest string

	servers   map[string]*Server
	platforms map[string]*Platform
	sites     map[string]*Site
	digest    hash.Hash // while loading
	fsys      fs.FS     // what it was loaded from
}

// Server returns the server with the given name, or nil.
func (r *Repo) Server(name string) *Server { return r.servers[name] }

// Platform returns the platform with the given name, or nil.
func (r *Repo) Platform(name string) *Platform { return r.platforms[name] }

// Site returns the site with the given name, or nil.
func (r *Repo) Site(name string) *Site { return r.sites[name] }

// Load reads and validates the sites repo at the root of fsys. It reads
// berth.yaml and every .yaml/.yml file under servers/, platforms/ and sites/.
//
// When anything is wrong, Load returns the repo as far as it could be decoded
// together with a Problems error holding every problem, sorted by file and
// position. A caller must not act on a repo returned with an error.
func Load(fsys fs.FS) (*Repo, error) {
	r := &Repo{digest: sha256.New(), fsys: fsys}
	var problems Problems
	var files []string // the YAML files of DocumentDirs, in the walk's order

	data, err := readFile(fsys, ConfigFile)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		problems = append(problems, Problem{Pos: Pos{File: ConfigFile, Line: 1, Column: 1},
			Message: "not found: a sites repo has berth.yaml at its root, declaring its environments (see examples/sites-repo)"})
	case err != nil:
		problems = append(problems, Problem{Pos: Pos{File: ConfigFile, Line: 1, Column: 1}, Message: err.Error()})
	default:
		r.read(ConfigFile, data)
		r.Config = loadConfig(data, &problems)
	}

	for _, dir := range DocumentDirs {
		err := fs.WalkDir(fsys, dir, func(p string, de fs.DirEntry, err error) error {
			if err != nil {
				if p == dir && errors.Is(err, fs.ErrNotExist) {
					return fs.SkipDir
				}
				problems = append(problems, Problem{Pos: Pos{File: p, Line: 1, Column: 1}, Message: fmt.Sprintf("cannot read: %v", err)})
				return nil
			}
			name := de.Name()
			if p == dir && !de.IsDir() {
				problems = append(problems, Problem{Pos: Pos{File: p, Line: 1, Column: 1}, Message: fmt.Sprintf("is not a directory (%s); %s/ holds YAML files", de.Type(), dir)})
				return nil
			}
			if de.Type()&fs.ModeSymlink != 0 && !isYAMLName(name) {
				// A link is followed only within the repo; one that leads
				// out is an error even where no file would be read.
				if _, err := fs.Stat(fsys, p); err != nil && !errors.Is(err, fs.ErrNotExist) {
					problems = append(problems, Problem{Pos: Pos{File: p, Line: 1, Column: 1}, Message: err.Error()})
					return nil
				}
			}
			if strings.HasPrefix(name, ".") && p != dir {
				if de.IsDir() {
					return fs.SkipDir
				}
				return nil
			}
			if de.IsDir() || !isYAMLName(name) {
				return nil
			}
			files = append(files, p)
			return nil
		})
		if err != nil {
			problems = append(problems, Problem{Pos: Pos{File: dir, Line: 1, Column: 1}, Message: fmt.Sprintf("cannot list: %v", err)})
		}
	}
	// The files are read and decoded in parallel, each on its own, and
	// taken in the order of the walk: the repo is the same as read one by
	// one.
	for _, f := range loadFiles(fsys, files) {
		if f.err != nil {
			problems = append(problems, Problem{Pos: Pos{File: f.name, Line: 1, Column: 1}, Message: f.err.Error()})
			continue
		}
		r.read(f.name, f.data)
		r.Servers = append(r.Servers, f.docs.Servers...)
		r.Platforms = append(r.Platforms, f.docs.Platforms...)
		r.Sites = append(r.Sites, f.docs.Sites...)
		r.Zones = append(r.Zones, f.docs.Zones...)
		problems = append(problems, f.problems...)
	}

	r.Digest = hex.EncodeToString(r.digest.Sum(nil))
	r.digest = nil
	partial := slices.ContainsFunc(problems, func(p Problem) bool { return strings.HasPrefix(p.Message, invalidYAML) })
	problems = append(problems, r.validate(fsys, partial)...)
	problems.sort()
	if len(problems) > 0 {
		return r, problems
	}
	return r, nil
}

// LoadConfig reads berth.yaml alone, with the rules of its fields: what a
// daemon needs to know which environments exist and the branches they
// follow, without reading every site. The environments themselves are
// validated by Load when they run.
func LoadConfig(fsys fs.FS) (*Config, error) {
	var problems Problems
	data, err := readFile(fsys, ConfigFile)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", ConfigFile, err)
	}
	c := loadConfig(data, &problems)
	if len(problems) > 0 {
		problems.sort()
		return c, problems
	}
	return c, nil
}

// read notes the spec file name, read with data, in Files and Digest.
func (r *Repo) read(name string, data []byte) {
	r.Files = append(r.Files, name)
	fmt.Fprintf(r.digest, "%s\x00%d\x00", name, len(data))
	r.digest.Write(data)
}

func isYAMLName(name string) bool {
	return strings.HasSuffix(name, ".yaml") || strings.HasSuffix(name, ".yml")
}

func readFile(fsys fs.FS, name string) ([]byte, error) {
	f, err := fsys.Open(name)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	// Only a regular file, and not a byte past the limit: the size is
	// checked before anything is read.
	if fi, err := f.Stat(); err == nil && (!fi.Mode().IsRegular() || fi.Size() > maxFileSize) {
		if fi.IsDir() {
			return nil, errors.New("is a directory, not a YAML file")
		}
		if !fi.Mode().IsRegular() {
			return nil, fmt.Errorf("is not a regular file (%s); remove it", fi.Mode().Type())
		}
		return nil, fmt.Errorf("file is larger than %d MiB; split it into several files", maxFileSize>>20)
	}
	data, err := io.ReadAll(io.LimitReader(f, maxFileSize+1))
	if err != nil {
		return nil, fmt.Errorf("cannot read: %w", err)
	}
	if len(data) > maxFileSize {
		return nil, fmt.Errorf("file is larger than %d MiB; split it into several files", maxFileSize>>20)
	}
	return data, nil
}

// documents splits a YAML file into its document nodes. A syntax error is
// reported as a problem and ends the file: yaml cannot resynchronise after it.
func documents(file string, data []byte, problems *Problems) []*yaml.Node {
	if p := textProblem(file, data); p != nil {
		*problems = append(*problems, *p)
		return nil
	}
	var docs []*yaml.Node
	dec := yaml.NewDecoder(bytes.NewReader(data))
	for {
		var doc yaml.Node
		err := dec.Decode(&doc)
		if errors.Is(err, io.EOF) {
			return docs
		}
		if err != nil {
			*problems = append(*problems, syntaxProblem(file, err))
			return docs
		}
		if len(doc.Content) == 0 || isNull(doc.Content[0]) {
			continue // an empty document, e.g. a trailing ---
		}
		docs = append(docs, doc.Content[0])
	}
}

// textProblem returns the first byte of data that is not UTF-8 text or is a
// control character other than tab and line breaks, at its line and column
// (in characters, like the YAML parser's), or nil.
func textProblem(file string, data []byte) *Problem {
	line, col := 1, 1
	for len(data) > 0 {
		r, size := utf8.DecodeRune(data)
		var msg string
		switch {
		case r == utf8.RuneError && size <= 1:
			msg = fmt.Sprintf("byte 0x%02X is not UTF-8 text; a sites repo file is UTF-8", data[0])
		case unicode.IsControl(r) && r != '\t' && r != '\n' && r != '\r' && r != '\u0085':
			msg = fmt.Sprintf("control character %U is not allowed in a sites repo file; write it as an escape in a double-quoted string if it is meant", r)
		}
		if msg != "" {
			return &Problem{Pos: Pos{File: file, Line: line, Column: col}, Message: invalidYAML + msg}
		}
		if r == '\n' {
			line, col = line+1, 1
		} else {
			col++
		}
		data = data[size:]
	}
	return nil
}

// invalidYAML starts the message of every syntax problem.
const invalidYAML = "invalid YAML: "

// syntaxProblem turns a YAML parse error into a Problem at the position the
// parser reports.
func syntaxProblem(file string, err error) Problem {
	p := Problem{Pos: Pos{File: file, Line: 1, Column: 1}, Message: invalidYAML + err.Error()}
	var le *yaml.LoadError
	if errors.As(err, &le) {
		p.Message = invalidYAML + le.Message
		if le.ContextMsg != "" {
			p.Message += " " + le.ContextMsg
			if le.ContextMark.Line > 0 && le.ContextMark.Line != le.Mark.Line {
				p.Message += fmt.Sprintf(" (line %d)", le.ContextMark.Line)
			}
		}
		if le.Mark.Line > 0 {
			p.Line, p.Column = le.Mark.Line, max(le.Mark.Column, 1)
		}
	}
	return p
}

func loadConfig(data []byte, problems *Problems) *Config {
	docs := documents(ConfigFile, data, problems)
	c := &Config{}
	c.pos = Pos{File: ConfigFile, Line: 1, Column: 1}
	if len(docs) == 0 {
		if len(*problems) == 0 {
			*problems = append(*problems, Problem{Pos: c.pos, Message: "is empty: it must declare at least one environment"})
		}
		return c
	}
	for _, extra := range docs[1:] {
		*problems = append(*problems, Problem{Pos: Pos{File: ConfigFile, Line: extra.Line, Column: extra.Column},
			Message: "holds more than one document; berth.yaml is a single mapping"})
	}
	d := newDecoder(ConfigFile, "", &c.Meta, problems)
	c.pos = d.pos(docs[0])
	d.decode(docs[0], reflect.ValueOf(c).Elem(), "", valueRules{})
	return c
}

// kinds maps a document kind to a constructor of its Go value.
var kinds = []string{"Server", "Platform", "Site", "Zone"}

// loadedFile is one YAML file of the repo, read and decoded on its own
// (loadFiles).
type loadedFile struct {
	name     string
	data     []byte
	err      error // it could not be read
	docs     Repo  // its documents (Servers, Platforms, Sites, Zones)
	problems Problems
}

// loadFiles reads and decodes the files names of fsys, in parallel (one
// worker per CPU), and returns them in the order of names.
func loadFiles(fsys fs.FS, names []string) []loadedFile {
	out := make([]loadedFile, len(names))
	var next atomic.Int64
	var wg sync.WaitGroup
	for range min(runtime.GOMAXPROCS(0), len(names)) {
		wg.Go(func() {
			for {
				i := int(next.Add(1)) - 1
				if i >= len(names) {
					return
				}
				f := &out[i]
				f.name = names[i]
				if f.data, f.err = readFile(fsys, f.name); f.err == nil {
					f.docs.loadDocuments(f.name, f.data, &f.problems)
				}
			}
		})
	}
	wg.Wait()
	return out
}

func (r *Repo) loadDocuments(file string, data []byte, problems *Problems) {
	for _, doc := range documents(file, data, problems) {
		pos := Pos{File: file, Line: doc.Line, Column: doc.Column}
		if doc.Kind != yaml.MappingNode {
			*problems = append(*problems, Problem{Pos: pos, Message: "a document must be a mapping with kind and name, got " + describe(doc)})
			continue
		}
		kind, kindNode := scalarField(doc, "kind")
		name, _ := scalarField(doc, "name")
		var subject string
		if name != "" {
			subject = fmt.Sprintf("%s %q", strings.ToLower(kind), name)
		}
		switch kind {
		case "Server":
			s := &Server{}
			r.decodeDoc(file, subject, doc, &s.Meta, s, problems)
			r.Servers = append(r.Servers, s)
		case "Platform":
			p := &Platform{}
			r.decodeDoc(file, subject, doc, &p.Meta, p, problems)
			r.Platforms = append(r.Platforms, p)
		case "Site":
			s := &Site{}
			r.decodeDoc(file, subject, doc, &s.Meta, s, problems)
			r.Sites = append(r.Sites, s)
		case "Zone":
			z := &Zone{}
			r.decodeDoc(file, subject, doc, &z.Meta, z, problems)
			r.Zones = append(r.Zones, z)
		case "":
			if kindNode != nil {
				pos = Pos{File: file, Line: kindNode.Line, Column: kindNode.Column}
			}
			*problems = append(*problems, Problem{Pos: pos, Message: "missing kind: each document needs kind: Server, Platform, Site or Zone"})
		default:
			*problems = append(*problems, Problem{Pos: Pos{File: file, Line: kindNode.Line, Column: kindNode.Column},
				Message: fmt.Sprintf("unknown kind %q: want Server, Platform, Site or Zone%s", kind, didYouMean(kind, kinds))})
		}
	}
}

func (r *Repo) decodeDoc(file, subject string, doc *yaml.Node, meta *Meta, v any, problems *Problems) {
	d := newDecoder(file, subject, meta, problems)
	meta.pos = d.pos(doc)
	d.decode(doc, reflect.ValueOf(v).Elem(), "", valueRules{})
}

// scalarField returns the value of a top-level scalar field of a mapping.
func scalarField(m *yaml.Node, key string) (string, *yaml.Node) {
	for i := 0; i+1 < len(m.Content); i += 2 {
		if m.Content[i].Value == key {
			v := m.Content[i+1]
			if v.Kind == yaml.ScalarNode && !isNull(v) {
				return v.Value, v
			}
			return "", v
		}
	}
	return "", nil
}
