package forge

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"regexp"
	"slices"
	"sort"
	"strconv"
	"strings"
)

// operation is one documented API operation, as the request checker
// needs it: from GitHub's published OpenAPI description (github_test.go)
// or, for GitLab, which publishes none on a registry berth can reach,
// from the field lists of GitLab's REST API documentation
// (gitlab_test.go).
type operation struct {
	id         string
	method     string
	template   string           // /repos/{owner}/{repo}/statuses/{sha}
	pathParams map[string]field // by name
	query      map[string]field // by name
	body       *object          // nil: the operation takes no body
	status     int              // the documented success answer
	example    any              // the documented answer's example
	answer     *object          // the documented answer's schema (an array's items), nil: none checked
	linkHeader bool             // the answer documents a Link header
}

// field is a parameter or a body property: its type and, for an enum,
// its values.
type field struct {
	typ      string // string, integer, number, boolean, object, array
	enum     []string
	required bool
	nullable bool
}

// object is a JSON object's schema: the properties it may have, which it
// must.
type object struct {
	props map[string]field
}

// checked is a request that passed: the operation and what it carried.
type checked struct {
	op     *operation
	params map[string]string // path parameters, decoded
	query  url.Values
	body   map[string]any
}

// checker checks every request against the documented operations.
type checker struct {
	ops    []*operation
	auth   func(h http.Header) error
	prefix string // the API's path on the test server ("" or /api/v4)
}

var paramRE = regexp.MustCompile(`\{[^}]+\}`)

// templateRE is the regular expression of a path template, each
// parameter one escaped path segment, and the parameters' names.
func templateRE(template string) (*regexp.Regexp, []string) {
	var b strings.Builder
	var names []string
	b.WriteString("^")
	last := 0
	for _, ix := range paramRE.FindAllStringIndex(template, -1) {
		b.WriteString(regexp.QuoteMeta(template[last:ix[0]]))
		b.WriteString(`([^/]+)`)
		names = append(names, template[ix[0]+1:ix[1]-1])
		last = ix[1]
	}
	b.WriteString(regexp.QuoteMeta(template[last:]) + "$")
	return regexp.MustCompile(b.String()), names
}

// match finds r's operation and its path parameters.
func (c *checker) match(r *http.Request) (*operation, map[string]string, error) {
	path, ok := strings.CutPrefix(r.URL.EscapedPath(), c.prefix)
	if !ok {
		return nil, nil, fmt.Errorf("%s is not under the API's path %s", r.URL.EscapedPath(), c.prefix)
	}
	var methods []string
	for _, op := range c.ops {
		re, names := templateRE(op.template)
		m := re.FindStringSubmatch(path)
		if m == nil {
			continue
		}
		if op.method != r.Method {
			methods = append(methods, op.method)
			continue
		}
		params := map[string]string{}
		for i, n := range names {
			v, err := url.PathUnescape(m[i+1])
			if err != nil {
				return nil, nil, fmt.Errorf("path parameter %s: %v", n, err)
			}
			params[n] = v
		}
		return op, params, nil
	}
	if len(methods) > 0 {
		return nil, nil, fmt.Errorf("%s %s: the path is documented for %v only", r.Method, path, methods)
	}
	return nil, nil, fmt.Errorf("%s %s: no documented operation has this path", r.Method, path)
}

// check validates r against its documented operation: method and path
// template, path and query parameters (declared, typed, enum values),
// the authentication header, and the JSON body (content type, required
// properties, no undocumented ones, types and enum values).
func (c *checker) check(r *http.Request) (*checked, error) {
	op, params, err := c.match(r)
	if err != nil {
		return nil, err
	}
	if err := c.auth(r.Header); err != nil {
		return nil, fmt.Errorf("%s: %v", op.id, err)
	}
	for name, f := range op.pathParams {
		v, ok := params[name]
		if !ok || v == "" {
			return nil, fmt.Errorf("%s: path parameter %s missing", op.id, name)
		}
		if err := f.checkString(v); err != nil {
			return nil, fmt.Errorf("%s: path parameter %s: %v", op.id, name, err)
		}
	}
	q := r.URL.Query()
	for name, vs := range q {
		f, ok := op.query[name]
		if !ok {
			return nil, fmt.Errorf("%s: query parameter %s is not documented", op.id, name)
		}
		for _, v := range vs {
			if err := f.checkString(v); err != nil {
				return nil, fmt.Errorf("%s: query parameter %s: %v", op.id, name, err)
			}
		}
	}
	for name, f := range op.query {
		if f.required && q.Get(name) == "" {
			return nil, fmt.Errorf("%s: required query parameter %s missing", op.id, name)
		}
	}
	b, err := io.ReadAll(r.Body)
	if err != nil {
		return nil, err
	}
	out := &checked{op: op, params: params, query: q}
	if op.body == nil {
		if len(b) > 0 {
			return nil, fmt.Errorf("%s takes no body; got %d bytes", op.id, len(b))
		}
		return out, nil
	}
	if ct := r.Header.Get("Content-Type"); !strings.HasPrefix(ct, "application/json") {
		return nil, fmt.Errorf("%s: Content-Type %q, the documented body is application/json", op.id, ct)
	}
	if err := json.Unmarshal(b, &out.body); err != nil {
		return nil, fmt.Errorf("%s: the body is not a JSON object: %v", op.id, err)
	}
	if err := op.body.check(out.body); err != nil {
		return nil, fmt.Errorf("%s: body: %v", op.id, err)
	}
	return out, nil
}

