"""Settings: every one declared once in ``tracker.conf`` (variable, type, default,
meaning), read through django-environ with one rule for booleans; the README's table is
that declaration; nothing else reads ``settings.TRACKER`` or ``os.environ``."""

import re
from decimal import Decimal
from pathlib import Path

import pytest
from django.test import override_settings

from tracker import conf
from tracker.monitoring.rules import Thresholds

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.parametrize("word", ["1", "true", "True", "yes", "on", "ON", "ok", "y"])
def test_one_rule_for_booleans_on(word):
    values = conf.read({"TRACKER_PUBLIC_READ_ONLY": word, "TRACKER_COUNT_ONLY_REVIEWED": word})
    assert values.tracker["PUBLIC_READ_ONLY"] is True
    assert values.tracker["COUNT_ONLY_REVIEWED"] is True


@pytest.mark.parametrize("word", ["0", "false", "off", "no", ""])
def test_one_rule_for_booleans_off(word):
    assert conf.read({"TRACKER_PUBLIC_READ_ONLY": word}).tracker["PUBLIC_READ_ONLY"] is False


def test_values_are_typed_and_paths_follow_the_var_folder(tmp_path):
    values = conf.read({
        "TRACKER_VAR_DIR": str(tmp_path), "TRACKER_LAG_RED_POINTS": "25.5",
        "TRACKER_REPORTING_DEADLINE_DAY": "7", "ALLOWED_HOSTS": "a.gov.cn, b.gov.cn",
    })  # fmt: skip
    assert values.tracker["LAG_RED_POINTS"] == Decimal("25.5")
    assert values.tracker["REPORTING_DEADLINE_DAY"] == 7
    assert values["ALLOWED_HOSTS"] == ["a.gov.cn", "b.gov.cn"]
    assert values.tracker["NOTICE_PDF_DIR"] == str(tmp_path / "notices")  # was BASE_DIR/var
    assert values.path("TRACKER_BROKER_FILE", "broker.sqlite3") == tmp_path / "broker.sqlite3"


def test_a_setting_missing_from_settings_tracker_reads_its_declared_default():
    """A rate's red threshold is 3 points, whoever asks (a caller used to default it to
    30)."""
    with override_settings(TRACKER={}):
        assert Decimal(3) == conf.LEVEL_RED_POINTS
        assert Thresholds.from_settings() == Thresholds()
        assert Thresholds().level_red == Decimal(3)
    with override_settings(TRACKER={"LEVEL_RED_POINTS": 5}):
        assert Decimal(5) == conf.LEVEL_RED_POINTS
    with pytest.raises(AttributeError):
        conf.NO_SUCH_SETTING  # noqa: B018


def test_the_readme_table_is_the_declaration():
    readme = (ROOT / "README.md").read_text()
    found = re.search(
        r"<!-- settings-table:start -->\n(.*?)<!-- settings-table:end -->", readme, re.S
    )
    assert found, "README.md has no settings table between its markers"
    assert found.group(1).strip() == conf.markdown_table().strip()
    assert len(conf.VARIABLES) == len({v.env for v in conf.VARIABLES})


def test_nothing_else_reads_the_environment_or_settings_tracker():
    offenders = []
    for path in [*ROOT.glob("tracker/**/*.py"), *ROOT.glob("config/*.py")]:
        if path.name == "conf.py" and path.parent.name == "tracker":
            continue
        for n, line in enumerate(path.read_text().splitlines(), 1):
            code = line.split("#")[0]
            if "settings.TRACKER" in code or (
                "os.environ" in code and "DJANGO_SETTINGS_MODULE" not in code
            ):
                offenders.append(f"{path.relative_to(ROOT)}:{n}: {line.strip()}")
    assert offenders == []
