"""overworld_wire.py against the test vectors of docs/protocol.md: what it writes is the document's bytes,
and what it reads from the document's bytes is the vectors' inputs. Run: python3 -m unittest test_wire"""

from __future__ import annotations

import json
import os
import re
import struct
import unittest

import overworld_wire as wire

HERE = os.path.dirname(os.path.abspath(__file__))
DOC = os.path.join(HERE, "..", "..", "docs", "protocol.md")
DEMO_DC = os.path.join(HERE, "..", "..", "examples", "demo", "demo.dc")


def block_bytes(text: str) -> bytes:
    out = bytearray()
    for line in text.splitlines():
        for token in line.split("#")[0].split():
            byte, _, count = token.partition("*")
            out += bytes([int(byte, 16)]) * int(count or 1)
    return bytes(out)


with open(DOC, encoding="utf-8") as source:
    DOCUMENT = source.read()
VECTORS = {m.group(1): block_bytes(m.group(2)) for m in re.finditer(r"^```vector ([a-z0-9-]+)\n(.*?)^```$", DOCUMENT, re.S | re.M)}
SCHEMA = wire.Schema.load(DEMO_DC)

# the inputs the document names
PROTOCOL_ID = 0x31444C575245564F
CLIENT_TO_SERVER_KEY = bytes(range(0x20, 0x40))
SERVER_TO_CLIENT_KEY = bytes(range(0x40, 0x60))
TOKEN_NONCE = bytes(range(0x60, 0x78))
AVATAR, NPC, BOSS = 100_000_001, 100_000_002, 100_000_003
CLASSES = {AVATAR: SCHEMA.cls("DistributedAvatar"), NPC: SCHEMA.cls("DistributedNpc"), BOSS: SCHEMA.cls("DistributedBoss")}


def read(name: str) -> dict:
    return wire.read_agent_message(VECTORS[name], SCHEMA, CLASSES.get)


class Schema(unittest.TestCase):
    def test_numbering(self):
        self.assertEqual([t.name for t in SCHEMA.types][:3], ["Vec2", "DamageEntry", "DistributedWorld"])
        npc = SCHEMA.cls("DistributedNpc")
        self.assertEqual(npc.id, 5)
        self.assertEqual([(f.id, f.name) for f in npc.fields], [(5, "setXY"), (6, "setH"), (7, "setXYH"), (8, "setSmXYH"), (15, "setKind")])
        self.assertEqual(SCHEMA.cls("DistributedAvatar").fields.index(SCHEMA.cls("DistributedAvatar").field("chat")), 7)


class Netcode(unittest.TestCase):
    def test_connect_token_and_request(self):
        token = wire.read_connect_token(VECTORS["connect-token"])
        self.assertEqual((token.protocol_id, token.create_timestamp, token.expire_timestamp), (PROTOCOL_ID, 1_800_000_000, 1_800_000_030))
        self.assertEqual((token.nonce, token.timeout_seconds, token.servers), (TOKEN_NONCE, 10, [("127.0.0.1", 40000)]))
        self.assertEqual((token.client_to_server_key, token.server_to_client_key), (CLIENT_TO_SERVER_KEY, SERVER_TO_CLIENT_KEY))
        self.assertEqual(wire.connection_request(token), VECTORS["connection-request"])

    def test_challenge_response_keep_alive(self):
        kind, sequence, challenge = wire.open_packet(VECTORS["connection-challenge"], SERVER_TO_CLIENT_KEY, PROTOCOL_ID)
        self.assertEqual((kind, sequence, struct.unpack("<Q", challenge[:8])[0], len(challenge)), (wire.CHALLENGE, 0, 7, 308))
        self.assertEqual(wire.seal_packet(wire.RESPONSE, 0, challenge, CLIENT_TO_SERVER_KEY, PROTOCOL_ID), VECTORS["connection-response"])
        kind, sequence, body = wire.open_packet(VECTORS["keep-alive"], SERVER_TO_CLIENT_KEY, PROTOCOL_ID)
        self.assertEqual((kind, sequence, struct.unpack("<II", body)), (wire.KEEP_ALIVE, 1, (0, 256)))

    def test_payload(self):
        payload = wire.packet_header(0, None) + wire.reliable_record(0, VECTORS["hello"])
        self.assertEqual(payload, VECTORS["reliable-hello"])
        self.assertEqual(wire.seal_packet(wire.PAYLOAD, 1, payload, CLIENT_TO_SERVER_KEY, PROTOCOL_ID), VECTORS["payload-hello"])
        with self.assertRaises(wire.WireError):
            wire.open_packet(VECTORS["payload-hello"], SERVER_TO_CLIENT_KEY, PROTOCOL_ID)  # the wrong key


class ReliableLayer(unittest.TestCase):
    def test_headers(self):
        self.assertEqual(wire.packet_header(300, (298, 0xFFFFFFFF & ~(1 << 7))), VECTORS["reliable-acks"][:5])
        self.assertEqual(wire.packet_header(9, (4, 0b111)), VECTORS["unreliable-state"][:8])

    def test_records_and_delivery(self):
        endpoint = wire.ReliableEndpoint()
        endpoint.next_deliver_id = 5
        self.assertEqual(endpoint.receive(VECTORS["reliable-acks"]), [("reliable", b"\x02"), ("reliable", b"\x02")])
        self.assertEqual(endpoint.receive(VECTORS["reliable-acks"]), [])  # a duplicate datagram
        self.assertEqual(endpoint.receive(VECTORS["unreliable-state"]), [("unreliable", bytes([0xA0, 0xA1, 0xA2]))])
        (ack,) = endpoint.update(0)
        self.assertEqual(ack, wire.packet_header(0, (300, 0)))  # acks the newest, 300; 299 and before unheard but 9

    def test_acks_end_resends(self):
        endpoint = wire.ReliableEndpoint()
        endpoint.send_reliable(VECTORS["hello"])
        (first,) = endpoint.update(0)
        self.assertEqual(first, VECTORS["reliable-hello"])
        self.assertEqual(len(endpoint.update(150)), 1)  # not acked: sent again
        endpoint.receive(wire.packet_header(0, (1, 1)))  # acks datagrams 1 and 0
        self.assertEqual(endpoint.update(300), [])


