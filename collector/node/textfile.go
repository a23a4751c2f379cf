package node

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strings"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
)

// The textfile collector reads *.prom files in the text exposition format
// from collect.node.textfile_directory, as node_exporter's does
// (collector/textfile.go): their metrics are exported as they are,
// node_textfile_mtime_seconds{file} gives each file read's modification
// time and node_textfile_scrape_error is 1 when any file (or the
// directory) could not be used. A bad file never fails the gather.
//
// Beyond node_exporter, families are merged across files before export
// so that the registry never refuses the gather: label names are the
// union over every file (a missing label is ""), a series seen twice is
// kept once, and a family whose type or help differs from the first
// file's is dropped. Each such case is an error, logged once.
var (
	textfileMtimeDesc = prometheus.NewDesc("node_textfile_mtime_seconds",
		"Unixtime mtime of textfiles successfully read.", []string{"file"}, nil)
	textfileErrorDesc = prometheus.NewDesc("node_textfile_scrape_error",
		"1 if there was an error opening or reading a file, 0 otherwise", nil, nil)
)

// textfileFamily is one metric family merged over the files that hold it.
type textfileFamily struct {
	name, help string
	typ        dto.MetricType
	files      []string
	metrics    []*dto.Metric
}

// textfileRun is one gather's reading of the directory.
type textfileRun struct {
	families map[string]*textfileFamily
	mtimes   map[string]float64
	errs     []string
}

func (r *textfileRun) errorf(format string, args ...any) {
	r.errs = append(r.errs, fmt.Sprintf(format, args...))
}

