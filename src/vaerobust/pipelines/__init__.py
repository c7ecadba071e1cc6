"""One short recipe per command of ``vaerobust`` (each module's docstring lists its steps).

================================  ======================================
command                           module
================================  ======================================
``vaerobust data fetch``          :mod:`vaerobust.pipelines.data_fetch`
``vaerobust presets``             :mod:`vaerobust.pipelines.presets`
``vaerobust train``               :mod:`vaerobust.pipelines.train`
``vaerobust train-classifier``    :mod:`vaerobust.pipelines.train_classifier`
``vaerobust attack``              :mod:`vaerobust.pipelines.attack`
``vaerobust attack --sweep``      :mod:`vaerobust.pipelines.strength`
``vaerobust evaluate``            :mod:`vaerobust.pipelines.evaluate`
``vaerobust report``              :mod:`vaerobust.pipelines.report`
``vaerobust reproduce``           :mod:`vaerobust.pipelines.reproduce`
``vaerobust study run``           :mod:`vaerobust.pipelines.study` (``run``)
``vaerobust study status``        :mod:`vaerobust.pipelines.study` (``status``)
``vaerobust study collect``       :mod:`vaerobust.pipelines.study` (``collect``)
``vaerobust study export``        :mod:`vaerobust.pipelines.study` (``export``)
``vaerobust margin``              :mod:`vaerobust.pipelines.margin` (``margin_run``)
``vaerobust study margin``        :mod:`vaerobust.pipelines.margin` (``study_margin``)
================================  ======================================

A study's jobs run :func:`vaerobust.pipelines.job.run_job` on a backend (:mod:`vaerobust.backends`).

Each module has the ``run(...)`` that its command calls (``margin``: the functions named above); the recipes that do the work are
also functions for library use (``train_vae``, ``train_classifier``, ``attack_sweep``,
``strength_sweep``, ``evaluate_run``, ``reproduce``; the report's is
:func:`vaerobust.report.build.build_report`). Importing this package does no work.
"""
