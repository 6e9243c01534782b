import { expect } from 'chai';
import { startMetricsServer, type MetricsServer } from '../../examples/metrics-server.js';
import { isIpmiError, type ConsoleMetricsSample } from '../../lib/index.js';

function sample(nodeId: string, state: string): ConsoleMetricsSample {
  return { nodeId, state, bytesFromConsole: 10, bytesToConsole: 2, reconnects: 0, viewers: 1, viewersDropped: 0 };
}

describe('examples/metrics-server', () => {
  let server: MetricsServer | undefined;
  afterEach(async () => {
    await server?.close();
    server = undefined;
  });

  it('serves /metrics (Prometheus text) and /healthz (503 naming a closed console); 404 elsewhere', async () => {
    let samples = [sample('n1', 'active'), sample('n2', 'reconnecting')];
    server = await startMetricsServer({ host: '127.0.0.1', port: 0, samples: () => samples });
    const base = `http://127.0.0.1:${server.port}`;
    const metrics = await fetch(`${base}/metrics`);
    expect(metrics.status).to.equal(200);
    expect(metrics.headers.get('content-type')).to.match(/^text\/plain; version=0\.0\.4/);
    const text = await metrics.text();
    expect(text).to.include('ipmi_sol_console_received_bytes_total{node="n1"} 10');
    expect(text).to.include('process_resident_memory_bytes');
    const health = await fetch(`${base}/healthz`);
    expect([health.status, await health.text()]).to.deep.equal([200, 'ok\n']);
    samples = [sample('n1', 'closed')];
    const unhealthy = await fetch(`${base}/healthz`);
    expect([unhealthy.status, await unhealthy.text()]).to.deep.equal([503, 'consoles closed: n1\n']);
    expect((await fetch(`${base}/other`)).status).to.equal(404);
    expect((await fetch(`${base}/metrics`, { method: 'POST' })).status).to.equal(405);
  });

  it('a port in use is IPMI_ERR_SOCKET', async () => {
    server = await startMetricsServer({ host: '127.0.0.1', port: 0, samples: () => [], processMetrics: false });
    const error = await startMetricsServer({ host: '127.0.0.1', port: server.port, samples: () => [] }).catch((e: unknown) => e);
    expect(isIpmiError(error, 'IPMI_ERR_SOCKET')).to.equal(true);
  });
});
