"""``python -m kvs_sim``: the same as the ``kvs-sim`` command."""

from kvs_sim.cli import main

raise SystemExit(main())
