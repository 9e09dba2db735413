raise SystemExit("用法：python -m bench.lag … 或 python -m bench.api …")
