"""`python -m polysource` and the `polysource` command: Ctrl-C at any moment, even while the
modules load (before click handles it), ends with "interrupted" and exit 130, never a traceback."""

import sys


def run() -> None:
    try:
        from polysource.cli import main

        main()
    except KeyboardInterrupt:
        sys.stderr.write("\ninterrupted\n")
        sys.exit(130)


if __name__ == "__main__":
    run()
