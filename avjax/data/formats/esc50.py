"""ESC-50: 2000 5-s environmental recordings, 50 classes, 5 folds (audio only).

--src: the ESC-50 root (audio/*.wav); --meta: meta/esc50.csv (default: <src>/meta/esc50.csv),
columns filename,fold,target,category,esc10,src_file,take. Each recording goes to the part
`fold<k>`; the aliases `train<k>` (the other four folds) and `test<k>` (fold k) name the five
cross-validation splits. label = target; class names from `category`.
"""
from __future__ import annotations

import os

from avjax.data import formats as F

NUM_FOLDS = 5


def list_items(src: str, meta: str | None = None, classes: str | None = None) -> F.Listing:
    meta = meta or os.path.join(src, "meta", "esc50.csv")
    if os.path.isdir(meta):
        meta = os.path.join(meta, "esc50.csv")
    if not os.path.isfile(meta):
        raise FileNotFoundError(f"--meta {meta}: the ESC-50 metadata CSV (meta/esc50.csv) is missing")
    rows = F.read_csv_rows(meta)
    col = {h: i for i, h in enumerate(rows[0])}
    by_name = {os.path.basename(p): p for p in F.walk_media(src, F.AUDIO_EXTS)}
    names: dict[int, str] = {}
    items, missing = [], []
    for r in rows[1:]:
        fname, fold, target = r[col["filename"]], int(r[col["fold"]]), int(r[col["target"]])
        names[target] = r[col["category"]]
        path = by_name.get(fname)
        if path is None:
            missing.append((fname, "file_not_found"))
            continue
        items.append(F.Item(path=path, id=os.path.splitext(fname)[0], split=f"fold{fold}",
                            labels=(target,), meta={"fold": fold, "class_name": names[target]}))
    class_names = F.read_class_list(classes) if classes else [names.get(i, str(i)) for i in range(max(names) + 1)]
    aliases = {}
    for k in range(1, NUM_FOLDS + 1):
        aliases[f"train{k}"] = [f"fold{j}" for j in range(1, NUM_FOLDS + 1) if j != k]
        aliases[f"test{k}"] = [f"fold{k}"]
    return F.Listing(format="esc50", items=items, class_names=class_names, needs_video=False,
                     aliases=aliases, missing=missing)
