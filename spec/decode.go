package spec

import (
	"cmp"
	"fmt"
	"reflect"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"

	"go.yaml.in/yaml/v4"
)

// field is what the decoder and the schema generator know of a struct field.
type field struct {
	name     string // YAML name
	index    []int  // reflect index path (through inlined structs)
	typ      reflect.Type
	required bool
	enum     []string
	min, max *int
	doc      string
	rule     *Rule // rule:"NAME": the value, or each element or mapping value
	keyRule  *Rule // keyrule:"NAME": each key of a mapping
}

// valueRules are the rules the decoder applies below one field.
type valueRules struct {
	val, key *Rule
	// elem is set below a list or mapping, where an empty or null element
	// is checked like any other; a field's own empty value means "not set".
	elem bool
}

// elsewhere says where a field belongs that is written where it does not
// (a Site file, defaults), for the unknown-field problem.
var elsewhere = map[string]string{
	"data_from": "; data_from is berth.yaml's, for an environment (environments.NAME.data_from) or one of its sites (environments.NAME.sites.SITE.data_from)",
}

var fieldCache sync.Map // reflect.Type -> []field

// fieldsOf lists the YAML fields of a struct type, inlined structs flattened,
// in declaration order.
func fieldsOf(t reflect.Type) []field {
	if fs, ok := fieldCache.Load(t); ok {
		return fs.([]field)
	}
	var out []field
	for i := range t.NumField() {
		sf := t.Field(i)
		tag := sf.Tag.Get("yaml")
		if tag == "-" || !sf.IsExported() {
			continue
		}
		name, opts, _ := strings.Cut(tag, ",")
		if opts == "inline" {
			for _, f := range fieldsOf(sf.Type) {
				f.index = append([]int{i}, f.index...)
				out = append(out, f)
			}
			continue
		}
		f := field{name: name, index: []int{i}, typ: sf.Type, doc: sf.Tag.Get("doc")}
		if r := sf.Tag.Get("rule"); r != "" {
			f.rule = ruleNamed(r)
		}
		if r := sf.Tag.Get("keyrule"); r != "" {
			f.keyRule = ruleNamed(r)
		}
		for opt := range strings.SplitSeq(sf.Tag.Get("berth"), ",") {
			k, v, _ := strings.Cut(opt, "=")
			switch k {
			case "required":
				f.required = true
			case "enum":
				f.enum = strings.Split(v, "|")
			case "min", "max":
				n, err := strconv.Atoi(v)
				if err != nil {
					panic(fmt.Sprintf("spec: bad %s tag on %s.%s", k, t, sf.Name))
				}
				if k == "min" {
					f.min = &n
				} else {
					f.max = &n
				}
			}
		}
		out = append(out, f)
	}
	fieldCache.Store(t, out)
	return out
}

// maxSteps bounds the work one document may cause, so that alias and merge-key
// tricks cannot make the decoder run away.
const maxSteps = 200_000

// decoder decodes one YAML document into a Go value, recording the position
// of every value in meta and every problem in problems. It never stops at the
// first problem: everything decodable is decoded.
type decoder struct {
	file     string
	subject  string
	meta     *Meta
	problems *Problems
	steps    int
}

func newDecoder(file, subject string, meta *Meta, problems *Problems) *decoder {
	meta.vals = map[string]Pos{}
	meta.keys = map[string]Pos{}
	return &decoder{file: file, subject: subject, meta: meta, problems: problems}
}

func (d *decoder) pos(n *yaml.Node) Pos {
	return Pos{File: d.file, Line: n.Line, Column: n.Column}
}

func (d *decoder) add(p Pos, path, format string, args ...any) {
	msg := fmt.Sprintf(format, args...)
	if path != "" {
		msg = shownPath(path) + ": " + msg
	}
	*d.problems = append(*d.problems, Problem{Pos: p, Subject: d.subject, Message: msg})
}

