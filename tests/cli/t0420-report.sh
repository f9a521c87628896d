#!/bin/sh
# t0420-report.sh: dsv report writes one self-contained HTML page on an
# artifact: well-formed (each SVG parses as XML), nothing fetched, no
# script, every ancestor shown, compute figures equal to dsv audit's, the
# models' loss points as METRICS.tsv has them, every string escaped, the
# same bytes twice; bad input leaves no file.
. "$(dirname "$0")/lib.sh"

MSG='data <script>alert("x")</script> & caf'"$(printf '\303\251')"' '"'"'q'"'"
TAG='v<1>&"t'"'"

setup() {
	dsv init >/dev/null &&
	head -c 200000 "$DEMO/shakespeare.txt" >a.txt &&
	tail -c 40000 "$DEMO/shakespeare.txt" >valid.txt &&
	dsv commit a.txt --text-mode paragraph -m "$MSG" -q &&
	dsv commit valid.txt --text-mode paragraph -m valid -b valid -q &&
	dsv derive filter main --where "text_bytes >= 100" -o long -m long -q &&
	dsv derive dedup --exact long -o dd -m "exact dedup" -q &&
	dsv tag "$TAG" dd &&
	dsv tokenizer train dd --vocab 300 -o tok -q &&
	printf "n_layer = 1\nn_head = 2\nn_embd = 32\nseq_len = 32\nbatch_size = 8\nlr = 1e-2\nmin_lr = 1e-3\nmax_steps = 30\neval_every = 10\neval_tokens = 2048\nseed = 3\n" >c.conf &&
	dsv train dd --tokenizer tok --config c.conf --valid valid -o m1 -q &&
	dsv derive sample long --fraction 0.3 --seed 1 -o few -m few -q &&
	dsv train few --tokenizer tok --config c.conf --valid valid -o m2 -q
}
test_expect_success 'setup: commit, filter, dedup, tokenizer, two tiny models' 'setup'

test_expect_success 'report of a model: a page, and a line saying where' '
	dsv report m1 -o m1.html >out &&
	grep -q "^report of [0-9a-f]\{7\} (6 artifacts, 1 model) written to m1.html$" out &&
	head -1 m1.html | grep -qx "<!DOCTYPE html>" &&
	grep -q "</html>" m1.html
'

test_expect_success 'self-contained: no script, nothing fetched' '
	! grep -qi "<script" m1.html &&
	! grep -qi "https\?://" m1.html &&
	! grep -qi " src=" m1.html &&
	! grep -qi "@import" m1.html
'

# The checks that parse the page, in python3 where there is one.
cat >check.py <<'PY'
import html.parser, json, re, sys
import xml.etree.ElementTree as ET

VOID = {"meta", "br", "img", "hr", "input", "link", "wbr", "col", "source"}

class Page(html.parser.HTMLParser):
    """Checks that every element is closed in order and collects the
    attributes the other checks read."""
    def __init__(self):
        super().__init__(convert_charrefs=True)
        self.stack, self.rows, self.ids, self.polys = [], {}, set(), []
        self.attrs_by_id, self.mode = {}, None
    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        if tag not in VOID:
            self.stack.append(tag)
        if "id" in a:
            assert a["id"] not in self.ids, "duplicate id " + a["id"]
            self.ids.add(a["id"])
            self.attrs_by_id[a["id"]] = a
        if tag == "tr" and "data-mode" in a:
            self.mode = a["data-mode"]
            self.rows[self.mode] = {}
        if tag == "td" and self.mode and "data-key" in a:
            self.rows[self.mode][a["data-key"]] = float(a["data-v"])
        if tag == "polyline":
            self.polys.append(a)
    def handle_startendtag(self, tag, attrs):
        if tag == "polyline":
            self.polys.append(dict(attrs))
        if tag not in VOID:
            self.stack.append(tag)
            self.handle_endtag(tag)
    def handle_endtag(self, tag):
        assert self.stack and self.stack[-1] == tag, \
            "</%s> closes %s" % (tag, self.stack[-3:])
        self.stack.pop()
        if tag == "tr":
            self.mode = None

def parse(path):
    text = open(path, encoding="utf-8").read()
    p = Page()
    p.feed(text)
    p.close()
    assert not p.stack, "unclosed: %s" % p.stack
    svgs = re.findall(r"<svg\b.*?</svg>", text, re.S)
    for s in svgs:
        ET.fromstring(s)
    return text, p, len(svgs)

def wellformed(path):
    text, p, n = parse(path)
    assert n >= 1, "no svg"

