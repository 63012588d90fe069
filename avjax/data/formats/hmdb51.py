"""HMDB51: 6,766 videos, 51 actions, three train/test splits (video only).

--src: hmdb51/ (`<class>/<video>.avi`); --meta: the split folder (testTrainMulti_7030_splits) with
`<class>_test_split{1,2,3}.txt`, lines `<video>.avi <0|1|2>` (1 train, 2 test, 0 not used).
Classes: the sorted class names (the standard order).

As UCF101, each video is written once into the part named by its membership over the three splits
(`tr_te_no`: train in split 1, test in split 2, unused in split 3); aliases `train<k>` / `test<k>`.
"""
from __future__ import annotations

import os
import re

from avjax.data import formats as F
from avjax.data.formats.ucf101 import NUM_SPLITS, _membership_aliases, membership_part

_SPLIT_FILE = re.compile(r"^(.*)_test_split(\d)\.txt$")
_ROLE = {"0": "no", "1": "tr", "2": "te"}


def list_items(src: str, meta: str | None = None, classes: str | None = None) -> F.Listing:
    if meta is None:
        raise ValueError("--format hmdb51 needs --meta: the folder of <class>_test_split<k>.txt files")
    files = F.walk_media(src, F.VIDEO_EXTS)
    by_name = {os.path.basename(p): p for p in files}
    roles: dict[str, list[str]] = {}
    cls_of: dict[str, str] = {}
    for fname in sorted(os.listdir(meta)):
        m = _SPLIT_FILE.match(fname)
        if not m:
            continue
        cls, k = m.group(1), int(m.group(2))
        for line in F.read_lines(os.path.join(meta, fname)):
            parts = line.split()
            if len(parts) < 2:
                continue
            roles.setdefault(parts[0], ["no"] * NUM_SPLITS)[k - 1] = _ROLE.get(parts[1], "no")
            cls_of[parts[0]] = cls
    if not roles:
        raise FileNotFoundError(f"--meta {meta}: no <class>_test_split<k>.txt files")
    names = F.read_class_list(classes) if classes else sorted(set(cls_of.values()))
    index = F.class_index(names, "HMDB51 classes")
    items, missing = [], []
    for name, r in sorted(roles.items()):
        path = by_name.get(name)
        if path is None:
            missing.append((name, "file_not_found"))
            continue
        items.append(F.Item(path=path, id=F.stem(name), split=membership_part(r),
                            labels=(index[cls_of[name]],), meta={"class_name": cls_of[name], "splits": r}))
    return F.Listing(format="hmdb51", items=items, class_names=names, needs_audio=False,
                     aliases=_membership_aliases({it.split for it in items}), missing=missing)
