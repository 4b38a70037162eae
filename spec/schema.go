package spec

import (
	"encoding/json"
	"fmt"
	"reflect"
	"strconv"
	"strings"
	"unicode/utf16"
)

// SchemaID is the $id of the generated JSON Schema.
const SchemaID = "https://berth.dev/schema/sites-repo.json"

// Schema returns the JSON Schema (draft 2020-12) of one document of a sites
// repo file: a Server, Platform, Site or Zone document, or berth.yaml. It is
// generated from the same struct tags and rules the decoder enforces, so
// the two cannot disagree: a value's type, enum and bounds come from its
// tags, and its pattern and length from its Rule (rules.go), written next
// to the rule's Go check. Where a rule's check has logic a regular
// expression cannot state (a domain's punycode form, an IP address's
// numbers), the pattern is the closest one that never refuses a value the
// check allows, so the schema never rejects a file berth validate accepts.
// What a schema cannot see at all, references between documents (a
// site's platform, a platform's servers), only berth validate checks.
//
// The top level switches on kind (if/then), so an editor reports a wrong
// field against the kind the document declares; a document without kind is
// berth.yaml. Editors use it through the yaml-language-server comment, and
// check each document of a multi-document file on its own:
//
//	# yaml-language-server: $schema=berth.schema.json
//
// The output is deterministic: JSON objects are written with sorted keys.
func Schema() []byte {
	g := &schemaGen{defs: map[string]any{}}
	var branches []any
	for _, v := range []any{Server{}, Platform{}, Site{}, Zone{}} {
		t := reflect.TypeOf(v)
		branches = append(branches, map[string]any{
			"if": map[string]any{
				"properties": map[string]any{"kind": map[string]any{"const": t.Name()}},
				"required":   []string{"kind"},
			},
			"then": g.ref(t),
		})
	}
	branches = append(branches, map[string]any{
		"if":   map[string]any{"not": map[string]any{"required": []string{"kind"}}},
		"then": g.ref(reflect.TypeFor[Config]()),
	})
	var kindNames []any
	for _, k := range kinds {
		kindNames = append(kindNames, k)
	}
	doc := map[string]any{
		"$schema": "https://json-schema.org/draft/2020-12/schema",
		"$id":     SchemaID,
		"title":   "berth sites repo document",
		"description": "A Server, Platform, Site or Zone document (by its kind), or, without kind, the repo file berth.yaml. " +
			"A file holding several documents separated by --- is checked document by document.",
		"type": "object",
		"properties": map[string]any{
			"kind": map[string]any{"enum": kindNames, "description": "What the document declares; berth.yaml has no kind."},
		},
		"allOf": branches,
		"$defs": g.defs,
	}
	out, err := json.MarshalIndent(doc, "", "  ")
	if err != nil {
		panic(err) // maps of strings and slices always marshal
	}
	return append(asciiJSON(out), '\n')
}

// asciiJSON escapes every character outside ASCII of a JSON text (they
// are all inside strings) as \uXXXX: the patterns hold invisible and bidi
// characters, which must not sit raw in a checked-in file.
func asciiJSON(js []byte) []byte {
	var b strings.Builder
	for _, r := range string(js) {
		if r < 0x80 {
			b.WriteRune(r)
			continue
		}
		for _, u := range utf16.Encode([]rune{r}) {
			fmt.Fprintf(&b, `\u%04x`, u)
		}
	}
	return []byte(b.String())
}

type schemaGen struct {
	defs map[string]any
}

// ref is a reference to the definition of a struct type: its fields, without
// a type, so that a use may allow null too.
func (g *schemaGen) ref(t reflect.Type) map[string]any {
	name := t.Name()
	if _, done := g.defs[name]; !done {
		g.defs[name] = nil // mark before recursing
		g.defs[name] = g.object(t)
	}
	return map[string]any{"$ref": "#/$defs/" + name, "type": "object"}
}

func (g *schemaGen) object(t reflect.Type) map[string]any {
	props := map[string]any{}
	var required []string
	for _, f := range fieldsOf(t) {
		// A field the decoder reads as "not set" when it is null or, for
		// text, empty: any that is not required.
		optional := !f.required
		s := g.value(f.typ, f.rule, f.keyRule, optional && takesNull(f.typ, false, f.rule), optional)
		if f.doc != "" {
			s["description"] = f.doc
		}
		if len(f.enum) > 0 {
			var enum []any
			for _, e := range f.enum {
				if n, err := strconv.Atoi(e); err == nil && f.typ.Kind() == reflect.Int {
					enum = append(enum, n)
				} else {
					enum = append(enum, e)
				}
			}
			switch {
			case len(enum) == 1 && !optional:
				s["const"] = enum[0]
			case optional:
				s["enum"] = append(enum, nil)
			default:
				s["enum"] = enum
			}
		}
		if f.min != nil {
			switch f.typ.Kind() {
			case reflect.Slice:
				s["minItems"] = *f.min
			case reflect.Map:
				s["minProperties"] = *f.min
			default:
				s["minimum"] = *f.min
			}
		}
		if f.max != nil {
			s["maximum"] = *f.max
		}
		props[f.name] = s
		if f.required {
			required = append(required, f.name)
		}
	}
	o := map[string]any{
		"properties":           props,
		"additionalProperties": false,
	}
	if len(required) > 0 {
		o["required"] = required
	}
	return o
}

