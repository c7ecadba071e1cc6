"""The dSprites model zoo (preset ``dsprites``): the papers' settings, no reference numbers yet."""

from vaerobust.studies.base import STUDIES, Study

STUDY = STUDIES.register("dsprites")(Study(
    name="dsprites",
    title="Disentangling VAEs on dSprites: report",
    citation="Models of the dSprites preset (Matthey et al. 2017 data; each objective with its paper's settings).",
))
