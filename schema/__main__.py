"""`python -m schema [--check] [--output PATH]`: write, or check, the committed SDL (schema/schema.graphql)."""

from __future__ import annotations

import argparse
import difflib
import sys
from pathlib import Path

from schema.root import SDL_PATH, print_sdl


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m schema", description="Print the schema from the code into the committed SDL file."
    )
    parser.add_argument("--check", action="store_true",
                        help="write nothing; exit 1 (with a diff) when the file differs from the code")  # fmt: skip
    parser.add_argument("--output", type=Path, default=SDL_PATH, help="the SDL file (default: %(default)s)")
    args = parser.parse_args(argv)
    sdl = print_sdl()
    current = args.output.read_text() if args.output.exists() else ""
    if args.check:
        if current == sdl:
            print(f"{args.output} is up to date")
            return 0
        diff = difflib.unified_diff(current.splitlines(True), sdl.splitlines(True), str(args.output), "from the code")
        sys.stdout.writelines(diff)
        print(f"{args.output} is out of date: run python -m schema", file=sys.stderr)
        return 1
    args.output.write_text(sdl)
    print(f"wrote {args.output}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
