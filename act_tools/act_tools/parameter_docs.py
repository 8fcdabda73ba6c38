"""The README's list of node parameters, written from the nodes' parameter tables
(act_common.parameters), so the list is never written by hand:

    python -m act_tools.parameter_docs README.md     # rewrites the marked section

test_bringup_parameter_tables.py fails when the README's section differs from this output,
and checks the YAML files in act_bringup/config against the same tables.
"""

from __future__ import annotations

import sys
from pathlib import Path

BEGIN = '<!-- node parameters: written by `python -m act_tools.parameter_docs README.md` -->'
END = '<!-- end of node parameters -->'
# Parameters file (act_bringup/config) of each node whose table is listed.
CONFIG_FILES = {'policy_node': 'policy.yaml', 'sim_node': 'sim.yaml', 'teleop': 'teleop.yaml', 'recorder': 'recorder.yaml'}


def tables() -> list:
    """The nodes' ParameterTables, in README order (imports the node modules)."""
    from act_tools.cli.node_parameters import node_table

    return [node_table(node) for node in CONFIG_FILES]


def render() -> str:
    parts = [BEGIN, '']
    for table in tables():
        heading, rest = table.markdown().split('\n', 1)
        parts += [f'{heading[:-1]} (`act_bringup/config/{CONFIG_FILES[table.node_name]}`):\n{rest}', '']
    parts.append(END)
    return '\n'.join(parts)


def replace_section(text: str) -> str:
    """text with the marked section replaced by render(); ValueError when the markers are missing."""
    start, end = text.find(BEGIN), text.find(END)
    if start < 0 or end < start:
        raise ValueError(f'the markers {BEGIN!r} ... {END!r} are missing')
    return text[:start] + render() + text[end + len(END):]


def main(argv: list[str] | None = None) -> int:
    paths = argv if argv is not None else sys.argv[1:]
    for path in paths or ['README.md']:
        file = Path(path)
        file.write_text(replace_section(file.read_text()))
    return 0


if __name__ == '__main__':
    sys.exit(main())
