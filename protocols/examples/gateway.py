#!/usr/bin/env python3
"""A Switchboard gateway written from protocols/gateway.md alone (SWB/1), with pyzmq.

Publishes a few customer messages and waits for each ACK, re-sending on timeout or on
NACK overloaded/unavailable, as the spec says. Exits 0 when every message is ACKed.
With --send it then says HELLO for --channels and "sends" (prints) each DELIVER once per
idempotency key, answering SENT, until --deliveries messages are sent. With --status-phone it
asks STATUS ("where is my request?") for that phone number and prints the open contacts.

    pip install pyzmq
    python3 gateway.py --endpoint tcp://127.0.0.1:5570 --name example-gw --count 5
    python3 gateway.py ... --count 0 --send --channels sms,email --deliveries 3
    python3 gateway.py ... --server-key keys/hub.pub --key keys/example-gw.key   # security: curve
"""
import argparse
import json
import sys
import time

import zmq

import swb_curve

VERSION = b"SWB/1"

SAMPLES = [
    ("sms", {"phone": "۰۹۱۲ ۳۴۵ ۶۷۸۹"}, "fa", "اینترنت من کار نمی‌کند، لطفاً کمک کنید"),
    ("email", {"email": "Ivan.Petrov@Example.com", "name": "Ivan Petrov"}, "ru", "Хочу купить годовую подписку, какая цена?"),
    ("phone", {"phone": "+7 (912) 345-67-89"}, "ru", "Нужен мастер для ремонта"),
    ("web", {"device_id": "cookie-42"}, "en", "Please unsubscribe me from the newsletter"),
    ("chat", {"external_id": "CRM-1001"}, "en", "I want a refund, this is a complaint"),
]


def publish_frames(message_id, channel, hints, language, text):
    header = {
        "message_id": message_id,
        "channel": channel,
        "occurred_at": int(time.time() * 1000),
        "hints": hints,
        "language": language,
        "attributes": {"source": "examples/gateway.py"},
    }
    return [VERSION, b"PUBLISH", json.dumps(header, ensure_ascii=False).encode("utf-8"), text.encode("utf-8")]


def send_outbound(socket, args):
    """gateway.md §4.2: HELLO (again every heartbeat), DELIVER -> send once per key -> SENT."""
    socket.send_multipart([VERSION, b"HELLO", json.dumps({"channels": args.channels.split(",")}).encode()])
    heartbeat_s, hello_at = 1.0, time.time()
    sent_keys = set()
    deadline = time.time() + args.timeout
    while len(sent_keys) < args.deliveries and time.time() < deadline:
        if time.time() - hello_at >= heartbeat_s:
            socket.send_multipart([VERSION, b"HELLO", json.dumps({"channels": args.channels.split(",")}).encode()])
            hello_at = time.time()
        if not socket.poll(200):
            continue
        frames = socket.recv_multipart()
        command, header = frames[1].decode("ascii"), json.loads(frames[2] or b"{}")
        if command == "HELLO":
            heartbeat_s = header.get("heartbeat_ms", 1000) / 1000
        elif command == "DELIVER":
            key = header["idempotency_key"]
            if key not in sent_keys:  # a key already sent is answered SENT again, not sent twice
                if header["expires_at"] < time.time() * 1000:
                    socket.send_multipart([VERSION, b"UNDELIVERABLE",
                                           json.dumps({"outbound_id": header["outbound_id"], "reason": "expired"}).encode()])
                    continue
                address = header["to"].get("phone") or header["to"].get("email") or next(iter(header["to"].values()), "?")
                print(f"DELIVER {header['outbound_id']} on {header['channel']} to {address}: {frames[3].decode('utf-8', 'replace')}")
                sent_keys.add(key)
            socket.send_multipart([VERSION, b"SENT", json.dumps({"outbound_id": header["outbound_id"]}).encode()])
    print(f"{len(sent_keys)} outbound messages sent")
    return len(sent_keys) >= args.deliveries