func (f field) checkString(v string) error {
	switch f.typ {
	case "integer":
		if _, err := strconv.ParseInt(v, 10, 64); err != nil {
			return fmt.Errorf("%q is not an integer", v)
		}
	case "number":
		if _, err := strconv.ParseFloat(v, 64); err != nil {
			return fmt.Errorf("%q is not a number", v)
		}
	}
	if len(f.enum) > 0 && !slices.Contains(f.enum, v) {
		return fmt.Errorf("%q is not one of %v", v, f.enum)
	}
	return nil
}

func (f field) checkValue(v any) error {
	if v == nil {
		if f.nullable {
			return nil
		}
		return fmt.Errorf("null, the documented type is %s", f.typ)
	}
	ok := false
	switch f.typ {
	case "string":
		_, ok = v.(string)
	case "integer":
		n, isNum := v.(float64)
		ok = isNum && n == float64(int64(n))
	case "number":
		_, ok = v.(float64)
	case "boolean":
		_, ok = v.(bool)
	case "object":
		_, ok = v.(map[string]any)
	case "array":
		_, ok = v.([]any)
	case "":
		ok = true
	}
	if !ok {
		return fmt.Errorf("%v (%T), the documented type is %s", v, v, f.typ)
	}
	if s, isStr := v.(string); isStr && len(f.enum) > 0 && !slices.Contains(f.enum, s) {
		return fmt.Errorf("%q is not one of %v", s, f.enum)
	}
	return nil
}

// check validates a JSON object against o.
func (o *object) check(m map[string]any) error {
	var names []string
	for k := range m {
		names = append(names, k)
	}
	sort.Strings(names)
	for _, k := range names {
		f, ok := o.props[k]
		if !ok {
			return fmt.Errorf("property %s is not documented", k)
		}
		if err := f.checkValue(m[k]); err != nil {
			return fmt.Errorf("property %s: %v", k, err)
		}
	}
	for k, f := range o.props {
		if _, ok := m[k]; f.required && !ok {
			return fmt.Errorf("required property %s missing", k)
		}
	}
	return nil
}

// respond answers with the documented example, its fields overridden by
// set (an object answer) or replaced by items (an array answer), each
// object checked against the documented answer schema first.
func respond(w http.ResponseWriter, op *operation, set map[string]any, items []map[string]any) error {
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	var out any
	if items != nil {
		ex, ok := op.example.([]any)
		if !ok || len(ex) == 0 {
			return fmt.Errorf("%s: the documented example is not an array", op.id)
		}
		var list []any
		for _, it := range items {
			m := clone(ex[0].(map[string]any))
			for k, v := range it {
				m[k] = v
			}
			list = append(list, m)
		}
		if list == nil {
			list = []any{}
		}
		out = list
	} else {
		m, ok := op.example.(map[string]any)
		if !ok {
			return fmt.Errorf("%s: the documented example is not an object", op.id)
		}
		m = clone(m)
		for k, v := range set {
			m[k] = v
		}
		out = m
	}
	b, err := json.Marshal(out)
	if err != nil {
		return err
	}
	if op.answer != nil {
		var objs []map[string]any
		if items != nil {
			_ = json.Unmarshal(b, &objs)
		} else {
			var m map[string]any
			_ = json.Unmarshal(b, &m)
			objs = append(objs, m)
		}
		for _, o := range objs {
			if err := op.answer.check(o); err != nil {
				return fmt.Errorf("%s: the test's answer departs from the documented one: %v", op.id, err)
			}
		}
	}
	w.WriteHeader(op.status)
	_, err = w.Write(b)
	return err
}

func clone(m map[string]any) map[string]any {
	b, _ := json.Marshal(m)
	var out map[string]any
	_ = json.Unmarshal(b, &out)
	return out
}
