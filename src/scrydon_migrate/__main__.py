"""``python -m scrydon_migrate``: the same as the ``scrydon-migrate`` command."""

from scrydon_migrate.cli import main

if __name__ == "__main__":
    main()
