"""The `avjax` command.

    avjax train --config configs/crisscross/synthetic.py:variant=tiny --workdir DIR [--config.field=value ...]
    avjax eval  --workdir DIR [--config.field=value ...]
    avjax demo  [--workdir runs/demo] [--config.field=value ...]
    avjax convert --format kinetics --src DIR --meta FILE --out DIR [--fps 16 --short-side 128
                  --sample-rate 16000 --workers N]     (raw videos -> ArrayRecord shards)
"""
from __future__ import annotations

import argparse
import json
import sys


def main(argv=None):
    parser = argparse.ArgumentParser(prog="avjax", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="command", required=True)
    p_train = sub.add_parser("train", help="train (or resume) a task from a config file")
    p_train.add_argument("--config", required=True, help="path/to/config.py[:arg]")
    p_train.add_argument("--workdir", required=True)
    p_eval = sub.add_parser("eval", help="evaluate the latest checkpoint of a workdir")
    p_eval.add_argument("--workdir", required=True)
    p_demo = sub.add_parser("demo", help="CrissCross on the synthetic world: random init vs trained")
    p_demo.add_argument("--workdir", default="runs/demo")
    p_demo.add_argument("--config", default=None)
    p_convert = sub.add_parser("convert", help="raw videos + metadata -> ArrayRecord shards + manifest.json "
                               "(resumable: rerun the same command to continue)")
    from avjax.data import convert as convert_lib
    convert_lib.add_arguments(p_convert)
    args, overrides = parser.parse_known_args(argv)
    if args.command == "convert" and overrides:
        parser.error(f"convert: unknown arguments {overrides}")

    from avjax import train as train_lib
    train_lib.enable_compilation_cache()
    try:
        if args.command == "train":
            from avjax import configs, train
            config = configs.apply_overrides(configs.load_config(args.config), overrides)
            result = train.train(config, args.workdir)
            print(json.dumps(result, indent=2))
        elif args.command == "eval":
            from avjax import evaluate
            print(json.dumps(evaluate.evaluate_workdir(args.workdir, overrides), indent=2))
        elif args.command == "demo":
            from avjax import demo
            demo.run(args.workdir, args.config or demo.DEMO_CONFIG, overrides)
        elif args.command == "convert":
            print(json.dumps(convert_lib.run_from_args(args), indent=2))
    except (ValueError, FileNotFoundError) as e:  # user errors: one clear line, no traceback
        print(f"avjax {args.command}: error: {e}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
