"""The one place that builds everything and hands each part its collaborators.

- `engine.py`      the engine process: FastAGI, AMI, the features, the store writer;
- `supervision.py` live state, the HTTP API and supervisor actions on the engine; the
                   API-only node (`callcore api`);
- `endpoints.py`   every feature's endpoints, listed once;
- `services.py`    `ApiServices`: the parts an endpoint may use, and `/healthz`'s judgement;
- `system_api.py`  `/healthz` and `/metrics`;
- `telemetry.py`   the engine's own figures (AMI lag, routing time, process usage).
"""
