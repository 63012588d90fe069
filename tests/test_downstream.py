"""Downstream evaluations of CrissCross encoders (methods/crisscross.md, section 6).

Finetuning (task finetune_video, UCF101 / HMDB51's protocol) on the synthetic world from a tiny
pretraining checkpoint made here with 20 steps of `train.train`; the ESC-50 linear SVM on frozen
audio features, end to end through `avjax downstream` (avjax.cli), on fold-structured shards converted from
generated WAV files; the classifiers, the schedule and the configs on their own.
"""
import json
import os

import jax
import numpy as np
import orbax.checkpoint as ocp
import pytest

from avjax import checkpoint as ckpt_lib
from avjax import cli, configs, downstream, optim, train
from avjax.data import convert
from avjax.evaluators import classification
from avjax.tasks import finetune_video
from conftest import REPO, tiny_config

SR = 16000


@pytest.fixture(scope="module")
def pretrained(tmp_path_factory):
    """A CrissCross pretraining workdir (tiny): the `init_from` of every test here.

    20 steps, as the resume test in test_train.py: the same compiled step (the schedule is baked
    into it), so a full run compiles it once and this fixture loads it from the XLA cache."""
    workdir = str(tmp_path_factory.mktemp("pretrain") / "crisscross")
    train.train(tiny_config(total_steps=20, checkpoint_every=20), workdir, evaluate_at_end=False)
    return workdir


def finetune_config(**fields):
    config = configs.load_config(os.path.join(REPO, "configs/downstream/synthetic.py:variant=tiny"))
    config.mesh = [("data", 1), ("fsdp", 1)]
    config.update_from_flattened_dict(fields)
    return config


def read_losses(workdir):
    with open(os.path.join(workdir, "metrics.jsonl")) as f:
        rows = [json.loads(line) for line in f if line.strip()]
    return [r["loss"] for r in sorted(rows, key=lambda r: r["step"]) if "loss" in r]


# ---------------------------------------------------------------------------------------------
# Finetuning.
# ---------------------------------------------------------------------------------------------

@pytest.mark.filterwarnings("ignore:Sharding info not provided")
@pytest.mark.slow(90)
@pytest.mark.xdist_group("crisscross_pretrained")  # one `pretrained` fixture run
def test_finetune_from_pretrained_restores_backbone_and_learns(pretrained, tmp_path, monkeypatch):
    # What the trainer's fresh start gets from `load_pretrained` (copied: the step donates the state).
    restored = {}
    load = finetune_video.load_pretrained

    def spy(state, shardings, *, config):
        state = load(state, shardings, config=config)
        restored.update(jax.device_get({"params": state["params"], "stats": state["model_state"]["batch_stats"]}))
        return state

    monkeypatch.setattr(finetune_video, "load_pretrained", spy)
    config = finetune_config(init_from=pretrained, log_every=1, **{"data.num_eval": 40})
    workdir = str(tmp_path / "finetune")
    result = downstream.run(config, workdir)  # a finetuning config: the trainer, from init_from

    # The video backbone starts as the checkpoint's, exactly: params and BatchNorm statistics.
    directory, step = ckpt_lib.latest_in_workdir(pretrained)
    saved = ocp.PyTreeCheckpointer().restore(os.path.join(directory, str(step), "state"))
    got = dict(_flat({"params": restored["params"]["video_backbone"], "stats": restored["stats"]["video_backbone"]}))
    want = dict(_flat({"params": saved["params"]["video_backbone"],
                       "stats": saved["model_state"]["batch_stats"]["video_backbone"]}))
    assert got.keys() == want.keys() and len(got) > 50
    for k, v in want.items():
        np.testing.assert_array_equal(got[k], np.asarray(v), err_msg=k)
    assert set(restored["params"]) == {"video_backbone", "head"}

    # Then it learns: the cross-entropy falls (from a random head on 10 classes).
    losses = read_losses(workdir)
    assert len(losses) == config.total_steps == 60
    first, last = np.mean(losses[:5]), np.mean(losses[-10:])
    assert last < first - 0.1, (first, last, losses)
    # Multi-clip top-1 over the 40 eval videos (2 clips each), and the clip-level accuracy.
    assert 0.0 <= result["top1"] <= 1.0 and 0.0 <= result["top1_clip"] <= 1.0
    assert result["top1"] * 40 == pytest.approx(round(result["top1"] * 40))
    assert result["top1_best_epoch"] == result["top1"] and result["top1_best_step"] == 60  # one evaluation


