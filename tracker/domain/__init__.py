"""Pure domain rules (no database): the status of a cell and its roll-ups, and how
numbers are shown. ``tracker.plans.trajectory`` gives the plan's curve (序时应达)."""
