"""DynamoDB as the sagas' stores need it: transactions that are atomic and roll back only what they
touched, conditional writes that cannot interleave, and queries that read one partition."""

from __future__ import annotations

import copy
import json
import pickle
import re
import threading
from functools import lru_cache
from typing import Any

from stepsaga.embedded.patches.guard import Pinned, replace
from stepsaga.embedded.patches.once import once
from stepsaga.embedded.patches.speed import SPEED

# --- transactions: atomic, and rolled back key by key ---------------------------------------------
_TRANSACTIONS = threading.RLock()


def install_transactions() -> None:
    """moto backs up every table a transaction touches (a deep copy per item written, so the
    cost grows with everything stored) and rolls back by putting the whole copy back, which
    also discards what concurrent sagas wrote meanwhile. Transactions here are serialised,
    remember only the items they touch, and roll back exactly those."""
    if not once("transactions"):
        return
    from moto.dynamodb.exceptions import (
        ConditionalCheckFailed,
        MockValidationException,
        MultipleTransactionsException,
        TooManyTransactionsException,
        TransactionCanceledException,
        TransactWriteSingleOpException,
    )
    from moto.dynamodb.models import DynamoDBBackend, get_filter_expression

    def transact_write_items(self: Any, transact_items: list[dict[str, Any]]) -> None:
        if len(transact_items) > 100:
            raise TooManyTransactionsException()
        with _TRANSACTIONS:
            touched: dict[tuple[str, str], tuple[str, dict[str, Any], Any]] = {}

            def rollback() -> None:
                for table_name, key, previous in touched.values():
                    table = self.get_table(table_name)
                    hash_value, range_value = self.get_keys_value(table, key)
                    table.delete_item(hash_value, range_value)
                    if previous is not None:
                        if range_value:
                            table.items[hash_value][range_value] = previous
                        else:
                            table.items[hash_value] = previous

            errors: list[tuple[Any, Any, Any]] = []
            for entry in transact_items:
                original_item = None
                if len(entry) > 1:
                    raise TransactWriteSingleOpException
                try:
                    op_type, op = next(iter(entry.items()))
                    if op_type not in {"ConditionCheck", "Put", "Delete", "Update"}:
                        raise ValueError("Unsupported transaction operation")
                    table_name = op["TableName"]
                    condition = op.get("ConditionExpression")
                    names = op.get("ExpressionAttributeNames")
                    values = op.get("ExpressionAttributeValues")
                    if op_type == "Put":
                        table = self.get_table(table_name)
                        key = {table.hash_key_attr: op["Item"][table.hash_key_attr]}
                        if table.range_key_attr is not None:
                            key[table.range_key_attr] = op["Item"][table.range_key_attr]
                    else:
                        key = op["Key"]
                    marker = (table_name, json.dumps(key, sort_keys=True))
                    if marker in touched:
                        raise MultipleTransactionsException()
                    current = self.get_item(table_name, key)
                    touched[marker] = (table_name, key, copy.deepcopy(current) if current else None)
                    if condition is not None and not get_filter_expression(condition, names, values).expr(
                        current
                    ):
                        if op.get("ReturnValuesOnConditionCheckFailure") == "ALL_OLD" and current:
                            original_item = current.to_json()["Attributes"]
                        raise ConditionalCheckFailed(item=original_item)
                    arguments = {
                        "condition_expression": condition,
                        "expression_attribute_names": names,
                        "expression_attribute_values": values,
                    }
                    if op_type == "Put":
                        self.put_item(table_name, op["Item"], **arguments)
                    elif op_type == "Delete":
                        self.delete_item(table_name, key, **arguments)
                    elif op_type == "Update":
                        self.update_item(
                            table_name, key, update_expression=op["UpdateExpression"], **arguments
                        )
                    errors.append((None, None, None))
                except (MultipleTransactionsException, MockValidationException):
                    rollback()
                    raise
                except ConditionalCheckFailed as error:
                    errors.append(("ConditionalCheckFailed", str(error.message), original_item))
                except Exception as error:
                    errors.append((type(error).__name__, str(error), original_item))
            if any(code is not None for code, _, _ in errors):
                rollback()
                raise TransactionCanceledException(errors)

    replace(DynamoDBBackend, "transact_write_items", transact_write_items)

    # moto checks a write's condition, then applies it: two threads can both pass the check.
    # Serialise single-item writes with transactions, so a condition holds when it is applied.
    def serialised(method: Any) -> Any:
        def write(self: Any, *args: Any, **kwargs: Any) -> Any:
            with _TRANSACTIONS:
                return method(self, *args, **kwargs)

        return write

    for name in ("put_item", "update_item", "delete_item"):
        replace(DynamoDBBackend, name, serialised(getattr(DynamoDBBackend, name)))


