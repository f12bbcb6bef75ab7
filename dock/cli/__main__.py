from dock.cli import app

app()
