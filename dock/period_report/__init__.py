"""Issue 14: the period report (quarterly by default): numbers, charts, HTML, PDF and CSV."""