# --- queries read their partition, not the whole table --------------------------------------------
_PARTITION = threading.local()


def install_partition_queries() -> None:
    """moto answers every Query by sorting every item of the table, then filtering on the
    partition key, so a query costs as much as the table is large (thousands of items after
    a test session or one wide saga). A base-table query reads only its own partition."""
    if not once("partition"):
        return
    import inspect

    from moto.dynamodb.models.table import Table

    query = Table.query
    signature = inspect.signature(query)

    def every_item(self: Any) -> list[Any]:
        """``Table.all_items``, over a snapshot of each dict it walks: a write on another thread
        (writes take ``_TRANSACTIONS``, reads do not) could otherwise add a partition or an item
        mid-walk, and the read failed with "dictionary changed size during iteration" (a 500
        from an index Query in CI). Copying a dict's values is one step under the GIL."""
        items: list[Any] = []
        for partition in list(self.items.values()):
            if self.range_key_attr:
                items.extend(list(partition.values()))
            else:
                items.append(partition)
        return sorted(items, key=lambda x: (x.hash_key, x.range_key) if x.range_key else x.hash_key)

    def partition_items(self: Any) -> Any:
        only = getattr(_PARTITION, "key", None)
        if only is None or only[0] is not self:
            return every_item(self)
        found = self.items.get(only[1])
        if found is None:
            return []
        items = list(found.values()) if self.range_key_attr else [found]
        return sorted(items, key=lambda x: x.range_key) if self.range_key_attr else items

    def partition_query(self: Any, *args: Any, **kwargs: Any) -> Any:
        bound = signature.bind(self, *args, **kwargs)
        hash_key, index_name = bound.arguments.get("hash_key"), bound.arguments.get("index_name")
        if index_name or hash_key is None:
            return query(self, *args, **kwargs)
        _PARTITION.key = (self, hash_key)
        try:
            return query(self, *args, **kwargs)
        finally:
            _PARTITION.key = None

    replace(Table, "all_items", partition_items)
    replace(Table, "query", partition_query)


# --- speed (off with SPEED: the same answers, computed once) --------------------------------------
def install_wire_json() -> None:
    if not once("wire-json"):
        return
    # DynamoDB answers are JSON already in wire form ({"S": ...} maps): moto's generic,
    # model-driven serialiser walks every attribute of every item (~70 % of a Query's cost).
    from moto.core.responses import ActionResult

    serialise = ActionResult.execute_result

    def execute_result(self: Any, context: Any) -> Any:
        if SPEED.enabled and context.operation_model.service_model.service_name == "dynamodb":
            try:
                body = json.dumps(self.result)
            except (TypeError, ValueError):
                return serialise(self, context)  # dates or bytes: let moto shape them
            return 200, {"Content-Type": "application/x-amz-json-1.0"}, body
        return serialise(self, context)

    replace(ActionResult, "execute_result", execute_result)


_PLACEHOLDER = re.compile(r"[#:][A-Za-z0-9_]+")


