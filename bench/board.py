"""Bytes on the cellular link: per reading in steady state, per reconnect (a full TLS handshake,
then a resumed one), and a month at the seed's 60 s interval, measured through the modem emulator.

The seed's board (LilyGO T-SIM7600, one sensor, QoS 1, readings stamped) is rendered, built with
the real TinyGSM and ArduinoCore-API (../shared/vendor) and run on this host; its modem is the
SIM7600 AT emulator of the tests, whose sockets reach the real Mosquitto's TLS listener. The
emulator reads the TLS records crossing each socket: handshake bytes apart from MQTT's.

On the link, TCP/IP adds a 40-byte header (IPv4 20 + TCP 20, no options) to every segment: one per
AT+CIPSEND and per arrival from the broker. ACKs: a reading's PUBLISH is acknowledged by the
segment carrying the broker's PUBACK (Linux delays its ACK in a request-response flow and sends it
with the answer), the PUBACK by a pure ACK from the modem; the worst case, every ACK alone, is
printed too, as is every connection's (SYN, SYN-ACK and ACK: 60 + 60 + 40 bytes; the FIN exchange
4 x 40). The operator's own overheads (PDP, radio) are not counted.

    bash scripts/services.sh && python bench/board.py [--minutes 30] [--scale 20]
"""

import argparse
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))

from board_host import (  # noqa: E402
    TINYGSM,
    HostBoard,
    board_inventory,
    build_core,
    build_sketch,
    render_for_host,
)
from device.modem import APPLICATION, HANDSHAKE, Link, Modem, Scenario  # noqa: E402
from test_device import board_broker  # noqa: E402

from services import Certificates, wait_for  # noqa: E402

INTERVAL_S = 60
TCP_IP = 40
CONNECTION = 60 + 60 + 40 + 4 * 40  # SYN, SYN-ACK, ACK; FIN, ACK both ways


def published(board: HostBoard) -> int:
    return sum(1 for line in board.out.splitlines() if line.startswith("polysource: polysource/"))


def on_link(payload_up: int, payload_down: int, segments_up: int, segments_down: int) -> tuple[int, int]:
    """Bytes up and down with TCP/IP, the worst case: each segment's header, and a pure ACK for each
    the other way."""
    up = payload_up + TCP_IP * (segments_up + segments_down)
    return up, payload_down + TCP_IP * (segments_down + segments_up)


def handshake(link: Link) -> tuple[int, int]:
    """A connection's cost up to MQTT's CONNACK: TLS handshake records, CONNECT and CONNACK."""
    up = link.up.bytes(*HANDSHAKE) + next(size for kind, size in link.up.seen if kind == APPLICATION)
    down = link.down.bytes(*HANDSHAKE) + next(size for kind, size in link.down.seen if kind == APPLICATION)
    up, down = on_link(up, down, *link.connect_segments)
    return up + CONNECTION // 2, down + CONNECTION // 2


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--minutes", type=float, default=30, help="field minutes of steady state")
    parser.add_argument("--scale", type=float, default=20, help="field seconds per second here")
    args = parser.parse_args()
    if not TINYGSM.exists():
        sys.exit(f"the board's libraries are not here: {TINYGSM.parent.parent} (../shared/vendor)")
    work = Path(tempfile.mkdtemp(prefix="bench-board-"))
    (work / "certs").mkdir()
    (work / "broker").mkdir()
    certs = Certificates(work / "certs")
    certs.make_ca()
    broker = board_broker(work / "broker", certs)
    modem = board = None
    try:
        folder = work / "board"
        folder.mkdir()
        sketch = render_for_host(folder, board_inventory(broker, INTERVAL_S), certs.ca)
        binary = build_sketch(sketch, build_core(work))
        modem = Modem(("127.0.0.1", broker.tls_port), args.scale, Scenario(powered=True, boot_s=0))
        board = HostBoard(binary, modem.path, folder, args.scale)
        readings = int(args.minutes * 60 / INTERVAL_S)
        wait_for(lambda: published(board) >= 2, 60, "the first readings")
        first = modem.opened[0]
        start_up, start_down = first.up.bytes(APPLICATION), first.down.bytes(APPLICATION)
        start_seg = (first.segments_up, first.segments_down, published(board))
        wait_for(lambda: published(board) >= start_seg[2] + readings, readings * INTERVAL_S / args.scale + 60,
                 f"{readings} readings")  # fmt: skip
        count = published(board) - start_seg[2]
        payload_up = first.up.bytes(APPLICATION) - start_up
        payload_down = first.down.bytes(APPLICATION) - start_down
        segments = (first.segments_up - start_seg[0], first.segments_down - start_seg[1])
        per_up, per_down = on_link(payload_up, payload_down, *segments)
        # The PUBACK's segment carries the ACK of the PUBLISH: a pure ACK up for each one down only.
        shared_up = payload_up + TCP_IP * (segments[0] + segments[1])
        shared_down = payload_down + TCP_IP * segments[1]
        pings = first.up.count(APPLICATION) - 1 - published(board)
        # A reconnect: coverage lost long enough for the data session to drop, then back.
        modem.lose_coverage()
        time.sleep(70 / args.scale)
        modem.regain_coverage()
        wait_for(lambda: len(modem.opened) >= 2 and modem.opened[1].down.count(APPLICATION) >= 1,
                 600 / args.scale + 60, "the reconnection")  # fmt: skip
        full, resumed = handshake(modem.opened[0]), handshake(modem.opened[1])
    finally:
        if board:
            board.stop()
        if modem:
            modem.stop()
        broker.stop()
    month = 30 * 86400 // INTERVAL_S
    per, worst = (shared_up + shared_down) / count, (per_up + per_down) / count
    pings = max(pings, 0)
    print(f"steady state, {count} readings at {INTERVAL_S} s (QoS 1, the seed's payload), pings {pings}:")
    row = "  {:<16}{:6.0f} B up  {:6.0f} B down  {:6.0f} B in all"
    print(row.format("per reading", shared_up / count, shared_down / count, per))
    print(row.format("every ACK alone", per_up / count, per_down / count, worst))
    alone = month * worst / 1e6
    print(f"  a month         {month * per / 1e6:6.2f} MB ({month} readings; ACKs alone {alone:.2f})")
    print("reconnect, up to CONNACK (TCP, TLS, MQTT CONNECT):")
    print(f"  full handshake   {full[0]:6d} B up  {full[1]:6d} B down")
    print(f"  resumed session  {resumed[0]:6d} B up  {resumed[1]:6d} B down")


if __name__ == "__main__":
    main()
