"""The seat workstation in the browser (坐席工作台) and the wallboard (大屏).

Plain HTML, ES modules and CSS served by the engine (and by `callcore api`) from this
package: no build step, nothing fetched from elsewhere at run time (docs/decisions.md).

- `assets.py`     the files under `static/`, read once, with their type and ETag;
- `api.py`        `/workstation/…` (the files) and `/api/v1/workstation/profile` (what the
                  page needs to know about the seat and the site: zones, pause reasons);
- `screenpop.py`  the caller's open work orders attached to a `seat.offered` event;
- `static/`       `index.html` (the seat's page), `wallboard.html`, `js/`, `app.css`.

The page talks only to the API every other client uses (the event stream, seats'
sessions, transfers, the knowledge base, calls); panels for work orders (工单), callbacks,
recordings and QA scores are left empty for those features to fill.
"""
