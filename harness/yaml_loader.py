"""Safe YAML loading that remembers where every key and value came from.

Scenario files are user input, so loading them must be safe and every later complaint must be
able to point at a line.  :func:`load_yaml` returns ordinary ``dict``/``list`` subclasses
(:class:`LineDict`, :class:`LineList`) that also carry 1-based positions; scalars stay plain
Python values and their positions are asked of the container holding them
(:func:`position_of`, :func:`key_position_of`).

What the loader guarantees, each failure being a :class:`~harness.errors.ScenarioError` naming
the file, line and column:

* only plain data: mappings, lists, strings, integers, floats, booleans, null.  Any other tag
  (``!!python/object``, ``!!binary``, ``!!timestamp``, ``!custom``) is refused;
* the YAML 1.2 core schema for plain scalars: only ``true``/``false`` are booleans, so ``no``,
  ``on`` or a country code ``NO`` stay strings; ``010`` is ten, not octal eight; ``1:30`` is a
  string, not ninety; dates stay strings.  ``1_000`` is accepted as an integer;
* a tree, not a graph: an alias (``*name``) or merge (``<<: *name``) gets its own copy, so
  changing one place never changes another.  Copies are bounded: more than
  ``MAX_ALIAS_NODES`` nodes produced through aliases ("billion laughs"), a recursive alias,
  nesting deeper than ``MAX_DEPTH`` or more than ``MAX_NODES`` values in all are refused while
  parsing, before anything is built, which also bounds the time a load can take;
* no duplicate keys (PyYAML would silently keep the last), the top level is a mapping, the file
  is not empty, is at most ``MAX_INPUT_BYTES``, is UTF-8 text and holds no NUL bytes;
* one document per file.
"""

from __future__ import annotations

import codecs
import os
import re
from collections.abc import Hashable, Iterator
from typing import TYPE_CHECKING, Any, ClassVar, NamedTuple

import yaml
from yaml.composer import Composer
from yaml.constructor import SafeConstructor
from yaml.error import Mark, MarkedYAMLError
from yaml.events import AliasEvent
from yaml.nodes import MappingNode, Node, ScalarNode, SequenceNode
from yaml.parser import Parser
from yaml.reader import Reader, ReaderError
from yaml.resolver import Resolver
from yaml.scanner import Scanner

try:
    from yaml._yaml import CParser as _CParser

    _HAVE_LIBYAML = True
except ImportError:  # PyYAML built without libyaml: the pure-Python parser does the same job
    _HAVE_LIBYAML = False

from harness.errors import ScenarioError
from harness.units import format_size

__all__ = [
    "MAX_ALIAS_NODES",
    "MAX_DEPTH",
    "MAX_INPUT_BYTES",
    "MAX_NODES",
    "UNKNOWN_POSITION",
    "LineDict",
    "LineList",
    "Position",
    "error_at",
    "key_position_of",
    "load_yaml",
    "load_yaml_bytes",
    "load_yaml_file",
    "position_of",
]

MAX_INPUT_BYTES = 1 << 20
"""Largest scenario file accepted (1 MiB); real scenarios are a few KiB."""

MAX_NODES = 100_000
"""Most values (scalars and collections) a document may hold; loading costs ~10 us each."""

MAX_ALIAS_NODES = 10_000
"""Most nodes that aliases and merges may add to a document once expanded."""

MAX_DEPTH = 64
"""Deepest nesting of collections, counting what aliases bring in."""


class Position(NamedTuple):
    """A 1-based line and column in the source file; both ``None`` when unknown."""

    line: int | None
    column: int | None


UNKNOWN_POSITION = Position(None, None)


class LineDict(dict[Any, Any]):
    """A ``dict`` that also knows where it, each key and each value start in the file."""

    position: Position
    key_positions: dict[Any, Position]
    value_positions: dict[Any, Position]

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.position = UNKNOWN_POSITION
        self.key_positions = {}
        self.value_positions = {}


class LineList(list[Any]):
    """A ``list`` that also knows where it and each item start in the file."""

    position: Position
    item_positions: list[Position]

    def __init__(self, *args: Any) -> None:
        super().__init__(*args)
        self.position = UNKNOWN_POSITION
        self.item_positions = []


