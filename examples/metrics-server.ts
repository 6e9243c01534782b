/**
 * `serve --metrics ADDR:PORT`: an HTTP listener with two paths.
 * - GET /metrics: Prometheus text of every console (createConsoleMetrics over ConsoleManager.metricsSamples()).
 * - GET /healthz: 200 `ok` while every console listens; 503 with the reason otherwise (a console closed).
 *   A console whose BMC is unreachable still listens and is retried: it shows in /metrics, not here.
 * Anything else: 404. Only GET and HEAD.
 */
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { IpmiError, createConsoleMetrics, type ConsoleMetricsSample } from '../lib/index.js';

export interface MetricsServer {
  readonly port: number;
  close(): Promise<void>;
}

export interface MetricsServerOptions {
  host: string;
  port: number;
  /** every console now */
  samples: () => ConsoleMetricsSample[];
  /** add the process metrics (memory, CPU, event loop); default true */
  processMetrics?: boolean;
}

export async function startMetricsServer(options: MetricsServerOptions): Promise<MetricsServer> {
  const metrics = await createConsoleMetrics(options.samples, { processMetrics: options.processMetrics ?? true });
  const server = http.createServer((request, response) => {
    const reply = (status: number, type: string, body: string): void => {
      response.writeHead(status, { 'content-type': type, 'content-length': Buffer.byteLength(body) });
      response.end(request.method === 'HEAD' ? undefined : body);
    };
    if (request.method !== 'GET' && request.method !== 'HEAD') return reply(405, 'text/plain', 'method not allowed\n');
    const path = (request.url ?? '/').split('?')[0];
    if (path === '/metrics') {
      metrics.metrics().then(
        (text) => reply(200, metrics.contentType, text),
        (error: unknown) => reply(500, 'text/plain', `${(error as Error).message}\n`),
      );
    } else if (path === '/healthz') {
      const closed = options.samples().filter((s) => s.state === 'closed').map((s) => s.nodeId);
      if (closed.length === 0) reply(200, 'text/plain', 'ok\n');
      else reply(503, 'text/plain', `consoles closed: ${closed.join(', ')}\n`);
    } else {
      reply(404, 'text/plain', 'not found: /metrics or /healthz\n');
    }
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', (error) =>
      reject(new IpmiError('IPMI_ERR_SOCKET', `Cannot listen for metrics on ${options.host}:${options.port}: ${error.message}`, { cause: error })),
    );
    server.listen(options.port, options.host, () => resolve());
  });
  return {
    port: (server.address() as AddressInfo).port,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}
