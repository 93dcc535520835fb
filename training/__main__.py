"""Train a digit recognizer on real MNIST and publish it as the app's current model.

Usage:
    python -m training                      # the app's default MLP
    python -m training --arch seed          # the 10-line lesson's network
    python -m training --dry-run            # a quick check: one epoch, a subset

A dry run never replaces the app's model: without --store it publishes into a new
temporary folder, which it names.
"""

from __future__ import annotations

import argparse
import logging
import sys
import tempfile

from training.train import ARCH_DEFAULTS, TrainSettings, settings_for, train_and_publish

DEFAULTS = TrainSettings()


class HelpFormatter(argparse.ArgumentDefaultsHelpFormatter):
    """Shows a default only where there is one; the others say theirs in the help."""

    def _get_help_string(self, action: argparse.Action) -> str:
        if action.default is None or action.default is False:
            return action.help or ""
        return super()._get_help_string(action)


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m training",
        description=__doc__.splitlines()[0],
        formatter_class=HelpFormatter,
    )
    parser.add_argument(
        "--arch",
        choices=sorted(ARCH_DEFAULTS),
        default="mlp",
        help="seed: the lesson's 784-10-10 network; mlp: the app's default",
    )
    parser.add_argument(
        "--epochs",
        type=int,
        default=None,
        help=f"passes over the data (seed: 10, mlp: {DEFAULTS.epochs})",
    )
    parser.add_argument(
        "--batch-size",
        type=int,
        default=None,
        help=f"images per step (seed: 32, mlp: {DEFAULTS.batch_size})",
    )
    parser.add_argument("--seed", type=int, default=DEFAULTS.seed, help="random seed")
    parser.add_argument(
        "--data", default=None, help="an mnist.npz to use before any other source"
    )
    parser.add_argument(
        "--store",
        default=None,
        help="model store folder (default: $DIGIT_MODEL_STORE or model_store/models)",
    )
    parser.add_argument("--name", default=None, help="model name (default: arch-time)")
    parser.add_argument(
        "--dry-run",
        action="store_true",
        help="a small subset and one epoch, to check the pipeline; published into "
        "a temporary store unless --store is given",
    )
    parser.add_argument(
        "--feedback",
        default=None,
        help="an npz exported from the app's corrections, mixed into the training set",
    )
    parser.add_argument(
        "--feedback-weight",
        type=float,
        default=DEFAULTS.feedback_weight,
        help="how many times each correction is repeated in the training set",
    )
    arguments = parser.parse_args(argv)
    for flag in ("epochs", "batch_size", "feedback_weight"):
        value = getattr(arguments, flag)
        if value is not None and not value >= 1:
            parser.error(f"--{flag.replace('_', '-')} must be at least 1")
    return arguments


def main(argv: list[str] | None = None) -> int:
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    arguments = parse_args(argv)
    settings = settings_for(
        arguments.arch,
        epochs=arguments.epochs,
        batch_size=arguments.batch_size,
        seed=arguments.seed,
        dry_run=arguments.dry_run,
        feedback_path=arguments.feedback,
        feedback_weight=arguments.feedback_weight,
    )
    log = logging.getLogger("training")
    store = arguments.store
    if arguments.dry_run and store is None:
        store = tempfile.mkdtemp(prefix="digit-sketchpad-dry-run-")
        log.info("dry run: publishing into %s, not the app's store", store)
    name, record = train_and_publish(
        settings, arguments.data, store, name=arguments.name
    )
    log.info(
        "%s ready: test accuracy %.4f, %d parameters",
        name,
        record["test_accuracy"],
        record["parameters"],
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