def install_expressions_once() -> None:
    if not once("expressions-once"):
        return
    from moto.dynamodb.comparisons import ConditionExpressionParser
    from moto.dynamodb.parsing.expressions import UpdateExpressionParser  # type: ignore[attr-defined]

    # An update expression's AST depends on its text alone; moto deep-copies it before it
    # substitutes names and values, so one parsed tree serves every call.
    stock_make = UpdateExpressionParser.make.__func__

    @lru_cache(maxsize=1024)
    def cached_make(cls: Any, expression: str) -> Any:
        return stock_make(cls, expression)

    def make(cls: Any, expression: str) -> Any:
        return cached_make(cls, expression) if SPEED.enabled else stock_make(cls, expression)

    replace(UpdateExpressionParser, "make", classmethod(make))

    # A condition's tree has the values it references in it: the key is the expression and
    # those names and values (a transaction passes every value of its update, used or not).
    stock_parse = ConditionExpressionParser.parse
    trees: dict[str, tuple[Any, list[str], list[str]]] = {}

    def parse(self: Any) -> Any:
        expression = self.condition_expression
        if not (SPEED.enabled and expression):
            return stock_parse(self)
        names = self.expression_attribute_names or {}
        values = self.expression_attribute_values or {}
        used: dict[str, Any] = {}
        for token in _PLACEHOLDER.findall(expression):
            source = names if token[0] == "#" else values
            if token not in source:
                return stock_parse(self)  # let moto raise its own error
            used[token] = source[token]
        try:
            key = expression + "\0" + json.dumps(used, sort_keys=True)
        except (TypeError, ValueError):  # binary values
            return stock_parse(self)
        found = trees.get(key)
        if found is None:
            op = stock_parse(self)
            found = (op, list(self.expr_attr_names_found), list(self.expr_attr_values_found))
            if len(trees) < 4096:
                trees[key] = found
        op, names_found, values_found = found
        self.expr_attr_names_found[:] = names_found
        self.expr_attr_values_found[:] = values_found
        return op

    replace(ConditionExpressionParser, "parse", parse)


