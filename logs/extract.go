package logs

import (
	"encoding/json"
	"strconv"
	"strings"

	"github.com/prometheus/prometheus/model/labels"
)

// extractJSON adds the line's JSON fields as labels, as Loki's | json:
// nested objects flattened with _, arrays skipped, names sanitized, and a
// name already in the stream suffixed with _extracted. A line that is not
// JSON adds nothing.
func extractJSON(b *labels.Builder, stream labels.Labels, line string) {
	var m map[string]any
	if json.Unmarshal([]byte(line), &m) != nil {
		return
	}
	flattenJSON(b, stream, "", m)
}

func flattenJSON(b *labels.Builder, stream labels.Labels, prefix string, m map[string]any) {
	for k, v := range m {
		name := prefix + sanitize(k)
		switch v := v.(type) {
		case map[string]any:
			flattenJSON(b, stream, name+"_", v)
		case string:
			setExtracted(b, stream, name, v)
		case float64:
			setExtracted(b, stream, name, strconv.FormatFloat(v, 'f', -1, 64))
		case bool:
			setExtracted(b, stream, name, strconv.FormatBool(v))
		}
	}
}

// extractLogfmt adds key=value and key="quoted value" pairs as labels.
func extractLogfmt(b *labels.Builder, stream labels.Labels, line string) {
	s := line
	for len(s) > 0 {
		s = strings.TrimLeft(s, " \t")
		eq := strings.IndexAny(s, "= \t")
		if eq <= 0 {
			// a bare key: skip it
			if i := strings.IndexAny(s, " \t"); i > 0 {
				s = s[i:]
				continue
			}
			return
		}
		key := s[:eq]
		if s[eq] != '=' {
			s = s[eq:]
			continue
		}
		s = s[eq+1:]
		var val string
		if strings.HasPrefix(s, `"`) {
			end := 1
			for end < len(s) && s[end] != '"' {
				if s[end] == '\\' {
					end++
				}
				end++
			}
			if end >= len(s) {
				return
			}
			v, err := strconv.Unquote(s[:end+1])
			if err != nil {
				v = s[1:end]
			}
			val, s = v, s[end+1:]
		} else {
			end := strings.IndexAny(s, " \t")
			if end < 0 {
				end = len(s)
			}
			val, s = s[:end], s[end:]
		}
		setExtracted(b, stream, sanitize(key), val)
	}
}

func setExtracted(b *labels.Builder, stream labels.Labels, name, value string) {
	if name == "" {
		return
	}
	if stream.Has(name) {
		name += "_extracted"
	}
	b.Set(name, value)
}

// sanitize makes a label name of a field name (invalid characters → _).
func sanitize(k string) string {
	var sb strings.Builder
	for i, r := range k {
		ok := r == '_' || r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || i > 0 && r >= '0' && r <= '9'
		if ok {
			sb.WriteRune(r)
		} else {
			sb.WriteByte('_')
		}
	}
	return sb.String()
}
