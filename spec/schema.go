package spec

import (
	"encoding/json"
	"reflect"
	"strconv"
)

// SchemaID is the $id of the generated JSON Schema.
const SchemaID = "https://berth.dev/schema/sites-repo.json"

// Schema returns the JSON Schema (draft 2020-12) of a sites repo file: a
// Server, Platform, Site or Zone document, or berth.yaml. It is generated from the
// same struct tags the decoder enforces, so the two cannot disagree. Editors
// use it through the yaml-language-server comment:
//
//	# yaml-language-server: $schema=berth.schema.json
//
// The output is deterministic: JSON objects are written with sorted keys.
func Schema() []byte {
	g := &schemaGen{defs: map[string]any{}}
	top := []any{}
	for _, v := range []any{Server{}, Platform{}, Site{}, Zone{}, Config{}} {
		top = append(top, g.ref(reflect.TypeOf(v)))
	}
	doc := map[string]any{
		"$schema":     "https://json-schema.org/draft/2020-12/schema",
		"$id":         SchemaID,
		"title":       "berth sites repo file",
		"description": "A Server, Platform, Site or Zone document, or the repo file berth.yaml.",
		"oneOf":       top,
		"$defs":       g.defs,
	}
	out, err := json.MarshalIndent(doc, "", "  ")
	if err != nil {
		panic(err) // maps of strings and slices always marshal
	}
	return append(out, '\n')
}

type schemaGen struct {
	defs map[string]any
}

func (g *schemaGen) ref(t reflect.Type) map[string]any {
	name := t.Name()
	if _, done := g.defs[name]; !done {
		g.defs[name] = nil // mark before recursing
		g.defs[name] = g.object(t)
	}
	return map[string]any{"$ref": "#/$defs/" + name}
}

func (g *schemaGen) object(t reflect.Type) map[string]any {
	props := map[string]any{}
	var required []string
	for _, f := range fieldsOf(t) {
		s := g.typeOf(f.typ)
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
			if len(enum) == 1 {
				s["const"] = enum[0]
			} else {
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
		"type":                 "object",
		"properties":           props,
		"additionalProperties": false,
	}
	if len(required) > 0 {
		o["required"] = required
	}
	return o
}

func (g *schemaGen) typeOf(t reflect.Type) map[string]any {
	switch t.Kind() {
	case reflect.Pointer:
		return g.typeOf(t.Elem())
	case reflect.String:
		return map[string]any{"type": "string"}
	case reflect.Int:
		return map[string]any{"type": "integer"}
	case reflect.Bool:
		return map[string]any{"type": "boolean"}
	case reflect.Slice:
		return map[string]any{"type": "array", "items": g.typeOf(t.Elem())}
	case reflect.Map:
		return map[string]any{"type": "object", "additionalProperties": g.typeOf(t.Elem())}
	case reflect.Struct:
		return g.ref(t)
	}
	panic("spec: no schema for " + t.String())
}
