"""Tools that read compiled ASL: the cost model, the diagrams and the mocked paths (``mocks``).

They import only the compiler (``mocks`` also walks paths with the cost model).
"""
