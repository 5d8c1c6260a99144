"""The Overworld client wire, written from docs/protocol.md: the .dc schema (a parser for the subset
games use), DC value packing, nested changes, the client/agent messages, the reliable layer and netcode.io
1.02 packets. No I/O here: play.py drives it over UDP. Standard library and PyNaCl (Debian's python3-nacl)
only."""

from __future__ import annotations

import math
import re
import struct
from dataclasses import dataclass, field
from typing import Any

try:
    from nacl import bindings as sodium
except ImportError as missing:  # pragma: no cover
    raise SystemExit("overworld_wire needs PyNaCl (libsodium): apt-get install python3-nacl, and run /usr/bin/python3") from missing

# ---------------------------------------------------------------------------------------------------
# Little-endian cursor


class WireError(Exception):
    """Bytes that do not hold what the spec says they must."""


class Reader:
    def __init__(self, data: bytes, pos: int = 0, end: int | None = None):
        self.data = data
        self.pos = pos
        self.end = len(data) if end is None else end

    @property
    def remaining(self) -> int:
        return self.end - self.pos

    def take(self, count: int) -> bytes:
        if count < 0 or self.pos + count > self.end:
            raise WireError(f"needs {count} byte(s) at offset {self.pos}, {self.remaining} remain")
        chunk = self.data[self.pos : self.pos + count]
        self.pos += count
        return chunk

    def unpack(self, fmt: str) -> Any:
        return struct.unpack("<" + fmt, self.take(struct.calcsize("<" + fmt)))[0]

    def u8(self) -> int:
        return self.unpack("B")

    def u16(self) -> int:
        return self.unpack("H")

    def u32(self) -> int:
        return self.unpack("I")

    def u64(self) -> int:
        return self.unpack("Q")

    def f64(self) -> float:
        return self.unpack("d")

    def varuint(self, max_bytes: int = 5) -> int:
        value, shift = 0, 0
        for _ in range(max_bytes):
            byte = self.u8()
            value |= (byte & 0x7F) << shift
            if byte & 0x80 == 0:
                return value
            shift += 7
        raise WireError(f"a varuint longer than {max_bytes} bytes")

    def string(self) -> str:
        return self.take(self.u16()).decode("utf-8")


def varuint(value: int) -> bytes:
    out = bytearray()
    while value > 0x7F:
        out.append((value & 0x7F) | 0x80)
        value >>= 7
    out.append(value)
    return bytes(out)


def zigzag(value: int) -> int:
    return value * 2 if value >= 0 else -value * 2 - 1


def unzigzag(value: int) -> int:
    return value // 2 if value % 2 == 0 else -(value + 1) // 2


def wire_string(text: str) -> bytes:
    encoded = text.encode("utf-8")
    return struct.pack("<H", len(encoded)) + encoded


# ---------------------------------------------------------------------------------------------------
# The schema: a .dc parser for the declarations the spec numbers (keyword, typedef, struct, dclass;
# atomic, parameter and molecular fields; int ranges, modulus and divisor; string/blob lengths; arrays)

INT_FORMATS = {"int8": "b", "int16": "h", "int32": "i", "int64": "q", "uint8": "B", "uint16": "H", "uint32": "I", "uint64": "Q"}
FLOAT_FORMATS = {"float32": "f", "float64": "d"}
ARRAY_ALIASES = {
    "int8array": "int8",
    "int16array": "int16",
    "int32array": "int32",
    "uint8array": "uint8",
    "uint16array": "uint16",
    "uint32array": "uint32",
    "uint32uint8array": None,
}


@dataclass
class DcType:
    kind: str  # int, float, char, string, blob, blob32, array, struct
    fmt: str = ""  # struct format of a number
    divisor: float = 1
    modulus: float | None = None
    fixed: int | None = None  # fixed length (strings, blobs) or fixed element count (arrays)
    element: "DcType | None" = None
    struct: "DcStruct | None" = None


@dataclass
class Param:
    type: DcType
    name: str


@dataclass
class DcField:
    id: int
    name: str
    kind: str  # atomic, parameter, molecular
    params: list[Param]  # the arguments (a parameter field: one; a molecular field: its atoms' in order)
    keywords: list[str]


@dataclass
class DcStruct:
    id: int
    name: str
    members: list[DcField] = field(default_factory=list)


@dataclass
class DcClass:
    id: int
    name: str
    parents: list["DcClass"]
    own: list[DcField] = field(default_factory=list)

    @property
    def fields(self) -> list[DcField]:
        """Every field, inherited ones included, in field-id order: index = the class-local index."""
        seen: dict[int, DcField] = {}
        for parent in self.parents:
            for each in parent.fields:
                seen.setdefault(each.id, each)
        for each in self.own:
            seen[each.id] = each
        return sorted(seen.values(), key=lambda f: f.id)

    def field(self, name: str) -> DcField:
        for each in self.fields:
            if each.name == name:
                return each
        raise KeyError(f"class {self.name} has no field {name}")


