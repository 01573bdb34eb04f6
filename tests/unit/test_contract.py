"""The dialplan contract: the rendered dialplan carries exactly what callcore reads."""

from __future__ import annotations

import re
from datetime import date
from pathlib import Path

import pytest

from callcore.asterisk import render, runtime
from callcore.asterisk.contract_render import ContractError, fact, flag, route_set, user_event
from callcore.contract import FACT_FIELDS, ROUTE_FIELDS, USER_EVENT_HEADERS, Fact, UserEvent
from callcore.features.routing.agi import route_fields
from callcore.features.routing.decision import decide
from callcore.instance import Instance
from config.directory import Directory
from config.loader import DEFAULT_PATH


@pytest.fixture(scope="module")
def dialplan(tmp_path_factory: pytest.TempPathFactory) -> str:
    inst = Instance(tmp_path_factory.mktemp("home"), DEFAULT_PATH)
    rt = runtime.Runtime(None, "/usr/sbin/asterisk", "22")
    return render.render(inst, rt).files["extensions.conf"]


def test_every_route_field_is_cut_at_its_position(dialplan: str):
    cuts = dict(re.findall(r"Set\((CC_[A-Z_]+)=\$\{(?:FILTER\(0-9,\$\{)?CUT\(CC_ROUTE,\|,(\d+)\)",
                           dialplan))  # fmt: skip
    assert cuts == {f.variable: str(i) for i, f in enumerate(ROUTE_FIELDS, start=1)}


def test_the_handler_writes_the_fields_the_dialplan_cuts():
    cfg = Instance(None, DEFAULT_PATH).config
    fields = route_fields(decide(Directory(cfg), "12345", "13800000000", date(2026, 12, 2)))
    assert [name for name, _ in fields] == [f.variable for f in ROUTE_FIELDS]


def test_every_user_event_and_fact_in_the_dialplan_is_the_contracts(dialplan: str):
    events = re.findall(r"UserEvent\((\w+),([^)]*)\)", dialplan)
    assert {UserEvent(name) for name, _ in events} == set(UserEvent)
    for name, body in events:
        headers = [h.split(":")[0] for h in body.split(",")]
        assert set(headers) <= set(USER_EVENT_HEADERS[UserEvent(name)]), name
    facts = re.findall(r"QueueLog\(NONE,\$\{CHANNEL\(linkedid\)\},NONE,(CC\w+),", dialplan)
    assert set(facts) == {f.value for f in Fact}


def test_the_template_functions_refuse_what_the_contract_does_not_define():
    assert route_set("CC_PRIO") == "Set(CC_PRIO=${FILTER(0-9,${CUT(CC_ROUTE,|,3)})})"
    assert fact("CCQUEUE", "${CC_QUEUE}").endswith(",CCQUEUE,${STRFTIME(,,%s.%3q)}|${CC_QUEUE})")
    assert len(FACT_FIELDS[Fact.IN]) == 3
    with pytest.raises(ContractError, match="not a field"):
        route_set("CC_NOPE")
    with pytest.raises(ContractError, match="no header Bogus"):
        user_event("CallcoreRoute", Bogus="1")
    with pytest.raises(ContractError, match="not a UserEvent"):
        user_event("CallcoreNope")
    with pytest.raises(ContractError, match="takes 1 fields"):
        fact("CCQUEUE")
    with pytest.raises(ContractError, match="not a call flag"):
        flag("sideways")


def test_templates_speak_of_no_event_or_fact_by_hand():
    """Every UserEvent and QueueLog line in the templates (the features' snippets too) goes
    through the contract."""
    snippets = render.FEATURE_DIALPLANS.values()
    paths = [Path(render.TEMPLATES, "extensions.conf.j2")] + [
        Path(loader.searchpath[0], "dialplan.conf.j2") for loader in snippets
    ]
    for path in paths:
        text = path.read_text(encoding="utf-8")
        assert "UserEvent(" not in text and "QueueLog(" not in text, path
        assert "CUT(CC_ROUTE" not in text, path
