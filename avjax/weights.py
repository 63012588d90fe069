"""Import public PyTorch backbone weights into Flax variables: `avjax import-weights`.

    avjax import-weights --arch vgg16|vggish|resnet18 --src FILE.pth|FILE.safetensors --out DIR

    arch      Flax module                          public checkpoint, state-dict keys
    vgg16     avjax.models.vgg.VGG16Conv5          torchvision vgg16: features.N (classifier.* ignored)
    vggish    avjax.models.vggish.VGGish           torchvggish vggish: features.N, embeddings.N
    resnet18  avjax.models.resnet.ResNet18Image    torchvision resnet18: conv1, bn1, layerK.J.*
                                                   (fc.*, *.num_batches_tracked ignored)

A checkpoint is read as plain tensors only: `torch.load(path, map_location="cpu", weights_only=True)`
(no arbitrary unpickling) or `safetensors`. Every Flax leaf must come from exactly one key: an
unknown key, a missing key or a wrong shape is a one-line error naming the key and the file.
Conv2d weights go OIHW -> HWIO, Linear weights [out, in] -> [in, out]; VGGish needs no other
permutation (see avjax.models.vggish). Values are stored as float32.

The output is one way: `DIR/variables.msgpack` (`flax.serialization`, {"params": ...,
"batch_stats": ... for resnet18}, plain NumPy arrays, no boxes) and `DIR/import.json` (arch,
source file, its sha256, counts). msgpack rather than Orbax: a single synchronous file of a few
hundred MB that any host reads whole; the task places it on its mesh. Load it with
`load_converted(DIR, arch)`.
"""
from __future__ import annotations

import functools
import hashlib
import json
import os
import re
from collections.abc import Mapping
from typing import Any

import flax
import flax.linen as nn
import jax
import numpy as np

ARCHS = ("vgg16", "vggish", "resnet18")
VARIABLES_FILE = "variables.msgpack"
META_FILE = "import.json"

# Keys of the public checkpoints that the feature extractors do not use.
_IGNORED = {
    "vgg16": re.compile(r"classifier\..*"),
    "vggish": re.compile(r"(?!)"),                       # nothing
    "resnet18": re.compile(r"fc\.(weight|bias)|.*\.num_batches_tracked"),
}
_LEAF_TO_TORCH = {"kernel": "weight", "scale": "weight", "bias": "bias",
                  "mean": "running_mean", "var": "running_var"}


def _check_arch(arch: str) -> None:
    if arch not in ARCHS:
        raise ValueError(f"unknown arch {arch!r}: expected one of {', '.join(ARCHS)}")


def build(arch: str) -> nn.Module:
    """The Flax module whose variables `arch` imports (ResNet-18 at torchvision's layer4 stride;
    SACL's `ResNet18Image(layer4_stride=1)` has the same variables)."""
    _check_arch(arch)
    if arch == "vgg16":
        from avjax.models.vgg import VGG16Conv5
        return VGG16Conv5()
    if arch == "vggish":
        from avjax.models.vggish import VGGish
        return VGGish()
    from avjax.models.resnet import ResNet18Image
    return ResNet18Image()


@functools.lru_cache(maxsize=None)
def expected_shapes(arch: str) -> dict:
    """{collection: nested dict of shape tuples} of `build(arch)`'s variables (nothing allocated)."""
    model = build(arch)
    if arch == "vggish":
        init = lambda: model.init(jax.random.PRNGKey(0), np.zeros((1, 96, 64), np.float32))  # noqa: E731
    elif arch == "vgg16":
        init = lambda: model.init(jax.random.PRNGKey(0), np.zeros((1, 32, 32, 3), np.float32))  # noqa: E731
    else:
        init = lambda: model.init(jax.random.PRNGKey(0), np.zeros((1, 32, 32, 3), np.float32),  # noqa: E731
                                  train=False)
    shapes = nn.unbox(jax.eval_shape(init))
    return jax.tree_util.tree_map(lambda s: tuple(s.shape), flax.core.unfreeze(shapes))


