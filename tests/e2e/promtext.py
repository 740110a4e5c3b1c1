"""A strict parser for the Prometheus text exposition format, version 0.0.4.

Format: https://prometheus.io/docs/instrumenting/exposition_formats/
Beyond the syntax it checks what a scraper relies on:
  - at most one HELP and one TYPE per family, TYPE before the family's first sample;
  - the samples of one family are contiguous (no interleaving with another family);
  - no series appears twice; no reserved (__*) or repeated label names;
  - counters are >= 0; histograms have _bucket (with le), _sum and _count for every label set,
    buckets non-decreasing in le, a +Inf bucket equal to _count; summaries have a quantile
    label in [0, 1] plus _sum and _count.
parse() returns {family name: Family} or raises PromError naming the line.
"""

import math
import re

METRIC_NAME = re.compile(r"[a-zA-Z_:][a-zA-Z0-9_:]*")
LABEL_NAME = re.compile(r"[a-zA-Z_][a-zA-Z0-9_]*")
FLOAT = re.compile(r"[+-]?(?:\d+\.?\d*(?:[eE][+-]?\d+)?|\.\d+(?:[eE][+-]?\d+)?)|[+-]?Inf|NaN")
TIMESTAMP = re.compile(r"-?\d+")
TYPES = ("counter", "gauge", "histogram", "summary", "untyped")


class PromError(ValueError):
    def __init__(self, lineno, msg, line=None):
        text = "line %d: %s" % (lineno, msg)
        if line is not None:
            text += ": %r" % line
        super().__init__(text)


class Sample:
    def __init__(self, name, labels, value, timestamp, lineno):
        self.name = name
        self.labels = labels  # dict
        self.value = value
        self.timestamp = timestamp
        self.lineno = lineno

    def __repr__(self):
        return "Sample(%s%s %r)" % (self.name, self.labels or "", self.value)


class Family:
    def __init__(self, name):
        self.name = name
        self.type = None
        self.help = None
        self.samples = []

    @property
    def kind(self):
        return self.type or "untyped"

    def value(self, **labels):
        """The value of the one sample named like the family with exactly these labels."""
        for s in self.samples:
            if s.name == self.name and s.labels == labels:
                return s.value
        raise KeyError("%s%r" % (self.name, labels))


def parse_float(text):
    if not FLOAT.fullmatch(text):
        raise ValueError(text)
    return float(text)


def _unescape(text, allowed, lineno, line):
    """Resolves backslash escapes; `allowed` maps the escaped character to its value."""
    out = []
    i = 0
    while i < len(text):
        c = text[i]
        if c == "\\":
            if i + 1 >= len(text) or text[i + 1] not in allowed:
                raise PromError(lineno, "invalid escape sequence", line)
            out.append(allowed[text[i + 1]])
            i += 2
        else:
            out.append(c)
            i += 1
    return "".join(out)


def _skip_blank(line, i):
    while i < len(line) and line[i] in " \t":
        i += 1
    return i


def _parse_labels(line, i, lineno):
    """Parses `{a="x",b="y"}` starting at line[i] == '{'; returns (labels, index after '}')."""
    labels = {}
    i = _skip_blank(line, i + 1)
    while True:
        if i < len(line) and line[i] == "}":
            return labels, i + 1
        m = LABEL_NAME.match(line, i)
        if not m:
            raise PromError(lineno, "invalid label name", line)
        name = m.group(0)
        if name.startswith("__"):
            raise PromError(lineno, "reserved label name %r" % name, line)
        if name in labels:
            raise PromError(lineno, "label %r repeated" % name, line)
        i = _skip_blank(line, m.end())
        if i >= len(line) or line[i] != "=":
            raise PromError(lineno, "expected '=' after label name", line)
        i = _skip_blank(line, i + 1)
        if i >= len(line) or line[i] != '"':
            raise PromError(lineno, "expected '\"' to open a label value", line)
        j = i + 1
        raw = []
        while True:
            if j >= len(line):
                raise PromError(lineno, "unterminated label value", line)
            c = line[j]
            if c == "\\":
                if j + 1 >= len(line):
                    raise PromError(lineno, "unterminated label value", line)
                raw.append(line[j:j + 2])
                j += 2
                continue
            if c == '"':
                break
            raw.append(c)
            j += 1
        labels[name] = _unescape("".join(raw), {"\\": "\\", '"': '"', "n": "\n"}, lineno, line)
        i = _skip_blank(line, j + 1)
        if i < len(line) and line[i] == ",":
            i = _skip_blank(line, i + 1)
            continue
        if i < len(line) and line[i] == "}":
            return labels, i + 1
        raise PromError(lineno, "expected ',' or '}' after a label value", line)


