/** A real TCP client for the bridge specs, recording what it receives; and small waiting helpers. */
import net from 'node:net';

/** Longest any single wait in the bridge specs may take before the spec fails. */
export const WAIT_MS = 5_000;

export class TestClient {
  readonly socket: net.Socket;
  readonly chunks: Buffer[] = [];
  bytes = 0;
  ended = false;
  isClosed = false;
  readonly closed: Promise<void>;
  #waiters: Array<() => void> = [];

  private constructor(socket: net.Socket) {
    this.socket = socket;
    socket.on('data', (chunk: Buffer) => {
      this.chunks.push(chunk);
      this.bytes += chunk.length;
      this.#wake();
    });
    socket.on('end', () => {
      this.ended = true;
      this.#wake();
    });
    socket.on('error', () => undefined);
    this.closed = new Promise((resolve) =>
      socket.once('close', () => {
        this.isClosed = true;
        this.#wake();
        resolve();
      }),
    );
  }

  static connect(port: number, host = '127.0.0.1'): Promise<TestClient> {
    return new Promise((resolve, reject) => {
      const socket = net.connect({ port, host });
      socket.once('error', reject);
      socket.once('connect', () => {
        socket.off('error', reject);
        resolve(new TestClient(socket));
      });
    });
  }

  data(): Buffer {
    return Buffer.concat(this.chunks);
  }

  text(): string {
    return this.data().toString('latin1');
  }

  write(data: string | Buffer): Promise<void> {
    return new Promise((resolve, reject) => this.socket.write(data, (error) => (error ? reject(error) : resolve())));
  }

  waitForBytes(count: number, timeoutMs = WAIT_MS): Promise<void> {
    return this.#waitFor(() => this.bytes >= count, () => `${count} bytes (got ${this.bytes})`, timeoutMs);
  }

  waitForText(text: string, timeoutMs = WAIT_MS): Promise<void> {
    return this.#waitFor(
      () => this.text().includes(text),
      () => `text ${JSON.stringify(text)} (got ${JSON.stringify(this.text().slice(-200))})`,
      timeoutMs,
    );
  }

  waitClosed(timeoutMs = WAIT_MS): Promise<void> {
    return this.#waitFor(() => this.isClosed, () => 'the connection to close', timeoutMs);
  }

  destroy(): void {
    this.socket.destroy();
  }

  #wake(): void {
    for (const waiter of this.#waiters.splice(0)) waiter();
  }

  #waitFor(done: () => boolean, what: () => string, timeoutMs: number): Promise<void> {
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`timed out after ${timeoutMs} ms waiting for ${what()}`)), timeoutMs);
      const check = (): void => {
        if (done()) {
          clearTimeout(timer);
          resolve();
        } else if (this.isClosed) {
          clearTimeout(timer);
          reject(new Error(`connection closed while waiting for ${what()}`));
        } else {
          this.#waiters.push(check);
        }
      };
      check();
    });
  }
}

/** Poll `condition` every few ms until true; fails the spec after timeoutMs. */
export async function waitUntil(condition: () => boolean, what: string, timeoutMs = WAIT_MS): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!condition()) {
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 5));
  }
}

/** Whether this machine can listen on the IPv6 loopback. */
export async function hasIpv6Loopback(): Promise<boolean> {
  return new Promise((resolve) => {
    const server = net.createServer();
    server.once('error', () => resolve(false));
    server.listen(0, '::1', () => server.close(() => resolve(true)));
  });
}

/** A base port with `count` consecutive ports free on 127.0.0.1 (checked by binding them all). */
export async function findFreePortRange(count: number): Promise<number> {
  for (let tries = 0; tries < 50; tries++) {
    const base = 20_000 + Math.floor(Math.random() * 10_000);
    const servers: net.Server[] = [];
    let ok = true;
    for (let port = base; port < base + count && ok; port++) {
      const server = net.createServer();
      ok = await new Promise<boolean>((resolve) => {
        server.once('error', () => resolve(false));
        server.listen(port, '127.0.0.1', () => resolve(true));
      });
      if (ok) servers.push(server);
    }
    await Promise.all(servers.map((s) => new Promise((resolve) => s.close(resolve))));
    if (ok) return base;
  }
  throw new Error(`no ${count} consecutive free ports found`);
}

/** Occupy a port on 127.0.0.1 (another process's listener, as far as the allocator can tell). */
export async function occupy(port: number, host = '127.0.0.1'): Promise<net.Server> {
  const server = net.createServer((socket) => socket.destroy());
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, host, () => resolve());
  });
  return server;
}

export function closeServer(server: net.Server): Promise<void> {
  return new Promise((resolve) => server.close(() => resolve()));
}
