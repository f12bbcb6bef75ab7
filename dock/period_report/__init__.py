"""The period report (quarterly by default): numbers, charts, HTML, PDF and CSV."""
