"""callcore's HTTP API (aiohttp), served by the engine on `pbx.bind:pbx.api_port`.

What is here
------------
- `registry.py`  `Api` (a module's endpoints), `Role` (seat < supervisor < admin;
                 qa, department, subcentre apart), `Identity`, `ApiRequest` (what a
                 handler gets), `ApiError`, `Model`;
- `auth.py`      bearer tokens from `<home>/secrets.yaml` (`callcore token add|list|remove`),
                 the middleware that identifies the caller;
- `openapi.py`   `/openapi.json`, generated from the endpoint declarations;
- `app.py`       `make_app(services, tokens, apis)`: mounts the endpoints it is given,
                 `ApiServer`;
- `events.py`    the WebSocket event stream (`EventHub`) and its endpoint;
- `client.py`    a small client of this API (the monitor's action keys, `callcore supervise`).

Endpoints live with their features (`callcore/features/<feature>/api.py`, `seats/api.py`);
`callcore/wiring/endpoints.py` lists them once, and `callcore/wiring/services.py` holds
`ApiServices`, the parts an endpoint may use.

How to add endpoints (the pattern every module follows)
--------------------------------------------------------
Create `<feature>/api.py` with a module-level `api = Api(...)` and add it to
`callcore/wiring/endpoints.py`::

    from callcore.api.registry import Api, ApiError, ApiRequest, Model, Role

    api = Api("transfers", "Transfers by API.")   # tag + description in OpenAPI

    class TransferIn(Model):            # request body: parsed and validated, 400 if not
        zone: str
        mode: Literal["blind", "attended"] = "blind"

    class TransferOut(Model):           # reply: serialised from the model
        linkedid: str
        target: str

    @api.post(
        "/api/v1/calls/{linkedid}/transfer",
        role=Role.SEAT,                 # least role; None = public
        body=TransferIn,
        response=TransferOut,
        errors=(404, 409),              # extra error statuses to describe
    )
    async def transfer_call(req: ApiRequest) -> TransferOut:
        \"\"\"Transfer a call to a zone (first docstring line = OpenAPI summary).\"\"\"
        own = req.own_seat_only()       # a seat token: its seat id; else None
        ami = req.services.need("ami")  # 503 if this process has no AMI session
        if ...:
            raise ApiError(409, "not_on_call", "the seat is not on that call")
        return TransferOut(linkedid=req.path["linkedid"], target=req.body.zone)

- `query=SomeModel` parses the query string the same way (`req.query`); path parameters
  are in `req.path`; `req.identity` is who holds the token (name for audits, role, seat).
- Roles are checked before the handler runs (401 without a valid token, 403 below the
  role). A seat token may still be limited further by the handler (`own_seat_only`).
- Reply with a `Model` instance (or a dict matching `response`), or any aiohttp response
  (e.g. `json_response(data, status=...)`, a WebSocket via `api.websocket(...)`).
- Models derive from `Model` (unknown fields refused), so `/openapi.json` describes exactly
  what goes over the wire; `tests/unit/test_api.py` checks every mounted route is
  described, every described operation is mounted, and replies match their schemas.
- Everything blocking (database reads) goes through `asyncio.to_thread`; the store read
  engine is `req.services.db`.
"""