def position_of(container: object, key_or_index: Any) -> Position:
    """Where the value at ``container[key_or_index]`` starts.

    Falls back to the container's own position when the key or index is absent (so "missing key
    'rtt'" points at the mapping that lacks it), and to :data:`UNKNOWN_POSITION` for containers
    that did not come from the loader.
    """
    if isinstance(container, LineDict):
        return container.value_positions.get(key_or_index, container.position)
    if isinstance(container, LineList):
        if isinstance(key_or_index, int) and -len(container) <= key_or_index < len(container):
            return container.item_positions[key_or_index]
        return container.position
    return UNKNOWN_POSITION


def key_position_of(mapping: object, key: Any) -> Position:
    """Where ``key`` itself is written (for "unknown key" errors); same fallbacks."""
    if isinstance(mapping, LineDict):
        return mapping.key_positions.get(key, mapping.position)
    if isinstance(mapping, LineList):
        return mapping.position
    return UNKNOWN_POSITION


def error_at(
    path: str,
    container: object,
    key_or_index: Any,
    message: str,
    *,
    hint: str | None = None,
    at_key: bool = False,
) -> ScenarioError:
    """A :class:`ScenarioError` located at a value (or, with ``at_key``, at its key)."""
    if at_key:
        position = key_position_of(container, key_or_index)
    else:
        position = position_of(container, key_or_index)
    return ScenarioError(message, path=path, line=position.line, column=position.column, hint=hint)


def load_yaml_file(path: str | os.PathLike[str]) -> LineDict:
    """Read, decode (strict UTF-8) and load a scenario file."""
    display = os.fspath(path)
    try:
        with open(display, "rb") as stream:
            # One byte past the limit is enough to know the file is too large.
            data = stream.read(MAX_INPUT_BYTES + 1)
    except OSError as exc:
        reason = exc.strerror or str(exc)
        raise ScenarioError(f"cannot read file: {reason}", path=display) from None
    return load_yaml_bytes(data, display)


def load_yaml_bytes(data: bytes, path: str) -> LineDict:
    """Decode ``data`` as strict UTF-8 (a UTF-8 BOM is allowed) and load it."""
    if len(data) > MAX_INPUT_BYTES:
        raise _too_large(path)
    for bom, name in _FOREIGN_BOMS:
        if data.startswith(bom):
            raise ScenarioError(
                f"file is encoded as {name}, not UTF-8",
                path=path,
                line=1,
                column=1,
                hint="save the scenario as UTF-8",
            )
    nul = data.find(b"\x00")
    if nul >= 0:
        line, column = _byte_position(data, nul)
        raise ScenarioError(
            "file contains a NUL byte; it looks like a binary file, not YAML text",
            path=path,
            line=line,
            column=column,
        )
    if data.startswith(codecs.BOM_UTF8):
        data = data[len(codecs.BOM_UTF8) :]
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        line, column = _byte_position(data, exc.start)
        raise ScenarioError(
            f"file is not valid UTF-8 text (byte 0x{data[exc.start]:02x} cannot be decoded)",
            path=path,
            line=line,
            column=column,
            hint="save the scenario as UTF-8; if it is binary, it is not a scenario",
        ) from None
    return load_yaml(text, path)


