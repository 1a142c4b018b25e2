"""Regenerate (or, with --check, verify) every generated file: the ASL and the diagrams.

python -m statemachines          # write statemachines/asl/*.asl.json and docs/diagrams/*
python -m statemachines --check  # exit 1 if a file is stale
"""

import argparse
import sys
from pathlib import Path

from statemachines.catalogue import ASL_DIR
from statemachines.generated import DIAGRAM_DIR, asl_files, diagram_files, write_or_check


def main(argv: list[str] | None = None, asl_dir: Path = ASL_DIR, diagram_dir: Path = DIAGRAM_DIR) -> int:
    parser = argparse.ArgumentParser(prog="python -m statemachines", description=__doc__.split("\n")[0])
    parser.add_argument("--check", action="store_true", help="exit 1 if a generated file is stale")
    args = parser.parse_args(argv)
    return write_or_check({**asl_files(asl_dir), **diagram_files(diagram_dir)}, check=args.check)


if __name__ == "__main__":
    sys.exit(main())
