"""Regenerate (or, with --check, verify) every state machine's ``statemachines/*.asl.json``.

python -m statemachines          # write
python -m statemachines --check  # exit 1 if a file is stale
"""

import json
import sys

from statemachines import asl_path, machines


def main(argv: list[str]) -> int:
    check = "--check" in argv
    stale = []
    for name, compile_machine in machines().items():
        path = asl_path(name)
        text = json.dumps(compile_machine(), indent=2) + "\n"
        if path.exists() and path.read_text() == text:
            continue
        if check:
            stale.append(path.name)
        else:
            path.write_text(text)
            print(f"wrote {path}")
    if stale:
        print(f"stale: {', '.join(stale)}; run `python -m statemachines`", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