def load_yaml(
    text: str,
    path: str = "<string>",
    *,
    max_nodes: int = MAX_NODES,
    max_alias_nodes: int = MAX_ALIAS_NODES,
    max_depth: int = MAX_DEPTH,
) -> LineDict:
    """Load one YAML document whose top level is a mapping, keeping source positions.

    ``path`` only names the source in error messages.  Raises :class:`ScenarioError` for every
    kind of bad input, never a YAML or Python exception.
    """
    if len(text) > MAX_INPUT_BYTES or len(text.encode("utf-8", "surrogatepass")) > MAX_INPUT_BYTES:
        raise _too_large(path)
    nul = text.find("\x00")
    if nul >= 0:
        line, column = _text_position(text, nul)
        raise ScenarioError(
            "text contains a NUL character; it looks like binary data, not YAML",
            path=path,
            line=line,
            column=column,
        )
    if not text.strip().lstrip("\ufeff").strip():
        raise _empty(path)

    loader: _Loader | None = None
    loader_class = _LOADERS[_backend]
    try:
        limits = _Limits(max_nodes, max_alias_nodes, max_depth)
        loader = loader_class(text, path, limits)
        root = loader.get_single_node()
        if root is None or (isinstance(root, ScalarNode) and root.tag == _NULL_TAG):
            raise _empty(path)
        if not isinstance(root, MappingNode):
            if isinstance(root, SequenceNode):
                found = "a list"
            else:
                scalar = str(root.value)
                found = f"the value {scalar if len(scalar) <= 40 else scalar[:40] + '...'!r}"
            raise ScenarioError(
                f"the top level of a scenario must be a mapping of keys, found {found}",
                path=path,
                line=root.start_mark.line + 1,
                column=root.start_mark.column + 1,
                hint="start with keys such as 'driver:' and 'expect:'",
            )
        document = loader.construct_document(root)
    except MarkedYAMLError as exc:
        raise _from_marked(exc, text, path) from None
    except ReaderError as exc:
        raise _from_reader(exc, text, path, loader_class.reader_positions_in_bytes) from None
    except yaml.YAMLError as exc:
        raise ScenarioError(f"invalid YAML: {exc}", path=path) from None
    except RecursionError:
        # Limits above keep the loader shallow; this is a last line of defence.
        raise ScenarioError("the document is nested too deeply", path=path) from None
    finally:
        if loader is not None:
            loader.dispose()
    assert isinstance(document, LineDict)
    return document


# ---------------------------------------------------------------------------------------------
# The loader


_CORE_PREFIX = "tag:yaml.org,2002:"
_NULL_TAG = "tag:yaml.org,2002:null"
_BOOL_TAG = "tag:yaml.org,2002:bool"
_INT_TAG = "tag:yaml.org,2002:int"
_FLOAT_TAG = "tag:yaml.org,2002:float"
_STR_TAG = "tag:yaml.org,2002:str"
_SEQ_TAG = "tag:yaml.org,2002:seq"
_MAP_TAG = "tag:yaml.org,2002:map"
_MERGE_TAG = "tag:yaml.org,2002:merge"

# Longest first: the UTF-32 LE mark begins with the UTF-16 LE one.
_FOREIGN_BOMS = (
    (codecs.BOM_UTF32_LE, "UTF-32"),
    (codecs.BOM_UTF32_BE, "UTF-32"),
    (codecs.BOM_UTF16_LE, "UTF-16"),
    (codecs.BOM_UTF16_BE, "UTF-16"),
)

# The YAML 1.2 core schema (plus digit-group underscores in numbers).
_BOOL_RE = re.compile(r"^(?:true|True|TRUE|false|False|FALSE)\Z")
_NULL_RE = re.compile(r"^(?:~|null|Null|NULL|)\Z")
_INT_RE = re.compile(r"^(?:[-+]?[0-9]+(?:_[0-9]+)*|0o[0-7]+|0x[0-9a-fA-F]+)\Z")
_FLOAT_RE = re.compile(
    r"""^(?:
        [-+]?(?:\.[0-9]+|[0-9]+(?:_[0-9]+)*(?:\.[0-9]*)?)(?:[eE][-+]?[0-9]+)?
      | [-+]?\.(?:inf|Inf|INF)
      | \.(?:nan|NaN|NAN)
    )\Z""",
    re.VERBOSE,
)
_MERGE_RE = re.compile(r"^<<\Z")

# Problems the parser reports in its own terms (libyaml's or PyYAML's wording), and what a
# scenario author should do about them.
_HINTS = (
    ("mapping values are not allowed", "quote a value that contains ': ', or fix the indentation"),
    ("could not find expected ':'", "a key needs ': ' after it; check quotes and indentation"),
    ("expected <block end>", "check this line's indentation against the lines above it"),
    ("did not find expected key", "check this line's indentation against the lines above it"),
    ("expected a single document", "a scenario file holds one document; remove the extra '---'"),
    ("found undefined alias", "define the anchor (&name) before using it (*name)"),
)
_TAB_HINT = "indent with spaces; YAML does not allow tabs for indentation"


class _Limits(NamedTuple):
    max_nodes: int
    max_alias_nodes: int
    max_depth: int


