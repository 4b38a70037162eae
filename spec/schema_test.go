package spec

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/santhosh-tekuri/jsonschema/v6"
	"github.com/santhosh-tekuri/jsonschema/v6/kind"
	"go.yaml.in/yaml/v4"
)

// compiledSchema compiles Schema() with a JSON Schema validator, as an
// editor would.
func compiledSchema(t testing.TB) *jsonschema.Schema {
	t.Helper()
	doc, err := jsonschema.UnmarshalJSON(bytes.NewReader(Schema()))
	if err != nil {
		t.Fatalf("schema is not JSON: %v", err)
	}
	c := jsonschema.NewCompiler()
	if err := c.AddResource(SchemaID, doc); err != nil {
		t.Fatal(err)
	}
	sch, err := c.Compile(SchemaID)
	if err != nil {
		t.Fatalf("schema does not compile: %v", err)
	}
	return sch
}

// schemaDoc is one YAML document as an editor checks it: a JSON value, and
// the position of each value by JSON pointer ("" for the document,
// "/web/basic_auth/users/0").
type schemaDoc struct {
	value any
	pos   map[string]Pos
	keys  map[string]Pos // the position of the key of each mapping value
}

// schemaDocs reads the documents of a YAML file as JSON values: mappings
// as objects (merge keys expanded, keys as written), sequences as arrays,
// scalars by their YAML type (a plain 8.1 is a number, true a boolean, an
// empty value null), as the YAML 1.2 core schema of an editor reads them.
func schemaDocs(t *testing.T, file string, data []byte) []schemaDoc {
	t.Helper()
	var docs []schemaDoc
	dec := yaml.NewDecoder(bytes.NewReader(data))
	for {
		var n yaml.Node
		err := dec.Decode(&n)
		if errors.Is(err, io.EOF) {
			return docs
		}
		if err != nil {
			t.Fatalf("%s: %v", file, err)
		}
		if len(n.Content) == 0 {
			continue
		}
		d := schemaDoc{pos: map[string]Pos{}, keys: map[string]Pos{}}
		d.value = jsonValue(t, file, n.Content[0], "", d.pos, d.keys)
		docs = append(docs, d)
	}
}

func jsonValue(t *testing.T, file string, n *yaml.Node, ptr string, pos, keys map[string]Pos) any {
	for n.Kind == yaml.AliasNode {
		n = n.Alias
	}
	if pos != nil {
		pos[ptr] = Pos{File: file, Line: n.Line, Column: n.Column}
	}
	switch n.Kind {
	case yaml.MappingNode:
		m := map[string]any{}
		var own [][2]*yaml.Node
		for i := 0; i+1 < len(n.Content); i += 2 {
			k, v := n.Content[i], n.Content[i+1]
			if k.Tag != "!!merge" {
				own = append(own, [2]*yaml.Node{k, v})
				continue
			}
			for v.Kind == yaml.AliasNode {
				v = v.Alias
			}
			srcs := []*yaml.Node{v}
			if v.Kind == yaml.SequenceNode {
				srcs = v.Content
			}
			for _, s := range srcs {
				if merged, ok := jsonValue(t, file, s, ptr, nil, nil).(map[string]any); ok {
					for k, v := range merged {
						m[k] = v
					}
				}
			}
		}
		for _, kv := range own {
			p := ptr + "/" + pointerEscape(kv[0].Value)
			if keys != nil {
				keys[p] = Pos{File: file, Line: kv[0].Line, Column: kv[0].Column}
			}
			m[kv[0].Value] = jsonValue(t, file, kv[1], p, pos, keys)
		}
		return m
	case yaml.SequenceNode:
		a := []any{}
		for i, c := range n.Content {
			a = append(a, jsonValue(t, file, c, fmt.Sprintf("%s/%d", ptr, i), pos, keys))
		}
		return a
	}
	switch n.Tag {
	case "!!null", "!!bool", "!!int", "!!float":
		var v any
		if err := n.Decode(&v); err != nil {
			t.Fatalf("%s:%d: %v", file, n.Line, err)
		}
		return v
	}
	return n.Value
}

func pointerEscape(s string) string {
	return strings.ReplaceAll(strings.ReplaceAll(s, "~", "~0"), "/", "~1")
}