def audit(path, audit_path):
    text, p, n = parse(path)
    a = json.load(open(audit_path))
    for row in a["ancestors"]:
        assert "a-" + row["artifact"] in p.ids, row["artifact"]
        assert 'href="#a-%s"' % row["artifact"] in text, row["artifact"]
    keys = ["wall_s", "cpu_s", "gpu_s", "flops", "energy_joules"]
    for mode, c in list(a["by_mode"].items()) + [("total", a["total"])]:
        got = p.rows.get(mode)
        if got is None:
            assert all(c[k] == 0 for k in keys), (mode, c)
            continue
        for k in keys:
            assert got[k] == c[k], (mode, k, got[k], c[k])
    n = sum(1 for r in a["ancestors"] if r["compute"] is not None)
    assert p.rows["total"]["artifacts"] == n
    for k in ("data_share", "training_share"):
        got = float(p.attrs_by_id[k.replace("_", "-")]["data-v"])
        assert got == a[k], (k, got, a[k])
    if "baseline" in a:
        got = float(p.attrs_by_id["break-even"]["data-v"])
        assert got == a["baseline"]["break_even_data_share"], got
        # the line is drawn on the bar where it falls on it
        assert ('class="break-even"' in text) == (0 < got < 1), got

def points(path, metrics_path, model):
    text, p, n = parse(path)
    rows = [l.split("\t") for l in open(metrics_path).read().splitlines()[1:]]
    for cls, col in (("train", 2), ("val", 3)):
        want = [(int(r[1]), float(r[col])) for r in rows if r[col] != "-"]
        lines = [a for a in p.polys
                 if a.get("class") == cls and a.get("data-model") == model]
        assert len(lines) == 1, (cls, len(lines))
        xs = [int(x) for x in lines[0]["data-x"].split()]
        ys = [float(y) for y in lines[0]["data-y"].split()]
        assert list(zip(xs, ys)) == want, (cls, list(zip(xs, ys))[:3], want[:3])
        assert len(want) >= 3, want

globals()[sys.argv[1]](*sys.argv[2:])
PY

if command -v python3 >/dev/null 2>&1; then
test_expect_success 'well-formed: the HTML nests, every <svg> parses as XML' '
	python3 check.py wellformed m1.html
'

test_expect_success 'every ancestor appears; compute figures equal dsv audit --json' '
	dsv audit m1 --json >audit.json &&
	python3 check.py audit m1.html audit.json
'

test_expect_success 'the loss chart holds the model'"'"'s METRICS.tsv points' '
	git --git-dir .dsv/lineage show m1:METRICS.tsv >metrics.tsv &&
	python3 check.py points m1.html metrics.tsv "$(git --git-dir .dsv/lineage rev-parse --short=7 m1)"
'

test_expect_success '--baseline: the break-even line of dsv audit --baseline' '
	dsv report m1 --baseline m2 -o b.html -q &&
	dsv audit m1 --baseline m2 --json >ab.json &&
	python3 check.py audit b.html ab.json &&
	grep -q "<p id=\"verdict\">Against <code>m2</code>: k = " b.html
'
else
	test_skip 'well-formed HTML and SVG, audit figures, loss points' 'no python3'
fi

test_expect_success 'messages and ref names are escaped' '
	grep -qF "data &lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt; &amp; caf$(printf "\303\251") &#39;q&#39;" m1.html &&
	grep -qF "v&lt;1&gt;&amp;&quot;t&#39;" m1.html &&
	! grep -qF "$TAG" m1.html &&
	! grep -qF "alert(\"x\")" m1.html
'

test_expect_success 'report of a dataset: records, no loss curve' '
	dsv report dd -o dd.html -q &&
	grep -q "^<dt>size</dt><dd>[0-9,]* records" dd.html &&
	grep -q "No model in the ancestry" dd.html &&
	! grep -q "<polyline" dd.html &&
	dsv audit dd --json >ad.json &&
	{ ! command -v python3 >/dev/null || python3 check.py audit dd.html ad.json; }
'

test_expect_success 'deterministic: the same bytes twice; -o - writes the same page' '
	dsv report m1 -o again.html -q &&
	test_cmp m1.html again.html &&
	dsv report m1 -o - >stdout.html &&
	test_cmp m1.html stdout.html
'

test_expect_success 'an existing file is replaced; -q prints nothing' '
	echo old >old.html &&
	dsv report main -o old.html -q >out &&
	test ! -s out &&
	! grep -q "^old$" old.html && grep -q "</html>" old.html
'

test_expect_success 'bad input: a clear error, no file' '
	test_must_fail dsv report nosuch -o x.html 2>err &&
	grep -q "unknown revision .nosuch." err && test ! -e x.html &&
	test_must_fail dsv report m1 -o nodir/x.html 2>err &&
	grep -q "cannot create .nodir/x.html." err && test ! -e nodir &&
	mkdir d &&
	test_must_fail dsv report m1 -o d 2>err &&
	grep -q "cannot open .d.: Is a directory" err &&
	test -z "$(ls d)" &&
	test_must_fail dsv report m1 --baseline dd -o y.html 2>err &&
	grep -q "not a model" err && test ! -e y.html &&
	test "$(ls | grep -c dsv-tmp)" = 0
'

test_expect_success 'usage: -o is needed, one revision at most' '
	dsv report m1 2>err; test $? = 2 && grep -q "\-o FILE is needed" err &&
	dsv report m1 dd -o z.html 2>err; test $? = 2 && test ! -e z.html &&
	dsv report -h | grep -q "^usage: dsv report"
'

test_done
