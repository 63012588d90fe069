"""A plain folder tree: `<root>/<class>/*.<media>` or `<root>/<split>/<class>/*.<media>`.

Classes are the sorted folder names; the split level is recognised when every top folder is a
split name (train, val, validation, test, eval). Video and audio files both work; a file without
audio gets an empty audio track (and without video, no frames) rather than being skipped.
"""
from __future__ import annotations

import os

from avjax.data import formats as F


def list_items(src: str, meta: str | None = None, classes: str | None = None) -> F.Listing:
    entries, names = F.folder_tree(src, F.MEDIA_EXTS)
    if classes:
        names = F.read_class_list(classes)
    index = F.class_index(names, "folder classes")
    items = []
    for path, split, cls in entries:
        if cls not in index:
            continue
        rel = os.path.splitext(os.path.relpath(path, src))[0].replace(os.sep, "/")
        items.append(F.Item(path=path, id=rel, split=split, labels=(index[cls],), meta={"class_name": cls}))
    return F.Listing(format="folder", items=items, class_names=names, needs_video=False, needs_audio=False)
