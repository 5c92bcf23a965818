"""``python -m shoebox`` runs the ``shoebox`` command."""

from shoebox.cli import main

if __name__ == "__main__":
    main(prog_name="shoebox")
