"""One module per agent: pure domain functions, plus ``run``/``undo`` that apply them
through the repository interfaces in ``functions.common.store``."""