def install_update_validation_walks() -> None:
    if not once("update-validation-walks"):
        return
    from moto.dynamodb.parsing import validators
    from moto.dynamodb.parsing.ast_nodes import DepthFirstTraverser, Node  # type: ignore[attr-defined]

    # The same walk as moto's, with what a processor does to a node class worked out once per
    # (processor class, node class) instead of at every node: Node is an ABC, whose isinstance
    # costs a metaclass call (nothing registers virtual subclasses of it); ``process`` builds
    # the processor's map of bound methods for every node it handles (each validator's map is
    # fixed by its class: the same keys, methods of the processor itself); and most processors
    # keep the base class's no-op ``pre_processing_of_child``, not worth a call per child.
    stock = DepthFirstTraverser.traverse_node_recursively
    no_pre = DepthFirstTraverser.pre_processing_of_child
    kinds: dict[tuple[type, type], tuple[bool, Any]] = {}
    pre_hooks: dict[type, Any] = {}

    def handling(self: Any, node: Any) -> tuple[bool, Any]:
        """Whether ``node`` is a Node, and how this processor processes it (None: it does not)."""
        if not isinstance(node, Node):
            return False, None
        if not isinstance(node, self.nodes_to_be_processed()):
            return True, None
        for node_class, method in self._processing_map().items():
            if isinstance(node, node_class):
                if getattr(method, "__self__", None) is self:
                    return True, method.__func__
                break
        return True, type(self).process  # not a method of its own: ask it every time

    def traverse_node_recursively(self: Any, node: Any, child_id: int = -1) -> Any:
        if not SPEED.enabled:
            return stock(self, node, child_id)
        cls = type(self)
        pair = (cls, type(node))
        kind = kinds.get(pair)
        if kind is None:
            kind = kinds[pair] = handling(self, node)
        if kind[0]:
            parent_node = node.parent
            if node.children is not None:
                if cls not in pre_hooks:
                    hook = cls.pre_processing_of_child
                    pre_hooks[cls] = None if hook is no_pre else hook
                pre = pre_hooks[cls]
                for i, child_node in enumerate(node.children):
                    if pre is not None:
                        pre(self, node, i)
                    self.traverse_node_recursively(child_node, i)
            if kind[1] is not None:
                node = kind[1](self, node)
                node.parent = parent_node
                if parent_node:
                    parent_node.children[child_id] = node
        return node

    replace(DepthFirstTraverser, "traverse_node_recursively", traverse_node_recursively)

    # ActionCountValidator and OverlappingPathsValidator read the expression's tree and names
    # alone (never the item or the values) and change nothing: an expression tree
    # (``UpdateExpressionParser.make`` keeps one per text) that passed them with these names
    # passes again. Each validated tree remembers the names it passed with.
    from moto.dynamodb.parsing.validators import (
        ActionCountValidator,
        OverlappingPathsValidator,
        UpdateExpressionValidator,
    )

    stock_init = UpdateExpressionValidator.__init__
    stock_processors = UpdateExpressionValidator.get_ast_processors
    stock_validate = UpdateExpressionValidator.validate
    structural = (ActionCountValidator, OverlappingPathsValidator)

    def passed_key(self: Any) -> str | None:
        try:
            return json.dumps(self.expression_attribute_names, sort_keys=True)
        except (TypeError, ValueError):
            return None

    def init(self: Any, expression: Any, *args: Any, **kwargs: Any) -> None:
        self._stepsaga_tree = expression
        stock_init(self, expression, *args, **kwargs)

    def get_ast_processors(self: Any) -> list[Any]:
        processors = stock_processors(self)
        tree = self.__dict__.get("_stepsaga_tree")
        if (
            SPEED.enabled
            and tree is not None
            and passed_key(self) in tree.__dict__.get("_stepsaga_passed", ())
        ):
            return [p for p in processors if not isinstance(p, structural)]
        return processors

    def validate(self: Any) -> Any:
        result = stock_validate(self)
        tree, key = self.__dict__.get("_stepsaga_tree"), passed_key(self)
        if SPEED.enabled and tree is not None and key is not None:
            passed = tree.__dict__.setdefault("_stepsaga_passed", set())
            if len(passed) < 64:
                passed.add(key)
        return result

    replace(UpdateExpressionValidator, "__init__", init)
    replace(UpdateExpressionValidator, "get_ast_processors", get_ast_processors)
    replace(UpdateExpressionValidator, "validate", validate)

    # The validator's copy of the expression tree, unpickled from the tree's pickle, taken once
    # per tree and kept on it: the parsed trees are shared (``install_expressions_once``) and
    # their nodes never change, since every validation works on a copy (the patches here only
    # add their own ``_stepsaga_*`` notes to a tree's root, which its copies need not carry).
    def deepcopy(value: Any, memo: Any = None) -> Any:
        if SPEED.enabled and isinstance(value, Node):
            pickled = value.__dict__.get("_stepsaga_pickle")
            if pickled is None:
                try:
                    pickled = pickle.dumps(value, protocol=pickle.HIGHEST_PROTOCOL)
                except Exception:  # a node holding something that does not pickle
                    return copy.deepcopy(value, memo)
                value._stepsaga_pickle = pickled
            return pickle.loads(pickled)
        return copy.deepcopy(value, memo)

    validators.deepcopy = deepcopy  # type: ignore[assignment]


