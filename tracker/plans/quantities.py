"""Parse quantities as the gazette prints them: 「227 个」「85.8 万人次」「5(4)个」「83%」「—」."""

import re
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation

EMPTY_CELLS = {"", "—", "-", "–", "－"}
_QUANTITY_RE = re.compile(
    r"^(?P<num>\d+(?:\.\d+)?)\s*(?:\((?P<extra>\d+(?:\.\d+)?)\))?\s*(?P<wan>万)?\s*(?P<unit>.*)$"
)
WAN = Decimal(10000)
#: Units that count whole things: a value in them is a whole number (「3.5 个」 is a typo).
#: Anything else (公里, 平方米, 亩, %) is a measure and may have decimals.
COUNTED_UNITS = frozenset(
    {"个", "家", "所", "套", "条", "人", "人次", "场", "户", "张", "座", "处", "堂", "台", "间",
     "辆", "次", "名", "项", "块", "只", "根", "盏", "床", "位"}
)  # fmt: skip


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


def base_unit(unit: str) -> str:
    """「套(间)」 → 「套」, 「条(城乡公交)」 → 「条」: the unit without its qualifier."""
    return re.sub(r"\(.*\)$", "", unit or "").strip()


def is_counted_unit(unit: str) -> bool:
    return base_unit(unit) in COUNTED_UNITS


def parse_quantity(text, expected_unit: str | None = None, *, strict: bool = False) -> Quantity:
    """Read ``text``; if ``expected_unit`` is given the printed unit must match it.

    A bare number (「89 万」) takes the expected unit; a unit with a parenthesised
    qualifier (「20 条(城乡公交)」) matches its base unit. ``strict`` (what people type
    into forms, the API and Excel): the unit must be exactly the indicator's unit or its
    base unit, with nothing after it — 「1个abc」 and 「83%abc」 are refused.
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
    if strict and unit and unit not in {expected_unit, base_unit(expected_unit or "")}:
        if expected_unit:
            raise QuantityError(f"「{raw}」的单位「{unit}」与指标单位「{expected_unit}」不一致")
        raise QuantityError(f"「{raw}」数字后面不应有其他内容")
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
