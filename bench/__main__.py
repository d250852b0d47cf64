"""``python -m bench``: run the benchmarks and print one table."""

from bench.runner import main

raise SystemExit(main())