// takesNull reports whether the decoder accepts null (or nothing) for a
// value of type t: as a field's value, where it means "not set", or as
// an element of a list or mapping (elem), where a string's rule judges
// the empty text.
func takesNull(t reflect.Type, elem bool, rule *Rule) bool {
	switch t.Kind() {
	case reflect.Struct:
		for _, f := range fieldsOf(t) {
			if f.required {
				return false
			}
		}
	case reflect.String:
		return !elem || (rule != nil && rule.valid("") == nil)
	}
	return true
}

// value is the schema of a value of type t bound to rule (and keyRule for
// a mapping's keys). nullable adds null; emptyOK lets the empty text
// through, which the decoder reads as "not set" for a field of its own.
func (g *schemaGen) value(t reflect.Type, rule, keyRule *Rule, nullable, emptyOK bool) map[string]any {
	var s map[string]any
	switch t.Kind() {
	case reflect.Pointer:
		return g.value(t.Elem(), rule, keyRule, nullable, emptyOK)
	case reflect.String:
		s = stringSchema(rule, emptyOK)
	case reflect.Int:
		s = map[string]any{"type": "integer"}
	case reflect.Bool:
		s = map[string]any{"type": "boolean"}
	case reflect.Slice:
		e := t.Elem()
		s = map[string]any{"type": "array", "items": g.value(e, rule, nil, takesNull(e, true, rule), false)}
	case reflect.Map:
		e := t.Elem()
		v := g.value(e, rule, nil, takesNull(e, true, rule), false)
		s = map[string]any{"type": "object", "additionalProperties": v}
		if keyRule != nil {
			// The keys' rule as patternProperties rather than
			// propertyNames: validators and editors report a key that
			// breaks it at the key, as a property not allowed. Every key
			// rule's expression bounds its length itself.
			if keyRule.schema.pattern == "" || keyRule.schema.maxLength > 0 && !keyRule.schema.exact {
				panic("spec: key rule " + keyRule.Name + " has no self-bounded pattern")
			}
			s["patternProperties"] = map[string]any{"^(?:" + keyRule.schema.pattern + ")$": v}
			s["additionalProperties"] = false
		}
	case reflect.Struct:
		s = g.ref(t)
	default:
		panic("spec: no schema for " + t.String())
	}
	if nullable {
		s["type"] = append(types(s["type"]), "null")
	}
	return s
}

// types returns a schema's "type" as a list.
func types(t any) []string {
	switch t := t.(type) {
	case string:
		return []string{t}
	case []string:
		return t
	}
	return nil
}

// stringSchema is the schema of a value bound to rule: its pattern and
// length, and the YAML numbers and true/false the decoder reads as text
// that the rule allows. emptyOK lets the empty text through.
func stringSchema(rule *Rule, emptyOK bool) map[string]any {
	s := map[string]any{"type": "string"}
	if rule == nil {
		return s
	}
	typ := []string{"string"}
	rs := rule.schema
	if rs.pattern != "" {
		if emptyOK && rule.valid("") != nil {
			s["pattern"] = "^(?:" + rs.pattern + ")?$"
		} else {
			s["pattern"] = "^(?:" + rs.pattern + ")$"
		}
		// What editors (VS Code, yaml-language-server) say instead of
		// showing the expression: the rule's own words, as validate's.
		s["patternErrorMessage"] = "Not " + rule.What + "; allowed: " + rule.Allows + "."
	}
	if rs.maxLength > 0 {
		s["maxLength"] = rs.maxLength
	}
	for _, b := range []string{"true", "false", "True", "False", "TRUE", "FALSE"} {
		if rule.valid(b) == nil {
			typ = append(typ, "boolean")
			break
		}
	}
	if rs.number != nil {
		for k, v := range rs.number {
			if k == "type" {
				typ = append(typ, v.(string))
				continue
			}
			s[k] = v
		}
	}
	if len(typ) > 1 {
		s["type"] = typ
	}
	return s
}
