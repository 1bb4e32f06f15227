// The VS Code side: a tree of controllers and queues, a status-bar item with
// the current IOPS, a command-log webview per queue and a live chart, all
// refreshed every second from the monitor service of the test process
// (docs/monitor.md). The logic lives in plain modules (rpc, decode, chart,
// webview, launch) that node's test runner checks without VS Code.
import * as vscode from "vscode";
import { History } from "./chart";
import { byController, CmdlogEntry, formatBandwidth, formatIops, formatMicroseconds, Ioworker, Queue, queueLabel, totals, Totals } from "./decode";
import { pytestCommandLine } from "./launch";
import { MonitorClient } from "./rpc";
import { chartContent, cmdlogTable, page } from "./webview";

type Node = { kind: "message"; text: string } | { kind: "ctrlr"; addr: string; queues: Queue[] } | { kind: "queue"; queue: Queue };

class QueueTree implements vscode.TreeDataProvider<Node> {
  private changed = new vscode.EventEmitter<void>();
  readonly onDidChangeTreeData = this.changed.event;
  private roots: Node[] = [];

  update(queues: Queue[] | null, message: string | null): void {
    this.roots = message
      ? [{ kind: "message", text: message }]
      : [...byController(queues ?? [])].map(([addr, qs]) => ({ kind: "ctrlr", addr, queues: qs }) as Node);
    this.changed.fire();
  }

  getTreeItem(n: Node): vscode.TreeItem {
    if (n.kind === "message") return new vscode.TreeItem(n.text);
    if (n.kind === "ctrlr") {
      const item = new vscode.TreeItem(n.addr, vscode.TreeItemCollapsibleState.Expanded);
      item.id = `ctrlr:${n.addr}`;   // keeps its expansion across refreshes
      item.iconPath = new vscode.ThemeIcon("server");
      item.description = `${n.queues.length} queue${n.queues.length === 1 ? "" : "s"}`;
      return item;
    }
    const q = n.queue;
    const item = new vscode.TreeItem(queueLabel(q));
    item.id = `queue:${q.ctrlr}:${q.qid}`;
    item.iconPath = new vscode.ThemeIcon(q.kind === "admin" ? "settings-gear" : q.kind === "ioworker" ? "pulse" : "list-ordered");
    item.tooltip = `SQ tail ${q.sq_tail}, CQ head ${q.cq_head}: select for its command log`;
    // no item.command: a command with arguments is held by VS Code only until
    // the next refresh (every second), and a click after it finds no command;
    // the view's selection event and the inline button open the log instead
    item.contextValue = "queue";
    return item;
  }

  getChildren(n?: Node): Node[] {
    if (!n) return this.roots;
    return n.kind === "ctrlr" ? n.queues.map((queue) => ({ kind: "queue", queue }) as Node) : [];
  }
}

function nonce(): string {
  return [...Array(24)].map(() => "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789"[Math.floor(Math.random() * 62)]).join("");
}

function openPanel(id: string, title: string, content: string): vscode.WebviewPanel {
  const panel = vscode.window.createWebviewPanel(id, title, vscode.ViewColumn.Active, { enableScripts: true, localResourceRoots: [] });
  panel.webview.html = page({ title, content, nonce: nonce(), cspSource: panel.webview.cspSource });
  return panel;
}

