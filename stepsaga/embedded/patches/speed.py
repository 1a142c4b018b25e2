"""The speed switch: work moto and botocore repeat on every call, done once.

Each speed patch caches a pure function of its input, or skips work whose result nobody in
the process reads, so the answers stay the same. ``SPEED.enabled`` switches them all off at
once, so ``bench/`` can measure stock moto side by side in the same process, and
``tests/functional/test_speed.py`` checks that both give the same answers (and that every
patch is installed). The patches live with the service or library they patch:

===================================  ======================================================  =============
stock, on every call                 here                                                    module
===================================  ======================================================  =============
parse the ASL of every execution     once per definition; each execution unpickles its own   stepfunctions
                                     copy (7x cheaper than ``copy.deepcopy``)
build a boto3 client for every task  one client per (region, service)                        stepfunctions
compile every JSONPath               once (moto's helper and ``ResultPath``)                 stepfunctions
deep-copy each value a state reads   copy JSON by type (~3x cheaper), anything else (a       stepfunctions
or passes on (``copy.deepcopy``)     datetime, a tuple) by ``copy.deepcopy``; moto's
                                     program states by their ``__dict__``
serialise DynamoDB answers through   answer with their wire JSON, which they already are     dynamodb
the service model
list a response class's methods      once per class (~10 % of a small call)                  moto_core
(``inspect.getmembers``)
route a URL through every service's  once per URL; the passthrough and allow-list checks     moto_core
patterns, then the backend's         still run on every call, and ``forget_routes()``
``urls`` (S3 reloads a module)       (when the embedded stack starts a mock) forgets them
a 52-character request id drawn      a uuid4 (it ignores moto's seeded ``mock_random``:      moto_core
from moto's random                   nothing here seeds it)
SigV4 in the Authorization header:   the same headers, credential scope included (moto       botocore
canonical request, four HMACs        finds the account there), a fixed signature; never for
                                     a presigned URL, nor once moto checks signatures
                                     (``INITIAL_NO_AUTH_ACTION_COUNT``)
tokenise and parse every DynamoDB    once per expression and the names and values it uses    dynamodb
condition and update expression
walk an update's AST rebuilding the  what a processor does to a node class worked out once  dynamodb
node-type table at every node;       per (processor, node class); the AST copied from its
deep-copy the AST                    pickle, taken once per parsed tree
validate a new item's update twice   once, when the expression names no key attribute (the   dynamodb
(empty item, then the key alone)     two walks then see the same thing)
render an XML body for a JSON error, the JSON body alone (DynamoDB raises and catches one    moto_core
then replace it with the JSON one    per attribute an ADD or SET creates)
re-size an item for every attribute  a running total (the same limit, the same error)        dynamodb
set (quadratic)
deep-copy a Query's matches before   copy each item's attribute table: what follows          dynamodb
filtering and projecting them        (filter, projection, the answer) only reads them
build each JSON request's (POST /)   the same WSGI environ, written directly                 moto_core
environ with werkzeug's builder
ask every retry checker about a 2xx  no: only a CRC32 mismatch could want a retry, and       botocore
                                     moto computes that header (a success on the last
                                     allowed attempt no longer says ``MaxAttemptsReached``)
serialise a history (GetExecution-   write its JSON directly: moto's member lookups worked   stepfunctions_api
History) member by member through    out once per shape, an event's time parsed by a regex;
six alias rules, dateutil for every  anything unusual is left to moto (``history_json``)
timestamp (~85 % of a large one)
scan every answer with a regex for   only an answer that has the tag (XML); a JSON body is    moto_core
XML's ``<RequestId>``, JSON too      returned as it is (the regex could not match in it)
===================================  ======================================================  =============

The signature and retry shortcuts apply only while moto answers in this process
(``answered_in_process``): a request to LocalStack or AWS is signed and checked as usual.
"""

from __future__ import annotations

import os
from typing import Any


class Speedups:
    """The switch: on unless ``STEPSAGA_SPEED=off`` (``bench.testloop`` runs the test suite both
    ways); benchmarks flip it at run time to compare with stock moto."""

    default = os.environ.get("STEPSAGA_SPEED", "on").lower() != "off"
    enabled = default


SPEED = Speedups()
_STUBBER: Any = None  # moto's botocore stubber, once found


def find_stubber() -> None:
    """Called before the speed patches are installed: they ask the stubber on every call."""
    global _STUBBER
    from moto.core.models import botocore_stubber

    _STUBBER = botocore_stubber  # asked on every signature and retry check: imported once


def answered_in_process() -> bool:
    """Whether requests are answered by moto in this process (the mock is on)."""
    return bool(_STUBBER.enabled)
