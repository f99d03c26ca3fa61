"""`orderly parked list | retry STREAM | skip STREAM [--projection NAME]`: what the CLI prints and returns.

Exit status: 0 done (an empty list included), 1 the stream is not parked (nothing was
requested), 2 a usage error. A retry or skip is a request: the leading projector carries
it out at its next batch boundary, so the command returns before the outcome is known
(`orderly parked list` then shows the stream gone, or parked again with the new error).
"""

from __future__ import annotations

import argparse
import sys

from orderly.bootstrap import build_container
from orderly.settings import Settings
from projections.parked_streams import ParkedStream, ParkingRequest
from projections.parking_desk import ParkingDesk


async def run_parked(args: argparse.Namespace, settings: Settings) -> int:
    """Run one `orderly parked` action."""
    if args.action == "list":
        if args.stream is not None:
            print("orderly parked list: takes no stream (use --projection to narrow it)", file=sys.stderr)
            return 2
    elif args.stream is None:
        print(f"orderly parked {args.action}: name the parked stream (an order id)", file=sys.stderr)
        return 2
    container = build_container(settings.with_changes(run_projectors=False), api=False)
    await container.start()  # the bus only: its RESYNC wakes the projectors at once
    try:
        desk = ParkingDesk(container.read_models, container.bus)
        if args.action == "list":
            _print_rows(await desk.parked(args.projection))
            return 0
        request = ParkingRequest.RETRY if args.action == "retry" else ParkingRequest.SKIP
        rows = await desk.request(str(args.stream), request, args.projection)
    finally:
        await container.stop()
    if not rows:
        where = "any projection" if args.projection is None else f"projection {args.projection}"
        print(f"orderly parked {args.action}: stream {args.stream} is not parked in {where}", file=sys.stderr)
        return 1
    for row in rows:
        what = "replay from" if request is ParkingRequest.RETRY else "pass"
        print(
            f"{args.action} requested: {row.projection} will {what} stream {row.stream_id} version {row.version}"
            " at its next batch boundary (see `orderly parked list`)"
        )
    return 0


def _print_rows(rows: list[ParkedStream]) -> None:
    if not rows:
        print("no parked streams")
        return
    print(f"{'projection':<22} {'stream':<40} {'version':>7} {'position':>10} {'attempts':>8}  {'request':<7}  event type")
    for row in rows:
        print(
            f"{row.projection:<22} {row.stream_id:<40} {row.version:>7} {row.position:>10} {row.attempts:>8}"
            f"  {row.request or '':<7}  {row.event_type}"
        )
        print(f"    parked {row.parked_at:%Y-%m-%d %H:%M:%S}Z: {row.error}")
