// JSON-RPC 2.0 client of the pynvme monitor service (docs/monitor.md): one
// Unix-socket connection, answers matched by id, every call bounded by a
// timeout so a stalled test process never freezes the editor.
import * as net from "net";

export class RpcError extends Error {
  constructor(public code: number, message: string) {
    super(message);
  }
}

interface Pending {
  resolve: (v: unknown) => void;
  reject: (e: Error) => void;
  timer: NodeJS.Timeout;
}

export class MonitorClient {
  private sock: net.Socket | null = null;
  private buf = "";
  private nextId = 1;
  private pending = new Map<number, Pending>();

  constructor(public readonly path: string, public readonly timeoutMs = 3000) {}

  private connect(): Promise<net.Socket> {
    if (this.sock) {
      return Promise.resolve(this.sock);
    }
    return new Promise((resolve, reject) => {
      const s = net.createConnection(this.path);
      const fail = (e: Error) => {
        s.destroy();
        reject(e);
      };
      s.once("error", fail);
      s.once("connect", () => {
        s.off("error", fail);
        s.setEncoding("utf8");
        s.on("data", (d: string) => this.onData(d));
        // a closed or broken connection fails what waits on it; the next call reconnects
        s.on("close", () => this.drop(new Error("the monitor closed the connection")));
        s.on("error", (e) => this.drop(e));
        this.sock = s;
        resolve(s);
      });
    });
  }

  private onData(d: string): void {
    this.buf += d;
    let nl: number;
    while ((nl = this.buf.indexOf("\n")) >= 0) {
      const line = this.buf.slice(0, nl);
      this.buf = this.buf.slice(nl + 1);
      let msg: { id?: number; result?: unknown; error?: { code: number; message: string } };
      try {
        msg = JSON.parse(line);
      } catch {
        continue; // not ours to answer: the service only sends JSON lines
      }
      const p = msg.id === undefined ? undefined : this.pending.get(msg.id);
      if (!p) {
        continue;
      }
      this.pending.delete(msg.id as number);
      clearTimeout(p.timer);
      if (msg.error) {
        p.reject(new RpcError(msg.error.code, msg.error.message));
      } else {
        p.resolve(msg.result);
      }
    }
  }

  private drop(e: Error): void {
    this.sock?.destroy();
    this.sock = null;
    this.buf = "";
    for (const p of this.pending.values()) {
      clearTimeout(p.timer);
      p.reject(e);
    }
    this.pending.clear();
  }

  async call<T = unknown>(method: string, params?: unknown): Promise<T> {
    const s = await this.connect();
    const id = this.nextId++;
    const req: Record<string, unknown> = { jsonrpc: "2.0", id, method };
    if (params !== undefined) {
      req.params = params;
    }
    return new Promise<T>((resolve, reject) => {
      const timer = setTimeout(() => {
        this.pending.delete(id);
        reject(new Error(`${method}: no answer from ${this.path} within ${this.timeoutMs} ms`));
      }, this.timeoutMs);
      this.pending.set(id, { resolve: resolve as (v: unknown) => void, reject, timer });
      s.write(JSON.stringify(req) + "\n");
    });
  }

  close(): void {
    this.drop(new Error("client closed"));
  }
}
