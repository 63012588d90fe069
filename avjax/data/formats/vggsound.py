"""VGGSound: 10-s YouTube segments, 309 (or 310) classes, one label each.

--meta: `vggsound.csv`, rows `ytid,start_seconds,label,split` (no header; split train | test).
Classes: the sorted label names (or --classes). Files are found by YouTube id
(`<ytid>_<000030>.mp4`, `<ytid>_30_40.mp4`, `<ytid>.mp4`, ...); the segment is
[start, start + 10] s of a full-length file.
"""
from __future__ import annotations

import os

from avjax.data import formats as F

SEGMENT_SECONDS = 10.0


def list_items(src: str, meta: str | None = None, classes: str | None = None) -> F.Listing:
    if meta is None:
        cand = os.path.join(src, "vggsound.csv")
        if not os.path.isfile(cand):
            raise ValueError("--format vggsound needs --meta vggsound.csv")
        meta = cand
    if os.path.isdir(meta):
        meta = os.path.join(meta, "vggsound.csv")
    rows = [r for r in F.read_csv_rows(meta) if len(r) >= 4 and r[0] != "# YouTube ID"]
    names = F.read_class_list(classes) if classes else sorted({r[2] for r in rows})
    index = F.class_index(names, "VGGSound classes")
    yt = F.YoutubeIndex(src, F.MEDIA_EXTS)
    items, missing, seen = [], [], set()
    for ytid, start, label, split, *_ in rows:
        start = float(start)
        key = f"{ytid}_{int(start):06d}"
        if key in seen or label not in index:
            continue
        seen.add(key)
        path = yt.find(ytid, start, start + SEGMENT_SECONDS)
        if path is None:
            missing.append((key, "file_not_found"))
            continue
        items.append(F.Item(path=path, id=key, split=F.SPLIT_NAMES.get(split.lower(), split),
                            labels=(index[label],), segment=(start, start + SEGMENT_SECONDS),
                            meta={"class_name": label}))
    return F.Listing(format="vggsound", items=items, class_names=names, missing=missing)
