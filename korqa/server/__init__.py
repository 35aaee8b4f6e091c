"""The HTTP edge: `create_app(engine, ServeConfig)` (app.py), request/response bodies (schemas.py), the page
(static/), and running it under uvicorn (run.py): `korqa serve`, or `start()` in a notebook."""


def start(engine=None, **settings):
    """Serve in a background thread; returns a handle with .url and .stop() (see korqa.server.run.start)."""
    from korqa.server.run import start as start_in_background

    return start_in_background(engine, **settings)
