"""The conformance suite: cases of Step Functions behaviour as AWS documents it, run on the embedded
stack (by default) or on AWS (``--target aws``). See docs/FIDELITY.md."""