TOKEN = re.compile(r"\s+|//[^\n]*|/\*.*?\*/|(\"(?:[^\"\\]|\\.)*\"|'(?:[^'\\]|\\.)*'|-?\d+(?:\.\d+)?|[A-Za-z_][A-Za-z0-9_]*|.)", re.S)


class Schema:
    """The classes and structs of .dc files, numbered as the spec says."""

    def __init__(self) -> None:
        self.types: list[DcClass | DcStruct] = []
        self.by_name: dict[str, DcClass | DcStruct] = {}
        self.typedefs: dict[str, DcType] = {}
        self.keywords: set[str] = {"required", "broadcast", "ownrecv", "ram", "db", "clsend", "clrecv", "ownsend", "airecv"}
        self.fields: list[DcField] = []

    @classmethod
    def load(cls, *paths: str) -> "Schema":
        schema = cls()
        for path in paths:
            with open(path, encoding="utf-8") as source:
                schema.parse(source.read())
        return schema

    def cls(self, name: str) -> DcClass:
        found = self.by_name[name]
        assert isinstance(found, DcClass), f"{name} is not a dclass"
        return found

    def parse(self, text: str) -> None:
        self.tokens = [m.group(1) for m in TOKEN.finditer(text) if m.group(1) is not None]
        self.at = 0
        while self.at < len(self.tokens):
            word = self.next()
            if word == "keyword":
                self.keywords.add(self.next())
                self.expect(";")
            elif word == "typedef":
                dc_type = self.type()
                name = self.next()
                dc_type = self.array_suffix(dc_type)
                self.typedefs[name] = dc_type
                self.expect(";")
            elif word in ("from", "import"):  # Python imports of the game's classes: nothing on the wire
                while self.peek() not in (None, "from", "import", "keyword", "typedef", "struct", "dclass"):
                    self.next()
            elif word == "struct":
                self.struct_decl()
            elif word == "dclass":
                self.class_decl()
            elif word == ";":
                continue
            else:
                raise WireError(f".dc: unexpected {word!r}")

    # -- tokens
    def peek(self) -> str | None:
        return self.tokens[self.at] if self.at < len(self.tokens) else None

    def next(self) -> str:
        token = self.peek()
        if token is None:
            raise WireError(".dc: unexpected end")
        self.at += 1
        return token

    def expect(self, token: str) -> None:
        got = self.next()
        if got != token:
            raise WireError(f".dc: expected {token!r}, got {got!r}")

    # -- declarations
    def struct_decl(self) -> None:
        declared = DcStruct(len(self.types), self.next())
        self.types.append(declared)
        self.by_name[declared.name] = declared
        self.expect("{")
        while self.peek() != "}":
            param = self.param()
            declared.members.append(self.new_field(param.name, "parameter", [param], []))
            self.expect(";")
        self.expect("}")
        self.expect(";")

    def class_decl(self) -> None:
        name = self.next()
        parents: list[DcClass] = []
        if self.peek() == ":":
            self.next()
            parents.append(self.cls(self.next()))
            while self.peek() == ",":
                self.next()
                parents.append(self.cls(self.next()))
        declared = DcClass(len(self.types), name, parents)
        self.types.append(declared)
        self.by_name[name] = declared
        self.expect("{")
        while self.peek() != "}":
            declared.own.append(self.field_decl(declared))
        self.expect("}")
        self.expect(";")

    def field_decl(self, owner: DcClass) -> DcField:
        start = self.at
        name = self.next()
        if self.peek() == "(" and name not in INT_FORMATS and name not in ("string", "blob", "blob32", "char") and name not in self.typedefs and name not in self.by_name:
            self.next()
            params: list[Param] = []
            while self.peek() != ")":
                params.append(self.param())
                if self.peek() == ",":
                    self.next()
            self.expect(")")
            return self.new_field(name, "atomic", params, self.keywords_until_semicolon())
        if self.peek() == ":":
            self.next()
            atoms = [self.atom_of(owner, self.next())]
            while self.peek() == ",":
                self.next()
                atoms.append(self.atom_of(owner, self.next()))
            self.expect(";")
            params = [param for atom in atoms for param in atom.params]
            return self.new_field(name, "molecular", params, [])
        self.at = start
        param = self.param()
        return self.new_field(param.name, "parameter", [param], self.keywords_until_semicolon())

    def atom_of(self, owner: DcClass, name: str) -> DcField:
        for each in owner.fields + owner.own:
            if each.name == name:
                return each
        raise WireError(f".dc: {owner.name} has no field {name} for a molecular field")

    def keywords_until_semicolon(self) -> list[str]:
        words = []
        while self.peek() != ";":
            word = self.next()
            if word not in self.keywords:
                raise WireError(f".dc: {word!r} is not a keyword")
            words.append(word)
        self.expect(";")
        return words

    def new_field(self, name: str, kind: str, params: list[Param], keywords: list[str]) -> DcField:
        made = DcField(len(self.fields), name, kind, params, keywords)
        self.fields.append(made)
        return made

    def param(self) -> Param:
        dc_type = self.array_suffix(self.type())
        name = ""
        if self.peek() not in (None, ",", ")", ";", "=", "[") and self.peek() not in self.keywords:
            name = self.next()
        dc_type = self.array_suffix(dc_type)
        if self.peek() == "=":
            self.next()
            self.skip_value()
        return Param(dc_type, name)

    def skip_value(self) -> None:
        depth = 0
        while True:
            token = self.next()
            if token in "[({":
                depth += 1
            elif token in "])}":
                depth -= 1
            if depth == 0 and self.peek() not in ("+", "-", "*", "/", "%"):
                return

    def type(self) -> DcType:
        name = self.next()
        if name in INT_FORMATS:
            dc_type = DcType("int", INT_FORMATS[name])
        elif name in FLOAT_FORMATS:
            dc_type = DcType("float", FLOAT_FORMATS[name])
        elif name == "char":
            dc_type = DcType("char")
        elif name in ("string", "blob", "blob32"):
            dc_type = DcType(name)
        elif name in ARRAY_ALIASES and ARRAY_ALIASES[name]:
            dc_type = DcType("array", element=DcType("int", INT_FORMATS[ARRAY_ALIASES[name]]))
        elif name in self.typedefs:
            dc_type = DcType(**vars(self.typedefs[name]))
        elif name in self.by_name and isinstance(self.by_name[name], DcStruct):
            dc_type = DcType("struct", struct=self.by_name[name])  # type: ignore[arg-type]
        else:
            raise WireError(f".dc: unknown type {name!r}")
        while self.peek() in ("(", "%", "/"):
            token = self.next()
            if token == "(":
                ranges = self.ranges(")")
                if dc_type.kind in ("string", "blob", "blob32", "array") and len(ranges) == 1 and ranges[0][0] == ranges[0][1]:
                    dc_type.fixed = int(ranges[0][0])
            elif token == "%":
                dc_type.modulus = float(self.next())
            else:
                dc_type.divisor = float(self.next())
        return dc_type

    def array_suffix(self, element: DcType) -> DcType:
        while self.peek() == "[":
            self.next()
            ranges = self.ranges("]")
            fixed = int(ranges[0][0]) if len(ranges) == 1 and ranges[0][0] == ranges[0][1] else None
            if element.kind == "char":
                element = DcType("string", fixed=fixed)
            else:
                element = DcType("array", fixed=fixed, element=element)
        return element

    def ranges(self, close: str) -> list[tuple[float, float]]:
        found = []
        while self.peek() != close:
            low = float(self.next())
            high = low
            if self.peek() == "-":
                self.next()
                high = float(self.next())
            elif self.peek() is not None and self.peek().startswith("-") and self.peek() != close:  # "0-100" lexed as 0, -100
                high = -float(self.next())
            found.append((low, high))
            if self.peek() == ",":
                self.next()
        self.expect(close)
        return found


