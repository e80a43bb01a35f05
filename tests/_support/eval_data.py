"""Miniature evaluation data in the shared layouts, written where a test asks: STS pairs and a BEIR collection."""

from __future__ import annotations

import json
from pathlib import Path

STS_ROWS = [
    ("a man is playing a guitar .", "a man plays the guitar .", 4.8),
    ("a man is playing a guitar .", "a woman is slicing an onion .", 0.2),
    ("the cat sits on the mat .", "a cat is sitting on a mat .", 4.6),
    ("the cat sits on the mat .", "stocks fell sharply on monday .", 0.0),
    ("a child rides a bike .", "a kid is riding a bicycle .", 4.4),
    ("a child rides a bike .", "a man plays the guitar .", 0.6),
    ("two dogs run on the beach .", "dogs are running along the shore .", 4.2),
    ("two dogs run on the beach .", "the market closed higher today .", 0.1),
    ("a woman is cutting vegetables .", "a woman slices an onion .", 3.6),
    ("the plane is taking off .", "an airplane departs from the runway .", 4.5),
]


def sts_eval_dir(folder: Path, sets: tuple[str, ...] = ("stsbenchmark",), rows: list = STS_ROWS) -> Path:
    """A miniature eval folder in the shared layout: ``<set>/pairs.tsv`` for each of ``sets`` (the same pairs)."""
    lines = ["sentence1\tsentence2\tscore"] + [f"{a}\t{b}\t{s}" for a, b, s in rows]
    for name in sets:
        (folder / name).mkdir(parents=True)
        (folder / name / "pairs.tsv").write_text("\n".join(lines) + "\n")
    return folder


def write_beir(folder: Path, qrels: str, qrels_name: str = "qrels.tsv") -> Path:
    """A two-document, two-query BEIR collection (one title missing) with these ``qrels`` rows."""
    folder.mkdir(parents=True, exist_ok=True)
    docs = [{"_id": "d1", "title": "T", "text": "one"}, {"_id": "d2", "text": "two"}]
    (folder / "corpus.jsonl").write_text("\n".join(json.dumps(d) for d in docs) + "\n")
    queries = [{"_id": "q1", "text": "first"}, {"_id": "q2", "text": "second"}]
    (folder / "queries.jsonl").write_text("\n".join(json.dumps(q) for q in queries) + "\n")
    (folder / qrels_name).parent.mkdir(exist_ok=True)
    (folder / qrels_name).write_text("query-id\tcorpus-id\tscore\n" + qrels)
    return folder
