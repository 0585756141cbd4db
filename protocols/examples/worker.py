#!/usr/bin/env python3
"""A Switchboard worker written from protocols/worker.md alone (SWB/1), with pyzmq.

Serves the given queues: announces itself with READY, heartbeats, handles each TASK by printing
it and answering DONE (with --reply, first a REPLY to the customer through their channel), and
re-announces itself (with the tasks it holds) when the hub restarted.
Exits after --tasks confirmed tasks, or after --idle seconds without work.

    pip install pyzmq
    python3 worker.py --endpoint tcp://127.0.0.1:5571 --queues support,sales --tasks 5
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
    socket = context.socket(zmq.DEALER)
    swb_curve.apply_arguments(socket, args)  # security.md: before connect
    socket.setsockopt(zmq.LINGER, 0)
    socket.connect(args.endpoint)
    ready = {"worker_id": args.worker_id, "queues": args.queues.split(","), "capacity": args.capacity}
    socket.send_multipart(frames("READY", ready))

    heartbeat_s = 1.0
    last_sent = time.time()
    last_work = time.time()
    holding = set()       # tasks received, not yet answered
    unconfirmed = {}      # delivery id -> DONE frames sent, not yet confirmed
    reannouncing = False
    reannounced_at = 0.0
    confirmed = 0
    while args.tasks == 0 or confirmed < args.tasks:
        if args.idle and time.time() - last_work > args.idle:
            break
        if time.time() - last_sent >= heartbeat_s:
            socket.send_multipart(frames("HEARTBEAT"))
            last_sent = time.time()
        if not socket.poll(int(heartbeat_s * 1000 / 2)):
            continue
        message = socket.recv_multipart()
        if len(message) < 3 or message[0] != VERSION:
            print(f"unexpected message: {message!r}", file=sys.stderr)
            continue
        command, header = message[1].decode("ascii"), json.loads(message[2] or b"{}")
        if command == "WELCOME":
            heartbeat_s = header["heartbeat_ms"] / 1000
            if reannouncing:  # worker.md §5: re-send what was not confirmed
                reannouncing = False
                for done in unconfirmed.values():
                    socket.send_multipart(done)
        elif command == "TASK":
            last_work = time.time()
            delivery = header["delivery_id"]
            holding.add(delivery)
            customer = header["customer"]
            text = message[3].decode("utf-8", errors="replace")
            print(f"TASK {delivery} attempt {header['attempt']} queue {header['queue']} "
                  f"customer {customer['id']} ({customer.get('display_name') or 'anonymous'}): {text}")
            if args.reply:  # worker.md REPLY: before the DONE, on the task it holds
                body = f"Thank you, we are on it (case {delivery}).".encode("utf-8")
                socket.send_multipart(frames("REPLY", {"delivery_id": delivery, "reply_id": "r1"}) + [body])
            done = frames("DONE", {"delivery_id": delivery, "outcome": "handled", "notes": "examples/worker.py"})
            holding.discard(delivery)
            unconfirmed[delivery] = done
            socket.send_multipart(done)
            last_sent = time.time()
        elif command == "REPLIED":
            print(f"REPLIED {header['delivery_id']}: outbound {header['outbound_id']} in conversation {header['conversation_id']}")
        elif command == "CONFIRM":
            unconfirmed.pop(header["delivery_id"], None)
            confirmed += 1
            repeat = " (repeat: counted before)" if header.get("repeat") else ""
            print(f"CONFIRM {header['delivery_id']}: {header['state']}{repeat}")
        elif command == "ERROR":
            # worker.md §5; again after a heartbeat if that READY was lost (the hub died once more)
            if header["code"] == "not_ready" and (not reannouncing or time.time() - reannounced_at > heartbeat_s):
                reannouncing = True
                reannounced_at = time.time()
                socket.send_multipart(frames("READY", dict(ready, holding=sorted(holding | set(unconfirmed)))))
            elif header["code"] != "not_ready":
                unconfirmed.pop(header.get("delivery_id"), None)
                print(f"ERROR {header['code']}/{header['detail']}: {header['reason']}", file=sys.stderr)
    socket.send_multipart(frames("BYE"))
    print(f"{confirmed} tasks confirmed")
    return 0


if __name__ == "__main__":
    sys.exit(main())