# ---------------------------------------------------------------------------------------------------
# Value packing


def fixed_size(dc_type: DcType) -> int | None:
    if dc_type.kind in ("int", "float"):
        return struct.calcsize("<" + dc_type.fmt)
    if dc_type.kind == "char":
        return 1
    if dc_type.kind in ("string", "blob", "blob32"):
        return dc_type.fixed
    if dc_type.kind == "array":
        element = fixed_size(dc_type.element)  # type: ignore[arg-type]
        return None if dc_type.fixed is None or element is None else dc_type.fixed * element
    if dc_type.kind == "struct":
        sizes = [fixed_size(member.params[0].type) for member in dc_type.struct.members]  # type: ignore[union-attr]
        return None if None in sizes else sum(sizes)  # type: ignore[arg-type]
    return None


def read_value(r: Reader, dc_type: DcType) -> Any:
    kind = dc_type.kind
    if kind == "int":
        raw = r.unpack(dc_type.fmt)
        return raw if dc_type.divisor == 1 else raw / dc_type.divisor
    if kind == "float":
        raw = r.unpack(dc_type.fmt)
        return raw if dc_type.divisor == 1 else raw / dc_type.divisor
    if kind == "char":
        return chr(r.u8())
    if kind in ("string", "blob", "blob32"):
        count = dc_type.fixed if dc_type.fixed is not None else (r.u32() if kind == "blob32" else r.u16())
        data = r.take(count)
        return data.decode("utf-8", "replace") if kind == "string" else data
    if kind == "array":
        element = dc_type.element
        size = fixed_size(element)  # type: ignore[arg-type]
        if dc_type.fixed is not None and size is not None:
            return [read_value(r, element) for _ in range(dc_type.fixed)]  # type: ignore[arg-type]
        byte_length = r.u16()
        end = r.pos + byte_length
        if end > r.end:
            raise WireError("an array's byte length runs past the value")
        items = []
        while r.pos < end:
            items.append(read_value(r, element))  # type: ignore[arg-type]
        if r.pos != end:
            raise WireError("an array's elements overrun its byte length")
        return items
    if kind == "struct":
        return {member.name: read_value(r, member.params[0].type) for member in dc_type.struct.members}  # type: ignore[union-attr]
    raise WireError(f"cannot read a {kind}")


