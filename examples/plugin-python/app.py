"""todo-py: a kiln step plugin in Python (componentize-py).

Reports one finding per line containing the marker (`with: { marker: TODO }`) and writes
/out/summary.json. Build with `kiln plugin build` (runs componentize-py against ./wit).
"""
import json
import os

import wit_world
from wit_world.exports import step_plugin
from wit_world.imports import config, log
from wit_world.imports.types import Finding, Location, ProducedFile, Severity


class StepPlugin(wit_world.exports.StepPlugin):
    def run(self, ctx: step_plugin.StepContext) -> step_plugin.StepResult:
        marker = json.loads(config.get_json()).get("marker", "TODO")
        findings = []
        files = 0
        root = ctx.source_root
        for dirpath, dirnames, filenames in os.walk(root):
            dirnames.sort()
            for fname in sorted(filenames):
                full = os.path.join(dirpath, fname)
                if os.path.islink(full):
                    continue
                rel = os.path.relpath(full, root).replace(os.sep, "/")
                files += 1
                try:
                    with open(full, encoding="utf-8") as f:
                        lines = f.read().splitlines()
                except (UnicodeDecodeError, OSError):
                    continue
                for i, line in enumerate(lines):
                    col = line.find(marker)
                    if col >= 0:
                        loc = Location(rel, i + 1, col + 1, i + 1, col + 1 + len(marker))
                        findings.append(Finding("todo-py/marker", Severity.LOW, loc, f"{marker}: {line.strip()}", ""))
        outputs = []
        if ctx.output_root is not None:
            with open(os.path.join(ctx.output_root, "summary.json"), "w") as f:
                json.dump({"files": files, "findings": len(findings)}, f)
            outputs.append(ProducedFile("summary.json", "application/json"))
        log.log(log.Level.INFO, f"scanned {files} files")
        return step_plugin.StepResult(findings, outputs, f"{files} files, {len(findings)} {marker} markers")
