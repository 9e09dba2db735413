raise SystemExit("用法：python -m bench.lag …、python -m bench.api … 或 python -m bench.save …")