def torch_key(arch: str, path: tuple[str, ...]) -> str:
    """State-dict key of the Flax leaf at `path` (module names..., leaf name), e.g.
    ("layer1_0", "downsample_bn", "var") -> "layer1.0.downsample.1.running_var"."""
    *modules, leaf = path
    if arch == "vgg16":
        from avjax.models.vgg import torch_feature_indices
        names = [f"features.{torch_feature_indices()[modules[0]]}"]
    elif arch == "vggish":
        from avjax.models.vggish import TORCH_INDEX
        names = [TORCH_INDEX[modules[0]]]
    else:
        names = [{"downsample_conv": "downsample.0", "downsample_bn": "downsample.1"}.get(m, m)
                 for m in modules]
        names = [re.sub(r"^(layer\d)_(\d)$", r"\1.\2", m) for m in names]
    return ".".join(names + [_LEAF_TO_TORCH[leaf]])


def _to_flax(value: np.ndarray) -> np.ndarray:
    """Torch layout -> Flax layout: Conv2d OIHW -> HWIO, Linear [out, in] -> [in, out]."""
    if value.ndim == 4:
        return value.transpose(2, 3, 1, 0)
    if value.ndim == 2:
        return value.T
    return value


def _torch_shape(shape: tuple[int, ...]) -> tuple[int, ...]:
    """The inverse of `_to_flax` on shapes (for error messages)."""
    if len(shape) == 4:
        return (shape[3], shape[2], shape[0], shape[1])
    return tuple(reversed(shape))


def _first_line(e: BaseException) -> str:
    text = str(e).strip().splitlines()
    return f"{type(e).__name__}: {text[0][:200] if text else ''}"


def read_state_dict(path: str) -> dict[str, np.ndarray]:
    """A state dict as {key: NumPy array}, from `.safetensors` or a PyTorch file (`.pth`, `.pt`, ...).

    PyTorch files are read with `torch.load(..., map_location="cpu", weights_only=True)`, which
    refuses anything but tensors and plain containers; a file holding other objects is an error.
    """
    path = os.fspath(path)
    if not os.path.isfile(path):
        raise FileNotFoundError(f"{path}: no such file (pass the downloaded checkpoint as --src)")
    if path.endswith(".safetensors"):
        from safetensors.numpy import load_file
        try:
            return {k: np.asarray(v) for k, v in load_file(path).items()}
        except Exception as e:  # noqa: BLE001 - any reader failure is a bad file
            raise ValueError(f"{path}: not a readable safetensors file ({_first_line(e)})") from None
    try:
        import torch
    except ImportError:
        raise ValueError(f"{path}: reading a PyTorch checkpoint needs torch (pip install "
                         f"'avjax[torch]'), or pass a .safetensors file") from None
    try:
        obj = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as e:  # noqa: BLE001 - includes the weights_only refusal of arbitrary objects
        raise ValueError(f"{path}: not loadable as plain tensors with torch.load(weights_only=True) "
                         f"({_first_line(e)})") from None
    if not isinstance(obj, Mapping):
        raise ValueError(f"{path}: holds a {type(obj).__name__}, not a state dict of tensors")
    out = {}
    for key, value in obj.items():
        if not isinstance(value, torch.Tensor):
            hint = " (a training checkpoint? save its model's state_dict() instead)" \
                if isinstance(value, Mapping) else ""
            raise ValueError(f"{path}: key {key!r} holds a {type(value).__name__}, not a tensor{hint}")
        value = value.detach().cpu()
        out[key] = (value.float() if value.is_floating_point() else value).numpy()
    return out


