"""datatrove_decisions.py: datatrove's keep/drop decision and drop reason for
every document of the given JSONL(.gz) files under its four heuristic rule
sets with their defaults (English, spaCy word splitter), one TSV line per
document: file, line (1-based), then one column per rule set ("keep" or the
reason string). Run by make_datatrove_ref.sh inside its virtualenv.
"""
import sys

from datatrove.data import Document
from datatrove.pipeline.filters import (C4QualityFilter, FineWebQualityFilter,
                                        GopherQualityFilter,
                                        GopherRepetitionFilter)
from jsonl_docs import jsonl_docs

SETS = [("gopher-quality", GopherQualityFilter),
        ("gopher-repetition", GopherRepetitionFilter),
        ("c4", C4QualityFilter),
        ("fineweb", FineWebQualityFilter)]


def verdict(f, text):
    try:
        r = f.filter(Document(text=text, id="x"))
    except ZeroDivisionError:
        return "error_zero_division"
    if r is True:
        return "keep"
    if isinstance(r, tuple):
        return r[1]
    return "drop"


def main():
    filters = [(name, cls()) for name, cls in SETS]
    print("file\tline\t" + "\t".join(n for n, _ in filters))
    for name, i, text in jsonl_docs(sys.argv[1:]):
        cols = [verdict(f, text) for _, f in filters]
        print(f"{name}\t{i}\t" + "\t".join(cols))


if __name__ == "__main__":
    main()
