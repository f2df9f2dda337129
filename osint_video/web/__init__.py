"""The desk in a browser (`osint-video serve`): board, clip pages, intake, users and roles.

Server-rendered pages (Starlette + Jinja2, served by uvicorn) over the same workspace and case
store as the CLI. The package reads and changes the desk only through the library's public API
(Workspace, CaseStore and its `record()` read model, `desk.queue` / `desk.workflow`, the report
and annotate services, matching); it imports nothing from `commands/` or `cli.py`. Every file
it serves is looked up by clip id and SHA-256 in the workspace; no path comes from a request.
"""
