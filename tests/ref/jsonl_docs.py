"""jsonl_docs.py: the documents of JSONL(.gz) files as the tests/ref scripts
read them: (file name, 1-based line, text) for each line whose "text" is a
string; blank lines and lines without one are passed over."""
import gzip
import json
import os


def jsonl_docs(paths):
    for path in paths:
        opener = gzip.open if path.endswith(".gz") else open
        with opener(path, "rt", encoding="utf-8") as fh:
            for i, line in enumerate(fh, 1):
                if not line.strip():
                    continue
                text = json.loads(line).get("text")
                if isinstance(text, str):
                    yield os.path.basename(path), i, text
