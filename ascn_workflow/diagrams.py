"""A workflow's state machine drawn from its definition: mermaid (renders on code hosts), dot, SVG.

Written here rather than through transitions' diagram extension, which needs pygraphviz or the
graphviz Python package for every format; mermaid and dot are plain text, and SVG is one call to
Graphviz's `dot` when it is installed.
"""

from __future__ import annotations

import shutil
import subprocess

from .errors import AscnError, BadInput
from .spec import Workflow

HIGHLIGHT = "#f9d65c"


def _label(workflow: Workflow, trigger: str, rules: tuple[str, ...]) -> str:
    return f"{trigger} ({', '.join(rules)})" if rules else trigger


def _finals(workflow: Workflow) -> list[str]:
    return [s.name for s in workflow.stages if not workflow.transitions_from(s.name)]


def mermaid(workflow: Workflow, highlight: str | None = None) -> str:
    lines = ["stateDiagram-v2", "    direction LR", f"    [*] --> {workflow.initial}"]
    for t in workflow.transitions:
        for source in t.sources:
            lines.append(f"    {source} --> {t.dest}: {_label(workflow, t.trigger, t.rules)}")
    lines += [f"    {stage} --> [*]" for stage in _finals(workflow)]
    if highlight:
        lines += [
            f"    classDef current fill:{HIGHLIGHT},stroke:#333,stroke-width:2px",
            f"    class {highlight} current",
        ]
    return "\n".join(lines) + "\n"


def dot(workflow: Workflow, highlight: str | None = None) -> str:
    lines = [
        f'digraph "{workflow.name}" {{',
        "  rankdir=LR;",
        f'  label="{workflow.title}"; labelloc=t; fontname="Helvetica";',
        '  node [shape=box, style=rounded, fontname="Helvetica"];',
        '  edge [fontname="Helvetica", fontsize=10];',
        '  "__start" [shape=point, width=0.15];',
        f'  "__start" -> "{workflow.initial}";',
    ]
    for stage in workflow.stages:
        deadline = f"\\ndue: {stage.deadline}" if stage.deadline else ""
        style = f', style="rounded,filled", fillcolor="{HIGHLIGHT}", penwidth=2' if stage.name == highlight else ""
        lines.append(f'  "{stage.name}" [label="{stage.name}{deadline}"{style}];')
    for t in workflow.transitions:
        roles = ", ".join(t.roles)
        for source in t.sources:
            lines.append(f'  "{source}" -> "{t.dest}" [label="{_label(workflow, t.trigger, t.rules)}\\n[{roles}]"];')
    lines.append("}")
    return "\n".join(lines) + "\n"


def svg(dot_text: str) -> bytes:
    """Graphviz's rendering of `dot_text`; BadInput when Graphviz is not installed."""
    binary = shutil.which("dot")
    if binary is None:
        raise BadInput("SVG needs Graphviz's `dot` (Debian: apt-get install graphviz); --format mermaid needs nothing")
    result = subprocess.run([binary, "-Tsvg"], input=dot_text.encode(), capture_output=True, timeout=60, check=False)
    if result.returncode != 0:
        raise AscnError(f"dot failed: {result.stderr.decode(errors='replace').strip()}")
    return result.stdout
