"""One short recipe per command of ``vaerobust`` (each module's docstring lists its steps).

==========================  ====================================
command                     module
==========================  ====================================
``vaerobust data fetch``    :mod:`vaerobust.pipelines.data_fetch`
``vaerobust presets``       :mod:`vaerobust.pipelines.presets`
``vaerobust train``         :mod:`vaerobust.pipelines.train`
``vaerobust train-classifier``  :mod:`vaerobust.pipelines.train_classifier`
``vaerobust attack``        :mod:`vaerobust.pipelines.attack`
``vaerobust attack --sweep``  :mod:`vaerobust.pipelines.strength`
``vaerobust evaluate``      :mod:`vaerobust.pipelines.evaluate`
``vaerobust report``        :mod:`vaerobust.pipelines.report`
``vaerobust reproduce``     :mod:`vaerobust.pipelines.reproduce`
==========================  ====================================

Each module has a ``run(...)`` that the command calls and a function of the same job for
library use (``train_vae``, ``attack_sweep``, ...). Importing this package does no work.
"""
