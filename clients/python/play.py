#!/usr/bin/env python3
"""A small Overworld client in Python, written from docs/protocol.md: it registers and logs in over uberdog's
HTTP API, connects to a client agent over netcode.io (UDP), says hello, follows its avatar on the world's
zone grid, waits until it sees another object appear and move, then sends fields of its avatar (say, a move)
and waits until the cluster answers (its chat line comes back), and calls the demo shop's `buy` if the shop
is in view (a request and its reply). It prints what it sees, one line each, and
exits 0 only if all of that happened in time.

    python3 play.py --uberdog http://127.0.0.1:8000 --dc ../../examples/demo/demo.dc --version dev

Needs Debian's python3-nacl (libsodium) and nothing else beyond the standard library."""

from __future__ import annotations

import argparse
import base64
import json
import os
import random
import socket
import struct
import sys
import time
import urllib.error
import urllib.request

import overworld_wire as wire


def log(*words: object) -> None:
    print(*words, flush=True)


def post(base: str, path: str, body: dict) -> tuple[int, dict]:
    request = urllib.request.Request(base.rstrip("/") + path, json.dumps(body).encode(), {"content-type": "application/json"})
    try:
        with urllib.request.urlopen(request, timeout=15) as answer:
            return answer.status, json.loads(answer.read() or b"{}")
    except urllib.error.HTTPError as error:
        return error.code, json.loads(error.read() or b"{}")


def log_in(base: str, username: str, password: str) -> wire.ConnectToken:
    status, body = post(base, "/v1/accounts", {"username": username, "password": password})
    if status not in (201, 409):
        raise SystemExit(f"registering {username}: HTTP {status} {body}")
    status, body = post(base, "/v1/login", {"username": username, "password": password})
    if status != 200:
        raise SystemExit(f"logging in as {username}: HTTP {status} {body}")
    token = wire.read_connect_token(base64.b64decode(body["connectToken"]))
    log(f"logged in: account {body['accountId']}, servers {body['servers']}")
    return token


class Connection:
    """netcode.io's client side over one UDP socket, with the reliable layer on its payloads."""

    def __init__(self, token: wire.ConnectToken):
        self.token = token
        self.server = token.servers[0]
        family = socket.AF_INET6 if ":" in self.server[0] else socket.AF_INET
        self.socket = socket.socket(family, socket.SOCK_DGRAM)
        self.socket.settimeout(0.02)
        self.sequence = 0
        self.last_sent = 0.0
        self.last_heard = time.monotonic()
        self.endpoint = wire.ReliableEndpoint()

    def send_packet(self, packet_type: int, data: bytes) -> None:
        packet = wire.seal_packet(packet_type, self.sequence, data, self.token.client_to_server_key, self.token.protocol_id)
        self.sequence += 1
        self.socket.sendto(packet, self.server)
        self.last_sent = time.monotonic()

    def receive(self) -> tuple[int, bytes] | None:
        try:
            data, sender = self.socket.recvfrom(2048)
        except TimeoutError:
            return None
        if sender[:2] != self.server:
            return None
        try:
            packet_type, _sequence, body = wire.open_packet(data, self.token.server_to_client_key, self.token.protocol_id)
        except wire.WireError:
            return None
        self.last_heard = time.monotonic()
        return packet_type, body

    def connect(self, timeout: float) -> None:
        request = wire.connection_request(self.token)
        challenge: bytes | None = None
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if time.monotonic() - self.last_sent >= 0.1:
                if challenge is None:
                    self.socket.sendto(request, self.server)
                    self.last_sent = time.monotonic()
                else:
                    self.send_packet(wire.RESPONSE, challenge)
            got = self.receive()
            if got is None:
                continue
            packet_type, body = got
            if packet_type == wire.DENIED:
                raise SystemExit("the client agent denied the connection")
            if packet_type == wire.CHALLENGE and challenge is None:
                challenge = body  # challenge sequence and sealed challenge token, echoed as they are
                self.last_sent = 0.0
            elif packet_type == wire.KEEP_ALIVE and challenge is not None:
                index, max_clients = struct.unpack("<II", body)
                log(f"connected to {self.server[0]}:{self.server[1]} as client {index} of {max_clients}")
                return
        raise SystemExit("no connection: the client agent did not answer in time")

    def pump(self, unreliable: list[bytes] | None = None) -> list[tuple[str, bytes]]:
        """Sends what is due, reads what came; the messages delivered."""
        now = time.monotonic()
        for payload in self.endpoint.update(now * 1000, unreliable):
            self.send_packet(wire.PAYLOAD, payload)
        if now - self.last_sent >= 0.1:
            self.send_packet(wire.KEEP_ALIVE, struct.pack("<II", 0, 0))
        if now - self.last_heard > max(self.token.timeout_seconds, 1):
            raise SystemExit("the connection timed out")
        delivered: list[tuple[str, bytes]] = []
        got = self.receive()
        while got is not None:
            packet_type, body = got
            if packet_type == wire.PAYLOAD:
                delivered += self.endpoint.receive(body)
            elif packet_type == wire.DISCONNECT_PACKET:
                raise SystemExit("the client agent disconnected")
            self.socket.settimeout(0)
            try:
                got = self.receive()
            except BlockingIOError:
                got = None
            finally:
                self.socket.settimeout(0.02)
        return delivered

    def send(self, message: bytes) -> None:
        self.endpoint.send_reliable(message)

    def close(self) -> None:
        for _ in range(10):
            self.send_packet(wire.DISCONNECT_PACKET, b"")
        self.socket.close()