def write_value(out: bytearray, dc_type: DcType, value: Any) -> None:
    kind = dc_type.kind
    if kind == "int":
        real = value * dc_type.divisor
        if dc_type.modulus is not None:
            real = math.fmod(real, dc_type.modulus * dc_type.divisor)
            if real < 0:
                real += dc_type.modulus * dc_type.divisor
        out += struct.pack("<" + dc_type.fmt, math.floor(real + 0.5))
    elif kind == "float":
        out += struct.pack("<" + dc_type.fmt, value * dc_type.divisor)
    elif kind == "char":
        out.append(ord(value))
    elif kind in ("string", "blob", "blob32"):
        data = value.encode("utf-8") if isinstance(value, str) else bytes(value)
        if dc_type.fixed is None:
            out += struct.pack("<I" if kind == "blob32" else "<H", len(data))
        elif len(data) != dc_type.fixed:
            raise WireError(f"expected exactly {dc_type.fixed} bytes")
        out += data
    elif kind == "array":
        body = bytearray()
        for item in value:
            write_value(body, dc_type.element, item)  # type: ignore[arg-type]
        if dc_type.fixed is None or fixed_size(dc_type.element) is None:  # type: ignore[arg-type]
            out += struct.pack("<H", len(body))
        out += body
    elif kind == "struct":
        for member in dc_type.struct.members:  # type: ignore[union-attr]
            write_value(out, member.params[0].type, value[member.name])
    else:
        raise WireError(f"cannot write a {kind}")


def read_field(r: Reader, dc_field: DcField) -> Any:
    """A field's value: a parameter field's value, or the list of an atomic/molecular field's arguments."""
    if dc_field.kind == "parameter":
        return read_value(r, dc_field.params[0].type)
    return [read_value(r, param.type) for param in dc_field.params]


def pack_field(dc_field: DcField, value: Any) -> bytes:
    out = bytearray()
    if dc_field.kind == "parameter":
        write_value(out, dc_field.params[0].type, value)
    else:
        for param, item in zip(dc_field.params, value, strict=True):
            write_value(out, param.type, item)
    return bytes(out)


# Nested changes (FIELD_UPDATES with the nested bit): returned as ("struct", {slot: change}) and
# ("array", new_length_or_None, {index: change}); a change is ("set", value) or a nested change.


def is_editable(dc_type: DcType) -> bool:
    return (dc_type.kind == "array") or dc_type.kind == "struct"


def read_nested_field(r: Reader, dc_field: DcField) -> Any:
    runs = "uniform" in dc_field.keywords
    if dc_field.kind == "parameter":
        return read_nested(r, dc_field.params[0].type, runs)
    return ("struct", read_entries(r, lambda slot: dc_field.params[slot].type, runs, by_gap=False))


def read_nested(r: Reader, dc_type: DcType, runs: bool) -> Any:
    if dc_type.kind == "array":
        length_code = r.varuint()
        length = None if length_code == 0 else length_code - 1
        if runs and not is_editable(dc_type.element):  # type: ignore[arg-type]
            return ("array", length, read_runs(r, dc_type.element))  # type: ignore[arg-type]
        return ("array", length, read_entries(r, lambda _slot: dc_type.element, runs, by_gap=True))
    if dc_type.kind == "struct":
        members = dc_type.struct.members  # type: ignore[union-attr]
        return ("struct", read_entries(r, lambda slot: members[slot].params[0].type, runs, by_gap=False))
    raise WireError(f"a nested change of a {dc_type.kind}")


def read_entries(r: Reader, type_at, runs: bool, by_gap: bool) -> dict[int, Any]:
    entries: dict[int, Any] = {}
    key = r.varuint()
    if key == 0:
        return entries
    previous = -1
    while True:
        slot = key // 4 - 1
        if slot < 0:
            raise WireError("an entry key of 0 after one that announced more")
        index = previous + 1 + slot if by_gap else slot
        previous = index
        entry_type = type_at(index if not by_gap else 0)
        entries[index] = read_nested(r, entry_type, runs) if key & 2 else ("set", read_value(r, entry_type))
        if key & 1 == 0:
            return entries
        key = r.varuint()