// schemaErrors returns where the schema's errors are, as JSON pointers: the
// value's location, or, for a field the schema does not allow (an unknown
// field, a mapping key that breaks its rule), the location of that field.
func schemaErrors(err error) []string {
	var ve *jsonschema.ValidationError
	if !errors.As(err, &ve) {
		return nil
	}
	var out []string
	var walk func(e *jsonschema.ValidationError)
	walk = func(e *jsonschema.ValidationError) {
		if len(e.Causes) > 0 {
			for _, c := range e.Causes {
				walk(c)
			}
			return
		}
		at := ""
		for _, tok := range e.InstanceLocation {
			at += "/" + pointerEscape(tok)
		}
		switch k := e.ErrorKind.(type) {
		case *kind.AdditionalProperties:
			for _, p := range k.Properties {
				out = append(out, at+"/"+pointerEscape(p))
			}
		default:
			out = append(out, at)
		}
	}
	walk(ve)
	slices.Sort(out)
	return slices.Compact(out)
}

// checkFilesPassSchema checks every document of the YAML files of fsys
// with the schema, and returns how many it checked.
func checkFilesPassSchema(t *testing.T, sch *jsonschema.Schema, what string, fsys fs.FS) int {
	t.Helper()
	n := 0
	err := fs.WalkDir(fsys, ".", func(p string, de fs.DirEntry, err error) error {
		if err != nil || de.IsDir() || !isYAMLName(p) {
			return err
		}
		data, err := fs.ReadFile(fsys, p)
		if err != nil {
			return err
		}
		for i, d := range schemaDocs(t, p, data) {
			n++
			if err := sch.Validate(d.value); err != nil {
				t.Errorf("%s: %s (document %d) loads but the schema refuses it: %v", what, p, i+1, err)
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return n
}

// The schema never rejects a file berth validate accepts: every file of the
// example repo and of the test repos (TestSchemaFollowsHostileCorpus adds
// the hostile corpus cases Load accepts).
func TestSchemaAcceptsValidRepos(t *testing.T) {
	sch := compiledSchema(t)
	repos := map[string]fs.FS{
		"examples/sites-repo": os.DirFS("../examples/sites-repo"),
		"the base test repo":  repoFS(nil),
		"the corpus repo":     corpusFiles("", "", false),
		"unquoted numbers and empty values": repoFS(map[string]string{
			"berth.yaml":         "environments:\n  production:\n    branch: 2026.1\n    defaults: { php: 8.1 }\n    sites: { a.example.com: }\npolicy:\nbackups:\ndefaults:\n  php:\n  web:\n    client_max_body_size: 64\n    headers: { X-Count: 1, X-On: true }\n",
			"servers/web1.yaml":  "kind: Server\nname: web1\naddress: local\nssh:\nservices:\n  http: { type: nginx, listen: 8080, user: }\n  db: { type: sqlite }\n  php: { type: php-fpm }\nenvironments:\n",
			"platforms/php.yaml": "kind: Platform\nname: php-app\ntype: php\nphp: 8.10\nsource: { path: code }\nservers: [web1]\nbuild:\n",
			"sites/a.yaml":       "kind: Site\nname: a.example.com\nplatform: php-app\nphp: 8.3\nstate:\ndb:\ndns:\ntls:\nweb:\n",
			"sites/b.yaml":       "kind: Site\nname: b.example.com\nplatform: php-app\nphp: \"\"\n---\nkind: Site\nname: c.example.com\nplatform: php-app\n",
		}),
	}
	for what, fsys := range repos {
		if _, err := Load(fsys); err != nil {
			t.Fatalf("%s does not load:\n%v", what, err)
		}
		if n := checkFilesPassSchema(t, sch, what, fsys); n < 4 {
			t.Errorf("%s: only %d documents checked", what, n)
		}
	}
}

// The hostile corpus through the schema: where Load accepts a value, every
// file passes the schema; where Load refuses it at its position and the
// rule's schema is exact, the schema refuses it at that value too.
func TestSchemaFollowsHostileCorpus(t *testing.T) {
	sch := compiledSchema(t)
	accepted, refused, caught := 0, 0, 0
	for _, f := range stringFields(repoTypes...) {
		at := placeholderPos(t, f.id)
		benign := corpusBenign[f.id]
		for _, h := range hostiles {
			value := h.make(benign)
			if h.raw || value == benign {
				continue // raw bytes never reach an editor's schema: the file is not YAML text
			}
			fsys := corpusFiles(f.id, value, false)
			_, err := Load(fsys)
			data := fsys[at.File].Data
			docs := schemaDocs(t, at.File, data)
			if len(docs) != 1 {
				t.Fatalf("%s holds %d documents", at.File, len(docs))
			}
			d := docs[0]
			serr := sch.Validate(d.value)
			if err == nil {
				accepted++
				if serr != nil {
					t.Errorf("%s = %s (%s): Load accepts it, the schema refuses it: %v", f.id, shown(value), h.name, serr)
				}
				continue
			}
			problems, _ := err.(Problems)
			if !slices.ContainsFunc(problems, func(p Problem) bool { return p.Pos == at }) {
				continue
			}
			refused++
			ptr := pointerAt(d, at)
			if slices.Contains(schemaErrors(serr), ptr) {
				caught++
				continue
			}
			// Only a refusal of the rule itself is the schema's to mirror;
			// validate's checks beyond it (a socket path on a remote
			// server) are not.
			if r := rules[f.rule]; r != nil && r.schema.exact && r.valid(value) != nil {
				t.Errorf("%s = %s (%s): Load refuses it, the schema (exact for rule %s) does not at %s: %v", f.id, shown(value), h.name, f.rule, ptr, serr)
			}
		}
	}
	t.Logf("%d hostile values accepted by Load and the schema; of %d refused by Load at their value, the schema refuses %d there", accepted, refused, caught)
	if caught*10 < refused*9 {
		t.Errorf("the schema catches only %d of %d values Load refuses", caught, refused)
	}
}

// pointerAt returns the JSON pointer of the value, or of the value of the
// key, written at pos.
func pointerAt(d schemaDoc, pos Pos) string {
	for _, m := range []map[string]Pos{d.keys, d.pos} {
		for p, at := range m {
			if at == pos {
				return p
			}
		}
	}
	return ""
}

// invalidCase is one file of testdata/schema-invalid: a single document
// that berth validate refuses, with comments naming where.
type invalidCase struct {
	file string
	data []byte
	at   string // "# at: POINTER": where the schema's error must be
	// "# schema: cannot (WHY)": validate refuses it for a reason a schema
	// cannot express; the schema accepts it.
	cannot string
}

var caseAtRE = regexp.MustCompile(`(?m)^# at: (.*)$`)
var caseCannotRE = regexp.MustCompile(`(?m)^# schema: cannot \((.+)\)$`)

// placeInRepo returns where a test document goes in a repo: berth.yaml
// for one without kind, else the directory of its kind.
func placeInRepo(t *testing.T, c invalidCase) string {
	var doc struct {
		Kind string `yaml:"kind"`
	}
	if err := yaml.Unmarshal(c.data, &doc); err != nil {
		return "sites/" + filepath.Base(c.file)
	}
	switch doc.Kind {
	case "":
		return ConfigFile
	case "Server", "Platform", "Site", "Zone":
		return strings.ToLower(doc.Kind) + "s/" + filepath.Base(c.file)
	}
	return "sites/" + filepath.Base(c.file)
}

// Every file of testdata/schema-invalid is a single document that berth
// validate refuses (on the base test repo with that file added, or as its
// berth.yaml). The schema refuses it too, with every error at the field
// the file's "# at:" comment names, the same line Load reports; the files
// marked "# schema: cannot" are refused for reasons only validate sees,
// and the schema accepts them.
func TestSchemaRejectsInvalidFiles(t *testing.T) {
	sch := compiledSchema(t)
	names, err := filepath.Glob("testdata/schema-invalid/*.yaml")
	if err != nil {
		t.Fatal(err)
	}
	if len(names) < 30 {
		t.Fatalf("only %d files in testdata/schema-invalid", len(names))
	}
	both, cannot := 0, 0
	for _, name := range names {
		t.Run(strings.TrimSuffix(filepath.Base(name), ".yaml"), func(t *testing.T) {
			data, err := os.ReadFile(name)
			if err != nil {
				t.Fatal(err)
			}
			c := invalidCase{file: name, data: data}
			if m := caseAtRE.FindSubmatch(data); m != nil {
				c.at = string(m[1])
			}
			if m := caseCannotRE.FindSubmatch(data); m != nil {
				c.cannot = string(m[1])
			}
			if (c.at == "") == (c.cannot == "") {
				t.Fatalf("%s needs one comment: # at: POINTER or # schema: cannot (WHY)", name)
			}
			place := placeInRepo(t, c)
			docs := schemaDocs(t, place, data)
			if len(docs) != 1 {
				t.Fatalf("%s holds %d documents, want one", name, len(docs))
			}
			_, err = Load(repoFS(map[string]string{place: string(data)}))
			problems, _ := err.(Problems)
			var here []Problem
			for _, p := range problems {
				if p.File == place {
					here = append(here, p)
				}
			}
			if len(here) == 0 {
				t.Fatalf("berth validate accepts %s as %s; got: %v", name, place, err)
			}
			serr := sch.Validate(docs[0].value)
			if c.cannot != "" {
				cannot++
				if serr != nil {
					t.Fatalf("marked as beyond a schema (%s), but the schema refuses it: %v", c.cannot, serr)
				}
				t.Logf("validate only (%s): %v", c.cannot, here[0])
				return
			}
			if serr == nil {
				t.Fatalf("berth validate refuses it (%v), the schema accepts it", here[0])
			}
			got := schemaErrors(serr)
			if len(got) == 0 || slices.ContainsFunc(got, func(p string) bool { return p != c.at }) {
				t.Fatalf("schema errors at %q, want all at %q:\n%v", got, c.at, serr)
			}
			pos, ok := docs[0].pos[c.at]
			if !ok {
				t.Fatalf("# at: %s is not a value of the document", c.at)
			}
			if !slices.ContainsFunc(here, func(p Problem) bool { return p.Line == pos.Line }) {
				t.Errorf("validate's problems are not on line %d, where the schema's error is: %v", pos.Line, here)
			}
			both++
			t.Logf("validate: %v", here[0])
		})
	}
	t.Logf("%d files refused by both, %d by validate only", both, cannot)
}

// The document kinds of the schema are the loader's.
func TestSchemaSwitchesOnKind(t *testing.T) {
	sch := compiledSchema(t)
	tests := []struct {
		doc  string
		want []string
	}{
		// A Site field on a Server: reported on the Server, as unknown.
		{"kind: Server\nname: web1\naddress: local\nplatform: x\n", []string{"/platform"}},
		{"kind: Sight\nname: a.example.com\n", []string{"/kind"}},
		// Without kind, a document is berth.yaml.
		{"name: a.example.com\nenvironments: { production: { branch: main } }\n", []string{"/name"}},
		{"kind: Zone\nname: example.com\ncontact: hostmaster@example.com\nns: [ns1.example.net]\nprimary: ns1\nttl: 5\n", []string{"/ttl"}},
	}
	for _, tt := range tests {
		d := schemaDocs(t, "x.yaml", []byte(tt.doc))[0]
		if got := schemaErrors(sch.Validate(d.value)); !slices.Equal(got, tt.want) {
			t.Errorf("%q: errors at %q, want %q", tt.doc, got, tt.want)
		}
	}
	if got := schemaKinds(t); !slices.Equal(got, kinds) {
		t.Errorf("schema kinds %v, loader kinds %v", got, kinds)
	}
}

// schemaKinds returns the kinds the generated schema switches on, in order.
func schemaKinds(t *testing.T) []string {
	var doc struct {
		AllOf []struct {
			If struct {
				Properties struct {
					Kind struct {
						Const string `json:"const"`
					} `json:"kind"`
				} `json:"properties"`
			} `json:"if"`
		} `json:"allOf"`
	}
	if err := json.Unmarshal(Schema(), &doc); err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, b := range doc.AllOf {
		if k := b.If.Properties.Kind.Const; k != "" {
			out = append(out, k)
		}
	}
	return out
}

// Every pattern of the schema is in the syntax RE2 and ECMA-262 share:
// no Perl classes or Unicode escapes whose meaning differs, no flags, no
// named groups.
func TestSchemaPatternsArePortable(t *testing.T) {
	for _, r := range rules {
		p := r.schema.pattern
		if p == "" {
			t.Errorf("rule %s has no schema pattern", r.Name)
			continue
		}
		if _, err := regexp.Compile(p); err != nil {
			t.Errorf("rule %s: %v", r.Name, err)
		}
		for _, bad := range []string{`\d`, `\w`, `\s`, `\p`, `\P`, `\u`, `\x{`, `\z`, `\A`, `(?i`, `(?P`, `(?<`, `[[:`} {
			if strings.Contains(p, bad) {
				t.Errorf("rule %s: pattern holds %s, which ECMA-262 reads otherwise: %s", r.Name, bad, p)
			}
		}
	}
}

// A rule's schema never refuses a value its Go check allows, for the
// benign and hostile corpus values, numbers as YAML reads them unquoted,
// and values of each rule's shape.
func TestRuleSchemaIsSound(t *testing.T) {
	var samples []string
	for _, v := range corpusBenign {
		samples = append(samples, v)
		for _, h := range hostiles {
			samples = append(samples, h.make(v))
		}
	}
	samples = append(samples, "0", "1", "7", "80", "443", "8080", "65535", "65536", "999999", "1234567", "-1", "-42",
		"0.5", "1.0", "1.5", "5.6", "8.1", "8.10", "8.2", "9.99", "10.1", "127.0", "-1.5", "007",
		"true", "false", "True", "FALSE", "local", "localhost", "LOCALHOST.example", "a", "*", "@", "*.a", "x.y",
		"bücher.example.com", "例え。テスト", "xn--bcher-kva.example.com", "1a.example.com", "a.1a", "a.1-2",
		"fe80::1%eth0", "[::1]:8080", "::1", "2001:db8::10", "0.0.0.0:80", "a/b/./c", "a/.b", "..a/b", "{version}/x",
		"/php/{version}/pool.d", "/var/{env}", "{env}", "v1.0.0", "a./b", "a/.b", "release/1.x", "_x", "expr", "exp", "e",
		"exprx=", "Expr=1", "https://a.example.com/x?y#z", "HTTP://A", "git@github.com:a/b.git", "file:///srv/x.git",
		"letsencrypt", "https://[::1]:14000/dir", "a_b+c@example.com", "a.b@example.com", "hostmaster@bücher.example")
	checked := 0
	for _, r := range rules {
		js, err := json.Marshal(map[string]any{"type": "object", "properties": map[string]any{"v": stringSchema(r, false)}})
		if err != nil {
			t.Fatal(err)
		}
		wrap, err := jsonschema.UnmarshalJSON(bytes.NewReader(js))
		if err != nil {
			t.Fatal(err)
		}
		c := jsonschema.NewCompiler()
		if err := c.AddResource("rule.json", wrap); err != nil {
			t.Fatal(err)
		}
		rs, err := c.Compile("rule.json")
		if err != nil {
			t.Fatalf("rule %s: %v", r.Name, err)
		}
		for _, s := range samples {
			if r.valid(s) != nil {
				continue
			}
			checked++
			if err := rs.Validate(map[string]any{"v": s}); err != nil {
				t.Errorf("rule %s allows %s, its schema refuses it: %v", r.Name, shown(s), err)
			}
			if !plainDecimalRE.MatchString(s) && !slices.Contains([]string{"true", "false", "True", "FALSE"}, s) {
				continue
			}
			// Unquoted, YAML reads it as a number or a boolean.
			var m map[string]any
			if err := yaml.Unmarshal([]byte("v: "+s), &m); err != nil {
				t.Fatal(err)
			}
			v := m["v"]
			if _, isString := v.(string); isString {
				continue
			}
			if err := rs.Validate(map[string]any{"v": v}); err != nil {
				t.Errorf("rule %s allows %s, its schema refuses it unquoted (%v): %v", r.Name, s, v, err)
			}
		}
	}
	t.Logf("%d allowed values checked against their rule's schema", checked)
}

// An unquoted number where text is expected (php: 8.1) is accepted by both
// the decoder, which reads it as it is written, and the schema. A number
// YAML would rewrite (0x8 is 8) is refused by the decoder only: the schema
// sees the number, not how it was spelt.
func TestUnquotedNumbers(t *testing.T) {
	sch := compiledSchema(t)
	tests := []struct {
		site     string
		php      string // what Load reads, "" when it refuses the file
		problem  string
		schemaOK bool
	}{
		{site: "php: 8.1", php: "8.1", schemaOK: true},
		{site: "php: 8.10", php: "8.10", schemaOK: true},
		{site: "php: \"8.3\"", php: "8.3", schemaOK: true},
		{site: "php: 12.0", problem: `php: "12.0" is not a PHP version`},
		{site: "php: 4", problem: `php: "4" is not a PHP version`},
		{site: "php: 8.1e0", problem: `php: YAML reads 8.1e0 as the number 8.1; quote it to write it as text: "8.1e0"`, schemaOK: true},
		{site: "php: 0x8", problem: `php: YAML reads 0x8 as the number 8; quote it to write it as text: "0x8"`, schemaOK: true},
	}
	for _, tt := range tests {
		data := "kind: Site\nname: a.example.com\nplatform: php-app\n" + tt.site + "\n"
		r, err := Load(repoFS(map[string]string{"sites/a.yaml": data}))
		switch {
		case tt.php != "" && err != nil:
			t.Errorf("%s: %v", tt.site, err)
		case tt.php != "" && r.Sites[0].PHP != tt.php:
			t.Errorf("%s: php is %q, want %q", tt.site, r.Sites[0].PHP, tt.php)
		case tt.php == "" && (err == nil || !strings.Contains(err.Error(), tt.problem)):
			t.Errorf("%s: got %v, want a problem %q", tt.site, err, tt.problem)
		}
		if serr := sch.Validate(schemaDocs(t, "sites/a.yaml", []byte(data))[0].value); (serr == nil) != tt.schemaOK {
			t.Errorf("%s: the schema says %v, want accepted %v", tt.site, serr, tt.schemaOK)
		}
	}
}