// shownPath is a field path for a message: quoted when a mapping key in it
// holds anything but printable ASCII, so repo text never reaches a terminal
// raw.
func shownPath(path string) string {
	for _, r := range path {
		if r < 0x20 || r > 0x7e {
			return strconv.Quote(path)
		}
	}
	return path
}

func join(path, name string) string {
	if path == "" {
		return name
	}
	return path + "." + name
}

func isNull(n *yaml.Node) bool {
	return n.Kind == yaml.ScalarNode && n.Tag == "!!null"
}

// describe says what a node is, for "expected X, got Y" messages.
func describe(n *yaml.Node) string {
	switch n.Kind {
	case yaml.MappingNode:
		return "a mapping"
	case yaml.SequenceNode:
		return "a list"
	}
	switch n.Tag {
	case "!!str":
		return fmt.Sprintf("the string %q", n.Value)
	case "!!null":
		return "nothing"
	case "!!binary":
		return "binary data"
	case "!!int":
		return "the number " + n.Value
	case "!!float":
		return "the number " + n.Value
	case "!!bool":
		return n.Value
	}
	return fmt.Sprintf("%q", n.Value)
}

// plainDecimalRE is a number whose text YAML keeps: digits with an
// optional minus and fraction.
var plainDecimalRE = regexp.MustCompile(`^-?[0-9]+(\.[0-9]+)?$`)

// numberText is the value YAML gives a number scalar, for messages.
func numberText(n *yaml.Node) string {
	var f float64
	if err := n.Decode(&f); err != nil {
		return n.Value
	}
	return strconv.FormatFloat(f, 'g', -1, 64)
}

// checkRule applies a rule to a decoded string at its node's position.
func (d *decoder) checkRule(r *Rule, n *yaml.Node, path, s string) {
	if r == nil {
		return
	}
	if err := r.Check(s); err != nil {
		d.add(d.pos(n), path, "%v", err)
	}
}

func (d *decoder) decode(n *yaml.Node, v reflect.Value, path string, rs valueRules) {
	d.steps++
	if d.steps > maxSteps {
		if d.steps == maxSteps+1 {
			d.add(d.pos(n), path, "document is too large or too deeply aliased to read (more than %d values)", maxSteps)
		}
		return
	}
	for n.Kind == yaml.AliasNode {
		n = n.Alias
	}
	if path != "" {
		d.meta.vals[path] = d.pos(n)
	}

	switch v.Kind() {
	case reflect.Pointer:
		if isNull(n) {
			return
		}
		if v.IsNil() {
			v.Set(reflect.New(v.Type().Elem()))
		}
		d.decode(n, v.Elem(), path, rs)
	case reflect.Struct:
		d.decodeStruct(n, v, path)
	case reflect.Map:
		d.decodeMap(n, v, path, rs)
	case reflect.Slice:
		if isNull(n) {
			return
		}
		if n.Kind != yaml.SequenceNode {
			d.add(d.pos(n), path, "expected a list, got %s", describe(n))
			return
		}
		s := reflect.MakeSlice(v.Type(), len(n.Content), len(n.Content))
		for i, c := range n.Content {
			d.decode(c, s.Index(i), fmt.Sprintf("%s[%d]", path, i), valueRules{val: rs.val, elem: true})
		}
		v.Set(s)
	case reflect.String:
		if isNull(n) {
			if rs.elem {
				d.checkRule(rs.val, n, path, "")
			}
			return
		}
		if n.Kind != yaml.ScalarNode || n.Tag == "!!binary" {
			d.add(d.pos(n), path, "expected a string, got %s", describe(n))
			return
		}
		// A number or true/false where text is expected is read as it is
		// written: php: 8.10 is the text "8.10", as the schema allows an
		// editor's number there. A number YAML would change (0x1F, 1e3,
		// +1, .5) is refused, so the text is never other than the number an
		// editor sees.
		v.SetString(n.Value)
		if (n.Tag == "!!int" || n.Tag == "!!float") && !plainDecimalRE.MatchString(n.Value) {
			d.add(d.pos(n), path, "YAML reads %s as the number %s; quote it to write it as text: %q", n.Value, numberText(n), n.Value)
			return
		}
		if n.Value != "" || rs.elem {
			d.checkRule(rs.val, n, path, n.Value)
		}
	case reflect.Int:
		if isNull(n) {
			return
		}
		i, err := strconv.ParseInt(n.Value, 0, 64)
		if n.Kind != yaml.ScalarNode || n.Tag != "!!int" || err != nil {
			d.add(d.pos(n), path, "expected an integer, got %s", describe(n))
			return
		}
		v.SetInt(i)
	case reflect.Bool:
		if isNull(n) {
			return
		}
		b, err := strconv.ParseBool(n.Value)
		if n.Kind != yaml.ScalarNode || n.Tag != "!!bool" || err != nil {
			d.add(d.pos(n), path, "expected true or false, got %s", describe(n))
			return
		}
		v.SetBool(b)
	default:
		panic(fmt.Sprintf("spec: cannot decode into %s", v.Type()))
	}
}

