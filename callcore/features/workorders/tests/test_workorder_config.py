"""The site file's `workorders` section: the city's data, and every mistake named."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

import config
from config.loader import DEFAULT_PATH, ConfigError
from config.schema import SiteConfig
from config.workorders import RequestType, UnitKind, Urgency, WorkOrdersConfig

COUNTIES = [
    "亭湖区",
    "盐都区",
    "大丰区",
    "东台市",
    "建湖县",
    "射阳县",
    "阜宁县",
    "滨海县",
    "响水县",
]


def default_data() -> dict:
    return yaml.safe_load(DEFAULT_PATH.read_text(encoding="utf-8"))


def problems(data: dict, tmp_path: Path) -> list[str]:
    path = tmp_path / "site.yaml"
    path.write_text(yaml.safe_dump(data, allow_unicode=True), encoding="utf-8")
    with pytest.raises(ConfigError) as info:
        config.load(path)
    assert all(p.file == str(path) and p.line for p in info.value.problems)
    return [f"{p.key}: {p.message}" for p in info.value.problems]


def test_the_city_section(site: SiteConfig) -> None:
    wo = site.workorders
    names = {u.name for u in wo.units}
    assert {h.unit for h in site.hotlines if h.mode.value != "main"} <= names
    counties = [u.name for u in wo.units if u.kind is UnitKind.COUNTY]
    assert counties == COUNTIES
    assert [u.name for u in wo.units if u.kind is UnitKind.ZONE] == [
        "盐城经济技术开发区",
        "盐南高新区",
    ]
    assert [d.name for d in wo.districts] == [*COUNTIES, "盐城经济技术开发区", "盐南高新区"]
    assert all(wo.unit(d.unit or "") for d in wo.districts)
    assert len(wo.class_ids()) >= 30 and "zhufang.wuye.fuwu" in wo.class_ids()  # three levels
    for t in RequestType:
        for u in Urgency:
            assert wo.time_limit(t, u) is not None
    assert site.hotline_defaults("12333") == ("renshe", "laodong")
    assert site.hotline_defaults("88348666-1") == ("wenlv", None)  # the hotline's own unit
    assert site.hotline_defaults("12345") == (None, None)


def test_a_site_without_the_section_gets_the_defaults() -> None:
    wo = WorkOrdersConfig()
    assert wo.units == [] and wo.time_limit("投诉", "一般").working_days == 15
    assert wo.time_limit("咨询", "特急").hours == 2 and wo.warning.share == 0.2


def test_every_mistake_is_named_with_its_key(tmp_path: Path) -> None:
    data = default_data()
    wo = data["workorders"]
    wo["units"].append({"id": "renshe", "name": "人社局分局"})
    wo["districts"][1]["unit"] = "nowhere"
    wo["classes"][1]["children"][0]["children"][1]["id"] = "chengshi"
    wo["classes"][0]["children"][2]["unit"] = "none_such"
    wo["hotlines"]["12333"] = {"class_id": "laodong.none", "unit": "renshe"}
    wo["time_limits"]["紧急"] = {"咨询": {"hours": 4}, "抱怨": {"hours": 1}}
    found = problems(data, tmp_path)
    expected = [
        "workorders.units[32](renshe): duplicate 'renshe' (also at units[1])",
        "workorders.classes[1](zhufang).children[0](zhufang.wuye).children[1](chengshi): "
        "duplicate 'chengshi' (also at classes[0])",
        "workorders.districts[1](yandu).unit: unknown unit 'nowhere'",
        "workorders.classes[0](chengshi).children[2](chengshi.weijian).unit: "
        "unknown unit 'none_such'",
        "workorders.time_limits.紧急.抱怨: unknown request type '抱怨'; one of *, 举报, 其他, "
        "咨询, 建议, 投诉, 求助, 表扬",
        "workorders.time_limits.紧急: no time limit for 求助, 投诉, 举报, 建议, 表扬, 其他 "
        "(add them or '*')",
        "workorders.hotlines.12333.class_id: unknown class 'laodong.none'",
    ]
    assert found == expected


def test_a_hotline_must_name_a_unit_and_defaults_a_hotline(tmp_path: Path) -> None:
    data = default_data()
    data["hotlines"][1]["unit"] = "市法务局"
    data["workorders"]["hotlines"]["99999"] = {"class_id": "qita"}
    assert problems(data, tmp_path) == [
        "workorders.hotlines.99999: unknown hotline number",
        "hotlines[1](12348).unit: '市法务局' is not a unit of workorders.units",
    ]


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"warning": {"share": 0.2, "hours": 4}}, "workorders.warning: give share or hours"),
        ({"warning": {"share": 1.5}}, "workorders.warning.share: Input should be less than 1"),
        ({"time_limits": {"一般": {"*": {"working_days": 2, "hours": 3}}}},
         "workorders.time_limits.一般.*: give exactly one of working_days and hours"),
        ({"time_limits": {"很急": {"*": {"hours": 1}}}},
         "workorders.time_limits.很急: Input should be '一般', '紧急' or '特急'"),
        ({"units": [{"id": "Bad Id", "name": "x"}]}, "workorders.units[0](Bad Id).id"),
        ({"units": [{"id": "ok", "name": ""}]}, "workorders.units[0](ok).name"),
        ({"extensions": {"max_times": -1}}, "workorders.extensions.max_times"),
        ({"colour": "red"}, "workorders.colour: unknown key"),
    ],
)  # fmt: skip
def test_bad_values(change: dict, message: str, tmp_path: Path) -> None:
    data = default_data()
    data["workorders"].update(change)
    found = problems(data, tmp_path)
    assert any(p.startswith(message) for p in found), found
