"""Kinetics-400 (and -600/-700): videos + the official annotation CSVs or JSONs.

--meta is one annotation file or a folder of them:
  CSV:  label,youtube_id,time_start,time_end,split[,is_cc]   (train.csv, validate.csv, test.csv)
  JSON: {ytid: {"annotations": {"label", "segment": [s, e]}, "subset": "train" | "validate" | ...}}
Without --meta the tree `<src>/<split>/<class>/*.mp4` is read (the official loader's layout).
Files are found by YouTube id whatever their name (`<ytid>_<000010>_<000020>.mp4`, `<ytid>.mp4`).
Classes: the sorted label names (the standard Kinetics order). Rows without a label (the test CSV)
get label -1. Splits: train, val, test.
"""
from __future__ import annotations

import json
import os

from avjax.data import formats as F


def _annotation_files(meta: str) -> list[str]:
    if os.path.isfile(meta):
        return [meta]
    return sorted(os.path.join(meta, f) for f in os.listdir(meta) if f.endswith((".csv", ".json")))


def _rows(meta: str) -> list[dict]:
    """Annotation rows: {ytid, label (str | None), start, end, split}."""
    rows = []
    for path in _annotation_files(meta):
        base = os.path.basename(path).lower()
        default_split = next((v for k, v in F.SPLIT_NAMES.items() if k in base), "train")
        if path.endswith(".json"):
            with open(path, encoding="utf-8") as f:
                data = json.load(f)
            for ytid, ann in data.items():
                a = ann.get("annotations", {})
                seg = a.get("segment", [None, None])
                rows.append({"ytid": ytid, "label": a.get("label"),
                             "start": seg[0], "end": seg[1],
                             "split": F.SPLIT_NAMES.get(str(ann.get("subset", "")).lower(), default_split)})
            continue
        table = F.read_csv_rows(path)
        if not table:
            continue
        head = [h.lower() for h in table[0]]
        if "youtube_id" not in head:
            raise ValueError(f"--meta {path}: a Kinetics CSV has a header with youtube_id "
                             "(label,youtube_id,time_start,time_end,split)")
        col = {h: i for i, h in enumerate(head)}
        for r in table[1:]:
            get = lambda k: r[col[k]] if k in col and col[k] < len(r) else None  # noqa: E731
            rows.append({"ytid": get("youtube_id"), "label": get("label"),
                         "start": float(get("time_start")) if get("time_start") else None,
                         "end": float(get("time_end")) if get("time_end") else None,
                         "split": F.SPLIT_NAMES.get((get("split") or "").lower(), default_split)})
    return rows


def list_items(src: str, meta: str | None = None, classes: str | None = None,
               keep_classes: list[str] | None = None, name: str = "kinetics") -> F.Listing:
    """keep_classes: only these classes, numbered in this order (Kinetics-Sound)."""
    notes = []
    if meta is None:
        entries, names = F.folder_tree(src, F.VIDEO_EXTS)
        rows = [{"path": p, "ytid": F.stem(p), "label": c, "start": None, "end": None, "split": s}
                for p, s, c in entries]
        notes.append("no --meta: labels and splits from the <split>/<class>/ folder tree")
    else:
        rows = _rows(meta)
        names = sorted({r["label"] for r in rows if r["label"]})
    if classes:
        names = F.read_class_list(classes)
    if keep_classes is not None:
        names = list(keep_classes)
    index = F.class_index(names, "Kinetics classes")
    yt = F.YoutubeIndex(src, F.VIDEO_EXTS) if meta is not None else None
    items, missing, dropped = [], [], 0
    seen = set()
    for r in rows:
        label = r["label"]
        if label and label not in index:
            if keep_classes is not None:
                dropped += 1
                continue
            raise ValueError(f"class {label!r} of {r['ytid']} is not in the class list")
        if keep_classes is not None and not label:
            continue  # unlabelled rows are not part of a class subset
        if r["start"] is not None and r["end"] is not None:
            key = f"{r['ytid']}_{int(round(r['start'])):06d}_{int(round(r['end'])):06d}"
        else:
            key = r["ytid"]
        if key in seen:
            continue
        seen.add(key)
        path = r.get("path") or yt.find(r["ytid"], r["start"], r["end"])
        if path is None:
            missing.append((key, "file_not_found"))
            continue
        seg = (r["start"], r["end"]) if r["start"] is not None and r["end"] is not None else None
        items.append(F.Item(path=path, id=key, split=r["split"],
                            labels=(index[label],) if label else (), segment=seg,
                            meta={"class_name": label} if label else {}))
    if dropped:
        notes.append(f"{dropped} rows of other classes left out")
    return F.Listing(format=name, items=items, class_names=names, missing=missing, notes=notes)
