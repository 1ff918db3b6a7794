"""YAML composition with bounds, so that a hostile config file is an error and not a hang.

A vision.yml is a few KB with a few hundred values. Without bounds, PyYAML lets a small file
stand for a huge tree through aliases ("billion laughs"), recurses once per nesting level
(RecursionError), and keeps aliases that refer to their own ancestor (a cycle). Every bound
is checked while the node tree is composed, before anything is built from it.
"""

from __future__ import annotations

from typing import Any, cast

import yaml

MAX_CONFIG_BYTES = 1024 * 1024
MAX_SCALAR_CHARS = 64 * 1024  # a long Prompt or an inline Schema fits with room to spare
MAX_DEPTH = 64  # nesting levels, counted through aliases
MAX_NODES = 10_000  # values in the tree, counted through aliases


class LimitExceeded(yaml.MarkedYAMLError):
    """A bound was exceeded; `problem` says which and `problem_mark` where."""

    def __init__(self, problem: str, mark: yaml.Mark | None) -> None:
        super().__init__(problem=problem, problem_mark=mark)


class BoundedLoader(yaml.SafeLoader):
    """SafeLoader whose composer refuses trees too deep, too large or cyclic."""

    def __init__(self, stream: str) -> None:
        super().__init__(stream)
        self._depth = 0
        # id(node) -> (values, depth) of the node's subtree as if every alias were copied out.
        self._extent: dict[int, tuple[int, int]] = {}

    def _next_event(self) -> tuple[yaml.Event, yaml.Mark]:
        event: yaml.Event = self.peek_event()  # type: ignore[no-untyped-call]
        return event, cast(yaml.Mark, event.start_mark)  # libyaml's marks have the same fields

    def compose_node(self, parent: yaml.Node | None, index: int) -> yaml.Node | None:
        if self.check_event(yaml.AliasEvent):
            event, mark = self._next_event()
            anchor = getattr(event, "anchor", None) or ""
            target = self.anchors.get(anchor)
            if target is not None and id(target) not in self._extent:
                # Its own ancestor: a cycle, which expands forever.
                raise LimitExceeded(f"alias *{anchor} refers to itself", mark)
            return super().compose_node(parent, index)
        self._depth += 1
        try:
            if self._depth > MAX_DEPTH:
                _, mark = self._next_event()
                raise LimitExceeded(f"nested deeper than {MAX_DEPTH} levels", mark)
            node = super().compose_node(parent, index)
        finally:
            self._depth -= 1
        if node is not None:
            self._measure(node)
        return node

    def _measure(self, node: yaml.Node) -> None:
        if isinstance(node, yaml.ScalarNode):
            if len(node.value) > MAX_SCALAR_CHARS:
                raise LimitExceeded(
                    f"value longer than {MAX_SCALAR_CHARS} characters", node.start_mark
                )
            self._extent[id(node)] = (1, 1)
            return
        children: list[yaml.Node] = []
        if isinstance(node, yaml.MappingNode):
            for key, value in node.value:
                children += (key, value)
        elif isinstance(node, yaml.SequenceNode):
            children = list(node.value)
        # Every child is complete (composed before its parent, or an alias to a complete node).
        extents = [self._extent[id(child)] for child in children]
        values = 1 + sum(count for count, _ in extents)
        depth = 1 + max((deep for _, deep in extents), default=0)
        if values > MAX_NODES:
            raise LimitExceeded(
                f"more than {MAX_NODES} values once aliases are expanded", node.start_mark
            )
        if depth > MAX_DEPTH:
            raise LimitExceeded(
                f"nested deeper than {MAX_DEPTH} levels once aliases are expanded",
                node.start_mark,
            )
        self._extent[id(node)] = (values, depth)


def compose(text: str) -> tuple[yaml.Node | None, BoundedLoader]:
    """The node tree of one YAML document and the loader that composed it (its constructor
    turns the tree's scalars into Python values). Raises yaml.YAMLError, LimitExceeded
    included."""
    loader = BoundedLoader(text)
    try:
        return loader.get_single_node(), loader
    finally:
        loader.dispose()


def load(text: str) -> Any:
    """Python data of one YAML document, within the same bounds as vision.yml."""
    node, loader = compose(text)
    return None if node is None else loader.construct_document(node)