// mappingPairs returns the key/value pairs of a mapping with merge keys (<<)
// expanded: merged pairs come first so that explicit keys override them.
func (d *decoder) mappingPairs(n *yaml.Node, path string, depth int) (merged, own [][2]*yaml.Node) {
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, val := n.Content[i], n.Content[i+1]
		if k.Kind == yaml.ScalarNode && k.Tag == "!!merge" {
			if depth > 8 {
				d.add(d.pos(k), path, "merge keys nested too deeply")
				continue
			}
			for val.Kind == yaml.AliasNode {
				val = val.Alias
			}
			srcs := []*yaml.Node{val}
			if val.Kind == yaml.SequenceNode {
				srcs = val.Content
			}
			for _, s := range srcs {
				for s.Kind == yaml.AliasNode {
					s = s.Alias
				}
				if s.Kind != yaml.MappingNode {
					d.add(d.pos(s), path, "a merge key (<<) takes a mapping or a list of mappings, got %s", describe(s))
					continue
				}
				m, o := d.mappingPairs(s, path, depth+1)
				merged = append(merged, m...)
				merged = append(merged, o...)
			}
			continue
		}
		own = append(own, [2]*yaml.Node{k, val})
	}
	return merged, own
}

// keyOf returns the string form of a mapping key, reporting non-scalar keys.
func (d *decoder) keyOf(k *yaml.Node, path string) (string, bool) {
	for k.Kind == yaml.AliasNode {
		k = k.Alias
	}
	if k.Kind != yaml.ScalarNode || isNull(k) {
		d.add(d.pos(k), path, "keys must be plain names, got %s", describe(k))
		return "", false
	}
	return k.Value, true
}

func (d *decoder) decodeStruct(n *yaml.Node, v reflect.Value, path string) {
	fields := fieldsOf(v.Type())
	if n.Kind != yaml.MappingNode {
		if isNull(n) && path == "" {
			return
		}
		if !isNull(n) {
			d.add(d.pos(n), path, "expected a mapping of fields, got %s", describe(n))
			return
		}
	}
	byName := make(map[string]*field, len(fields))
	names := make([]string, len(fields))
	for i := range fields {
		byName[fields[i].name] = &fields[i]
		names[i] = fields[i].name
	}
	merged, own := d.mappingPairs(n, path, 0)
	seen := map[string]*yaml.Node{}
	set := map[string]bool{}
	misspelt := map[string]bool{} // required fields an unknown key was probably meant as
	apply := func(pairs [][2]*yaml.Node, explicit bool) {
		for _, kv := range pairs {
			k, val := kv[0], kv[1]
			name, ok := d.keyOf(k, path)
			if !ok {
				continue
			}
			if explicit {
				if first, dup := seen[name]; dup {
					d.add(d.pos(k), path, "field %q is set twice (first at line %d)", name, first.Line)
					continue
				}
				seen[name] = k
			}
			f, ok := byName[name]
			if !ok {
				if explicit {
					hint := didYouMean(name, names)
					d.add(d.pos(k), path, "unknown field %q%s", name, cmp.Or(hint, elsewhere[name]))
					if hint != "" {
						misspelt[closest(name, names)] = true
					}
				}
				continue
			}
			fp := join(path, name)
			d.meta.keys[fp] = d.pos(k)
			fv := v.FieldByIndex(f.index)
			fv.Set(reflect.Zero(fv.Type()))
			before := len(*d.problems)
			d.decode(val, fv, fp, valueRules{val: f.rule, key: f.keyRule})
			if len(*d.problems) == before {
				d.checkField(f, val, fv, fp)
			}
			set[name] = !isNull(val) && !(fv.Kind() == reflect.String && fv.String() == "")
		}
	}
	apply(merged, false)
	apply(own, true)
	for i := range fields {
		f := &fields[i]
		if !f.required || set[f.name] || misspelt[f.name] {
			continue
		}
		if _, written := seen[f.name]; written {
			d.add(d.pos(seen[f.name]), join(path, f.name), "must not be empty")
			continue
		}
		d.add(d.pos(n), path, "missing required field %q", f.name)
	}
}

