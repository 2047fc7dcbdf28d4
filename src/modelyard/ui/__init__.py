"""The web dashboard (Jinja2 + htmx + Plotly, all served locally): ``ui.app.install(app)``."""