class _Loader(Composer, SafeConstructor, Resolver):
    """Composer and constructor with positions, the core schema, limits and duplicate checks.

    Concrete loaders add an event source: libyaml's parser when PyYAML was built with it (five
    times faster on large files), else PyYAML's pure-Python reader, scanner and parser.  Both
    give the same trees and positions; only the wording of syntax errors differs.
    """

    # Own tables, so nothing registered on SafeLoader (by us or a library) leaks in or out.
    yaml_implicit_resolvers: dict[Any, Any] = {}
    yaml_constructors: ClassVar[dict[Any, Any]] = {}
    yaml_multi_constructors: ClassVar[dict[Any, Any]] = {}
    # Whether ReaderError.position counts bytes of UTF-8 (libyaml) or characters (PyYAML).
    reader_positions_in_bytes: ClassVar[bool] = False

    if TYPE_CHECKING:
        # Provided by the event source each concrete loader mixes in.
        def check_event(self, *choices: Any) -> bool: ...
        def peek_event(self) -> Any: ...
        def dispose(self) -> None: ...

    def __init__(self, text: str, path: str, limits: _Limits) -> None:
        # ``text`` is for the event source, which each concrete loader initialises itself.
        self._path = path
        self._max_nodes, self._max_alias_nodes, self._max_depth = limits
        self._nodes = 0
        self._depth = 0
        self._alias_nodes = 0
        # Per composed node: how many nodes it stands for once aliases are expanded, and how
        # deep it is.  A node absent from _sizes is still being composed.
        self._sizes: dict[Node, int] = {}
        self._heights: dict[Node, int] = {}
        self._flattened: set[Node] = set()
        Composer.__init__(self)
        SafeConstructor.__init__(self)
        Resolver.__init__(self)

    # -- composing: limits are enforced here, before any Python object is built --------------

    def compose_node(self, parent: Node | None, index: Any) -> Node | None:
        if self.check_event(AliasEvent):
            mark = self.peek_event().start_mark
            node = super().compose_node(parent, index)
            assert node is not None
            size = self._sizes.get(node)
            if size is None:
                raise self._error(
                    "this alias refers to a collection that contains it (a recursive alias)",
                    mark,
                )
            self._alias_nodes += size
            if self._alias_nodes > self._max_alias_nodes:
                raise self._error(
                    f"aliases expand to more than {self._max_alias_nodes} nodes",
                    mark,
                    hint="anchors (&) and aliases (*) are for sharing small blocks; "
                    "this document would balloon when expanded",
                )
            if self._depth + self._heights[node] > self._max_depth:
                raise self._error(f"nesting is deeper than {self._max_depth} levels", mark)
            return node

        mark = self.peek_event().start_mark
        if self._depth >= self._max_depth:
            raise self._error(f"nesting is deeper than {self._max_depth} levels", mark)
        self._nodes += 1
        if self._nodes > self._max_nodes:
            raise self._error(
                f"the document holds more than {self._max_nodes} values",
                mark,
                hint="split it into several scenarios, or generate cases with a matrix",
            )
        self._depth += 1
        try:
            node = super().compose_node(parent, index)
        finally:
            self._depth -= 1
        assert node is not None
        if isinstance(node, SequenceNode):
            children = list(node.value)
        elif isinstance(node, MappingNode):
            children = [child for pair in node.value for child in pair]
        else:
            children = []
        self._sizes[node] = 1 + sum(self._sizes[child] for child in children)
        self._heights[node] = 1 + max((self._heights[child] for child in children), default=0)
        return node

    # -- constructing ---------------------------------------------------------------------------

    def construct_object(self, node: Any, deep: bool = False) -> Any:
        # A fresh object for every occurrence of a node, so aliases yield copies and the result
        # is a tree.  compose_node has already bounded how many copies that can mean.
        self.constructed_objects.pop(node, None)
        return super().construct_object(node, deep=deep)

    def _construct_map(self, node: Node) -> Iterator[LineDict]:
        if not isinstance(node, MappingNode):
            raise self._error("the !!map tag needs a mapping", node.start_mark)
        data = LineDict()
        data.position = _position(node.start_mark)
        yield data
        self._check_and_merge(node)
        for key_node, value_node in node.value:
            key = self._construct_key(key_node)
            data[key] = self.construct_object(value_node, deep=False)
            data.key_positions[key] = _position(key_node.start_mark)
            data.value_positions[key] = _position(value_node.start_mark)

    def _construct_seq(self, node: Node) -> Iterator[LineList]:
        if not isinstance(node, SequenceNode):
            raise self._error("the !!seq tag needs a list", node.start_mark)
        data = LineList()
        data.position = _position(node.start_mark)
        yield data
        for child in node.value:
            data.append(self.construct_object(child, deep=False))
            data.item_positions.append(_position(child.start_mark))

    def _construct_key(self, key_node: Node) -> Any:
        key = self.construct_object(key_node, deep=False)
        if isinstance(key, (list, dict)) or not isinstance(key, Hashable):
            raise self._error(
                "a mapping key must be a plain value, not a list or mapping", key_node.start_mark
            )
        return key

    def _check_and_merge(self, node: MappingNode) -> None:
        # Runs once per node: flattening rewrites node.value in place, after which merged keys
        # that explicit ones override would look like duplicates.
        if node in self._flattened:
            return
        self._flattened.add(node)
        first_seen: dict[Any, Mark] = {}
        for key_node, _ in node.value:
            if key_node.tag == _MERGE_TAG:
                continue
            key = self._construct_key(key_node)
            if key in first_seen:
                raise self._error(
                    f"duplicate key {key!r} (first defined at line {first_seen[key].line + 1})",
                    key_node.start_mark,
                    hint="remove one of them; YAML would otherwise silently keep the last",
                )
            first_seen[key] = key_node.start_mark
        self.flatten_mapping(node)

    def _scalar(self, node: Node, expected: str) -> str:
        # Explicit tags can put a scalar tag on a collection ("!!int [1]").
        if not isinstance(node, ScalarNode):
            raise self._error(f"expected {expected} here, found a collection", node.start_mark)
        return str(node.value)

    def _construct_null(self, node: Node) -> None:
        value = self._scalar(node, "null")
        if not _NULL_RE.match(value):
            raise self._error(f"expected null, got {value!r}", node.start_mark)
        return None

    def _construct_bool(self, node: Node) -> bool:
        value = self._scalar(node, "true or false")
        if not _BOOL_RE.match(value):
            raise self._error(f"expected true or false, got {value!r}", node.start_mark)
        return value.lower() == "true"

    def _construct_int(self, node: Node) -> int:
        value = self._scalar(node, "an integer")
        if not _INT_RE.match(value):
            raise self._error(f"expected an integer, got {value!r}", node.start_mark)
        if value.startswith("0o"):
            return int(value[2:], 8)
        if value.startswith("0x"):
            return int(value[2:], 16)
        try:
            return int(value)
        except ValueError:
            # Python refuses integers of more than 4300 digits.
            raise self._error("integer is too large", node.start_mark) from None

    def _construct_float(self, node: Node) -> float:
        value = self._scalar(node, "a number")
        if not _FLOAT_RE.match(value):
            raise self._error(f"expected a number, got {value!r}", node.start_mark)
        folded = value.lower()
        if folded.endswith(".inf"):
            return float("-inf") if folded.startswith("-") else float("inf")
        if folded == ".nan":
            return float("nan")
        return float(value)

    def _construct_str(self, node: Node) -> str:
        return self._scalar(node, "text")

    def _construct_unsupported(self, node: Node) -> Any:
        # Show the tag the way it was written: "!!binary", not "tag:yaml.org,2002:binary".
        tag = str(node.tag)
        shown = "!!" + tag[len(_CORE_PREFIX) :] if tag.startswith(_CORE_PREFIX) else tag
        raise self._error(
            f"unsupported YAML tag {shown!r}",
            node.start_mark,
            hint="scenario files hold plain mappings, lists, text, numbers, true/false and null",
        )

    def _error(self, message: str, mark: Mark | None, hint: str | None = None) -> ScenarioError:
        position = _position(mark)
        return ScenarioError(
            message, path=self._path, line=position.line, column=position.column, hint=hint
        )


