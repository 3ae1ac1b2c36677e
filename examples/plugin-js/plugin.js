// todo-js: a kiln step plugin in JavaScript (jco componentize / componentize-js).
// Reports one finding per line containing the marker (`with: { marker: TODO }`) and writes
// /out/summary.json. Build with `kiln plugin build` (runs componentize-js against ./wit).
import { getJson } from "kiln:plugin/config@0.1.0";
import { log } from "kiln:plugin/log@0.1.0";
import { getDirectories } from "wasi:filesystem/preopens@0.2.12";

function walk(dir, prefix, out) {
  const entries = [];
  const stream = dir.readDirectory();
  for (let e = stream.readDirectoryEntry(); e; e = stream.readDirectoryEntry()) entries.push(e);
  entries.sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
  for (const e of entries) {
    const rel = prefix ? `${prefix}/${e.name}` : e.name;
    if (e.type === "directory") walk(dir.openAt({}, e.name, { directory: true }, { read: true }), rel, out);
    else if (e.type === "regular-file") out.push([dir, e.name, rel]);
  }
  return out;
}

function readText(dir, name) {
  const fd = dir.openAt({}, name, {}, { read: true });
  const chunks = [];
  let offset = 0n;
  for (;;) {
    const [bytes, end] = fd.read(65536n, offset);
    chunks.push(bytes);
    offset += BigInt(bytes.length);
    if (end || bytes.length === 0) break;
  }
  const all = new Uint8Array(chunks.reduce((n, c) => n + c.length, 0));
  let at = 0;
  for (const c of chunks) { all.set(c, at); at += c.length; }
  return new TextDecoder("utf-8", { fatal: true }).decode(all);
}

export const stepPlugin = {
  run(ctx) {
    const marker = JSON.parse(getJson()).marker ?? "TODO";
    const dirs = Object.fromEntries(getDirectories().map(([d, p]) => [p, d]));
    const findings = [];
    const files = ctx.sourceRoot ? walk(dirs[ctx.sourceRoot], "", []) : [];
    for (const [dir, name, rel] of files) {
      let text;
      try { text = readText(dir, name); } catch { continue; }
      text.split("\n").forEach((line, i) => {
        const col = line.indexOf(marker);
        if (col >= 0) {
          findings.push({
            ruleId: "todo-js/marker", severity: "low", message: `${marker}: ${line.trim()}`, fingerprint: "",
            location: { path: rel, startLine: i + 1, startCol: col + 1, endLine: i + 1, endCol: col + 1 + marker.length },
          });
        }
      });
    }
    const outputs = [];
    if (ctx.outputRoot) {
      const out = dirs[ctx.outputRoot];
      const fd = out.openAt({}, "summary.json", { create: true, truncate: true }, { write: true });
      fd.write(new TextEncoder().encode(JSON.stringify({ files: files.length, findings: findings.length })), 0n);
      outputs.push({ path: "summary.json", mediaType: "application/json" });
    }
    log("info", `scanned ${files.length} files`);
    return { findings, outputs, summary: `${files.length} files, ${findings.length} ${marker} markers` };
  },
};