def _flat(tree):
    return [("/".join(str(p.key) for p in path), leaf) for path, leaf in jax.tree_util.tree_flatten_with_path(tree)[0]]


@pytest.mark.slow(90)
@pytest.mark.xdist_group("crisscross_pretrained")  # one `pretrained` fixture run
def test_init_from_errors_name_the_field(pretrained, tmp_path):
    with pytest.raises(ValueError, match="config.init_from is empty"):
        finetune_video.load_pretrained({}, {}, config=finetune_config(init_from=""))
    with pytest.raises(FileNotFoundError, match="config.init_from=.*no checkpoint"):
        finetune_video.load_pretrained({}, {}, config=finetune_config(init_from=str(tmp_path / "nope")))
    wrong = {"params": {"video_backbone": {"stem_conv": {"kernel": jax.ShapeDtypeStruct((3, 7, 7, 3, 16), np.float32)}}}}
    with pytest.raises(ValueError, match="config.model must match"):
        ckpt_lib.restore_partial(pretrained, wrong)
    with pytest.raises(ValueError, match="has no 'params/image_backbone'"):
        ckpt_lib.restore_partial(pretrained, {"params": {"image_backbone": {"k": jax.ShapeDtypeStruct((1,), np.float32)}}})


def test_multistep_schedule():
    lr = optim.multistep(1.0, 0.1, (2, 4))
    np.testing.assert_allclose([float(lr(s)) for s in range(6)], [1, 1, 0.1, 0.1, 0.01, 0.01], rtol=1e-6)


