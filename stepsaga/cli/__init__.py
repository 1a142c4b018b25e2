"""The ``stepsaga`` command. Each subcommand lives in its own module with ``main(argv) -> int``.

stepsaga run            two sagas on the embedded stack (the README's main job)
stepsaga cost           cost per saga path, from the compiled ASL
stepsaga --version      the installed version
"""

from __future__ import annotations

import importlib
import sys

# subcommand -> (module, one-line help). Modules are imported only when their command runs.
COMMANDS: dict[str, tuple[str, str]] = {
    "run": ("stepsaga.cli.run", "run two sagas on the embedded stack and print their histories"),
    "cost": ("stepsaga.cli.cost", "state transitions, Lambda invocations and dollars per saga path"),
    "api": ("stepsaga.cli.api_server", "serve the saga HTTP API over an embedded stack on 127.0.0.1"),
    "saga": ("stepsaga.cli.saga", "start, list, inspect and steer sagas through the HTTP API"),
    "resume": (
        "stepsaga.cli.resume",
        "finish the rollback of a saga that ended CompensationFailed (no id: the demo)",
    ),
    "viewer": ("stepsaga.cli.viewer", "the local console: every machine and execution, on 127.0.0.1"),
    "up": ("stepsaga.cli.up", "one local stack for every tool: AWS endpoint, saga API and console"),
}


def version() -> str:
    """The installed distribution's version (a source tree that was never installed has none)."""
    from importlib.metadata import PackageNotFoundError
    from importlib.metadata import version as installed

    try:
        return installed("stepsaga")
    except PackageNotFoundError:
        return "unknown (not installed)"


def usage() -> str:
    lines = ["usage: stepsaga <command> [options] | stepsaga --version", "", "commands:"]
    lines += [f"  {name:<10} {summary}" for name, (_, summary) in COMMANDS.items()]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    if not args or args[0] in ("-h", "--help"):
        print(usage())
        return 0
    if args[0] in ("-V", "--version"):
        print(f"stepsaga {version()}")
        return 0
    command, rest = args[0], args[1:]
    if command not in COMMANDS:
        print(f"stepsaga: unknown command {command!r}\n\n{usage()}", file=sys.stderr)
        return 2
    module = importlib.import_module(COMMANDS[command][0])
    try:
        return int(module.main(rest) or 0)
    except SystemExit as exit_:  # argparse's --help and usage errors: its code, not a traceback
        if exit_.code is None or isinstance(exit_.code, int):
            return exit_.code or 0
        print(exit_.code, file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
