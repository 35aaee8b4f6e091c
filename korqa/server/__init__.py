"""The HTTP edge: `create_app(engine, ServeConfig)` (app.py), request/response bodies (schemas.py), the page."""