def test_finetune_configs_follow_the_recipes():
    ucf = configs.load_config(os.path.join(REPO, "configs/downstream/ucf101.py:split=2,frames=8,pretrain=audioset"))
    assert ucf.task == "finetune_video" and dict(ucf.data.splits) == {"train": "train2", "eval": "test2"}
    assert ucf.data.num_classes == 101 and ucf.batch_size == 64 and ucf.video.crop_size == 224
    spe = -(-9586 * 10 // 64)
    g = ucf.optim.groups[0]
    assert (g.lr, g.gamma, tuple(g.milestones)) == (7e-5, 0.1, (8 * spe, 12 * spe, 16 * spe))
    assert ucf.model.dropout == 0.1 and ucf.total_steps == 20 * spe and ucf.eval.clips_per_video == 10
    hmdb = configs.load_config(os.path.join(REPO, "configs/downstream/hmdb51.py:split=3"))
    assert dict(hmdb.data.splits) == {"train": "train3", "eval": "test3"} and hmdb.video.num_frames == 32
    assert hmdb.optim.groups[0].lr == 1e-4 and hmdb.optim.groups[0].gamma == 0.3 and hmdb.batch_size == 32
    with pytest.raises(ValueError, match="split=4"):
        configs.load_config(os.path.join(REPO, "configs/downstream/ucf101.py:split=4"))
    dcase = configs.load_config(os.path.join(REPO, "configs/downstream/dcase.py:protocol=test"))
    assert dcase.eval.test_split == "test" and dcase.classifier.kind == "linear" and dcase.audio.seconds == 1.0
    esc = configs.load_config(os.path.join(REPO, "configs/downstream/esc50.py"))
    assert esc.classifier.C == 1e-4 and esc.eval.train_clips_per_video == 100 and len(esc.eval.folds) == 5


# ---------------------------------------------------------------------------------------------
# Linear classifiers on frozen audio features.
# ---------------------------------------------------------------------------------------------

FREQS = (220.0, 880.0, 3000.0)  # one tone per class: an easy case


def make_esc50(root: str) -> str:
    """An ESC-50 layout (audio/*.wav + meta/esc50.csv): 3 classes x 5 folds x 2 recordings of 5 s."""
    rng = np.random.default_rng(0)
    os.makedirs(os.path.join(root, "audio"))
    os.makedirs(os.path.join(root, "meta"))
    rows = ["filename,fold,target,category,esc10,src_file,take"]
    t = np.arange(5 * SR) / SR
    for fold in range(1, 6):
        for cls, freq in enumerate(FREQS):
            for take in "AB":
                name = f"{fold}-{cls}{take}-A-{cls}.wav"
                gate = 0.5 + 0.5 * (np.sin(2 * np.pi * rng.uniform(1, 3) * t) > 0)
                x = 0.3 * gate * np.sin(2 * np.pi * freq * rng.uniform(0.95, 1.05) * t + rng.uniform(0, 6))
                x = (x + 0.02 * rng.standard_normal(len(t))).astype(np.float32)
                convert.write_media(os.path.join(root, "audio", name), None, audio=x, sample_rate=SR)
                rows.append(f"{name},{fold},{cls},tone{cls},False,1,{take}")
    with open(os.path.join(root, "meta", "esc50.csv"), "w") as f:
        f.write("\n".join(rows) + "\n")
    return root


@pytest.mark.slow(90)
@pytest.mark.xdist_group("crisscross_pretrained")  # one `pretrained` fixture run
def test_esc50_linear_svm_per_fold(pretrained, tmp_path):
    src = make_esc50(str(tmp_path / "ESC-50"))
    shards = str(tmp_path / "shards")
    manifest = convert.convert("esc50", src, shards, settings=convert.Settings(records_per_shard=8), workers=1,
                               progress=False)
    assert manifest["records"] == 30 and sorted(manifest["splits"]) == [f"fold{k}" for k in range(1, 6)]
    workdir = str(tmp_path / "esc50")
    rc = cli.main(["downstream", "--config", f"configs/downstream/esc50.py:path={shards}", "--workdir", workdir,
                          f"--config.init_from={pretrained}", "--config.mesh=[('data', 1), ('fsdp', 1)]",
                          "--config.data.num_classes=3", "--config.eval.train_clips_per_video=4",
                          "--config.eval.test_clips_per_video=2", "--config.eval_batch_size=32"])
    assert rc == 0
    with open(os.path.join(workdir, "downstream.json")) as f:
        result = json.load(f)
    assert sorted(result["folds"]) == [f"fold{k}" for k in range(1, 6)]
    assert result["mean"] == pytest.approx(np.mean(list(result["folds"].values())))
    assert result["mean"] > 0.8, result  # chance: 1/3
    # 4 training clips of 24 recordings (the other folds); 64 channels x 2 bands x 3 time steps.
    assert result["num_train_features"]["fold1"] == 4 * 6 and result["feature_dim"] == 64 * 2 * 3
    assert result["C"] == 1e-4 and result["step"] == 20
    # A user error is one line and exit code 2.
    assert cli.main(["downstream", "--config", f"configs/downstream/esc50.py:path={shards}", "--workdir", workdir,
                            f"--config.init_from={tmp_path / 'nope'}"]) == 2


def test_classifiers_on_clusters():
    """LinearSVC and the Adam-fitted linear layer on Gaussian clusters, clip scores averaged per video."""
    rng = np.random.default_rng(0)
    centres = rng.standard_normal((4, 16)) * 2

    def clips(n_videos, k):
        y = np.repeat(np.arange(n_videos) % 4, k)
        return centres[y] + rng.standard_normal((len(y), 16)), y, np.repeat(np.arange(n_videos), k)

    (x, y, _), (tx, ty, ti) = clips(40, 5), clips(20, 3)
    scores, info = classification.linear_svm(x, y, tx, C=1.0, num_classes=5)
    assert scores.shape == (60, 5) and np.all(np.isneginf(scores[:, 4])) and info["converged"]
    assert classification.multiclip_top1(scores, ti, ty) > 0.9
    out = classification.softmax_classifier(x, y, tx, ty, ti, 4, epochs=20, batch_size=64, lr=1e-2)
    assert out["top1"] > 0.9 and 1 <= out["best_epoch"] <= 20 and out["top1_best_epoch"] >= out["top1"]
    v, labels = classification.video_level(np.eye(3)[[0, 1, 1, 2]], np.array([7, 7, 3, 3]), np.array([1, 1, 2, 2]))
    np.testing.assert_allclose(v, [[0, 0.5, 0.5], [0.5, 0.5, 0]])
    np.testing.assert_array_equal(labels, [2, 1])