export function activate(context: vscode.ExtensionContext): void {
  const config = () => vscode.workspace.getConfiguration("pynvme");
  let socketPath = config().get<string>("socket", "/var/tmp/pynvme.sock");
  let client = new MonitorClient(socketPath);
  const tree = new QueueTree();
  const history = new History(60);
  let latest: Totals = totals([]);
  const status = vscode.window.createStatusBarItem(vscode.StatusBarAlignment.Left);
  status.command = "pynvme.showChart";
  status.show();
  const cmdlogPanels = new Map<string, { panel: vscode.WebviewPanel; queue: Queue }>();
  let chartPanel: vscode.WebviewPanel | null = null;
  const t0 = Date.now();
  const seconds = () => (Date.now() - t0) / 1000;

  const refresh = async () => {
    let queues: Queue[];
    let workers: Ioworker[];
    try {
      queues = await client.call<Queue[]>("queues");
      workers = await client.call<Ioworker[]>("ioworkers");
    } catch {
      tree.update(null, `no test process at ${socketPath}`);
      status.text = "$(debug-disconnect) pynvme";
      status.tooltip = `no monitor service at ${socketPath}`;
      for (const { panel } of cmdlogPanels.values()) panel.webview.postMessage({ type: "update", html: "", state: "(no test process)" });
      return;
    }
    tree.update(queues, null);
    latest = totals(workers);
    history.push(seconds(), latest);
    status.text = `$(pulse) ${formatIops(latest.iops)}`;
    status.tooltip = `${formatBandwidth(latest.bandwidth)}, p99 ${formatMicroseconds(latest.p99_us)}: click for the chart`;
    if (chartPanel) {
      chartPanel.webview.postMessage({ type: "update", html: chartContent(history.values, latest, { now: seconds() }) });
    }
    for (const { panel, queue } of cmdlogPanels.values()) {
      if (!panel.visible) continue;
      try {
        const log = await client.call<CmdlogEntry[]>("cmdlog", { ctrlr: queue.ctrlr, qid: queue.qid, count: 64 });
        panel.webview.postMessage({ type: "update", html: cmdlogTable(log, queue.kind), state: "" });
      } catch (e) {
        panel.webview.postMessage({ type: "update", html: "", state: `(${(e as Error).message})` });
      }
    }
  };
  let busy = false;
  const timer = setInterval(async () => {
    if (busy) return;   // a slow answer: skip a tick rather than pile up calls
    busy = true;
    try {
      await refresh();
    } finally {
      busy = false;
    }
  }, 1000);

  const view = vscode.window.createTreeView("pynvme.queues", { treeDataProvider: tree });
  // the selection survives refreshes (items keep their ids): open on a change only
  let selected: string | undefined;
  view.onDidChangeSelection((e) => {
    const n = e.selection[0];
    const key = n?.kind === "queue" ? `${n.queue.ctrlr}:${n.queue.qid}` : undefined;
    if (n?.kind === "queue" && key !== selected) {
      void vscode.commands.executeCommand("pynvme.showCmdlog", n.queue);
    }
    selected = key;
  });
  context.subscriptions.push(
    view,
    status,
    vscode.commands.registerCommand("pynvme.refresh", () => refresh()),
    vscode.commands.registerCommand("pynvme.showCmdlog", (arg: Queue | Node) => {
      // from the selection: a Queue; from the inline button: the tree's Node
      const queue = "kind" in arg && arg.kind === "queue" && "queue" in arg ? arg.queue : (arg as Queue);
      const key = `${queue.ctrlr}:${queue.qid}`;
      const open = cmdlogPanels.get(key);
      if (open) {
        open.panel.reveal();
        return;
      }
      const panel = openPanel("pynvme.cmdlog", `${queue.ctrlr} qid ${queue.qid} (${queue.kind})`, "");
      panel.onDidDispose(() => cmdlogPanels.delete(key));
      cmdlogPanels.set(key, { panel, queue });
      void refresh();
    }),
    vscode.commands.registerCommand("pynvme.showChart", () => {
      if (chartPanel) {
        chartPanel.reveal();
        return;
      }
      chartPanel = openPanel("pynvme.chart", "pynvme: IOPS and latency", chartContent(history.values, latest, { now: seconds() }));
      chartPanel.onDidDispose(() => (chartPanel = null));
    }),
    vscode.commands.registerCommand("pynvme.runPytest", (uri?: vscode.Uri) => {
      const file = uri?.fsPath ?? vscode.window.activeTextEditor?.document.fileName;
      const folder = vscode.workspace.workspaceFolders?.[0]?.uri.fsPath;
      if (!file || !folder) {
        vscode.window.showErrorMessage("pynvme: open a test file of a pynvme checkout first");
        return;
      }
      try {
        const pciaddr = config().get<string>("pciaddr", "0000:01:00.0");
        const line = pytestCommandLine(file, {
          python: config().get<string>("python", "/usr/bin/python3"),
          pciaddr,
          repo: folder,
          root: !pciaddr.startsWith("soft:"),
        });
        const term = vscode.window.createTerminal("pynvme pytest");
        term.show();
        term.sendText(line);
      } catch (e) {
        vscode.window.showErrorMessage(`pynvme: ${(e as Error).message}`);
      }
    }),
    vscode.workspace.onDidChangeConfiguration((e) => {
      if (e.affectsConfiguration("pynvme.socket")) {
        client.close();
        socketPath = config().get<string>("socket", "/var/tmp/pynvme.sock");
        client = new MonitorClient(socketPath);
      }
    }),
    { dispose: () => { clearInterval(timer); client.close(); } },
  );
}

export function deactivate(): void {}
