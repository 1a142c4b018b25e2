"""Regenerate (or, with --check, verify) every state machine's ``statemachines/*.asl.json``.

python -m statemachines          # write
python -m statemachines --check  # exit 1 if a file is stale
"""

import json
import sys

from statemachines import asl_path, machines
from statemachines.generated import write_or_check


def main(argv: list[str]) -> int:
    files = {
        asl_path(name): json.dumps(compile_machine(), indent=2) + "\n"
        for name, compile_machine in machines().items()
    }
    return write_or_check(files, check="--check" in argv, regenerate="python -m statemachines")


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
