"""The full-screen monitor (textual): queues, waiting callers, seats, alerts and actions.

Every `refresh` seconds one snapshot is read (one Redis pipeline) and the tables are
updated in place: cells that changed are rewritten, rows are rebuilt only when the set or
order of rows changed, so a floor of 1,000 seats and 40 queues stays responsive.

Keys act on the seat under the cursor in the seats table: p pause (with a reason), r
resume, o log off, m move to a zone, l listen, w whisper, b barge; n switches the upper
table between queues and numbers; q quits. Actions go through the API with the
supervisor's token, so each is authorised and audited.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

from rich.text import Text
from textual import work
from textual.app import App, ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.screen import ModalScreen
from textual.widgets import DataTable, Footer, OptionList, Static
from textual.widgets.option_list import Option

from callcore.features.live.snapshot import Snapshot
from callcore.features.reports.current import IntervalNeed
from callcore.i18n import pause_reason, t
from callcore.monitor import view

ReadSnapshot = Callable[[], Awaitable[Snapshot]]
Act = Callable[..., Awaitable[dict]]  # (seat, action, **body) -> reply; raises on failure

ALERT = "bold white on dark_red"
_Rows = dict[str, tuple[tuple[str, ...], bool]]  # row key -> (cells, alert), as last drawn


class Choose(ModalScreen[str | None]):
    """Pick one option (a pause reason, a zone); Escape cancels."""

    BINDINGS = [Binding("escape", "cancel", "cancel")]  # noqa: RUF012

    def __init__(self, title: str, options: list[tuple[str, str]]):
        super().__init__()
        self.title_text = title
        self.options = options

    def compose(self) -> ComposeResult:
        with Vertical(id="choose"):
            yield Static(self.title_text)
            yield OptionList(*[Option(label, id=key) for key, label in self.options])

    def on_option_list_option_selected(self, event: OptionList.OptionSelected) -> None:
        self.dismiss(event.option.id)

    def action_cancel(self) -> None:
        self.dismiss(None)


class MonitorApp(App[None]):
    CSS = """
    #banner { height: 1; background: $primary-darken-2; color: $text; padding: 0 1; }
    #banner.alarm { background: darkred; color: white; text-style: bold; }
    #alerts { height: 1; padding: 0 1; color: $warning; }
    #totals { height: 5; }
    #middle { height: 14; }
    #upper { width: 3fr; }
    #staffing { width: 2fr; }
    #lower { height: 1fr; }
    #waiting { width: 2fr; }
    #seats { width: 3fr; }
    DataTable { border: round $primary-darken-1; }
    #choose { width: 40; height: auto; border: thick $accent; background: $panel; padding: 1; }
    Choose { align: center middle; }
    """

    def __init__(
        self,
        read: ReadSnapshot,
        lang: str = "zh",
        *,
        refresh: float = 1.0,
        act: Act | None = None,
        zones: list[tuple[str, str]] | None = None,
        reasons: list[tuple[str, str]] | None = None,
        supervisor: str | None = None,
        on_exit: Callable[[], Awaitable[None]] | None = None,
        need: Callable[[], IntervalNeed | None] | None = None,
        zone_names: dict[str, str] | None = None,
    ):
        super().__init__()
        self.on_exit = on_exit
        self.need = need  # this interval's staffing: cheap, recomputed once per interval
        self.zone_names = zone_names or {}
        self.read = read
        self.lang = lang
        self.refresh_seconds = refresh
        self.act = act
        self.zones = zones or []
        self.reasons = reasons or [("break", pause_reason("break", lang))]
        self.supervisor = supervisor
        self.snapshot: Snapshot | None = None
        self.show_numbers = False
        self._shape: dict[str, tuple] = {}
        self._rows: dict[str, dict[str, tuple[tuple[str, ...], bool]]] = {}
        self.title = t("monitor_title", lang)

    BINDINGS = [  # noqa: RUF012
        Binding("p", "seat('pause')", "暂停/pause"),
        Binding("r", "seat('resume')", "恢复/resume"),
        Binding("o", "seat('logoff')", "签出/log off"),
        Binding("m", "seat('move')", "专区/move"),
        Binding("l", "seat('listen')", "监听/listen"),
        Binding("w", "seat('whisper')", "耳语/whisper"),
        Binding("b", "seat('barge')", "强插/barge"),
        Binding("n", "toggle_numbers", "号码/numbers"),
        Binding("q", "quit", "退出/quit"),
    ]

    def compose(self) -> ComposeResult:
        yield Static(id="banner")
        yield Static(id="alerts")
        yield DataTable(id="totals", show_cursor=False, zebra_stripes=False)
        with Horizontal(id="middle"):
            yield DataTable(id="upper", show_cursor=False)
            yield DataTable(id="staffing", show_cursor=False)
        with Horizontal(id="lower"):
            yield DataTable(id="waiting", show_cursor=False)
            yield DataTable(id="seats", cursor_type="row")
        yield Footer()

    def on_mount(self) -> None:
        self.query_one("#seats", DataTable).focus()
        self.refresh_now()
        self.set_interval(self.refresh_seconds, self.refresh_now)

    async def on_unmount(self) -> None:
        if self.on_exit is not None:
            await self.on_exit()

    @work(exclusive=True, group="refresh")
    async def refresh_now(self) -> None:
        snap = await self.read()
        self.show(snap)

    # -- drawing ------------------------------------------------------------------------
    def show(self, snap: Snapshot) -> None:
        self.snapshot = snap
        text, alarm = view.banner(snap, self.lang)
        banner = self.query_one("#banner", Static)
        banner.update(Text(text))
        banner.set_class(alarm, "alarm")
        self.query_one("#alerts", Static).update(Text(view.highlights(snap, self.lang)))
        upper = view.numbers(snap, self.lang) if self.show_numbers else view.queues(snap, self.lang)
        self._fill("totals", view.totals(snap, self.lang))
        self._fill("upper", upper)
        self._fill("waiting", view.waiting(snap, self.lang))
        self._fill("seats", view.seats(snap, self.lang))
        need = self.need() if self.need is not None else None
        self._fill("staffing", view.staffing(snap, need, self.lang, self.zone_names))

    def _fill(self, table_id: str, data: view.Table) -> None:
        """Update a table in place: only changed cells are rewritten; rows that merely moved
        are re-sorted; the table is rebuilt only when its columns or set of rows changed."""
        table = self.query_one(f"#{table_id}", DataTable)
        table.border_title = data.title
        keys = tuple(k for k, _ in data.rows)
        shape = (tuple(data.columns), keys)
        now = {k: (tuple(row), k in data.alert_rows) for k, row in data.rows}
        before = self._rows.get(table_id, {})
        old_shape = self._shape.get(table_id)
        unique_first = len({row[0] for row, _ in now.values()}) == len(now) if now else False
        reorder = (  # rows found by their first column (unique, e.g. the seat id) can move
            old_shape is not None
            and old_shape[0] == shape[0]
            and old_shape[1] != keys
            and before.keys() == now.keys()
            and unique_first
        )
        if old_shape != shape and not reorder:
            new_columns = old_shape is None or old_shape[0] != shape[0]
            self._rebuild(table, data.columns, keys, now, new_columns=new_columns)
        else:
            self._update_cells(table, before, now)
            if reorder:  # same rows in a new order: move them rather than rebuild the table
                rank = {now[k][0][0]: i for i, k in enumerate(keys)}
                table.sort("0", key=lambda first: rank[first.plain])
        self._shape[table_id] = shape
        self._rows[table_id] = now

    @staticmethod
    def _rebuild(
        table: DataTable,
        columns: list[str],
        keys: tuple[str, ...],
        rows: _Rows,
        *,
        new_columns: bool,
    ) -> None:
        """Clear and refill the table (its columns too when they changed); the cursor stays
        on the same line, or the last one if the table got shorter."""
        cursor = table.cursor_row
        table.clear(columns=new_columns)
        if not table.columns:
            for i, col in enumerate(columns):
                table.add_column(col, key=str(i))
        for k in keys:
            cells, alert = rows[k]
            table.add_row(*[Text(c, style=ALERT) if alert else Text(c) for c in cells], key=k)
        if table.row_count:
            table.move_cursor(row=min(cursor, table.row_count - 1))

    @staticmethod
    def _update_cells(
        table: DataTable,
        before: _Rows,
        now: _Rows,
    ) -> None:
        """Rewrite only the cells that changed (all of a row whose alert changed)."""
        for k, (cells, alert) in now.items():
            old = before.get(k)
            if old == (cells, alert):
                continue
            for i, c in enumerate(cells):
                if old is None or old[1] != alert or old[0][i] != c:
                    table.update_cell(k, str(i), Text(c, style=ALERT) if alert else Text(c))

    def action_toggle_numbers(self) -> None:
        self.show_numbers = not self.show_numbers
        if self.snapshot is not None:
            self.show(self.snapshot)

    # -- actions ------------------------------------------------------------------------
    def selected_seat(self) -> str | None:
        table = self.query_one("#seats", DataTable)
        if not table.row_count:
            return None
        key = table.coordinate_to_cell_key(table.cursor_coordinate).row_key
        return None if key is None else str(key.value)

    def action_seat(self, action: str) -> None:
        seat = self.selected_seat()
        if seat is None:
            return
        if self.act is None:
            self.notify(t("no_token", self.lang), severity="error")
            return
        if action in ("pause", "move"):
            field = "reason" if action == "pause" else "zone"
            options = self.reasons if action == "pause" else self.zones

            def chosen(value: str | None) -> None:
                if value:
                    self.do_seat_action(seat, action, {field: value})

            self.push_screen(Choose(t(f"choose_{field}", self.lang), options), chosen)
        elif action in ("listen", "whisper", "barge"):
            self.do_seat_action(seat, action, {"supervisor": self.supervisor or ""})
        else:
            self.do_seat_action(seat, action, {})

    @work(group="actions")
    async def do_seat_action(self, seat: str, action: str, body: dict[str, Any]) -> None:
        label = f"{t('action_' + action, self.lang)} {seat}"
        assert self.act is not None
        try:
            await self.act(seat, action, **body)
        except Exception as exc:  # the API's refusal, shown to the supervisor
            self.notify(f"{label}: {t('action_failed', self.lang)} — {exc}", severity="error")
            return
        self.notify(f"{label}: {t('action_ok', self.lang)}")
        self.refresh_now()
