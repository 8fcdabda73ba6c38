"""`act bag`: inspect and repair episode bags.

    act bag repair data/transfer_cube/episode_7 [--output DIR]
    act bag scan data/transfer_cube/episode_7

`repair` reads every complete message of a bag whose .mcap was cut by a crash (recorder
killed, power loss) and writes them as a new, valid bag (default: `<bag>.repaired` beside
it) with a rebuilt metadata.yaml, like `ros2 bag reindex`; the original is never changed.
`scan` only reports what a repair would keep. act_training.conversion.bag_recovery does
the work; `act convert` recovers such bags by itself (marked truncated).
"""

from __future__ import annotations

import json
from pathlib import Path


def handle(args) -> int:
    from act_training.conversion.bag_recovery import RecoveryError, repair_bag, report_dict, scan_mcap

    bag = Path(args.bag)
    if not bag.exists():
        print(f'act bag {args.action}: {bag} does not exist')
        return 1
    try:
        if args.action == 'scan':
            report = scan_mcap(bag)
            output = None
        else:
            output, report = repair_bag(bag, Path(args.output) if args.output else None)
    except (RecoveryError, FileExistsError, ValueError) as error:
        print(f'act bag {args.action}: {error}')
        return 1
    if args.json:
        print(json.dumps(dict(report_dict(report), output=str(output) if output else None), indent=2, default=str))
    else:
        print(report.summary())
        for topic, counts in sorted(report.topics.items()):
            print(f'    {topic}: {counts.messages} messages')
        if output is not None:
            print(f'wrote {output} ({report.message_count} messages); {bag} is unchanged')
    return 0


def register(subparsers) -> None:
    parser = subparsers.add_parser('bag', help='scan or repair an episode bag cut by a crash',
                                   description=__doc__.split('\n\n')[0])
    parser.add_argument('action', choices=('repair', 'scan'), help='repair: write a valid copy; scan: report only')
    parser.add_argument('bag', metavar='BAG', help='bag folder (or its .mcap file)')
    parser.add_argument('--output', metavar='DIR', help='repaired bag folder (default: <bag>.repaired beside it)')
    parser.add_argument('--json', action='store_true', help='print the recovery report as JSON')
    parser.set_defaults(handler=handle)
