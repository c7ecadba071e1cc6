"""Reports: run folders -> a document (Markdown and HTML from jinja2 templates), LaTeX and CSV
tables, figures (PNG) and a JSON summary.

- :mod:`~vaerobust.report.collect`: run folders -> typed records;
- :mod:`~vaerobust.report.statements`: sentences of findings generated from the numbers;
- :mod:`~vaerobust.report.tables`, :mod:`~vaerobust.report.sections`: tables and sections;
- :mod:`~vaerobust.report.figures`: the PNG figures (matplotlib, Agg);
- :mod:`~vaerobust.report.document` + ``templates/``: the block model and its renderers;
- :mod:`~vaerobust.report.build`: :func:`build_report`, the whole report.
"""
