"""vaerobust: are disentangled VAEs more or less robust to adversarial examples?

The package is importable without side effects: submodules are loaded on use.
Reference study: Sootla (2018), UCL MSc thesis; see the project's PROTOCOL notes.
"""

__version__ = "0.2.0"