def read_runs(r: Reader, element: DcType) -> dict[int, Any]:
    entries: dict[int, Any] = {}
    end = 0
    key = r.varuint()
    if key == 0:
        return entries
    while True:
        start = end + key // 4 - 1
        count = 1 if key & 2 else r.varuint()
        for index in range(start, start + count):
            entries[index] = ("set", read_value(r, element))
        end = start + count
        if key & 1 == 0:
            return entries
        key = r.varuint()


def apply_nested(value: Any, change: Any) -> Any:
    """A field value with a nested change applied (a new value)."""
    if change[0] == "set":
        return change[1]
    if change[0] == "struct":
        if isinstance(value, dict):
            names = list(value)
            result = dict(value)
            for slot, inner in change[1].items():
                result[names[slot]] = apply_nested(value[names[slot]], inner)
            return result
        result = list(value)
        for slot, inner in change[1].items():
            result[slot] = apply_nested(result[slot], inner)
        return result
    _, length, entries = change
    result = list(value)
    if length is not None:
        result = result[:length] + [None] * max(0, length - len(result))
    for index, inner in entries.items():
        result[index] = apply_nested(result[index], inner)
    return result


# ---------------------------------------------------------------------------------------------------
# Client and agent messages

HELLO, HEARTBEAT, DISCONNECT, ADD_INTEREST, REMOVE_INTEREST, SET_FIELD, FOLLOW_INTEREST = 1, 2, 3, 4, 5, 6, 7
HELLO_RESP, EJECT, CLOCK, ENTER_OBJECT, LEAVE_OBJECT, DONE_INTEREST = 0x41, 0x42, 0x43, 0x44, 0x45, 0x46
FIELD_UPDATES, ENTER_OWNED, OBJECT_LOCATION, STATE_UPDATES, SYSTEM_MESSAGE = 0x47, 0x48, 0x49, 0x4A, 0x4B
CALL, REPLY, REQUEST_ERROR = 8, 0x4C, 0x4D  # REQUEST is the netcode packet below
PLUGINS = 0x4E  # revision 1: sent only to a client whose HELLO has HELLO_FEATURE_PLUGINS
HELLO_FEATURE_PLUGINS = 1


def hello(version: str, schema_hash: int, features: int | None = None) -> bytes:
    """HELLO; `features` (revision 1 on) asks for what later revisions add, e.g. HELLO_FEATURE_PLUGINS."""
    out = bytes([HELLO]) + wire_string(version) + struct.pack("<I", schema_hash)
    return out if features is None else out + struct.pack("<I", features)


def heartbeat() -> bytes:
    return bytes([HEARTBEAT])


def add_interest(interest_id: int, context: int, parent: int, zones: list[int]) -> bytes:
    return struct.pack("<BHII", ADD_INTEREST, interest_id, context, parent) + struct.pack("<H", len(zones)) + b"".join(struct.pack("<I", z) for z in zones)


def follow_interest(interest_id: int, context: int, do_id: int, width: int, height: int, radius: int) -> bytes:
    return struct.pack("<BHIIHHB", FOLLOW_INTEREST, interest_id, context, do_id, width, height, radius)


def set_field(do_id: int, dc_field: DcField, value: Any) -> bytes:
    return struct.pack("<BIH", SET_FIELD, do_id, dc_field.id) + pack_field(dc_field, value)


def request(request_id: int, do_id: int, method: DcField, args: Any) -> bytes:
    """A call of a method (a field with the keyword `request`); answered by REPLY or REQUEST_ERROR (section 14)."""
    return struct.pack("<BIIH", CALL, request_id, do_id, method.id) + pack_field(method, args)


def read_reply(dclass: DcClass, method: str, value: bytes) -> Any:
    """A REPLY's value, read with the method's reply field (`<method>Reply`; None when the class has none)."""
    if not value and not any(f.name == method + "Reply" for f in dclass.fields):
        return None
    r = Reader(value)
    result = read_field(r, dclass.field(method + "Reply"))
    if r.remaining:
        raise WireError(f"{r.remaining} byte(s) after the reply of {dclass.name}.{method}")
    return result


@dataclass
class Update:
    do_id: int
    field: DcField
    nested: bool
    value: Any  # the whole value, or the nested change


