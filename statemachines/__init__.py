"""The saga declaration language and its compiler to ASL.

``saga`` declares and compiles a saga, ``parent`` a saga of child sagas; ``tools`` reads
compiled ASL (cost model, diagrams). ``catalogue`` is this application's sagas, and
``asl/`` holds the ASL generated from it (``python -m statemachines`` writes or checks it).
Nothing here imports the catalogue, so the language can be used on its own.
"""
