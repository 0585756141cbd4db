#!/usr/bin/env python3
"""A Switchboard events subscriber written from protocols/events.md alone, with pyzmq.

Subscribes to the hub's events socket and prints each event as a JSON line. Given where it
stopped last time (--since, --received-since), it first connects, then reads what it missed with
`switchboard events`, then goes on with the live stream, skipping what it has already printed:
so a subscriber that was away misses nothing. Exits after --events events, or --idle quiet seconds.

    pip install pyzmq
    python3 events.py --endpoint tcp://127.0.0.1:5572 --since 1200 --received-since 300 \
        --switchboard "switchboard events --config /etc/switchboard/switchboard.yaml"
    python3 events.py ... --server-key keys/hub.pub --key keys/analytics.key   # security: curve
"""
import argparse
import json
import shlex
import subprocess
import sys
import time

import zmq

import swb_curve


class Cursor:
    """Where the subscriber is: the last delivery event id and the last received delivery id."""

    def __init__(self, since, received_since):
        self.since = since
        self.received_since = received_since

    def fresh(self, event):
        """True (and advances) when the event is newer than what was printed already."""
        if event["event"] == "interaction.received":
            if event["delivery_id"] <= self.received_since:
                return False
            self.received_since = event["delivery_id"]
            return True
        if event["id"] <= self.since:
            return False
        self.since = event["id"]
        return True


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--endpoint", default="tcp://127.0.0.1:5572")
    parser.add_argument("--topics", default="", help="comma-separated topic prefixes, e.g. delivery.done,interaction. (default: all)")
    parser.add_argument("--since", type=int, help="the last delivery event id seen before")
    parser.add_argument("--received-since", type=int, help="the last delivery_id of an interaction.received seen before")
    parser.add_argument("--switchboard", default="switchboard events", help="the command that reads missed events")
    parser.add_argument("--events", type=int, default=0, help="stop after this many events (0: never)")
    parser.add_argument("--idle", type=float, default=0, help="stop after this many seconds without an event (0: never)")
    swb_curve.add_arguments(parser)
    args = parser.parse_args()

    context = zmq.Context()
    socket = context.socket(zmq.SUB)
    swb_curve.apply_arguments(socket, args)  # security.md: before connect
    socket.setsockopt(zmq.LINGER, 0)
    for prefix in (args.topics.split(",") if args.topics else [""]):
        socket.setsockopt(zmq.SUBSCRIBE, prefix.encode("utf-8"))
    socket.connect(args.endpoint)

    cursor = Cursor(args.since or 0, args.received_since or 0)
    printed = 0

    def emit(event):
        nonlocal printed
        if cursor.fresh(event):
            print(json.dumps(event, ensure_ascii=False, sort_keys=True), flush=True)
            printed += 1

    if args.since is not None or args.received_since is not None:
        # Connected first, so that nothing committed from now on is missed; then what came before.
        time.sleep(0.3)
        command = shlex.split(args.switchboard)
        if args.since is not None:
            command += ["--since", str(args.since)]
        if args.received_since is not None:
            command += ["--received-since", str(args.received_since)]
        missed = subprocess.run(command, check=True, capture_output=True, text=True).stdout
        for line in missed.splitlines():
            emit(json.loads(line))

    poller = zmq.Poller()
    poller.register(socket, zmq.POLLIN)
    last_event = time.time()
    while args.events == 0 or printed < args.events:
        if args.idle and time.time() - last_event > args.idle:
            break
        if not poller.poll(100):
            continue
        topic, body = socket.recv_multipart()
        event = json.loads(body.decode("utf-8"))
        assert event["event"] == topic.decode("utf-8"), "the topic frame is the event's name"
        emit(event)
        last_event = time.time()
    print(f"{printed} events; resume with --since {cursor.since} --received-since {cursor.received_since}", file=sys.stderr)


if __name__ == "__main__":
    main()
