"""Kinetics-Sound: the 32 Kinetics-400 classes with sounds one can hear in the video.

The subset of Arandjelovic & Zisserman ("Look, Listen and Learn", ICCV 2017; 34 classes named on
an early Kinetics release) restricted to the classes of Kinetics-400, as used by the CrissCross
paper (Kinetics-Sound, 22K clips, 32 classes); `kinetics_sound_classes.txt` lists them in
alphabetical order (label = line number). The official CrissCross repository does not ship the
list: this one is reconstructed from the L3 paper's classes mapped onto Kinetics-400 names
("blowing out" -> "blowing out candles", "dribbling ball" -> "dribbling basketball", "mowing the
lawn by pushing lawnmower" -> "mowing lawn", "stomping" -> "stomping grapes"; "fingerpicking" and
"patting" have no Kinetics-400 class). Pass `--classes FILE` to use another list.

Files and metadata as `kinetics` (a Kinetics-400 tree + CSVs); rows of other classes are left out.
"""
from __future__ import annotations

from avjax.data import formats as F
from avjax.data.formats import kinetics

CLASSES_FILE = F.package_file("kinetics_sound_classes.txt")


def class_names() -> list[str]:
    return F.read_lines(CLASSES_FILE)


def list_items(src: str, meta: str | None = None, classes: str | None = None) -> F.Listing:
    keep = F.read_class_list(classes) if classes else class_names()
    return kinetics.list_items(src, meta, keep_classes=keep, name="kinetics_sound")
