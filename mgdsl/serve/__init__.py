"""`mgdsl serve`: specs, diagrams and costs in a web browser (the optional extra `mgdsl[serve]`).

`security` keeps the server to its folder, `data` computes what the pages show with mgdsl's own
pieces (no web framework), `app` is the Starlette application, and `static/` holds the pages."""