class Messages(unittest.TestCase):
    def test_client_messages(self):
        avatar = SCHEMA.cls("DistributedAvatar")
        self.assertEqual(wire.hello("demo-1", 0x09A1FE9C), VECTORS["hello"])
        self.assertEqual(wire.heartbeat(), VECTORS["heartbeat"])
        self.assertEqual(wire.add_interest(1, 1, 1000, [1, 2]), VECTORS["add-interest"])
        self.assertEqual(wire.follow_interest(2, 3, AVATAR, 8, 8, 1), VECTORS["follow-interest"])
        self.assertEqual(wire.set_field(AVATAR, avatar.field("say"), ["hi"]), VECTORS["set-field-say"])
        self.assertEqual(wire.set_field(AVATAR, avatar.field("setSmXYH"), [12.5, -3, 90, 1234]), VECTORS["set-field-move"])
        self.assertEqual(wire.request(1, 1001, SCHEMA.cls("DistributedShop").field("buy"), [0]), VECTORS["request-buy"])

    def test_replies(self):
        reply = read("reply-buy")
        self.assertEqual((reply["type"], reply["requestId"]), ("REPLY", 1))
        self.assertEqual(wire.read_reply(SCHEMA.cls("DistributedShop"), "buy", reply["value"]), [19])
        self.assertEqual(read("request-error"), {"type": "REQUEST_ERROR", "requestId": 2, "code": "sold_out", "message": "no map left"})

    def test_agent_messages(self):
        self.assertEqual(read("hello-resp"), {"type": "HELLO_RESP", "clusterTime": 1_800_000_000_000.5})
        self.assertEqual(read("clock"), {"type": "CLOCK", "serverTime": 1_800_000_001_000, "errorBound": 2.5})
        self.assertEqual(read("eject"), {"type": "EJECT", "code": 125, "reason": "bad hash"})
        self.assertEqual(read("done-interest"), {"type": "DONE_INTEREST", "interestId": 2, "context": 3})
        self.assertEqual(read("leave-object"), {"type": "LEAVE_OBJECT", "doId": NPC})
        self.assertEqual(read("object-location"), {"type": "OBJECT_LOCATION", "doId": NPC, "parent": 1000, "zone": 4})
        enter = read("enter-object")
        self.assertEqual((enter["type"], enter["doId"], enter["dclass"].name, enter["zone"], enter["tick"]), ("ENTER_OBJECT", NPC, "DistributedNpc", 3, 200))
        self.assertEqual(enter["fields"], {"setXY": [70.25, 20], "setH": [45.5], "setKind": [2]})
        owned = read("enter-owned")
        self.assertEqual(owned["fields"], {"setXY": [60, 10], "setH": [0], "setName": ["ada"], "hp": 100, "setSmXYH": [60, 10, 0, 0]})

    def test_updates(self):
        updates = read("field-updates")["updates"]
        self.assertEqual([(u.do_id, u.field.name, u.nested, u.value) for u in updates], [(NPC, "setSmXYH", False, [74.25, 20, 0, 9000]), (AVATAR, "chat", False, [AVATAR, "hi"])])
        state = read("state-updates")
        self.assertEqual(state["tick"], 201)
        self.assertEqual([(u.do_id, u.field.name, u.value) for u in state["updates"]], [(NPC, "setXY", [74.25, 20]), (NPC, "setH", [90])])
        (nested,) = read("field-updates-nested")["updates"]
        self.assertEqual((nested.do_id, nested.field.name, nested.nested), (BOSS, "setClusterDamage", True))
        before = ["local", 1, [{"attacker": 5, "total": 10}]]
        self.assertEqual(wire.apply_nested(before, nested.value), ["local", 1, [{"attacker": AVATAR, "total": 30}]])

    def test_unknown_object_stops_reading(self):
        message = wire.read_agent_message(VECTORS["field-updates"], SCHEMA, {AVATAR: SCHEMA.cls("DistributedAvatar")}.get)
        self.assertEqual((message["updates"], message["unread"]), ([], {"doId": NPC, "count": 2}))


def python_value(text: str):
    """A value of the value-packing table: JSON, or an integer with `n` (a 64-bit one)."""
    return int(text[:-1]) if text.endswith("n") else json.loads(text)


class ValuePacking(unittest.TestCase):
    def test_table(self):
        table = DOCUMENT[DOCUMENT.index("<!-- table:value-packing -->") :].split("\n\n")[1]
        rows = [[cell.strip().strip("`") for cell in line.split("|")[1:-1]] for line in table.splitlines()[2:]]
        self.assertGreater(len(rows), 10)
        for declaration, value, packed, reads_as in rows:
            schema = wire.Schema()
            schema.parse(f"struct Vec2 {{ float32 x; float32 y; }}; struct Row {{ {declaration} v; }};")
            dc_type = schema.by_name["Row"].members[0].params[0].type
            out = bytearray()
            wire.write_value(out, dc_type, python_value(value))
            self.assertEqual(out.hex(" "), packed, declaration)
            got = wire.read_value(wire.Reader(block_bytes(packed)), dc_type)
            self.assertEqual(got, python_value(reads_as), declaration)

if __name__ == "__main__":
    unittest.main()