def read_agent_message(data: bytes, schema: Schema, class_of) -> dict[str, Any]:
    """One agent message as a dict with its `type`. `class_of(doId)` gives the DcClass of an object in view
    (None if unknown: the updates from there on are left unread, in `unread`)."""
    r = Reader(data)
    kind = r.u8()
    if kind == HELLO_RESP:
        message = {"type": "HELLO_RESP", "clusterTime": r.f64()}
    elif kind == EJECT:
        message = {"type": "EJECT", "code": r.u16(), "reason": r.string()}
    elif kind == SYSTEM_MESSAGE:
        message = {"type": "SYSTEM_MESSAGE", "text": r.string()}
    elif kind == CLOCK:
        message = {"type": "CLOCK", "serverTime": r.f64(), "errorBound": r.f64()}
    elif kind in (ENTER_OBJECT, ENTER_OWNED):
        do_id, parent, zone, class_id = r.u32(), r.u32(), r.u32(), r.u16()
        dclass = schema.types[class_id]
        if not isinstance(dclass, DcClass):
            raise WireError(f"class id {class_id} is not a dclass")
        tick = r.varuint()
        fields = {}
        local = dclass.fields
        for _ in range(r.u16()):
            key = r.varuint()
            if key & 1 or key // 2 >= len(local):
                raise WireError(f"{dclass.name} has no whole field at key {key}")
            dc_field = local[key // 2]
            fields[dc_field.name] = read_field(r, dc_field)
        message = {"type": "ENTER_OWNED" if kind == ENTER_OWNED else "ENTER_OBJECT", "doId": do_id, "parent": parent, "zone": zone, "dclass": dclass, "tick": tick, "fields": fields}
    elif kind == LEAVE_OBJECT:
        message = {"type": "LEAVE_OBJECT", "doId": r.u32()}
    elif kind == OBJECT_LOCATION:
        message = {"type": "OBJECT_LOCATION", "doId": r.u32(), "parent": r.u32(), "zone": r.u32()}
    elif kind == DONE_INTEREST:
        message = {"type": "DONE_INTEREST", "interestId": r.u16(), "context": r.u32()}
    elif kind == REPLY:
        message = {"type": "REPLY", "requestId": r.u32(), "value": r.take(r.remaining)}
    elif kind == REQUEST_ERROR:
        message = {"type": "REQUEST_ERROR", "requestId": r.u32(), "code": r.string(), "message": r.string()}
    elif kind == PLUGINS:
        push, plugins = r.u32(), []
        for _ in range(r.u16()):
            plugins.append({"name": r.string(), "version": r.string(), "id": r.take(32).hex()})
        message = {"type": "PLUGINS", "push": push, "plugins": plugins}
    elif kind in (FIELD_UPDATES, STATE_UPDATES):
        message = {"type": "STATE_UPDATES" if kind == STATE_UPDATES else "FIELD_UPDATES"}
        if kind == STATE_UPDATES:
            message["tick"] = r.varuint()
        count = r.varuint()
        updates: list[Update] = []
        do_id = 0
        for i in range(count):
            do_id += unzigzag(r.varuint())
            dclass = class_of(do_id)
            if dclass is None:
                message["unread"] = {"doId": do_id, "count": count - i}
                r.pos = r.end
                break
            key = r.varuint()
            local = dclass.fields
            if key // 2 >= len(local):
                raise WireError(f"{dclass.name} has no field at key {key}")
            dc_field = local[key // 2]
            nested = bool(key & 1)
            value = read_nested_field(r, dc_field) if nested else read_field(r, dc_field)
            updates.append(Update(do_id, dc_field, nested, value))
        message["updates"] = updates
    else:
        raise WireError(f"{kind} is not an agent message type")
    if r.remaining:
        raise WireError(f"{r.remaining} byte(s) after the message")
    return message


# ---------------------------------------------------------------------------------------------------
# The reliable layer (one datagram = packet header + records)

ACK_BITS = 32


def packet_header(sequence: int, ack: tuple[int, int] | None) -> bytes:
    if ack is None:
        return struct.pack("<BH", 0, sequence)
    latest, bits = ack
    prefix = 0x20
    distance = (sequence - latest) & 0xFFFF
    if distance <= 0xFF:
        prefix |= 0x10
    ack_bytes = b""
    for index in range(4):
        byte = (bits >> (8 * index)) & 0xFF
        if byte != 0xFF:
            prefix |= 1 << index
            ack_bytes += bytes([byte])
    out = struct.pack("<BH", prefix, sequence)
    out += bytes([distance]) if prefix & 0x10 else struct.pack("<H", latest)
    return out + ack_bytes


def read_packet_header(r: Reader) -> tuple[int, tuple[int, int] | None]:
    prefix = r.u8()
    sequence = r.u16()
    if prefix & 0xC0:
        raise WireError("reserved bits set in a packet header")
    if prefix & 0x20 == 0:
        return sequence, None
    latest = (sequence - r.u8()) & 0xFFFF if prefix & 0x10 else r.u16()
    bits = 0
    for index in range(4):
        byte = r.u8() if prefix & (1 << index) else 0xFF
        bits |= byte << (8 * index)
    return sequence, (latest, bits)


def reliable_record(message_id: int, data: bytes) -> bytes:
    """A reliable record with its id written out (tag 01 0 LLLLL)."""
    inline = min(len(data), 31)
    out = bytes([0x40 | inline]) + struct.pack("<H", message_id)
    if inline == 31:
        out += varuint(len(data) - 31)
    return out + data


def unreliable_record(data: bytes) -> bytes:
    inline = min(len(data), 63)
    return bytes([inline]) + (varuint(len(data) - 63) if inline == 63 else b"") + data


def read_records(r: Reader) -> list[tuple]:
    """("unreliable", bytes) | ("reliable", id, bytes) | ("fragment", id, count, index, bytes)."""
    records: list[tuple] = []
    previous: int | None = None
    while r.remaining:
        tag = r.u8()
        kind = tag >> 6
        if kind == 0:
            length = tag & 0x3F
            if length == 63:
                length += r.varuint(2)
            records.append(("unreliable", r.take(length)))
        elif kind == 1:
            if tag & 0x20:
                if previous is None:
                    raise WireError("a next-id record with no id before it")
                message_id = (previous + 1) & 0xFFFF
            else:
                message_id = r.u16()
            length = tag & 0x1F
            if length == 31:
                length += r.varuint(2)
            records.append(("reliable", message_id, r.take(length)))
            previous = message_id
        elif kind == 2 and tag == 0x80:
            message_id, count, index = r.u16(), r.u16(), r.u16()
            records.append(("fragment", message_id, count, index, r.take(r.varuint(2))))
            previous = message_id
        else:
            raise WireError(f"record tag {tag:#04x}")
    return records


class ReliableEndpoint:
    """Just enough of the reliable layer for a client: every message-carrying datagram heard is acked (in
    the header of the next datagram sent), reliable messages are resent until acked and delivered once, in
    id order; unreliable messages are delivered as they come."""

    RESEND_MS = 100

    def __init__(self) -> None:
        self.sequence = 0
        self.received: dict[int, bool] = {}
        self.newest: int | None = None
        self.owe_ack = False
        self.next_send_id = 0
        self.unacked: dict[int, dict] = {}  # message id -> {bytes, sent_at}
        self.packet_messages: dict[int, list[int]] = {}
        self.next_deliver_id = 0
        self.held: dict[int, bytes] = {}
        self.fragments: dict[int, dict[int, bytes]] = {}

    def send_reliable(self, data: bytes) -> None:
        self.unacked[self.next_send_id] = {"bytes": data, "sent_at": None}
        self.next_send_id = (self.next_send_id + 1) & 0xFFFF

    def ack_field(self) -> tuple[int, int] | None:
        if self.newest is None:
            return None
        bits = 0
        for bit in range(ACK_BITS):
            if self.received.get((self.newest - 1 - bit) & 0xFFFF):
                bits |= 1 << bit
        return self.newest, bits

    def update(self, now_ms: float, unreliable: list[bytes] | None = None) -> list[bytes]:
        """The datagram payloads to send now (due reliable messages, unreliable ones, an owed ack)."""
        due = [mid for mid, m in self.unacked.items() if m["sent_at"] is None or now_ms - m["sent_at"] >= self.RESEND_MS]
        datagrams: list[bytes] = []
        body, carried = b"", []
        for mid in due:
            record = reliable_record(mid, self.unacked[mid]["bytes"])
            if len(body) + len(record) > 1100 and carried:
                datagrams.append(self.finish(body, carried))
                body, carried = b"", []
            body += record
            carried.append(mid)
            self.unacked[mid]["sent_at"] = now_ms
        for data in unreliable or []:
            body += unreliable_record(data)
        if body or self.owe_ack:
            datagrams.append(self.finish(body, carried))
        self.owe_ack = False
        return datagrams

    def finish(self, body: bytes, carried: list[int]) -> bytes:
        sequence = self.sequence
        self.sequence = (sequence + 1) & 0xFFFF
        self.packet_messages[sequence] = carried
        self.packet_messages.pop((sequence - 1024) & 0xFFFF, None)
        return packet_header(sequence, self.ack_field()) + body

    def receive(self, payload: bytes) -> list[tuple[str, bytes]]:
        """The messages a datagram payload delivers: ("reliable" | "unreliable", bytes)."""
        r = Reader(payload)
        sequence, ack = read_packet_header(r)
        if self.received.get(sequence):
            return []  # a duplicate
        records = read_records(r)
        self.received[sequence] = True
        self.received.pop((sequence - 1024) & 0xFFFF, None)
        if self.newest is None or 0 < ((sequence - self.newest) & 0xFFFF) < 0x8000:
            self.newest = sequence
        if records:
            self.owe_ack = True
        if ack is not None:
            latest, bits = ack
            self.acked(latest)
            for bit in range(ACK_BITS):
                if bits & (1 << bit):
                    self.acked((latest - 1 - bit) & 0xFFFF)
        delivered: list[tuple[str, bytes]] = []
        for record in records:
            if record[0] == "unreliable":
                delivered.append(("unreliable", record[1]))
            elif record[0] == "reliable":
                self.hold(record[1], record[2])
            else:
                _, mid, count, index, data = record
                pieces = self.fragments.setdefault(mid, {})
                pieces[index] = data
                if len(pieces) == count:
                    self.hold(mid, b"".join(pieces[i] for i in range(count)))
                    del self.fragments[mid]
        while self.next_deliver_id in self.held:
            delivered.append(("reliable", self.held.pop(self.next_deliver_id)))
            self.next_deliver_id = (self.next_deliver_id + 1) & 0xFFFF
        return delivered

    def hold(self, message_id: int, data: bytes) -> None:
        if ((message_id - self.next_deliver_id) & 0xFFFF) < 1024:  # not delivered yet
            self.held.setdefault(message_id, data)
            self.fragments.pop(message_id, None)

    def acked(self, sequence: int) -> None:
        for mid in self.packet_messages.pop(sequence, []):
            self.unacked.pop(mid, None)


# ---------------------------------------------------------------------------------------------------
# netcode.io 1.02

VERSION_INFO = b"NETCODE 1.02\x00"
REQUEST, DENIED, CHALLENGE, RESPONSE, KEEP_ALIVE, PAYLOAD, DISCONNECT_PACKET = 0, 1, 2, 3, 4, 5, 6


@dataclass
class ConnectToken:
    protocol_id: int
    create_timestamp: int
    expire_timestamp: int
    nonce: bytes
    sealed_private: bytes
    timeout_seconds: int
    servers: list[tuple[str, int]]
    client_to_server_key: bytes
    server_to_client_key: bytes


def read_address(r: Reader) -> tuple[str, int]:
    family = r.u8()
    if family == 1:
        host = ".".join(str(b) for b in r.take(4))
    elif family == 2:
        host = ":".join(f"{r.u16():x}" for _ in range(8))
    else:
        raise WireError(f"address type {family}")
    return host, r.u16()


def read_connect_token(data: bytes) -> ConnectToken:
    if len(data) != 2048:
        raise WireError(f"a connect token is 2048 bytes, got {len(data)}")
    r = Reader(data)
    if r.take(13) != VERSION_INFO:
        raise WireError("the connect token is not NETCODE 1.02")
    protocol_id, create, expire = r.u64(), r.u64(), r.u64()
    nonce, sealed = r.take(24), r.take(1024)
    timeout = r.unpack("i")
    servers = [read_address(r) for _ in range(r.u32())]
    return ConnectToken(protocol_id, create, expire, nonce, sealed, timeout, servers, r.take(32), r.take(32))


def connection_request(token: ConnectToken) -> bytes:
    return bytes([REQUEST]) + VERSION_INFO + struct.pack("<QQ", token.protocol_id, token.expire_timestamp) + token.nonce + token.sealed_private


def packet_nonce(sequence: int) -> bytes:
    return b"\x00\x00\x00\x00" + struct.pack("<Q", sequence)


def seal_packet(packet_type: int, sequence: int, data: bytes, key: bytes, protocol_id: int) -> bytes:
    sequence_bytes = max(1, (sequence.bit_length() + 7) // 8)
    prefix = packet_type | (sequence_bytes << 4)
    additional = VERSION_INFO + struct.pack("<QB", protocol_id, prefix)
    sealed = sodium.crypto_aead_chacha20poly1305_ietf_encrypt(data, additional, packet_nonce(sequence), key)
    return bytes([prefix]) + sequence.to_bytes(sequence_bytes, "little") + sealed


def open_packet(data: bytes, key: bytes, protocol_id: int) -> tuple[int, int, bytes]:
    """(type, sequence, decrypted per-type data); WireError if it does not authenticate."""
    if len(data) < 18:
        raise WireError("too small for an encrypted packet")
    prefix = data[0]
    sequence_bytes = prefix >> 4
    if not 1 <= sequence_bytes <= 8 or len(data) < 1 + sequence_bytes + 16:
        raise WireError("bad sequence byte count")
    sequence = int.from_bytes(data[1 : 1 + sequence_bytes], "little")
    additional = VERSION_INFO + struct.pack("<QB", protocol_id, prefix)
    try:
        opened = sodium.crypto_aead_chacha20poly1305_ietf_decrypt(data[1 + sequence_bytes :], additional, packet_nonce(sequence), key)
    except Exception as error:
        raise WireError("the packet does not authenticate") from error
    return prefix & 0x0F, sequence, opened