def _family_of(name, families):
    """The family a sample name belongs to: histogram and summary samples carry suffixes."""
    for suffix, kinds in (("_bucket", ("histogram",)), ("_sum", ("histogram", "summary")),
                          ("_count", ("histogram", "summary"))):
        if name.endswith(suffix):
            base = name[: -len(suffix)]
            if base in families and families[base].type in kinds:
                return base
    return name


def parse(text):
    if not isinstance(text, str):
        text = text.decode("utf-8")
    if text and not text.endswith("\n"):
        raise PromError(text.count("\n") + 1, "the exposition does not end with a newline")
    families = {}
    closed = set()  # families whose samples have ended: they may not appear again
    current = None
    seen = set()

    def family(name, lineno, line):
        if name in closed:
            raise PromError(lineno, "family %r appears again after another family" % name, line)
        return families.setdefault(name, Family(name))

    for lineno, line in enumerate(text.split("\n")[:-1] if text else [], 1):
        if line.strip() == "":
            continue
        if line.startswith("#"):
            parts = line[1:].lstrip(" \t").split(None, 1)
            if not parts or parts[0] not in ("HELP", "TYPE") or not line[1:2].isspace():
                continue  # a plain comment
            keyword = parts[0]
            rest = parts[1] if len(parts) > 1 else ""
            m = METRIC_NAME.match(rest)
            if not m or (m.end() < len(rest) and rest[m.end()] not in " \t"):
                raise PromError(lineno, "invalid metric name in %s" % keyword, line)
            name = m.group(0)
            arg = rest[m.end():]
            arg = arg[1:] if arg[:1] in (" ", "\t") else arg
            if current is not None and current != name:
                closed.add(current)
                current = None
            fam = family(name, lineno, line)
            if keyword == "HELP":
                if fam.help is not None:
                    raise PromError(lineno, "second HELP for %r" % name, line)
                fam.help = _unescape(arg, {"\\": "\\", "n": "\n"}, lineno, line)
            else:
                if fam.type is not None:
                    raise PromError(lineno, "second TYPE for %r" % name, line)
                if fam.samples:
                    raise PromError(lineno, "TYPE for %r after its samples" % name, line)
                kind = arg.strip()
                if kind not in TYPES:
                    raise PromError(lineno, "unknown metric type %r" % kind, line)
                fam.type = kind
            continue

        # A sample: name [{labels}] value [timestamp]
        m = METRIC_NAME.match(line)
        if not m:
            raise PromError(lineno, "invalid metric name", line)
        name = m.group(0)
        i = m.end()
        labels = {}
        if i < len(line) and line[i] == "{":
            labels, i = _parse_labels(line, i, lineno)
        if i >= len(line) or line[i] not in " \t":
            raise PromError(lineno, "expected a blank before the value", line)
        fields = line[i:].split()
        if len(fields) not in (1, 2):
            raise PromError(lineno, "expected a value and an optional timestamp", line)
        try:
            value = parse_float(fields[0])
        except ValueError:
            raise PromError(lineno, "invalid value %r" % fields[0], line) from None
        timestamp = None
        if len(fields) == 2:
            if not TIMESTAMP.fullmatch(fields[1]):
                raise PromError(lineno, "invalid timestamp %r" % fields[1], line)
            timestamp = int(fields[1])

        fname = _family_of(name, families)
        if current is not None and current != fname:
            closed.add(current)
        fam = family(fname, lineno, line)
        current = fname
        key = (name, tuple(sorted(labels.items())))
        if key in seen:
            raise PromError(lineno, "duplicate series", line)
        seen.add(key)
        fam.samples.append(Sample(name, labels, value, timestamp, lineno))

    for fam in families.values():
        _check_family(fam)
    return families