// updateTextfile reads every *.prom file and exports what is consistent.
func (c *Collector) updateTextfile(_ context.Context, ch chan<- prometheus.Metric) error {
	r := &textfileRun{families: map[string]*textfileFamily{}, mtimes: map[string]float64{}}
	for _, dir := range textfileDirs(c.cfg.TextfileDirectory) {
		entries, err := os.ReadDir(dir)
		if err != nil {
			r.errorf("read textfile directory %s: %v", dir, err)
			continue
		}
		for _, e := range entries {
			if !strings.HasSuffix(e.Name(), ".prom") || e.IsDir() {
				continue
			}
			r.readFile(filepath.Join(dir, e.Name()))
		}
	}
	names := make([]string, 0, len(r.families))
	for n := range r.families {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, n := range names {
		r.export(r.families[n], ch)
	}
	files := make([]string, 0, len(r.mtimes))
	for f := range r.mtimes {
		files = append(files, f)
	}
	sort.Strings(files)
	for _, f := range files {
		ch <- gauge(textfileMtimeDesc, r.mtimes[f], f)
	}
	ch <- gauge(textfileErrorDesc, boolFloat(len(r.errs) > 0))
	c.logTextfileErrors(r.errs)
	return nil
}

// textfileDirs expands the directory as node_exporter does: a glob, or
// the path itself when it matches nothing.
func textfileDirs(dir string) []string {
	if dir == "" {
		return nil
	}
	if ps, err := filepath.Glob(dir); err == nil && len(ps) > 0 {
		return ps
	}
	return []string{dir}
}

// readFile parses one file and merges its families.
func (r *textfileRun) readFile(path string) {
	f, err := os.Open(path)
	if err != nil {
		r.errorf("open textfile %s: %v", path, err)
		return
	}
	defer f.Close()
	parser := expfmt.NewTextParser(model.LegacyValidation)
	fams, err := parser.TextToMetricFamilies(f)
	if err != nil {
		r.errorf("parse textfile %s: %v", path, err)
		return
	}
	for _, mf := range fams {
		for _, m := range mf.Metric {
			if m.TimestampMs != nil {
				r.errorf("textfile %s: client-side timestamps are not supported, skipping the entire file", path)
				return
			}
		}
	}
	// Stat once parsed, so that a file that failed does not look fresh.
	st, err := f.Stat()
	if err != nil {
		r.errorf("stat textfile %s: %v", path, err)
		return
	}
	names := make([]string, 0, len(fams))
	for n := range fams {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, n := range names {
		r.merge(path, fams[n])
	}
	r.mtimes[path] = float64(st.ModTime().Unix())
}

// merge adds a file's family to the one read from earlier files.
func (r *textfileRun) merge(path string, mf *dto.MetricFamily) {
	name := mf.GetName()
	fam, ok := r.families[name]
	if !ok {
		r.families[name] = &textfileFamily{name: name, help: mf.GetHelp(), typ: mf.GetType(), files: []string{path}, metrics: mf.Metric}
		return
	}
	if mf.GetType() != fam.typ {
		r.errorf("inconsistent metric type: %s is %s in %s, %s in %s; dropped from the latter",
			name, fam.typ, fam.files[0], mf.GetType(), path)
		return
	}
	if mf.Help != nil && fam.help != "" && mf.GetHelp() != fam.help {
		r.errorf("inconsistent metric help text: %s is %q in %s, %q in %s; dropped from the latter",
			name, fam.help, fam.files[0], mf.GetHelp(), path)
		return
	}
	if fam.help == "" {
		fam.help = mf.GetHelp()
	}
	fam.files = append(fam.files, path)
	fam.metrics = append(fam.metrics, mf.Metric...)
}

// export sends a family's metrics, with the union of its label names.
func (r *textfileRun) export(fam *textfileFamily, ch chan<- prometheus.Metric) {
	var labelNames []string
	for _, m := range fam.metrics {
		for _, l := range m.GetLabel() {
			if !slices.Contains(labelNames, l.GetName()) {
				labelNames = append(labelNames, l.GetName())
			}
		}
	}
	sort.Strings(labelNames)
	help := fam.help
	if help == "" {
		help = "Metric read from " + strings.Join(fam.files, ", ")
	}
	desc := prometheus.NewDesc(fam.name, help, labelNames, nil)
	seen := map[string]bool{}
	for _, m := range fam.metrics {
		values := make([]string, len(labelNames))
		for _, l := range m.GetLabel() {
			values[slices.Index(labelNames, l.GetName())] = l.GetValue()
		}
		key := strings.Join(values, "\xff")
		if seen[key] {
			r.errorf("duplicate series in textfiles %s: %s%v", strings.Join(fam.files, ", "), fam.name, values)
			continue
		}
		seen[key] = true
		metric, err := constMetric(desc, fam.typ, m, values)
		if err != nil {
			r.errorf("textfile metric %s: %v", fam.name, err)
			continue
		}
		ch <- metric
	}
}

func constMetric(desc *prometheus.Desc, typ dto.MetricType, m *dto.Metric, values []string) (prometheus.Metric, error) {
	switch typ {
	case dto.MetricType_COUNTER:
		return prometheus.NewConstMetric(desc, prometheus.CounterValue, m.GetCounter().GetValue(), values...)
	case dto.MetricType_GAUGE:
		return prometheus.NewConstMetric(desc, prometheus.GaugeValue, m.GetGauge().GetValue(), values...)
	case dto.MetricType_UNTYPED:
		return prometheus.NewConstMetric(desc, prometheus.UntypedValue, m.GetUntyped().GetValue(), values...)
	case dto.MetricType_SUMMARY:
		q := map[float64]float64{}
		for _, v := range m.GetSummary().GetQuantile() {
			q[v.GetQuantile()] = v.GetValue()
		}
		s := m.GetSummary()
		return prometheus.NewConstSummary(desc, s.GetSampleCount(), s.GetSampleSum(), q, values...)
	case dto.MetricType_HISTOGRAM:
		b := map[float64]uint64{}
		for _, v := range m.GetHistogram().GetBucket() {
			b[v.GetUpperBound()] = v.GetCumulativeCount()
		}
		h := m.GetHistogram()
		return prometheus.NewConstHistogram(desc, h.GetSampleCount(), h.GetSampleSum(), b, values...)
	}
	return nil, fmt.Errorf("unsupported metric type %s", typ)
}

// logTextfileErrors logs each error once: again only after it went away.
func (c *Collector) logTextfileErrors(errs []string) {
	now := make(map[string]struct{}, len(errs))
	for _, e := range errs {
		now[e] = struct{}{}
		if _, logged := c.textfileErrs[e]; !logged {
			c.logger.Error("textfile collector", "err", e)
		}
	}
	c.textfileErrs = now
}

func boolFloat(b bool) float64 {
	if b {
		return 1
	}
	return 0
}
