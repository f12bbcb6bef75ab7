"""The registry's dashboard web page (Starlette + Jinja2, live by server-sent events)."""
