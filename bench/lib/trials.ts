/**
 * The three client-side measurements shared by every section: connect-to-first-echo, keystroke echo round trip
 * and bulk output (with the CPU seconds of the given processes over the transfer).
 */
import { performance } from 'node:perf_hooks';
import { ConsoleClient, ClosedError } from './client.js';
import { cpuOf } from './proc.js';

export type FailureKind = 'sol-in-use' | 'closed' | 'timeout' | 'connect';

export interface ConnectTrial {
  ok: boolean;
  ms: number;
  failure?: FailureKind;
  detail?: string;
}

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));
export { sleep };

/** From TCP connect until the typed line comes back from the host (upper-cased), then close. */
export async function connectTrial(port: number, token: string, timeoutMs: number): Promise<ConnectTrial> {
  const t0 = performance.now();
  let client: ConsoleClient;
  try {
    client = await ConsoleClient.connect(port);
  } catch (error) {
    return { ok: false, ms: performance.now() - t0, failure: 'connect', detail: (error as Error).message };
  }
  client.write(`hello ${token}\r`);
  try {
    const t1 = await client.waitFor(`HELLO ${token.toUpperCase()}`, timeoutMs);
    // A second SOL packet before leaving: ipmi_sim keeps the last accepted SOL sequence number across sessions
    // and drops the next session's first packet if it has the same number (NOTES.md E8); ipmitool always starts
    // at 1, so a session that sent exactly one packet would make the next trial lose its line.
    client.write('.');
    await client.waitFor('.', timeoutMs).catch(() => undefined);
    return { ok: true, ms: t1 - t0 };
  } catch (error) {
    const text = error instanceof ClosedError ? error.got : client.text();
    const failure: FailureKind = /already active/i.test(text) ? 'sol-in-use' : error instanceof ClosedError ? 'closed' : 'timeout';
    return { ok: false, ms: performance.now() - t0, failure, detail: text.replace(/\s+/g, ' ').trim().slice(-160) };
  } finally {
    await client.close();
  }
}

/** Open a console and wait until a typed line comes back (the console is live). */
export async function openConsole(port: number, timeoutMs = 15_000): Promise<ConsoleClient> {
  const client = await ConsoleClient.connect(port);
  client.write('hello ready\r');
  try {
    await client.waitFor('HELLO READY', timeoutMs);
  } catch (error) {
    client.destroy();
    throw error;
  }
  await sleep(20);
  client.consume();
  return client;
}

/** n single keystrokes, each waiting for its (upper-cased) echo; pauseMs between them. Milliseconds each. */
export async function keystrokeTrials(client: ConsoleClient, n: number, pauseMs: number, timeoutMs = 5000): Promise<number[]> {
  const out: number[] = [];
  for (let i = 0; i < n; i++) {
    const ch = String.fromCharCode(0x61 + (i % 26));
    client.consume();
    const t0 = performance.now();
    client.write(ch);
    const t1 = await client.waitFor(ch.toUpperCase(), timeoutMs);
    out.push(t1 - t0);
    if (pauseMs > 0) await sleep(pauseMs);
  }
  return out;
}

export interface BulkTrial {
  bytes: number;
  ms: number;
  mbPerS: number;
  /** CPU seconds of the console side (bridge process, or socat + socat + ipmitool) */
  cpuS: number;
  cpuSPerMB: number;
  /** CPU seconds of the BMC process (ipmi_sim or the fake BMC farm) over the same transfer */
  bmcCpuS: number;
  errors: number;
}

/**
 * `gen <bytes>` on an open console: throughput and CPU seconds of `pids()` and of the BMC process (read before
 * and after; /proc ticks are 10 ms, so transfers last a second or more).
 */
export async function bulkTrial(client: ConsoleClient, bytes: number, pids: () => number[], timeoutMs: number, bmcPid?: number): Promise<BulkTrial> {
  const watched = pids();
  const cpu0 = cpuOf(watched);
  const bmc0 = bmcPid === undefined ? 0 : cpuOf([bmcPid]);
  const r = await client.bulkReceive(bytes, timeoutMs);
  const cpuS = cpuOf(watched) - cpu0;
  const bmcCpuS = bmcPid === undefined ? NaN : cpuOf([bmcPid]) - bmc0;
  const mb = bytes / 1e6;
  return { bytes, ms: r.ms, mbPerS: mb / (r.ms / 1000), cpuS, cpuSPerMB: cpuS / mb, bmcCpuS, errors: r.errors };
}
