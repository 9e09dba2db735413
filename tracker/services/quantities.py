"""Parse quantities as the gazette prints them: 「227 个」「85.8 万人次」「5(4)个」「83%」「—」."""

import re
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation

EMPTY_CELLS = {"", "—", "-", "–", "－"}
_QUANTITY_RE = re.compile(
    r"^(?P<num>\d+(?:\.\d+)?)\s*(?:\((?P<extra>\d+(?:\.\d+)?)\))?\s*(?P<wan>万)?\s*(?P<unit>.*)$"
)
WAN = Decimal(10000)


class QuantityError(ValueError):
    """A cell or milestone value that cannot be read as a number with the right unit."""


@dataclass(frozen=True)
class Quantity:
    """A parsed amount in the indicator's base unit.

    ``value`` includes both parts of a split cell: 「5(4)个」 is 5 new + 4 upgraded,
    so ``value`` is 9, ``first`` 5 and ``second`` 4.
    """

    value: Decimal
    unit: str
    first: Decimal | None = None
    second: Decimal | None = None

    @property
    def is_split(self) -> bool:
        return self.second is not None


def is_empty(text) -> bool:
    return text is None or str(text).strip() in EMPTY_CELLS


def parse_quantity(text, expected_unit: str | None = None) -> Quantity:
    """Read ``text``; if ``expected_unit`` is given the printed unit must match it.

    A bare number (「89 万」) takes the expected unit; a unit with a parenthesised
    qualifier (「20 条(城乡公交)」) matches its base unit.
    """
    raw = str(text).strip()
    match = _QUANTITY_RE.match(raw)
    if not match:
        raise QuantityError(f"「{raw}」不是数量，应为数字加单位，例如「120 个」")
    try:
        number = Decimal(match.group("num"))
        extra = Decimal(match.group("extra")) if match.group("extra") else None
    except InvalidOperation as exc:  # pragma: no cover - the regex admits only digits
        raise QuantityError(f"「{raw}」不是有效数字") from exc
    scale = WAN if match.group("wan") else Decimal(1)
    unit = match.group("unit").strip()
    if expected_unit is not None and unit and not _unit_matches(unit, expected_unit):
        raise QuantityError(f"「{raw}」的单位「{unit}」与指标单位「{expected_unit}」不一致")
    if extra is None:
        return Quantity(value=number * scale, unit=unit or (expected_unit or ""))
    return Quantity(
        value=(number + extra) * scale,
        unit=unit or (expected_unit or ""),
        first=number * scale,
        second=extra * scale,
    )


def _unit_matches(printed: str, expected: str) -> bool:
    if printed == expected:
        return True
    # 「20 条(城乡公交)」: the parenthesised part names the sub-type, not the unit.
    base = re.sub(r"\(.*\)$", "", printed).strip()
    return base == expected or printed.startswith(expected)