def install_new_items_validated_once() -> None:
    if not once("new-items-validated-once"):
        return
    from moto.dynamodb.parsing.ast_nodes import (  # type: ignore[attr-defined]
        ExpressionAttribute,
        ExpressionAttributeName,
        Node,
    )
    from moto.dynamodb.parsing.validators import UpdateExpressionValidator

    # UpdateItem of an item that does not exist yet validates its expression twice
    # (``DynamoDBBackend.update_item``): against an empty item, so that a bad expression
    # creates nothing, then against the item just created, which holds only its key. The first
    # answer is thrown away. When the expression names no key attribute, both walks look up
    # only attributes neither item has, with the same names, values and table, so the second
    # answer is the first: it is kept, per thread, for the validator that comes next, and used
    # if that one is built from the same tree, names and values objects for an item holding
    # nothing but its key.
    pending = threading.local()
    stock_init = UpdateExpressionValidator.__init__
    stock_validate = UpdateExpressionValidator.validate

    def attributes_named(tree: Any) -> tuple[frozenset[str], frozenset[str]]:
        """Every attribute name and name placeholder anywhere in an expression tree."""
        found = tree.__dict__.get("_stepsaga_named")
        if found is None:
            names: set[str] = set()
            placeholders: set[str] = set()
            nodes = [tree]
            while nodes:
                node = nodes.pop()
                if isinstance(node, ExpressionAttribute):
                    names.add(node.get_attribute_name())
                elif isinstance(node, ExpressionAttributeName):
                    placeholders.add(node.get_attribute_name_placeholder())
                elif isinstance(node, Node) and node.children:
                    nodes.extend(node.children)
            found = tree._stepsaga_named = (frozenset(names), frozenset(placeholders))
        return found

    def names_no_key(self: Any, tree: Any) -> bool:
        names, placeholders = attributes_named(tree)
        aliases = self.expression_attribute_names or {}
        if not placeholders <= aliases.keys():
            return False  # the validation raises; nothing to keep
        named = names | {aliases[p] for p in placeholders}
        return named.isdisjoint(self.table.table_key_attrs)

    def init(self: Any, expression: Any, *args: Any, **kwargs: Any) -> None:
        kept: tuple[Any, Any, Any, Any, Any] | None = getattr(pending, "kept", None)
        pending.kept = None
        if SPEED.enabled and kept is not None:
            tree, names, values, kept_table, answer = kept
            item, keys = kwargs.get("item"), set(kept_table.table_key_attrs)
            if (
                expression is tree
                and kwargs.get("expression_attribute_names") is names
                and kwargs.get("expression_attribute_values") is values
                and kwargs.get("table") is kept_table
                and item is not None
                and set(item.attrs) <= keys
            ):
                self.__dict__.update(kwargs)
                self._stepsaga_answer = answer
                return
        stock_init(self, expression, *args, **kwargs)
        self._stepsaga_tree_of_new_item = expression if not args and not self.item.attrs else None

    def validate(self: Any) -> Any:
        answer = self.__dict__.get("_stepsaga_answer")
        if answer is not None:
            return answer
        answer = stock_validate(self)
        tree = self.__dict__.get("_stepsaga_tree_of_new_item")
        if SPEED.enabled and tree is not None and names_no_key(self, tree):
            pending.kept = (
                tree,
                self.expression_attribute_names,
                self.expression_attribute_values,
                self.table,
                answer,
            )
        return answer

    replace(UpdateExpressionValidator, "__init__", init)
    replace(UpdateExpressionValidator, "validate", validate)

    # The kept answer belongs to one call: were the item's creation to fail between the two
    # validations (a key of the wrong type), the next call on this thread must not find it.
    from moto.dynamodb.models import DynamoDBBackend

    stock_update_item = DynamoDBBackend.update_item

    def update_item(self: Any, *args: Any, **kwargs: Any) -> Any:
        pending.kept = None
        try:
            return stock_update_item(self, *args, **kwargs)
        finally:
            pending.kept = None

    replace(DynamoDBBackend, "update_item", update_item)


def install_query_results_shallow() -> None:
    if not once("query-results-shallow"):
        return
    from moto.dynamodb.models import table
    from moto.dynamodb.models.dynamo_type import Item, LimitedSizeDict

    # ``Table.query`` deep-copies its matches (``copy.deepcopy(results)``) before it filters
    # and projects them; ``Item.project`` and ``SecondaryIndex.project`` build new items and
    # the answer only reads them. A copy of each item's attribute table is enough: an update
    # running meanwhile replaces attribute values in the stored item's table, not in this
    # copy (the dict copy itself is atomic under the GIL). Only that call passes a list of
    # items; every other deepcopy in the module is untouched.
    def shallow(item: Any) -> Any:
        copied: Any = Item.__new__(Item)
        copied.hash_key, copied.range_key = item.hash_key, item.range_key
        attrs = LimitedSizeDict.__new__(LimitedSizeDict)
        dict.update(attrs, item.attrs)  # the stored item passed the size check already
        copied.attrs = attrs
        return copied

    class _CopyOfTable:
        copy = staticmethod(copy.copy)

        @staticmethod
        def deepcopy(value: Any, memo: Any = None) -> Any:
            if SPEED.enabled and type(value) is list and all(type(i) is Item for i in value):
                return [shallow(i) for i in value]
            return copy.deepcopy(value, memo)

    table.copy = _CopyOfTable  # type: ignore[assignment]


