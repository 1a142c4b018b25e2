"""Cross-cutting pieces every handler shares."""
