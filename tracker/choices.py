"""Status vocabulary, once: the choices with their labels, colours and order of badness.

Every page, export, API payload and alert text reads the label, colour and rank of a
status from here (``LagStatus``, ``BADNESS``, ``COLOUR``, ``LABEL``), never from a copy.

- 未到节点 (not due): nothing is expected yet; left out of shares and ranking denominators.
- 正常 / 滞后（黄） / 严重滞后（红）: behind the plan's own curve by less than / at least
  the yellow / more than the red threshold (see ``tracker.monitoring.rules.classify``).
- 未按时填报: no report for the month by the reporting deadline.
- 逾期未完成 (overdue): the completion deadline (预计完成时间) has passed and the target
  is not fully met. It stays until the target is met and is counted with the red ones
  (``RED_STATUSES``): a cell is never shown milder after its deadline than at it.
"""

from collections import Counter

from django.db import models


class LagStatus(models.TextChoices):
    """Status of a district on an indicator for a month (thresholds: ``tracker.conf``)."""

    ON_TRACK = "on_track", "正常"
    BEHIND = "behind", "滞后（黄）"
    SERIOUSLY_BEHIND = "seriously_behind", "严重滞后（红）"
    OVERDUE = "overdue", "逾期未完成"
    NOT_REPORTED = "not_reported", "未按时填报"
    NOT_DUE = "not_due", "未到节点"


S = LagStatus

#: Order of badness (higher is worse); ``worst`` and every "worst first" sort use it.
BADNESS = {
    S.NOT_DUE: 0,
    S.ON_TRACK: 1,
    S.BEHIND: 2,
    S.NOT_REPORTED: 3,
    S.SERIOUSLY_BEHIND: 4,
    S.OVERDUE: 5,
}
#: CSS colour class of each status (dashboard.css defines them).
COLOUR = {
    S.ON_TRACK: "green",
    S.BEHIND: "yellow",
    S.SERIOUSLY_BEHIND: "red",
    S.OVERDUE: "darkred",
    S.NOT_REPORTED: "grey",
    S.NOT_DUE: "none",
}
#: Fill colour (RRGGBB) of each status in Excel exports.
FILL = {
    S.ON_TRACK: "C6EFCE",
    S.BEHIND: "FFEB9C",
    S.SERIOUSLY_BEHIND: "FFC7CE",
    S.OVERDUE: "E6A0A8",
    S.NOT_REPORTED: "D9D9D9",
    S.NOT_DUE: "FFFFFF",
}
LABEL = dict(S.choices)

#: Statuses that need action (my work, alerts, streaks).
PROBLEM_STATUSES = (S.BEHIND, S.SERIOUSLY_BEHIND, S.OVERDUE, S.NOT_REPORTED)
#: Counted as 红 in counts, rankings and the notice.
RED_STATUSES = (S.SERIOUSLY_BEHIND, S.OVERDUE)


def worst(statuses) -> str:
    """The worst of ``statuses`` (see ``BADNESS``); 未到节点 for none."""
    statuses = list(statuses)
    return max(statuses, key=BADNESS.__getitem__) if statuses else S.NOT_DUE


def status_counts(statuses) -> dict[str, int]:
    """``{status: n}`` with every status present (zeros included), in badness order."""
    counts = Counter(statuses)
    return {str(k): counts.get(k, 0) for k in BADNESS}
