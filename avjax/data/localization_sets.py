"""Sound-localization test sets: Flickr-SoundNet and VGG-SS ground truth as 224 x 224 maps.

Built exactly as SSPL / SACL `utils.testset_gt` (and EZ-VSL `bbox2gtmap`) build them:

- Flickr-SoundNet: `Annotations/<id>.xml`, one `<bbox>` per annotator box (grandchildren of the
  root); each `<bbox>`'s first child is skipped and the next four are xmin, ymin, xmax, ymax in
  256-px coordinates, mapped by `int(224 * v / 256)`. The boxes' masks (`[ymin:ymax, xmin:xmax]`,
  end exclusive) are summed, halved and clipped to 1: the consensus map, 1 where two or more
  annotators agree, 0.5 where only one does.
- VGG-SS: a JSON list of {"file": id, "bbox": [[x1, y1, x2, y2], ...]} with coordinates in [0, 1],
  mapped by `int(224 * max(v, 0))`; the map is the binary union of the boxes.

Test-id lists (`flickr_test249_in5k.csv`, `vggss_test_4692.csv`, ...): the first column of each row.
Maps are float32, 200 KB each: the 5158 VGG-SS maps take about 1 GB.
"""
from __future__ import annotations

import json
import os
import xml.etree.ElementTree as ET
from typing import Sequence

import numpy as np

from avjax.data import formats

GT_SIZE = 224
FLICKR_ANNOTATION_SIZE = 256
_FLICKR_FIX = "expected <bbox> elements holding a label then xmin, ymin, xmax, ymax integers in 256-px " \
              "coordinates; re-download the Flickr-SoundNet test annotations (Annotations/<id>.xml)"
_VGGSS_FIX = 'expected a JSON list of {"file": <id>, "bbox": [[x1, y1, x2, y2], ...]} with coordinates ' \
             "in [0, 1]; use the released vggss.json / vggss_test_5158.json"


def read_flickr_boxes(xml_path: str, size: int = GT_SIZE) -> np.ndarray:
    """The annotators' boxes of one Flickr-SoundNet XML: [K, 4] int64 (xmin, ymin, xmax, ymax) at `size`."""
    if not os.path.isfile(xml_path):
        raise FileNotFoundError(f"{xml_path}: annotation file not found; point the annotation folder at "
                                "the Flickr-SoundNet test Annotations/ (one <id>.xml per test image)")
    try:
        root = ET.parse(xml_path).getroot()
    except ET.ParseError as e:
        raise ValueError(f"{xml_path}: not valid XML ({e}); {_FLICKR_FIX}") from None
    boxes = []
    for child in root:
        for bbox in child:
            if bbox.tag != "bbox":
                continue
            fields = [ch.text for ch in bbox][1:5]
            try:
                values = [int(text) for text in fields]
            except (TypeError, ValueError):
                values = []
            if len(values) != 4:
                raise ValueError(f"{xml_path}: a <bbox> has fields {fields}; {_FLICKR_FIX}")
            boxes.append([int(size * v / FLICKR_ANNOTATION_SIZE) for v in values])
    if not boxes:
        raise ValueError(f"{xml_path}: no <bbox> found; {_FLICKR_FIX}")
    return np.array(boxes, np.int64)


def flickr_consensus_map(boxes: np.ndarray, size: int = GT_SIZE) -> np.ndarray:
    """[K, 4] annotator boxes -> [size, size] float32 consensus map in {0, 0.5, 1}."""
    votes = np.zeros((size, size), np.float32)
    for xmin, ymin, xmax, ymax in np.asarray(boxes).reshape(-1, 4):
        votes[ymin:ymax, xmin:xmax] += 1.0  # numpy slicing, as the official code, for any box
    return np.minimum(votes / 2.0, 1.0)


def box_union_map(boxes: np.ndarray, size: int = GT_SIZE) -> np.ndarray:
    """[K, 4] boxes -> [size, size] float32 binary union map."""
    union = np.zeros((size, size), np.float32)
    for xmin, ymin, xmax, ymax in np.asarray(boxes).reshape(-1, 4):
        union[ymin:ymax, xmin:xmax] = 1.0
    return union


def read_test_ids(csv_path: str) -> list[str]:
    """The ids of a test list (the first column of each row)."""
    if not os.path.isfile(csv_path):
        raise FileNotFoundError(f"{csv_path}: test-id list not found; use the released metadata CSV "
                                "(e.g. flickr_test249_in5k.csv, vggss_test_4692.csv)")
    return [row[0] for row in formats.read_csv_rows(csv_path) if row and row[0]]


def load_flickr_gt(annotation_dir: str, ids: Sequence[str], size: int = GT_SIZE) -> np.ndarray:
    """Consensus maps of `ids` from `<annotation_dir>/<id>.xml`: [N, size, size] float32."""
    return np.stack([flickr_consensus_map(read_flickr_boxes(os.path.join(annotation_dir, f"{i}.xml"), size), size)
                     for i in ids]) if len(ids) else np.zeros((0, size, size), np.float32)


def read_vggss_boxes(json_path: str, size: int = GT_SIZE) -> dict[str, np.ndarray]:
    """VGG-SS annotations: {file id: [K, 4] int64 (x1, y1, x2, y2) at `size`}."""
    if not os.path.isfile(json_path):
        raise FileNotFoundError(f"{json_path}: VGG-SS annotation file not found; {_VGGSS_FIX}")
    try:
        with open(json_path, encoding="utf-8") as f:
            entries = json.load(f)
    except (json.JSONDecodeError, UnicodeDecodeError) as e:
        raise ValueError(f"{json_path}: not valid JSON ({e}); {_VGGSS_FIX}") from None
    if not isinstance(entries, list):
        raise ValueError(f"{json_path}: top level is {type(entries).__name__}, not a list; {_VGGSS_FIX}")
    boxes = {}
    for n, entry in enumerate(entries):
        try:
            file_id = str(entry["file"])
            coords = [[int(size * max(float(v), 0)) for v in box] for box in entry["bbox"]]
        except (KeyError, TypeError, ValueError):
            coords = []
        if not coords or any(len(box) != 4 for box in coords):
            raise ValueError(f"{json_path}: entry {n} ({str(entry)[:80]}) is malformed; {_VGGSS_FIX}")
        boxes[file_id] = np.array(coords, np.int64)
    return boxes


def load_vggss_gt(json_path: str, ids: Sequence[str] | None = None,
                  size: int = GT_SIZE) -> tuple[list[str], np.ndarray]:
    """Box-union maps: (ids, [N, size, size] float32), for `ids` (default: every annotated file)."""
    boxes = read_vggss_boxes(json_path, size)
    ids = list(boxes) if ids is None else list(ids)
    missing = [i for i in ids if i not in boxes]
    if missing:
        raise ValueError(f"{json_path}: no boxes for {len(missing)} requested ids (first: {missing[0]!r}); "
                         "use the annotation JSON that matches the test-id list")
    maps = np.stack([box_union_map(boxes[i], size) for i in ids]) if ids else np.zeros((0, size, size), np.float32)
    return ids, maps