def install_items_sized_once() -> None:
    if not once("items-sized-once"):
        return
    from moto.dynamodb.exceptions import ItemSizeTooLarge
    from moto.dynamodb.models.dynamo_type import DynamoType, Item, LimitedSizeDict
    from moto.dynamodb.models.utilities import bytesize

    # LimitedSizeDict re-sizes the whole item for every attribute set (quadratic in the
    # attributes); building an item, a running total gives the same sum at every step.
    stock = Item.__init__

    def init(self: Any, hash_key: Any, range_key: Any, attrs: dict[str, Any]) -> None:
        if not SPEED.enabled:
            return stock(self, hash_key, range_key, attrs)
        self.hash_key = hash_key
        self.range_key = range_key
        built = LimitedSizeDict()
        total = 0
        for key, value in attrs.items():
            typed = DynamoType(value)
            total += bytesize(key) + typed.size()
            if total > 405000:  # LimitedSizeDict's own limit
                raise ItemSizeTooLarge
            dict.__setitem__(built, key, typed)
        self.attrs = built
        return None

    replace(Item, "__init__", init)


# --- upgrade guard: what the patches here replace or copy, as written against guard.VERSIONS ---
PATCHED = {
    "moto.dynamodb.models.DynamoDBBackend.transact_write_items": Pinned(
        "81db2cb7d94e39c90b3a2077e1f4bb41a449c558ef9b1b1e2910fdaa39978ad4",
        "install_transactions",
        "the fork copies this method: port its validations, errors and cancellation reasons",
    ),
    "moto.dynamodb.models.DynamoDBBackend.put_item": Pinned(
        "f5d9a5042c77b89e5f4c88b5884f7966b9dccd95b8b04090ee9e07afc5eea675",
        "install_transactions",
        "the condition check and the write still happen inside this one call",
    ),
    "moto.dynamodb.models.DynamoDBBackend.update_item": Pinned(
        "218984588dd689a5de81678ce11e6a40d05c91e7b6c21b44c4ed4122fe74aa9f",
        "install_transactions, install_new_items_validated_once",
        "the condition check and the write still happen inside this one call; a new item's expression "
        "is validated against an empty item, then against the item holding its key, with the same "
        "tree, names and values objects, and nothing else validates in between",
    ),
    "moto.dynamodb.models.DynamoDBBackend.delete_item": Pinned(
        "083a4bb1af18f6fd2feef40195a4c9c803da66cb2cacd14f87916c6e76930ea5",
        "install_transactions",
        "the condition check and the write still happen inside this one call",
    ),
    "moto.dynamodb.models.table.Table.all_items": Pinned(
        "c80d2ee3c896acd0cab6ca35aaeae3ab3fb65858933f8a3403d4e027c240f31d",
        "install_partition_queries",
        "the listing is copied (every_item, over snapshots of the dicts): port any change, and keep "
        "the order partition_items gives one partition",
    ),
    "moto.dynamodb.models.table.Table.query": Pinned(
        "002b4d00be6df07cf37f6cbe0132e5eb89455ae12a8e79b23db3fb492450f21e",
        "install_partition_queries, install_query_results_shallow",
        "that a base-table query still reads self.all_items() and filters on the hash key, its parameter "
        "names (hash_key, index_name), and that it deep-copies its matches before only reading them",
    ),
    "moto.core.responses.ActionResult.execute_result": Pinned(
        "6333faa349b58671258985778d2aaf02d31e0617aae380442e4c683c36ab248d",
        "install_wire_json, install_api",
        "the answer's status, headers and body for a DynamoDB result, and for a history (history_json)",
    ),
    "moto.dynamodb.parsing.expressions.UpdateExpressionParser.make": Pinned(
        "2c00ed96d6e191f243b449166e75bfb38f307b2e19405bc0981847061e0dbee3",
        "install_expressions_once",
        "that the tree depends on the expression's text alone",
    ),
    "moto.dynamodb.comparisons.ConditionExpressionParser.parse": Pinned(
        "5c9b63c5f49ed5d5d644eb0ac7422fb3c2ac4bbd310374f4161686bc4e10c453",
        "install_expressions_once",
        "the names and values it records (expr_attr_names_found, expr_attr_values_found)",
    ),
    "moto.dynamodb.parsing.ast_nodes.DepthFirstTraverser.traverse_node_recursively": Pinned(
        "d7f01d9b45cf9f64ac84751ec4c8cab3114e7c179350eb1b81ffe5f0a114aa78",
        "install_update_validation_walks",
        "the walk is copied: port any change to it",
    ),
    "moto.dynamodb.parsing.ast_nodes.DepthFirstTraverser.process": Pinned(
        "58328ec7c2f9b1f96244bf498dd0ca6d91e2fd83ea57a82f6190997b8d1f9d51",
        "install_update_validation_walks",
        "that it still calls the first map entry the node is an instance of, and that every "
        "processor's _processing_map holds its own bound methods, the same for every instance",
        replaced=False,
    ),
    "moto.dynamodb.parsing.validators.Validator.__init__": Pinned(
        "9489b532dd0fb359e273711c1a67971f1b73af47ddbaa91868e9cc42a26ddbb3",
        "install_update_validation_walks, install_new_items_validated_once",
        "that it still takes the tree first and asks get_ast_processors before it copies the tree",
    ),
    "moto.dynamodb.parsing.validators.Validator.validate": Pinned(
        "5a99f0d36c7b7b8ebfa3e745203515f57a9b99109cfca55a039153a8f6b081c6",
        "install_update_validation_walks, install_new_items_validated_once",
        "that it runs every processor and raises on the first refusal",
    ),
    "moto.dynamodb.parsing.validators.UpdateExpressionValidator.get_ast_processors": Pinned(
        "918400bbecd67e8321619b3141e6a276e91a5112c8e8b602fbbc748d83329af6",
        "install_update_validation_walks",
        "which processors depend on the item, the values or the table (those always run)",
    ),
    "moto.dynamodb.parsing.validators.ActionCountValidator.verify_action_counts": Pinned(
        "8cd8c9a3ae3a414abe39794eb3b5097b64b580b9dee258da242d2c03cf91c293",
        "install_update_validation_walks",
        "that it reads the tree alone and changes nothing (its verdict is remembered per tree)",
        replaced=False,
    ),
    "moto.dynamodb.parsing.validators.OverlappingPathsValidator.check_for_overlapping_paths": Pinned(
        "2488117d3c3a1f22b817ce11bb446912002fcda1dfbb6956234f91619ede5692",
        "install_update_validation_walks",
        "that it reads the tree and the names alone and changes nothing (its verdict is remembered)",
        replaced=False,
    ),
    "moto.dynamodb.models.dynamo_type.Item.__init__": Pinned(
        "d9c12b62cb921831aab9b2eb22ac24fbd600689064a0219ae3ffbe057ae4be74",
        "install_items_sized_once",
        "the item's fields and how attributes are typed: the patch builds the item itself",
    ),
    "moto.dynamodb.models.dynamo_type.LimitedSizeDict.__setitem__": Pinned(
        "d979580fdbe14f79f3216564e1385c4b3485db82bc88193326c467a037331e81",
        "install_items_sized_once",
        "the size limit and how it sizes an attribute: the running total copies it",
        replaced=False,
    ),
}