// checkField applies the enum and bound tags to a decoded value.
func (d *decoder) checkField(f *field, n *yaml.Node, v reflect.Value, path string) {
	for n.Kind == yaml.AliasNode {
		n = n.Alias
	}
	if isNull(n) {
		return
	}
	for v.Kind() == reflect.Pointer {
		if v.IsNil() {
			return
		}
		v = v.Elem()
	}
	switch v.Kind() {
	case reflect.String, reflect.Int:
		if n.Kind != yaml.ScalarNode {
			return
		}
		if len(f.enum) > 0 && !slices.Contains(f.enum, n.Value) {
			if f.required && n.Value == "" {
				return
			}
			d.add(d.pos(n), path, "%q is not one of %s%s", n.Value, strings.Join(f.enum, ", "), didYouMean(n.Value, f.enum))
		}
		if v.Kind() == reflect.Int {
			i := int(v.Int())
			if f.min != nil && i < *f.min {
				d.add(d.pos(n), path, "%d is less than the minimum %d", i, *f.min)
			}
			if f.max != nil && i > *f.max {
				d.add(d.pos(n), path, "%d is more than the maximum %d", i, *f.max)
			}
		}
	case reflect.Slice, reflect.Map:
		if f.min != nil && v.Len() < *f.min && (n.Kind == yaml.SequenceNode || n.Kind == yaml.MappingNode) {
			d.add(d.pos(n), path, "needs at least %d entr%s", *f.min, plural(*f.min, "y", "ies"))
		}
	}
}

func plural(n int, one, many string) string {
	if n == 1 {
		return one
	}
	return many
}

func (d *decoder) decodeMap(n *yaml.Node, v reflect.Value, path string, rs valueRules) {
	if isNull(n) {
		return
	}
	if n.Kind != yaml.MappingNode {
		d.add(d.pos(n), path, "expected a mapping, got %s", describe(n))
		return
	}
	if v.IsNil() {
		v.Set(reflect.MakeMap(v.Type()))
	}
	merged, own := d.mappingPairs(n, path, 0)
	seen := map[string]*yaml.Node{}
	apply := func(pairs [][2]*yaml.Node, explicit bool) {
		for _, kv := range pairs {
			k, val := kv[0], kv[1]
			key, ok := d.keyOf(k, path)
			if !ok {
				continue
			}
			if explicit {
				if first, dup := seen[key]; dup {
					d.add(d.pos(k), path, "key %q is set twice (first at line %d)", key, first.Line)
					continue
				}
				seen[key] = k
			}
			kp := join(path, key)
			d.meta.keys[kp] = d.pos(k)
			d.checkRule(rs.key, k, kp, key)
			ev := reflect.New(v.Type().Elem()).Elem()
			d.decode(val, ev, kp, valueRules{val: rs.val, elem: true})
			v.SetMapIndex(reflect.ValueOf(key), ev)
		}
	}
	apply(merged, false)
	apply(own, true)
}
