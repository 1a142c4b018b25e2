"""Tools that read compiled ASL: the cost model and the diagrams. They import only the compiler."""
