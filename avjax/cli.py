"""The `avjax` command.

    avjax train --config configs/crisscross/synthetic.py:variant=tiny --workdir DIR [--config.field=value ...]
    avjax eval  --workdir DIR [--random_init] [--config.field=value ...]
                  (localization tasks also write heatmap overlays into DIR/overlays)
        several hosts (train, eval): [--coordinator HOST:PORT --num_processes N --process_id I
        --init_timeout SECONDS]; under SLURM or on a Cloud TPU slice these come from the environment
        (see avjax.sharding.initialize_distributed and launch/)
    avjax demo  [--workdir runs/demo] [--config.field=value ...]
    avjax downstream --config configs/downstream/esc50.py --workdir DIR --config.init_from=PRETRAIN_DIR
                  (UCF101/HMDB51 finetuning, ESC-50/DCASE linear classifiers on a pretrained encoder)
    avjax convert --format kinetics --src DIR --meta FILE --out DIR [--fps 16 --short-side 128
                  --sample-rate 16000 --workers N]     (raw videos -> ArrayRecord shards)
    avjax import-weights --arch vgg16|vggish|resnet18 --src FILE.pth|FILE.safetensors --out DIR
                  (public PyTorch backbone weights -> Flax variables; see avjax.weights)
"""
from __future__ import annotations

import argparse
import json
import sys


def main(argv=None):
    parser = argparse.ArgumentParser(prog="avjax", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="command", required=True)
    multihost = argparse.ArgumentParser(add_help=False)
    group = multihost.add_argument_group("several hosts (default: from SLURM / Cloud TPU, else one process)")
    group.add_argument("--coordinator", default=None, metavar="HOST:PORT",
                       help="address of process 0, which hosts the jax.distributed coordinator")
    group.add_argument("--num_processes", type=int, default=None, metavar="N", help="processes in the job")
    group.add_argument("--process_id", type=int, default=None, metavar="I", help="this process, 0..N-1")
    group.add_argument("--init_timeout", type=int, default=300, metavar="SECONDS",
                       help="how long to wait for every process to join (default 300)")
    p_train = sub.add_parser("train", parents=[multihost], help="train (or resume) a task from a config file")
    p_train.add_argument("--config", required=True, help="path/to/config.py[:arg]")
    p_train.add_argument("--workdir", required=True)
    p_eval = sub.add_parser("eval", parents=[multihost], help="evaluate the latest checkpoint of a workdir")
    p_eval.add_argument("--workdir", required=True)
    p_eval.add_argument("--random_init", action="store_true",
                        help="evaluate a fresh initialisation with the run's config (a baseline), not the checkpoint")
    p_demo = sub.add_parser("demo", help="CrissCross on the synthetic world: random init vs trained")
    p_demo.add_argument("--workdir", default="runs/demo")
    p_demo.add_argument("--config", default=None)
    p_down = sub.add_parser("downstream", parents=[multihost],
                            help="evaluate a pretrained encoder: finetune (UCF101, HMDB51) or linear "
                            "classifiers on frozen audio features (ESC-50, DCASE)")
    p_down.add_argument("--config", required=True, help="configs/downstream/<dataset>.py[:arg]")
    p_down.add_argument("--workdir", required=True)
    p_convert = sub.add_parser("convert", help="raw videos + metadata -> ArrayRecord shards + manifest.json "
                               "(resumable: rerun the same command to continue)")
    p_import = sub.add_parser("import-weights", help="convert a public PyTorch backbone checkpoint "
                              "(torchvision VGG16 / ResNet-18, torchvggish) into Flax variables")
    from avjax import weights as weights_lib
    p_import.add_argument("--arch", required=True, choices=weights_lib.ARCHS)
    p_import.add_argument("--src", required=True, help="the state dict: FILE.pth or FILE.safetensors")
    p_import.add_argument("--out", required=True, help="output folder (variables.msgpack, import.json)")
    from avjax import sharding
    from avjax.data import convert as convert_lib
    convert_lib.add_arguments(p_convert)
    args, overrides = parser.parse_known_args(argv)
    if args.command in ("convert", "import-weights") and overrides:
        parser.error(f"{args.command}: unknown arguments {overrides}")

    try:
        if args.command in ("train", "eval", "downstream"):  # before any other JAX call
            sharding.initialize_distributed(args.coordinator, args.num_processes, args.process_id,
                                            args.init_timeout, error_prefix=f"avjax {args.command}")
        from avjax import train as train_lib
        train_lib.enable_compilation_cache()
        if args.command == "train":
            from avjax import configs, train
            config = configs.apply_overrides(configs.load_config(args.config), overrides)
            result = train.train(config, args.workdir)
            print(json.dumps(result, indent=2))
        elif args.command == "eval":
            from avjax import evaluate
            print(json.dumps(evaluate.evaluate_workdir(args.workdir, overrides, args.random_init), indent=2))
        elif args.command == "downstream":
            from avjax import configs, downstream
            config = configs.apply_overrides(configs.load_config(args.config), overrides)
            print(json.dumps(downstream.run(config, args.workdir), indent=2))
        elif args.command == "demo":
            from avjax import demo
            demo.run(args.workdir, args.config or demo.DEMO_CONFIG, overrides)
        elif args.command == "convert":
            print(json.dumps(convert_lib.run_from_args(args), indent=2))
        elif args.command == "import-weights":
            print(json.dumps(weights_lib.import_weights(args.arch, args.src, args.out), indent=2))
    except (ValueError, FileNotFoundError, sharding.DistributedInitError) as e:  # user errors: one clear line
        print(f"avjax {args.command}: error: {e}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
