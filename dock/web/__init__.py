"""The custodians' web pages: a face of the command layer, like dock/cli.

`create_app(settings, db)` builds the Starlette app (dock.web.app, which also says how to
add a page); `start_web(settings, db)` serves it from a thread and returns the function that
stops it (dock.web.serve); `dock web` serves it alone.
"""
