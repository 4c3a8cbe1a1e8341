/**
 * Start and drive node processes (node-worker.ts) sharing one store: each is a real OS process
 * with its own pool, so leases, flows and leader leases are contended the way separate hosts
 * contend them.
 */
import { fork, type ChildProcess } from 'node:child_process';
import { join } from 'node:path';

export interface NodeReply {
  ok: boolean;
  value?: unknown;
  error?: string;
}

export interface NodeProcess {
  owner: string;
  child: ChildProcess;
  ask(req: { op: string; t: number; [k: string]: unknown }): Promise<NodeReply>;
  /** Ask and require success. */
  call<T>(req: { op: string; t: number; [k: string]: unknown }): Promise<T>;
  kill9(): Promise<void>;
  exit(): Promise<void>;
}

export async function startNode(configPath: string, owner: string): Promise<NodeProcess> {
  const child = fork(join(import.meta.dirname, 'node-worker.ts'), [configPath, owner], {
    execArgv: ['--import', 'tsx'],
    stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
  });
  const pending = new Map<number, (r: NodeReply) => void>();
  let next = 0;
  await new Promise<void>((resolve, reject) => {
    child.once('error', reject);
    child.once('exit', (code) => reject(new Error(`node ${owner} exited (${code}) before it was ready`)));
    child.once('message', () => resolve());
  });
  child.removeAllListeners('exit');
  child.on('message', (m: NodeReply & { id?: number }) => {
    if (m.id === undefined) return;
    pending.get(m.id)?.(m);
    pending.delete(m.id);
  });
  child.on('exit', () => {
    for (const resolve of pending.values()) resolve({ ok: false, error: 'node exited' });
    pending.clear();
  });
  const ask = (req: { op: string; t: number }): Promise<NodeReply> =>
    new Promise((resolve) => {
      const id = next++;
      pending.set(id, resolve);
      child.send({ ...req, id });
    });
  return {
    owner,
    child,
    ask,
    async call<T>(req: { op: string; t: number }) {
      const r = await ask(req);
      if (!r.ok) throw new Error(`node ${owner} ${req.op}: ${r.error}`);
      return r.value as T;
    },
    kill9: () =>
      new Promise<void>((resolve) => {
        if (child.exitCode !== null || child.signalCode !== null) return resolve();
        child.once('exit', () => resolve());
        child.kill('SIGKILL');
      }),
    async exit() {
      if (child.exitCode !== null || child.signalCode !== null) return;
      const gone = new Promise<void>((resolve) => child.once('exit', () => resolve()));
      await ask({ op: 'exit', t: Date.now() });
      await gone;
    },
  };
}
