// The VS Code side (skeleton): a tree of controllers and queues and a
// status-bar item with the current IOPS, refreshed every second from the
// monitor service. The logic lives in rpc.ts and decode.ts.
import * as vscode from "vscode";
import { MonitorClient } from "./rpc";
import { byController, formatIops, Ioworker, Queue, queueLabel, totals } from "./decode";

class QueueTree implements vscode.TreeDataProvider<string | Queue> {
  private changed = new vscode.EventEmitter<void>();
  readonly onDidChangeTreeData = this.changed.event;
  private groups = new Map<string, Queue[]>();
  error: string | null = null;

  update(queues: Queue[] | null, error: string | null): void {
    this.groups = byController(queues ?? []);
    this.error = error;
    this.changed.fire();
  }

  getTreeItem(el: string | Queue): vscode.TreeItem {
    if (typeof el === "string") {
      return new vscode.TreeItem(el, vscode.TreeItemCollapsibleState.Expanded);
    }
    return new vscode.TreeItem(queueLabel(el));
  }

  getChildren(el?: string | Queue): (string | Queue)[] {
    if (el === undefined) {
      return this.error ? [this.error] : [...this.groups.keys()];
    }
    return typeof el === "string" ? this.groups.get(el) ?? [] : [];
  }
}

export function activate(context: vscode.ExtensionContext): void {
  const path = vscode.workspace.getConfiguration("pynvme").get<string>("socket", "/var/tmp/pynvme.sock");
  const client = new MonitorClient(path);
  const tree = new QueueTree();
  const status = vscode.window.createStatusBarItem(vscode.StatusBarAlignment.Left);
  status.show();
  context.subscriptions.push(vscode.window.registerTreeDataProvider("pynvme.queues", tree), status);
  const timer = setInterval(async () => {
    try {
      const queues = await client.call<Queue[]>("queues");
      const workers = await client.call<Ioworker[]>("ioworkers");
      tree.update(queues, null);
      status.text = `pynvme ${formatIops(totals(workers).iops)}`;
    } catch (e) {
      tree.update(null, `no test process at ${path}`);
      status.text = "pynvme: idle";
    }
  }, 1000);
  context.subscriptions.push({ dispose: () => { clearInterval(timer); client.close(); } });
}

export function deactivate(): void {}
