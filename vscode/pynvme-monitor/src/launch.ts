// Running a pytest script of pynvme as root from the editor: the command
// line the "pynvme: run this test file as root" command types into a
// terminal. (Debugging goes through the Python extension's debugger with the
// launch snippet in package.json, docs/monitor.md.)

export interface PytestOptions {
  python: string;        // the interpreter the C extension was built for
  pciaddr: string;       // --pciaddr: a BDF, or soft:... for the software controller
  repo: string;          // the pynvme checkout (its python/ goes on PYTHONPATH)
  root: boolean;         // VFIO needs root; the software controller does not
}

/** Quotes one word for a POSIX shell. */
export function shellQuote(word: string): string {
  return /^[A-Za-z0-9_@%+=:,./-]+$/.test(word) ? word : `'${word.replace(/'/g, `'\\''`)}'`;
}

/** The shell command that runs `file` with pytest on the given device. */
export function pytestCommandLine(file: string, o: PytestOptions): string {
  if (!file.endsWith(".py")) throw new Error(`not a Python file: ${file}`);
  if (!o.pciaddr) throw new Error("pynvme.pciaddr is empty: set a BDF (0000:01:00.0) or soft:size=...");
  const words = [
    ...(o.root ? ["sudo", "--preserve-env=PYNVME_MONITOR_DIR"] : []),
    "env", `PYTHONPATH=${o.repo}/python`,
    o.python, "-m", "pytest", "-p", "no:cacheprovider", "-rfE", `--pciaddr=${o.pciaddr}`, file,
  ];
  return words.map(shellQuote).join(" ");
}
