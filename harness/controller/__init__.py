"""The reference OPSCOM controller: aiohttp.web over SQLite, with fault injection.

One request's way through the package:

    serve.py       the ``harness serve`` verb: flags -> ``config.ControllerConfig``
    app.py         ``build_app``: routes; body -> 9003 -> 9000 -> 9001 -> 9034 -> 9002
    faults.py      optional middleware: stall, latency, dropped connections, HTTP 500s
    handlers.py    the nine endpoints' semantics, over the database
    validation.py  field checks driven by ``harness.opscom.endpoints``
    shapes.py      the vendor samples' answer shapes (collections records, plate answers)
    db.py, seed.py schema, WAL, transactions; deterministic seed data
    openapi.py     ``/openapi.json`` from the catalogue
    process.py     start and stop a controller child process (tests, ``harness run``)

Nothing is imported here, so ``harness.controller.process`` stays cheap to import.
"""