def position(fields: dict) -> tuple[float, float] | None:
    for name in ("setSmXYH", "setXY"):
        if name in fields:
            return round(fields[name][0], 3), round(fields[name][1], 3)
    return None


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--uberdog", default="http://127.0.0.1:8000", help="uberdog's HTTP API")
    parser.add_argument("--dc", action="append", required=True, help="the cluster's .dc files, in order")
    parser.add_argument("--schema-hash", required=True, help="the .dc files' hash (pnpm overworld dc hash FILE...)")
    parser.add_argument("--version", required=True, help="the cluster version (CLUSTER_VERSION)")
    parser.add_argument("--username", default=f"py{os.getpid()}{random.randrange(10**6)}")
    parser.add_argument("--password", default="correct horse battery")
    parser.add_argument("--grid", default="8x8", help="the world's zone grid, WxH (the demo's DEMO_GRID)")
    parser.add_argument("--say", default="hello from python")
    parser.add_argument("--timeout", type=float, default=30, help="seconds for each step")
    args = parser.parse_args()

    schema = wire.Schema.load(*args.dc)
    width, height = (int(n) for n in args.grid.split("@")[0].split("x"))
    token = log_in(args.uberdog, args.username, args.password)
    connection = Connection(token)
    connection.connect(args.timeout)

    objects: dict[int, dict] = {}  # doId -> {dclass, parent, zone, fields}
    state = {"hello": False, "avatar": None, "interest": False, "appeared": None, "moved": None, "chat": False}
    answers: dict[int, dict] = {}  # request id -> its REPLY or REQUEST_ERROR

    def class_of(do_id: int):
        seen = objects.get(do_id)
        return seen["dclass"] if seen else None

    def handle(message: dict) -> None:
        kind = message["type"]
        if kind == "HELLO_RESP":
            state["hello"] = True
            log(f"hello answered: cluster time {message['clusterTime']:.0f}")
        elif kind == "EJECT":
            log(f"ejected: {message['code']} {message['reason']}")
            raise SystemExit(1)
        elif kind in ("ENTER_OBJECT", "ENTER_OWNED"):
            objects[message["doId"]] = {k: message[k] for k in ("dclass", "parent", "zone", "fields")}
            name = message["dclass"].name
            if kind == "ENTER_OWNED" and state["avatar"] is None:
                state["avatar"] = message["doId"]
                log(f"avatar {message['doId']} {name} in {message['parent']}/{message['zone']} at {position(message['fields'])}")
            elif message["doId"] != state["avatar"]:
                log(f"appeared {message['doId']} {name} in {message['parent']}/{message['zone']} at {position(message['fields'])}")
                if state["appeared"] is None and name != "DistributedWorld":
                    state["appeared"] = message["doId"]
        elif kind == "LEAVE_OBJECT":
            objects.pop(message["doId"], None)
            log(f"left {message['doId']}")
        elif kind == "OBJECT_LOCATION":
            seen = objects.get(message["doId"])
            if seen:
                seen["parent"], seen["zone"] = message["parent"], message["zone"]
                log(f"relocated {message['doId']} to {message['parent']}/{message['zone']}")
        elif kind in ("REPLY", "REQUEST_ERROR"):
            answers[message["requestId"]] = message
        elif kind == "DONE_INTEREST":
            state["interest"] = True
            log(f"interest {message['interestId']} done (context {message['context']}): {len(objects)} objects in view")
        elif kind in ("FIELD_UPDATES", "STATE_UPDATES"):
            for update in message["updates"]:
                seen = objects[update.do_id]
                before = position(seen["fields"])
                if update.nested:
                    seen["fields"][update.field.name] = wire.apply_nested(seen["fields"].get(update.field.name), update.value)
                else:
                    seen["fields"][update.field.name] = update.value
                if update.field.name == "chat" and update.value[0] == state["avatar"]:
                    state["chat"] = True
                    log(f"heard chat from my avatar: {update.value[1]!r}")
                after = position(seen["fields"])
                if update.do_id != state["avatar"] and before is not None and after != before:
                    if state["moved"] is None:
                        log(f"moved {update.do_id} {seen['dclass'].name} {before} -> {after}")
                    state["moved"] = state["moved"] or update.do_id

    def run_until(condition, what: str) -> None:
        deadline = time.monotonic() + args.timeout
        next_heartbeat = 0.0
        while not condition():
            if time.monotonic() > deadline:
                raise SystemExit(f"timed out waiting for {what}")
            if time.monotonic() >= next_heartbeat:
                connection.send(wire.heartbeat())
                next_heartbeat = time.monotonic() + 1
            for _channel, data in connection.pump():
                handle(wire.read_agent_message(data, schema, class_of))

    connection.send(wire.hello(args.version, int(args.schema_hash, 0)))
    run_until(lambda: state["hello"], "the answer to hello")
    run_until(lambda: state["avatar"] is not None, "an avatar")
    avatar_id = state["avatar"]
    connection.send(wire.follow_interest(1, 1, avatar_id, width, height, 1))
    run_until(lambda: state["interest"], "the interest to be done")
    run_until(lambda: state["appeared"] is not None, "another object to appear")
    run_until(lambda: state["moved"] is not None, "another object to move")

    avatar_class = objects[avatar_id]["dclass"]
    x, y = position(objects[avatar_id]["fields"]) or (1.0, 1.0)
    target = (float(int(x)) + 0.5, float(int(y)) + 0.5)  # exact in float32
    connection.send(wire.set_field(avatar_id, avatar_class.field("setXY"), list(target)))
    log(f"sent setXY{target}")
    connection.send(wire.set_field(avatar_id, avatar_class.field("say"), [args.say]))
    log(f"sent say({args.say!r})")
    run_until(lambda: state["chat"], "the cluster to answer what the avatar said")

    # a request: buy item 0 from the demo's shop, if one is in view (section 14)
    shop = next((do_id for do_id, seen in objects.items() if seen["dclass"].name == "DistributedShop"), None)
    if shop is not None:
        shop_class = objects[shop]["dclass"]
        connection.send(wire.request(1, shop, shop_class.field("buy"), [0]))
        run_until(lambda: 1 in answers, "the answer to the request")
        answer = answers[1]
        if answer["type"] == "REPLY":
            log(f"shop {shop} answered buy(0): {wire.read_reply(shop_class, 'buy', answer['value'])[0]} left")
        else:
            log(f"shop {shop} refused buy(0): {answer['code']} {answer['message']}")

    connection.send(bytes([wire.DISCONNECT]))
    goodbye_deadline = time.monotonic() + 2
    while connection.endpoint.unacked and time.monotonic() < goodbye_deadline:
        try:
            connection.pump()
        except SystemExit:  # the agent closed the session on our goodbye: what we asked for
            break
    connection.close()
    log(f"ok: connected, saw {state['appeared']} appear and {state['moved']} move, sent fields and heard them")
    return 0


if __name__ == "__main__":
    sys.exit(main())
