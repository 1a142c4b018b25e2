"""The CDK app: its stack, one Construct per concern, the shared defaults and names, cdk-nag."""

import os

# jsii prints a banner about Node 20's support window on every synth; it is noise here.
os.environ.setdefault("JSII_SILENCE_WARNING_DEPRECATED_NODE_VERSION", "1")
os.environ.setdefault("JSII_SILENCE_WARNING_END_OF_LIFE_NODE_VERSION", "20")
