"""UCF101: 13,320 videos, 101 actions, three train/test splits (video; audio kept where present).

--src: UCF-101/ (`<Class>/v_<Class>_gXX_cYY.avi`); --meta: ucfTrainTestlist/ with classInd.txt
(`1 ApplyEyeMakeup`), trainlist0{1,2,3}.txt and testlist0{1,2,3}.txt. Without --meta the standard
rule is used: split k tests groups 7(k-1)+1 .. 7k (g01-g07, g08-g14, g15-g21) and classes are the
sorted folder names.

Each video is written once, into the part named by its membership over the three splits (e.g.
`tr_te_tr`: train in split 1, test in split 2, train in split 3). Aliases `train<k>` / `test<k>`
are the unions of parts, so `config.data.splits.eval = "test1"` reads split 1's test set.
"""
from __future__ import annotations

import os
import re

from avjax.data import formats as F

NUM_SPLITS = 3
_GROUP = re.compile(r"_g(\d+)_c\d+", re.IGNORECASE)


def _membership_aliases(parts: set[str]) -> dict[str, list[str]]:
    aliases = {}
    for k in range(NUM_SPLITS):
        for role, tag in (("train", "tr"), ("test", "te")):
            aliases[f"{role}{k + 1}"] = sorted(p for p in parts if p.split("_")[k] == tag)
    return aliases


def membership_part(roles: list[str]) -> str:
    """["tr", "te", "tr"] -> "tr_te_tr" ("no" marks a split that does not use the video); the name
    is a valid TFDS split name."""
    return "_".join(roles)


def list_items(src: str, meta: str | None = None, classes: str | None = None) -> F.Listing:
    files = F.walk_media(src, F.VIDEO_EXTS)
    by_name = {os.path.basename(p): p for p in files}
    if meta and os.path.isfile(os.path.join(meta, "classInd.txt")):
        ind = [line.split(maxsplit=1) for line in F.read_lines(os.path.join(meta, "classInd.txt"))]
        names = [n for _, n in sorted(ind, key=lambda x: int(x[0]))]
    else:
        names = sorted({os.path.basename(os.path.dirname(p)) for p in files})
    if classes:
        names = F.read_class_list(classes)
    index = F.class_index(names, "UCF101 classes")
    roles: dict[str, list[str]] = {}
    missing = []
    if meta:
        for k in range(1, NUM_SPLITS + 1):
            for role, tag in (("train", "tr"), ("test", "te")):
                path = os.path.join(meta, f"{role}list0{k}.txt")
                if not os.path.isfile(path):
                    raise FileNotFoundError(f"--meta {meta}: no {role}list0{k}.txt (the ucfTrainTestlist folder)")
                for line in F.read_lines(path):
                    name = os.path.basename(line.split()[0])
                    roles.setdefault(name, ["no"] * NUM_SPLITS)[k - 1] = tag
    else:
        for name in by_name:
            m = _GROUP.search(name)
            if m:
                g = int(m.group(1))
                roles[name] = ["te" if 7 * k < g <= 7 * (k + 1) else "tr" for k in range(NUM_SPLITS)]
    items = []
    for name, r in sorted(roles.items()):
        path = by_name.get(name)
        if path is None:
            missing.append((name, "file_not_found"))
            continue
        cls = os.path.basename(os.path.dirname(path))
        if cls not in index:  # the class from the file name: v_<Class>_gXX_cYY
            cls = name.split("_")[1] if name.count("_") >= 3 else cls
        if cls not in index:
            missing.append((name, f"unknown_class:{cls}"))
            continue
        items.append(F.Item(path=path, id=F.stem(name), split=membership_part(r), labels=(index[cls],),
                            meta={"class_name": cls, "splits": r}))
    return F.Listing(format="ucf101", items=items, class_names=names, needs_audio=False,
                     aliases=_membership_aliases({it.split for it in items}), missing=missing)
