/**
 * The boot storm section's machinery, tiny: 3 consoles printing 20 kB each through a real bridge process and a
 * fake BMC farm process, no baseline. Checks byte-exactness (client streams and log files) and that the result,
 * its figures and its table carry every field. No timing assertions: figures are whatever this machine gives.
 */
import { expect } from 'chai';
import { runBootStorm, type BootStormResults } from '../../../bench/sections/boot-storm.js';
import { renderStorm, stormFigures } from '../../../bench/storm-report.js';
import type { BootStormConfig } from '../../../bench/lib/config.js';

const TINY: BootStormConfig = { consoles: 3, bootBytes: 20_000, baud: 115_200, echoConsoles: 1, echoIntervalMs: 100, baselineConsoles: 0, cipherSuite: 3, floorSeconds: 1 };

function expectNumbers(o: object, path: string, allowNaN: string[] = []): void {
  for (const [k, v] of Object.entries(o)) {
    const here = `${path}.${k}`;
    if (v !== null && typeof v === 'object' && !Array.isArray(v)) expectNumbers(v as object, here, allowNaN);
    else if (typeof v === 'number' && !allowNaN.includes(here)) expect(Number.isFinite(v), here).to.equal(true);
  }
}

describe('bench boot storm section (tiny)', function () {
  this.timeout(180_000);
  let r: BootStormResults;

  before(async function () {
    r = await runBootStorm({ storm: TINY }, () => undefined);
  });

  it('delivers every node boot log byte-exact to its client and into its captured log file', function () {
    expect(r.ours.consoles).to.equal(3);
    expect(r.ours.exact, JSON.stringify(r.ours.notExact)).to.equal(3);
    expect(r.ours.notExact).to.deep.equal([]);
    expect(r.ours.logs).to.deep.equal({ checked: 3, exact: 3, notExact: [] });
    expect(r.ours.totalBytes).to.equal(60_000);
  });

  it('reports every field: CPU, packets, memory, wall time, echo; no baseline when asked for none', function () {
    const o = r.ours;
    for (const key of ['wallS', 'idealS', 'cpuS', 'cpuSPerConsole', 'cpuSPerMB', 'packets', 'bytesPerPacket', 'cpuUsPerPacket', 'farmCpuS', 'bmcRetransmits', 'bmcGiveUps'] as const) {
      expect(o[key], key).to.be.a('number');
    }
    expect(o.packets).to.be.greaterThan(0);
    expect(o.bridge.packetsReceived).to.be.greaterThan(0);
    expect(o.memory.beforeConsolesBytes).to.be.greaterThan(0);
    expect(o.memory.peakBytes).to.be.greaterThan(0);
    expect(o.bridge.youngPeakBytes, 'young generation sampled during the storm').to.be.greaterThan(0);
    expect(o.bridge.oldPeakBytes, 'old space sampled during the storm').to.be.greaterThan(0);
    expect(o.bridge.gc.minor).to.be.at.least(0);
    for (const e of [o.echo.printing, o.echo.quiet]) {
      expect(e.consoles).to.equal(1);
      expect(e.samples + e.failures, 'at least one key per echo console').to.be.greaterThan(0);
      expect(e.how).to.be.a('string');
    }
    expect(o.memory.openPerConsoleBytes).to.be.a('number');
    expectNumbers(o, 'ours', ['min', 'p50', 'p95', 'p99', 'max', 'mean'].flatMap((k) => [`ours.echo.printing.ms.${k}`, `ours.echo.quiet.ms.${k}`]));
    expect(r.baseline).to.equal(undefined);
  });

  it("measures Node's floor for the storm's I/O at the same console count, alone and with suite-3 crypto", function () {
    const floor = r.floor!;
    for (const [name, figure] of [['io', floor.io], ['crypto', floor.crypto]] as const) {
      expect(figure.consoles, name).to.equal(3);
      expect(figure.crypto, name).to.equal(name === 'crypto');
      expect(figure.datagrams, name).to.be.greaterThan(0);
      expectNumbers(figure, `floor.${name}`);
      expect(figure.usPerDatagram, name).to.be.greaterThan(0);
    }
  });

  it('turns into figures, the issue targets and a table', function () {
    const f = stormFigures(r);
    expect(f.ours.exact).to.equal(3);
    expect(f.baseline).to.equal(undefined);
    expect(f.targets.map((t) => t.name)).to.have.length(9);
    const vsBaseline = f.targets.find((t) => t.name.includes('vs socat+ipmitool'))!;
    expect(vsBaseline.met).to.equal(null);
    expect(f.floor!.cryptoUs).to.equal(r.floor!.crypto.usPerDatagram);
    expect(f.targets.find((t) => t.name.includes('CPU per SOL packet'))!.value).to.include("Node's floor");
    const table = renderStorm(r, f).join('\n');
    expect(table).to.include("Node's floor at the same console count");
    expect(table).to.include('## Boot storm');
    expect(table).to.include("V8's young generation peaked at");
    expect(table).to.include('CPU us per SOL packet');
  });
});
