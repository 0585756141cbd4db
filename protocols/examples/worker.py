#!/usr/bin/env python3
"""A Switchboard worker written from protocols/worker.md alone (SWB/1), with pyzmq.

Serves the given queues: announces itself with READY, heartbeats, handles each TASK by printing
it and answering DONE (with --reply, first a REPLY to the customer through their channel), and
re-announces itself (with the tasks it holds) when the hub restarted.
Exits after --tasks confirmed tasks, or after --idle seconds without work.

With several hubs on one database, --endpoint takes them all, comma-separated: one socket each
(worker.md §6). Answers go to the hub that offered the task; a hub silent for three heartbeats is
taken for gone, and its unconfirmed answers are claimed from and sent to the others.

    pip install pyzmq
    python3 worker.py --endpoint tcp://127.0.0.1:5571 --queues support,sales --tasks 5
    python3 worker.py --endpoint tcp://hub-a:5571,tcp://hub-b:5571                # several hubs
    python3 worker.py ... --server-key keys/hub.pub --key keys/example-worker.key   # security: curve
"""
import argparse
import json
import sys
import time

import zmq

import swb_curve

VERSION = b"SWB/1"


def frames(command, header=None):
    return [VERSION, command.encode("ascii"), json.dumps(header or {}, ensure_ascii=False).encode("utf-8")]


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--endpoint", default="tcp://127.0.0.1:5571")
    parser.add_argument("--worker-id", default="example-worker")
    parser.add_argument("--queues", default="sales,marketing,field_service,support")
    parser.add_argument("--capacity", type=int, default=2)
    parser.add_argument("--tasks", type=int, default=0, help="stop after this many confirmed tasks (0: never)")
    parser.add_argument("--idle", type=float, default=0, help="stop after this many seconds without a task (0: never)")
    parser.add_argument("--reply", action="store_true", help="answer each customer with a REPLY before DONE")
    swb_curve.add_arguments(parser)
    args = parser.parse_args()

    context = zmq.Context()
    hubs = []
    for endpoint in args.endpoint.split(","):
        socket = context.socket(zmq.DEALER)
        swb_curve.apply_arguments(socket, args)  # security.md: before connect
        socket.setsockopt(zmq.LINGER, 0)
        socket.connect(endpoint)
        hubs.append({"socket": socket, "last_sent": time.time(), "last_heard": time.time(),
                     "reannouncing": False, "reannounced_at": 0.0, "claimed_at": 0.0})
    ready = {"worker_id": args.worker_id, "queues": args.queues.split(","), "capacity": args.capacity}
    for hub in hubs:
        hub["socket"].send_multipart(frames("READY", ready))

    def send(hub, message):
        hub["socket"].send_multipart(message)
        hub["last_sent"] = time.time()

    heartbeat_s = 1.0
    last_work = time.time()
    holding = set()       # tasks received, not yet answered
    unconfirmed = {}      # delivery id -> DONE frames sent, not yet confirmed
    origin = {}           # delivery id -> index of the hub that offered it
    confirmed = 0
    poller = zmq.Poller()
    for hub in hubs:
        poller.register(hub["socket"], zmq.POLLIN)
    while args.tasks == 0 or confirmed < args.tasks:
        if args.idle and time.time() - last_work > args.idle:
            break
        now = time.time()
        for hub in hubs:
            if now - hub["last_sent"] >= heartbeat_s:
                send(hub, frames("HEARTBEAT"))
        # worker.md §6: the tasks of a gone hub are claimed from the others, their answers sent there
        gone = {i for i, hub in enumerate(hubs) if len(hubs) > 1 and now - hub["last_heard"] > 3 * heartbeat_s}
        orphans = sorted(d for d, i in origin.items() if i in gone)
        for i, hub in enumerate(hubs):
            if orphans and i not in gone and now - hub["claimed_at"] >= heartbeat_s:
                hub["claimed_at"] = now
                send(hub, frames("READY", dict(ready, holding=orphans)))
                for delivery in orphans:
                    if delivery in unconfirmed:
                        send(hub, unconfirmed[delivery])
        events = dict(poller.poll(int(heartbeat_s * 1000 / 2)))
        for index, hub in enumerate(hubs):
            socket = hub["socket"]
            if socket not in events:
                continue
            message = socket.recv_multipart()
            hub["last_heard"] = time.time()
            if len(message) < 3 or message[0] != VERSION:
                print(f"unexpected message: {message!r}", file=sys.stderr)
                continue
            command, header = message[1].decode("ascii"), json.loads(message[2] or b"{}")
            if command == "WELCOME":
                heartbeat_s = header["heartbeat_ms"] / 1000
                if hub["reannouncing"]:  # worker.md §5: re-send what was not confirmed
                    hub["reannouncing"] = False
                    for delivery, done in unconfirmed.items():
                        if origin.get(delivery) == index:
                            send(hub, done)
            elif command == "TASK":
                last_work = time.time()
                delivery = header["delivery_id"]
                holding.add(delivery)
                origin[delivery] = index
                customer = header["customer"]
                text = message[3].decode("utf-8", errors="replace")
                print(f"TASK {delivery} attempt {header['attempt']} queue {header['queue']} "
                      f"customer {customer['id']} ({customer.get('display_name') or 'anonymous'}): {text}")
                if args.reply:  # worker.md REPLY: before the DONE, on the task it holds
                    body = f"Thank you, we are on it (case {delivery}).".encode("utf-8")
                    send(hub, frames("REPLY", {"delivery_id": delivery, "reply_id": "r1"}) + [body])
                done = frames("DONE", {"delivery_id": delivery, "outcome": "handled", "notes": "examples/worker.py"})
                holding.discard(delivery)
                unconfirmed[delivery] = done
                send(hub, done)
            elif command == "REPLIED":
                print(f"REPLIED {header['delivery_id']}: outbound {header['outbound_id']} in conversation {header['conversation_id']}")
            elif command == "CONFIRM":
                if unconfirmed.pop(header["delivery_id"], None) is None:
                    continue  # a second hub's answer to a DONE sent to several
                origin.pop(header["delivery_id"], None)
                confirmed += 1
                repeat = " (repeat: counted before)" if header.get("repeat") else ""
                print(f"CONFIRM {header['delivery_id']}: {header['state']}{repeat}")
            elif command == "ERROR":
                delivery = header.get("delivery_id")
                # worker.md §5; again after a heartbeat if that READY was lost (the hub died once more)
                if header["code"] == "not_ready":
                    if not hub["reannouncing"] or time.time() - hub["reannounced_at"] > heartbeat_s:
                        hub["reannouncing"] = True
                        hub["reannounced_at"] = time.time()
                        mine = sorted(d for d in holding | set(unconfirmed) if origin.get(d, 0) == index)
                        send(hub, frames("READY", dict(ready, holding=mine)))
                elif header["code"] == "not_held" and delivery in unconfirmed and origin.get(delivery) in gone:
                    continue  # another hub has it: that one confirms
                else:
                    unconfirmed.pop(delivery, None)
                    print(f"ERROR {header['code']}/{header['detail']}: {header['reason']}", file=sys.stderr)
    for hub in hubs:
        hub["socket"].send_multipart(frames("BYE"))
    print(f"{confirmed} tasks confirmed")
    return 0


if __name__ == "__main__":
    sys.exit(main())