def convert_state_dict(arch: str, state_dict: Mapping[str, Any], source: str = "state dict") -> dict:
    """PyTorch state dict -> Flax variables {"params": ..., ["batch_stats": ...]} of `build(arch)`,
    as float32 NumPy arrays (transposed views of the inputs where the layout changes). `source`
    names the file in error messages."""
    _check_arch(arch)
    plan = {}   # torch key -> (collection, path, flax shape)
    for collection, tree in expected_shapes(arch).items():
        for path, shape in flax.traverse_util.flatten_dict(tree).items():
            plan[torch_key(arch, path)] = (collection, path, shape)
    unknown = sorted(k for k in state_dict if k not in plan and not _IGNORED[arch].fullmatch(k))
    if unknown:
        more = f" (and {len(unknown) - 1} more)" if len(unknown) > 1 else ""
        raise ValueError(f"{source}: unknown key {unknown[0]!r}{more} for --arch {arch}; "
                         f"is it a {arch} checkpoint?")
    missing = [k for k in plan if k not in state_dict]
    if missing:
        more = f" (and {len(missing) - 1} more)" if len(missing) > 1 else ""
        raise ValueError(f"{source}: missing key {missing[0]!r}{more} for --arch {arch}")
    flat: dict[str, dict] = {}
    for key, (collection, path, shape) in plan.items():
        value = np.asarray(state_dict[key])
        if value.shape != _torch_shape(shape):
            raise ValueError(f"{source}: key {key!r} has shape {tuple(value.shape)}, --arch {arch} "
                             f"expects {_torch_shape(shape)}")
        # A transposed view: msgpack copies it once when it writes (a copy here costs seconds at 50M).
        flat.setdefault(collection, {})[path] = _to_flax(value).astype(np.float32, copy=False)
    return {c: flax.traverse_util.unflatten_dict(leaves) for c, leaves in flat.items()}


def _count(tree) -> int:
    return int(sum(np.prod(x.shape) for x in jax.tree_util.tree_leaves(tree)))


def _sha256(path: str) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 22), b""):
            h.update(block)
    return h.hexdigest()


def import_weights(arch: str, src: str, out: str) -> dict:
    """Convert `src` and write `out/variables.msgpack` + `out/import.json`; returns the summary."""
    _check_arch(arch)
    state_dict = read_state_dict(src)
    variables = convert_state_dict(arch, state_dict, source=src)
    os.makedirs(out, exist_ok=True)
    target = os.path.join(out, VARIABLES_FILE)
    with open(target + ".tmp", "wb") as f:
        f.write(flax.serialization.msgpack_serialize(variables))
    os.replace(target + ".tmp", target)   # never a half-written file under the final name
    meta = {"arch": arch, "source": os.path.abspath(src), "source_sha256": _sha256(src),
            "num_params": _count(variables["params"]),
            "num_batch_stats": _count(variables.get("batch_stats", {})),
            "ignored_keys": sorted(k for k in state_dict if _IGNORED[arch].fullmatch(k))}
    with open(os.path.join(out, META_FILE), "w") as f:
        json.dump(meta, f, indent=2)
    return {"out": os.path.abspath(out), **{k: v for k, v in meta.items() if k != "ignored_keys"},
            "num_ignored_keys": len(meta["ignored_keys"])}


def load_converted(directory: str, arch: str | None = None) -> dict:
    """Variables written by `avjax import-weights`: {"params": ..., ["batch_stats": ...]} of
    read-only NumPy float32 arrays, unboxed, laid out as `build(arch)`'s (check `arch` when given).

    Put them under the backbone's submodule name of a task's variables, e.g.
    `params["frame_net"] = load_converted(dir, "vgg16")["params"]`.
    """
    path = os.path.join(directory, VARIABLES_FILE)
    meta_path = os.path.join(directory, META_FILE)
    if not (os.path.isfile(path) and os.path.isfile(meta_path)):
        raise FileNotFoundError(f"{directory}: no {VARIABLES_FILE} + {META_FILE}; create them with "
                                f"`avjax import-weights --arch ... --src ... --out {directory}`")
    with open(meta_path) as f:
        saved_arch = json.load(f).get("arch")
    if arch is not None and saved_arch != arch:
        raise ValueError(f"{directory}: holds {saved_arch} weights, not {arch}")
    _check_arch(saved_arch)
    with open(path, "rb") as f:
        variables = flax.serialization.msgpack_restore(f.read())
    got = jax.tree_util.tree_map(lambda x: tuple(x.shape), variables)
    if got != expected_shapes(saved_arch):
        raise ValueError(f"{path}: its variables do not match avjax's {saved_arch} "
                         f"(re-run avjax import-weights)")
    return variables