def _check_family(fam):
    if fam.kind == "counter":
        for s in fam.samples:
            if s.name != fam.name:
                raise PromError(s.lineno, "counter sample %r not named like its family %r" % (s.name, fam.name))
            if math.isnan(s.value) or s.value < 0:
                raise PromError(s.lineno, "counter %s has a negative or NaN value" % s.name)
    elif fam.kind == "histogram":
        _check_histogram(fam)
    elif fam.kind == "summary":
        _check_summary(fam)


def _group(fam, strip):
    """Groups samples by their labels without the `strip` label."""
    groups = {}
    for s in fam.samples:
        key = tuple(sorted((k, v) for k, v in s.labels.items() if k != strip))
        groups.setdefault(key, []).append(s)
    return groups


def _check_histogram(fam):
    if not fam.samples:
        return
    for key, samples in _group(fam, "le").items():
        where = "%s%s" % (fam.name, dict(key) or "")
        buckets, total, count = [], None, None
        for s in samples:
            if s.name == fam.name + "_bucket":
                if "le" not in s.labels:
                    raise PromError(s.lineno, "histogram bucket without an le label")
                try:
                    le = parse_float(s.labels["le"])
                except ValueError:
                    raise PromError(s.lineno, "invalid le %r" % s.labels["le"]) from None
                if math.isnan(s.value) or s.value < 0:
                    raise PromError(s.lineno, "negative or NaN bucket count")
                buckets.append((le, s.value, s.lineno))
            elif s.name == fam.name + "_sum":
                total = s.value
            elif s.name == fam.name + "_count":
                count = s.value
            else:
                raise PromError(s.lineno, "sample %r does not belong to histogram %r" % (s.name, fam.name))
        if not buckets:
            raise PromError(samples[0].lineno, "histogram %s has no buckets" % where)
        if total is None or count is None:
            raise PromError(samples[0].lineno, "histogram %s lacks _sum or _count" % where)
        buckets.sort()
        if len({b[0] for b in buckets}) != len(buckets):
            raise PromError(buckets[0][2], "histogram %s repeats a bucket" % where)
        if buckets[-1][0] != math.inf:
            raise PromError(buckets[-1][2], "histogram %s has no +Inf bucket" % where)
        for (_, prev, _), (le, cur, lineno) in zip(buckets, buckets[1:]):
            if cur < prev:
                raise PromError(lineno, "histogram %s: bucket le=%g has fewer observations than a smaller one" % (where, le))
        if buckets[-1][1] != count:
            raise PromError(buckets[-1][2], "histogram %s: +Inf bucket %g != _count %g" % (where, buckets[-1][1], count))


def _check_summary(fam):
    if not fam.samples:
        return
    for key, samples in _group(fam, "quantile").items():
        where = "%s%s" % (fam.name, dict(key) or "")
        names = {s.name for s in samples}
        for s in samples:
            if s.name == fam.name:
                if "quantile" not in s.labels:
                    raise PromError(s.lineno, "summary sample without a quantile label")
                try:
                    q = parse_float(s.labels["quantile"])
                except ValueError:
                    raise PromError(s.lineno, "invalid quantile %r" % s.labels["quantile"]) from None
                if not 0 <= q <= 1:
                    raise PromError(s.lineno, "quantile outside [0, 1]")
            elif s.name not in (fam.name + "_sum", fam.name + "_count"):
                raise PromError(s.lineno, "sample %r does not belong to summary %r" % (s.name, fam.name))
        if fam.name + "_sum" not in names or fam.name + "_count" not in names:
            raise PromError(samples[0].lineno, "summary %s lacks _sum or _count" % where)
