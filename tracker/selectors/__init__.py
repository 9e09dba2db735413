"""Read models for the pages and the API, one module per feature, over the stored cell
statuses (the output of ``tracker.monitoring.rules``):

- ``overview`` 总览, ``matrix`` 区县×指标 (and a project's page), ``ranking`` 晾晒排名,
  ``scorecard`` 区县, ``my_work`` 我的待办, ``cell`` one cell's year, ``notice`` 月度通报;
- ``alerts``: the only module that reads ``LagAlert`` for them;
- ``common``: scoping (``who``), months, stored cells as ``EvaluationLine``.

Each function issues a fixed number of queries whatever the number of districts and
indicators (the count is in its docstring).
"""

from tracker.choices import BADNESS, COLOUR, LABEL, status_counts, worst
from tracker.months import month_label
from tracker.selectors.alerts import open_alerts_q
from tracker.selectors.cell import CellDetail, cell_detail
from tracker.selectors.common import EvaluationLine, evaluated_months, latest_month
from tracker.selectors.matrix import Matrix, MatrixCell, MatrixRow, matrix
from tracker.selectors.my_work import my_work
from tracker.selectors.notice import Notice, notice
from tracker.selectors.overview import (
    CategorySummary,
    IndicatorSummary,
    Overview,
    ProjectSummary,
    overview,
)
from tracker.selectors.ranking import RankingRow, ranking
from tracker.selectors.scorecard import Scorecard, district_scorecard

__all__ = [
    "BADNESS",
    "COLOUR",
    "LABEL",
    "CategorySummary",
    "CellDetail",
    "EvaluationLine",
    "IndicatorSummary",
    "Matrix",
    "MatrixCell",
    "MatrixRow",
    "Notice",
    "Overview",
    "ProjectSummary",
    "RankingRow",
    "Scorecard",
    "cell_detail",
    "district_scorecard",
    "evaluated_months",
    "latest_month",
    "matrix",
    "month_label",
    "my_work",
    "notice",
    "open_alerts_q",
    "overview",
    "ranking",
    "status_counts",
    "worst",
]
