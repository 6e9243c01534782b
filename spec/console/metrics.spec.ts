import { expect } from 'chai';
import { CONSOLE_STATES, createConsoleMetrics, type ConsoleMetricsSample } from '../../lib/console/metrics.js';
import { isIpmiError } from '../../lib/errors.js';

function sample(nodeId: string, extra: Partial<ConsoleMetricsSample> = {}): ConsoleMetricsSample {
  return { nodeId, state: 'active', bytesFromConsole: 0, bytesToConsole: 0, reconnects: 0, viewers: 0, viewersDropped: 0, ...extra };
}

/** 'name{labels} value' lines, comments removed. */
function series(text: string): Map<string, number> {
  const map = new Map<string, number>();
  for (const line of text.split('\n')) {
    if (line === '' || line.startsWith('#')) continue;
    const at = line.lastIndexOf(' ');
    map.set(line.slice(0, at), Number(line.slice(at + 1)));
  }
  return map;
}

describe('console/metrics', () => {
  it('exposes per-console counters with a node label, base units and _total suffixes, and process totals', async () => {
    let samples: ConsoleMetricsSample[] = [
      sample('n1', { bytesFromConsole: 1000, bytesToConsole: 20, packetsReceived: 9, packetsSent: 4, retransmits: 1, viewers: 2, reconnects: 3 }),
      sample('n"2', { state: 'reconnecting', bytesFromConsole: 5, viewersDropped: 1, logBytesDropped: 77, lastError: 'IPMI_ERR_TIMEOUT' }),
    ];
    const metrics = await createConsoleMetrics(() => samples);
    expect(metrics.contentType).to.match(/^text\/plain; version=0\.0\.4/);
    const text = await metrics.metrics();
    expect(text).to.include('# TYPE ipmi_sol_console_received_bytes_total counter');
    expect(text).to.include('# TYPE ipmi_sol_console_viewers gauge');
    const s = series(text);
    expect(s.get('ipmi_sol_console_received_bytes_total{node="n1"}')).to.equal(1000);
    expect(s.get('ipmi_sol_console_received_bytes_total{node="n\\"2"}')).to.equal(5);
    expect(s.get('ipmi_sol_console_sent_bytes_total{node="n1"}')).to.equal(20);
    expect(s.get('ipmi_sol_console_received_packets_total{node="n1"}')).to.equal(9);
    expect(s.get('ipmi_sol_console_sent_packets_total{node="n1"}')).to.equal(4);
    expect(s.get('ipmi_sol_console_retransmits_total{node="n1"}')).to.equal(1);
    expect(s.has('ipmi_sol_console_retransmits_total{node="n\\"2"}'), 'absent when the source has no packets').to.equal(false);
    expect(s.get('ipmi_sol_console_reconnects_total{node="n1"}')).to.equal(3);
    expect(s.get('ipmi_sol_console_viewers{node="n1"}')).to.equal(2);
    expect(s.get('ipmi_sol_console_viewers_dropped_total{node="n\\"2"}')).to.equal(1);
    expect(s.get('ipmi_sol_console_log_dropped_bytes_total{node="n\\"2"}')).to.equal(77);
    expect(s.get('ipmi_sol_console_state{node="n1",state="active"}')).to.equal(1);
    expect(s.get('ipmi_sol_console_last_error_info{node="n\\"2",code="IPMI_ERR_TIMEOUT"}')).to.equal(1);
    expect(s.get('ipmi_sol_received_bytes_total')).to.equal(1005);
    expect(s.get('ipmi_sol_viewers')).to.equal(2);
    for (const state of CONSOLE_STATES) expect(s.has(`ipmi_sol_consoles{state="${state}"}`), state).to.equal(true);
    expect(s.get('ipmi_sol_consoles{state="reconnecting"}')).to.equal(1);

    // A console that goes away leaves no series behind; counters follow the consoles' own numbers.
    samples = [sample('n1', { bytesFromConsole: 1500 })];
    const again = series(await metrics.metrics());
    expect(again.get('ipmi_sol_console_received_bytes_total{node="n1"}')).to.equal(1500);
    expect([...again.keys()].some((k) => k.includes('n\\"2'))).to.equal(false);
  });

  it('parallel scrapes each see one consistent snapshot', async () => {
    let n = 0;
    const metrics = await createConsoleMetrics(() => [sample('x', { bytesFromConsole: ++n })]);
    const [a, b] = await Promise.all([metrics.metrics(), metrics.metrics()]);
    expect(series(a).get('ipmi_sol_console_received_bytes_total{node="x"}')).to.equal(1);
    expect(series(b).get('ipmi_sol_console_received_bytes_total{node="x"}')).to.equal(2);
  });

  it('process metrics on request; a bad prefix is IPMI_ERR_BAD_ARGUMENT', async () => {
    const metrics = await createConsoleMetrics(() => [], { processMetrics: true, prefix: 'bmc_' });
    const text = await metrics.metrics();
    expect(text).to.include('process_resident_memory_bytes');
    expect(text).to.include('bmc_consoles{state="active"} 0');
    const error = await createConsoleMetrics(() => [], { prefix: 'bad-prefix' }).catch((e: unknown) => e);
    expect(isIpmiError(error, 'IPMI_ERR_BAD_ARGUMENT')).to.equal(true);
  });
});