for _tag, _regexp, _first in (
    (_BOOL_TAG, _BOOL_RE, "tTfF"),
    (_NULL_TAG, _NULL_RE, ["~", "n", "N", ""]),
    # int before float: the first matching resolver wins, and "12" matches both.
    (_INT_TAG, _INT_RE, "-+0123456789"),
    (_FLOAT_TAG, _FLOAT_RE, "-+.0123456789"),
    (_MERGE_TAG, _MERGE_RE, "<"),
):
    for _character in _first:
        _Loader.yaml_implicit_resolvers.setdefault(_character, []).append((_tag, _regexp))

_Loader.yaml_constructors.update(
    {
        _NULL_TAG: _Loader._construct_null,
        _BOOL_TAG: _Loader._construct_bool,
        _INT_TAG: _Loader._construct_int,
        _FLOAT_TAG: _Loader._construct_float,
        _STR_TAG: _Loader._construct_str,
        _SEQ_TAG: _Loader._construct_seq,
        _MAP_TAG: _Loader._construct_map,
        # Any other tag, including every !!python/... one.
        None: _Loader._construct_unsupported,
    }
)


class _PythonLoader(_Loader, Reader, Scanner, Parser):
    """Events from PyYAML's pure-Python reader, scanner and parser."""

    def __init__(self, text: str, path: str, limits: _Limits) -> None:
        super().__init__(text, path, limits)
        Reader.__init__(self, text)
        Scanner.__init__(self)
        Parser.__init__(self)


