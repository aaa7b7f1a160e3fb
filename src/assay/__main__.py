"""``python -m assay``: the ``assay`` command, for environments without its script on PATH."""

from assay.cli import main

if __name__ == "__main__":
    main()
