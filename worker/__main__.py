"""``python -m worker``: the same CLI as the ``curriculum-worker`` console script."""

from worker.cli import main

if __name__ == "__main__":
    main()