_LOADERS: dict[str, type[_Loader]] = {"python": _PythonLoader}

if _HAVE_LIBYAML:

    class _LibyamlLoader(_Loader, _CParser):
        """Events from libyaml; composing and constructing stay ours (in Python)."""

        reader_positions_in_bytes = True

        def __init__(self, text: str, path: str, limits: _Limits) -> None:
            super().__init__(text, path, limits)
            _CParser.__init__(self, text)

    _LOADERS["libyaml"] = _LibyamlLoader

# Chosen once; tests switch it to check that both backends behave the same.
_backend = "libyaml" if "libyaml" in _LOADERS else "python"


# ---------------------------------------------------------------------------------------------
# Helpers


def _position(mark: Mark | None) -> Position:
    if mark is None:
        return UNKNOWN_POSITION
    return Position(mark.line + 1, mark.column + 1)


def _text_position(text: str, index: int) -> tuple[int, int]:
    line_start = text.rfind("\n", 0, index) + 1
    return text.count("\n", 0, index) + 1, index - line_start + 1


def _byte_position(data: bytes, index: int) -> tuple[int, int]:
    line_start = data.rfind(b"\n", 0, index) + 1
    # Columns count characters, as editors do, not bytes.
    column = len(data[line_start:index].decode("utf-8", "replace")) + 1
    return data.count(b"\n", 0, index) + 1, column


def _too_large(path: str) -> ScenarioError:
    return ScenarioError(
        f"file is larger than the {format_size(MAX_INPUT_BYTES)} allowed for a scenario",
        path=path,
        hint="split it into several scenarios, or generate cases with a matrix",
    )


def _empty(path: str) -> ScenarioError:
    return ScenarioError(
        "empty scenario file",
        path=path,
        hint="a scenario is a mapping with keys such as 'driver:' and 'expect:'",
    )


def _from_marked(exc: MarkedYAMLError, text: str, path: str) -> ScenarioError:
    mark = exc.problem_mark or exc.context_mark
    message = exc.problem or exc.context or "invalid YAML"
    if exc.problem and exc.context:
        context_mark = exc.context_mark
        if context_mark is not None and mark is not None and context_mark.line != mark.line:
            message += f" ({exc.context} started at line {context_mark.line + 1})"
        else:
            message += f" ({exc.context})"
    hint = next((advice for needle, advice in _HINTS if needle in message), None)
    position = _position(mark)
    if position.line is not None and position.column is not None:
        lines = text.splitlines()
        if position.line <= len(lines) and "\t" in lines[position.line - 1][: position.column]:
            hint = _TAB_HINT
    return ScenarioError(message, path=path, line=position.line, column=position.column, hint=hint)


def _from_reader(exc: ReaderError, text: str, path: str, in_bytes: bool) -> ScenarioError:
    line: int | None = None
    column: int | None = None
    index = exc.position
    if isinstance(index, int) and in_bytes:
        index = len(text.encode("utf-8", "surrogatepass")[:index].decode("utf-8", "ignore"))
    if isinstance(index, int) and 0 <= index <= len(text):
        line, column = _text_position(text, index)
    character = exc.character
    shown = f"U+{character:04X}" if isinstance(character, int) else repr(character)
    return ScenarioError(
        f"character {shown} is not allowed in YAML ({exc.reason})",
        path=path,
        line=line,
        column=column,
        hint="scenario files are plain text; remove control characters",
    )
