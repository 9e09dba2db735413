"""Domain rules as plain functions; admin, API, tasks and commands call these."""
