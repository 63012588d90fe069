"""AudioSet: 10-s YouTube segments, multi-label over the 527 classes of the ontology.

--meta: one segments CSV or a folder of them (balanced_train_segments.csv,
unbalanced_train_segments.csv, eval_segments.csv): `# comment` lines, then
`YTID, start_seconds, end_seconds, "/m/label1,/m/label2"` (the label list quoted).
The split is the CSV's name up to `_segments` (balanced_train, unbalanced_train, eval); the
alias `train` = balanced_train + unbalanced_train.

Classes: `class_labels_indices.csv` (index, mid, display_name) from --classes, or found next to the
CSVs, or else the copy shipped here (`audioset_classes.csv`: the 527 classes of the AudioSet release,
reconstructed from a public copy of `class_labels_indices.csv`; the mids and their order are the
release's). A label id not in the list is dropped from the clip (counted in the listing's notes).
Files are found by YouTube id (`<ytid>.mp4`, `Y<ytid>.mp4`, `<ytid>_<start>[_<end>].mp4`, ...).
"""
from __future__ import annotations

import os

from avjax.data import formats as F

CLASSES_FILE = F.package_file("audioset_classes.csv")


def read_ontology(path: str = CLASSES_FILE) -> tuple[list[str], list[str]]:
    """(mids, display names) in index order from a class_labels_indices.csv."""
    rows = F.read_csv_rows(path)
    head = [h.lower() for h in rows[0]]
    if "mid" not in head or "display_name" not in head:
        raise ValueError(f"{path}: expected the header index,mid,display_name")
    i_idx, i_mid, i_name = head.index("index"), head.index("mid"), head.index("display_name")
    body = sorted(rows[1:], key=lambda r: int(r[i_idx]))
    return [r[i_mid] for r in body], [r[i_name] for r in body]


def _csv_files(meta: str) -> list[str]:
    if os.path.isfile(meta):
        return [meta]
    return sorted(os.path.join(meta, f) for f in os.listdir(meta)
                  if f.endswith(".csv") and "segments" in f)


def list_items(src: str, meta: str | None = None, classes: str | None = None) -> F.Listing:
    if meta is None:
        raise ValueError("--format audioset needs --meta: a *_segments.csv file or the folder holding them")
    files = _csv_files(meta)
    if not files:
        raise FileNotFoundError(f"--meta {meta}: no *_segments.csv file")
    notes = []
    if classes is None:
        beside = os.path.join(os.path.dirname(files[0]), "class_labels_indices.csv")
        classes = beside if os.path.isfile(beside) else None
    if classes is None:
        notes.append("classes: the shipped audioset_classes.csv (527 classes)")
    mids, names = read_ontology(classes or CLASSES_FILE)
    index = {m: i for i, m in enumerate(mids)}
    yt = F.YoutubeIndex(src, F.MEDIA_EXTS)
    items, missing, unknown, seen = [], [], 0, set()
    splits = []
    for path in files:
        split = os.path.basename(path).split("_segments")[0].replace(".csv", "")
        splits.append(split)
        for r in F.read_csv_rows(path):
            if len(r) < 4 or r[0].upper() == "YTID":
                continue
            ytid, start, end = r[0], float(r[1]), float(r[2])
            labels = [index[m] for m in r[3].split(",") if m in index]
            unknown += sum(1 for m in r[3].split(",") if m and m not in index)
            key = f"{ytid}_{int(start * 1000):d}"
            if key in seen:
                continue
            seen.add(key)
            found = yt.find(ytid, start, end)
            if found is None:
                missing.append((key, "file_not_found"))
                continue
            items.append(F.Item(path=found, id=key, split=split, labels=tuple(labels),
                                segment=(start, end), meta={"ytid": ytid}))
    if unknown:
        notes.append(f"{unknown} label ids not in the class list were dropped")
    aliases = {}
    trains = [s for s in splits if "train" in s]
    if trains and "train" not in splits:
        aliases["train"] = trains
    return F.Listing(format="audioset", items=items, class_names=names, multi_label=True,
                     missing=missing, aliases=aliases, notes=notes)