def ask_status(socket, phone):
    """gateway.md §4.3: STATUS by phone -> OPEN_CONTACTS."""
    query = {"query_id": "status-1", "identity": {"kind": "phone", "value": phone}}
    socket.send_multipart([VERSION, b"STATUS", json.dumps(query, ensure_ascii=False).encode("utf-8")])
    while socket.poll(5000):
        frames = socket.recv_multipart()
        header = json.loads(frames[2] or b"{}")
        if frames[1] == b"OPEN_CONTACTS" and header.get("query_id") == "status-1":
            if not header["found"]:
                print(f"STATUS {phone}: no such customer")
            for contact in header.get("contacts", []):
                wait = contact.get("estimated_wait_ms")
                print(f"STATUS {phone}: contact {contact['interaction_id']} {contact['state']} in {contact['queue']}, "
                      f"position {contact['position']}, wait {'unknown' if wait is None else f'{wait / 1000:.0f} s'}")
            return True
    return False


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--endpoint", default="tcp://127.0.0.1:5570", help="a hub's gateway endpoint, or several, comma-separated")
    parser.add_argument("--name", default="example-gw", help="gateway name = ZeroMQ routing id")
    parser.add_argument("--count", type=int, default=5)
    parser.add_argument("--timeout", type=float, default=10.0, help="seconds to wait for all ACKs (and deliveries)")
    parser.add_argument("--send", action="store_true", help="then send outbound messages (HELLO, DELIVER, SENT)")
    parser.add_argument("--channels", default="sms,email,phone,web,chat", help="channels to send on, with --send")
    parser.add_argument("--deliveries", type=int, default=1, help="with --send: stop after this many sent")
    parser.add_argument("--status-phone", help="ask STATUS for this phone number after publishing")
    swb_curve.add_arguments(parser)
    args = parser.parse_args()

    context = zmq.Context()
    socket = context.socket(zmq.DEALER)
    swb_curve.apply_arguments(socket, args)  # security.md: before connect
    socket.setsockopt(zmq.ROUTING_ID, args.name.encode("ascii"))  # gateway.md §2: required
    socket.setsockopt(zmq.LINGER, 0)
    for endpoint in args.endpoint.split(","):  # gateway.md §2: several hubs of one database
        socket.connect(endpoint)

    run = int(time.time())
    pending = {}
    for index in range(args.count):
        channel, hints, language, text = SAMPLES[index % len(SAMPLES)]
        message_id = f"{args.name}-{run}-{index}"
        pending[message_id] = publish_frames(message_id, channel, hints, language, text)

    deadline = time.time() + args.timeout
    resend_at = {message_id: 0.0 for message_id in pending}
    acked = 0
    while pending and time.time() < deadline:
        now = time.time()
        for message_id, frames in pending.items():
            if resend_at[message_id] <= now:
                socket.send_multipart(frames)
                resend_at[message_id] = now + 2.0  # no answer in 2 s: send the same message again
        if not socket.poll(200):
            continue
        frames = socket.recv_multipart()
        if len(frames) != 3 or frames[0] != VERSION:
            print(f"unexpected reply: {frames!r}", file=sys.stderr)
            continue
        command, header = frames[1].decode("ascii"), json.loads(frames[2] or b"{}")
        message_id = header.get("message_id")
        if command == "ACK" and message_id in pending:
            del pending[message_id]
            acked += 1
            print(f"ACK {message_id}: interaction {header['interaction_id']}, customer {header['customer_id']}, "
                  f"queue {header['queue']}{' (duplicate)' if header['duplicate'] else ''}")
        elif command == "NACK" and message_id in pending:
            if header["code"] in ("overloaded", "unavailable"):
                resend_at[message_id] = time.time() + header.get("retry_after_ms", 1000) / 1000
            else:
                print(f"NACK {message_id}: {header['code']}/{header['detail']}: {header['reason']}", file=sys.stderr)
                del pending[message_id]
    print(f"{acked} of {args.count} messages acknowledged")
    if args.status_phone and not ask_status(socket, args.status_phone):
        return 1
    if args.send and not send_outbound(socket, args):
        return 1
    return 0 if acked == args.count else 1


if __name__ == "__main__":
    sys.exit(main())
