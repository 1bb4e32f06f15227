import { test } from "node:test";
import * as assert from "node:assert/strict";
import * as fs from "node:fs";
import * as path from "node:path";
import { pytestCommandLine, shellQuote } from "../src/launch";

const o = { python: "/usr/bin/python3", pciaddr: "0000:01:00.0", repo: "/src/pynvme", root: true };

test("the run command: pytest as root on the configured device", () => {
  assert.equal(pytestCommandLine("/src/pynvme/scripts/test_x.py", o),
    "sudo --preserve-env=PYNVME_MONITOR_DIR env PYTHONPATH=/src/pynvme/python /usr/bin/python3 -m pytest " +
    "-p no:cacheprovider -rfE --pciaddr=0000:01:00.0 /src/pynvme/scripts/test_x.py");
  const soft = pytestCommandLine("/tmp/my tests/t.py", { ...o, pciaddr: "soft:size=64M", root: false });
  assert.match(soft, /^env PYTHONPATH=/);
  assert.match(soft, / '\/tmp\/my tests\/t.py'$/);
  assert.equal(shellQuote("it's"), `'it'\\''s'`);
});

test("bad input is named", () => {
  assert.throws(() => pytestCommandLine("/x/notes.txt", o), /not a Python file: \/x\/notes.txt/);
  assert.throws(() => pytestCommandLine("/x/t.py", { ...o, pciaddr: "" }), /pynvme.pciaddr is empty/);
});

test("the launch snippet runs pytest under sudo with the same device setting", () => {
  const pkg = JSON.parse(fs.readFileSync(path.resolve(__dirname, "..", "..", "package.json"), "utf8"));
  const [snippet] = pkg.contributes.debuggers[0].configurationSnippets;
  const body = snippet.body;
  assert.equal(body.type, "debugpy");
  assert.equal(body.module, "pytest");
  assert.equal(body.sudo, true);
  assert.equal(body.python, "/usr/bin/python3");
  assert.ok(body.args.includes('^"--pciaddr=\\${config:pynvme.pciaddr}"'));
  assert.equal(body.env.PYTHONPATH, '^"\\${workspaceFolder}/python"');
  assert.ok(pkg.contributes.configuration.properties["pynvme.pciaddr"]);
});
