"""DCASE 2013 acoustic scene classification (10 classes, 30-s stereo recordings; audio only).

--src: a folder holding `scenes_stereo/` (the development set: `<class><NN>.wav`, e.g. bus01.wav)
and optionally `scenes_stereo_testset/` (the challenge's test set), as the CrissCross loader reads
(`set1/scenes_stereo*`). The class is the file name without its digits. Development recordings go
to the parts `fold1`..`fold5` (class-stratified: the k-th recording of a class, in name order, to
fold k mod 5 + 1); aliases `train<k>` / `test<k>` are the five cross-validation splits, and
`train` = all development folds. Test-set recordings go to the part `test`.
--meta (optional): a CSV `filename,label[,split]` that overrides the names and splits.
"""
from __future__ import annotations

import os
import re

from avjax.data import formats as F

CLASSES = ("bus", "busystreet", "office", "openairmarket", "park", "quietstreet", "restaurant",
           "supermarket", "tube", "tubestation")
NUM_FOLDS = 5


def _class_of(path: str) -> str:
    return re.sub(r"[\d_\-\s]+$", "", F.stem(path)).lower()


def list_items(src: str, meta: str | None = None, classes: str | None = None) -> F.Listing:
    names = F.read_class_list(classes) if classes else list(CLASSES)
    index = F.class_index(names, "DCASE classes")
    files = F.walk_media(src, F.AUDIO_EXTS)
    table = {}
    if meta:
        rows = F.read_csv_rows(meta)
        table = {r[0]: r[1:] for r in rows[1:] if r}
    items, missing, per_class = [], [], {}
    for path in files:
        fname = os.path.basename(path)
        if table:
            if fname not in table:
                continue
            label, split = table[fname][0], (table[fname][1] if len(table[fname]) > 1 else "train")
        else:
            label = _class_of(path)
            split = "test" if "test" in os.path.relpath(path, src).lower() else "dev"
        if label not in index:
            missing.append((fname, f"unknown_class:{label}"))
            continue
        if split == "dev":
            k = per_class.get(label, 0)
            per_class[label] = k + 1
            split = f"fold{k % NUM_FOLDS + 1}"
        items.append(F.Item(path=path, id=F.stem(path), split=split, labels=(index[label],),
                            meta={"class_name": label}))
    folds = sorted({it.split for it in items if it.split.startswith("fold")})
    aliases = {}
    if folds:
        aliases["train"] = folds
        for f in folds:
            k = f[len("fold"):]
            aliases[f"train{k}"] = [g for g in folds if g != f]
            aliases[f"test{k}"] = [f]
    return F.Listing(format="dcase", items=items, class_names=names, needs_video=False,
                     aliases=aliases, missing=missing)
