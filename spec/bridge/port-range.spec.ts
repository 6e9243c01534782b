import { expect } from 'chai';
import net from 'node:net';
import { IpmiError, isIpmiError } from '../../lib/errors.js';
import { PortAllocator, isPortTaken, parsePortRange, portRangeSize } from '../../lib/bridge/port-range.js';
import { closeServer, findFreePortRange, occupy } from './tcp-client.js';

function expectBadRange(spec: string, fragment: string): void {
  let caught: unknown;
  try {
    parsePortRange(spec);
  } catch (error) {
    caught = error;
  }
  expect(isIpmiError(caught, 'IPMI_ERR_BAD_ARGUMENT'), `'${spec}' must be refused`).to.equal(true);
  const message = (caught as IpmiError).message;
  expect(message).to.contain(`'${spec}'`);
  expect(message).to.contain(fragment);
}

/** bind = really listen on 127.0.0.1:port; resolves with the server */
function listenOn(port: number): Promise<net.Server> {
  return new Promise((resolve, reject) => {
    const server = net.createServer();
    server.once('error', reject);
    server.listen(port, '127.0.0.1', () => resolve(server));
  });
}

describe('bridge/port-range', () => {
  describe('parsePortRange (Ironic semantics: start:end, end excluded)', () => {
    it('parses a single segment', () => {
      const segments = parsePortRange('10000:20000');
      expect(segments).to.deep.equal([{ start: 10000, end: 20000 }]);
      expect(portRangeSize(segments)).to.equal(10000); // range(10000, 20000)
    });

    it('parses several comma-separated segments, ignoring spaces around them', () => {
      const segments = parsePortRange(' 10000:10010 , 11000:11005');
      expect(segments).to.deep.equal([
        { start: 10000, end: 10010 },
        { start: 11000, end: 11005 },
      ]);
      expect(portRangeSize(segments)).to.equal(15);
    });

    it('accepts the extremes: 1 as a start, 65536 as an (excluded) end', () => {
      expect(parsePortRange('1:2')).to.deep.equal([{ start: 1, end: 2 }]);
      expect(parsePortRange('65535:65536')).to.deep.equal([{ start: 65535, end: 65536 }]);
    });

    it('refuses bad ranges with IPMI_ERR_BAD_ARGUMENT and a sentence saying why', () => {
      expectBadRange('', "expected 'start:end'");
      expectBadRange('10000', 'is not');
      expectBadRange('10000-20000', 'is not');
      expectBadRange('a:b', 'is not');
      expectBadRange('-1:5', 'is not');
      expectBadRange('10000:20000,', "segment ''");
      expectBadRange('10.5:20', 'is not');
      expectBadRange('0:10', 'outside 1..65535');
      expectBadRange('70000:70001', 'outside 1..65535');
      expectBadRange('10:70000', 'outside 2..65536');
      expectBadRange('20000:10000', 'empty');
      expectBadRange('10000:10000', 'empty'); // end excluded: no port at all
      expectBadRange('10000:10010,10005:10020', 'overlap');
    });
  });

  describe('PortAllocator', () => {
    it('hands out ports lowest first and never the (excluded) end; then IPMI_ERR_NO_FREE_PORTS', async () => {
      const allocator = new PortAllocator('5000:5003');
      const bound: number[] = [];
      const bind = async (port: number): Promise<number> => {
        bound.push(port);
        return port;
      };
      expect((await allocator.acquire(bind)).port).to.equal(5000);
      expect((await allocator.acquire(bind)).port).to.equal(5001);
      expect((await allocator.acquire(bind)).port).to.equal(5002);
      const error = await allocator.acquire(bind).catch((e: unknown) => e);
      expect(isIpmiError(error, 'IPMI_ERR_NO_FREE_PORTS')).to.equal(true);
      expect((error as Error).message).to.contain('5000:5003');
      expect(bound).to.deep.equal([5000, 5001, 5002]);
      expect(allocator.allocated).to.deep.equal([5000, 5001, 5002]);
    });

    it('moves on when a port is taken (EADDRINUSE/EACCES) and rethrows other bind errors at once', async () => {
      const allocator = new PortAllocator('6000:6004');
      const taken = (code: string): Error => Object.assign(new Error(code), { code });
      const result = await allocator.acquire(async (port) => {
        if (port === 6000) throw taken('EADDRINUSE');
        if (port === 6001) throw new IpmiError('IPMI_ERR_SOCKET', 'bind failed', { cause: taken('EACCES') });
        return `bound ${port}`;
      });
      expect(result).to.deep.equal({ port: 6002, value: 'bound 6002' });
      expect(allocator.isAllocated(6000)).to.equal(false); // tried again next time
      const tried: number[] = [];
      const error = await allocator
        .acquire(async (port) => {
          tried.push(port);
          throw taken('EADDRNOTAVAIL');
        })
        .catch((e: unknown) => e);
      expect((error as { code?: string }).code).to.equal('EADDRNOTAVAIL');
      expect(tried).to.deep.equal([6000]);
      expect(allocator.allocated).to.deep.equal([6002]);
    });

    it('recognises taken ports through IpmiError causes', () => {
      expect(isPortTaken(Object.assign(new Error('x'), { code: 'EADDRINUSE' }))).to.equal(true);
      expect(isPortTaken(new IpmiError('IPMI_ERR_SOCKET', 'x', { cause: { code: 'EADDRINUSE' } }))).to.equal(true);
      expect(isPortTaken(new IpmiError('IPMI_ERR_SOCKET', 'x', { cause: { code: 'EADDRNOTAVAIL' } }))).to.equal(false);
      expect(isPortTaken(undefined)).to.equal(false);
    });

    it('with real binds: skips a port another listener holds, exhausts, and reuses a released port at once', async () => {
      const base = await findFreePortRange(3);
      const other = await occupy(base + 1);
      const allocator = new PortAllocator(`${base}:${base + 3}`);
      const servers: net.Server[] = [];
      try {
        const first = await allocator.acquire(listenOn);
        servers.push(first.value);
        const second = await allocator.acquire(listenOn);
        servers.push(second.value);
        expect([first.port, second.port]).to.deep.equal([base, base + 2]);
        const error = await allocator.acquire(listenOn).catch((e: unknown) => e);
        expect(isIpmiError(error, 'IPMI_ERR_NO_FREE_PORTS')).to.equal(true);
        expect((error as Error).message).to.contain('1 in use by others');

        await closeServer(first.value);
        servers.shift();
        allocator.release(first.port);
        const again = await allocator.acquire(listenOn);
        servers.push(again.value);
        expect(again.port).to.equal(base);
      } finally {
        await Promise.all([...servers, other].map(closeServer));
      }
    });

    it('tries a preferred port first, and concurrent acquires never get the same port', async () => {
      const allocator = new PortAllocator('7000:7010');
      const slowBind = async (port: number): Promise<number> => {
        await new Promise((resolve) => setTimeout(resolve, 5));
        return port;
      };
      expect((await allocator.acquire(slowBind, { prefer: 7005 })).port).to.equal(7005);
      const ports = await Promise.all(Array.from({ length: 9 }, () => allocator.acquire(slowBind)));
      const numbers = ports.map((p) => p.port).sort((a, b) => a - b);
      expect(numbers).to.deep.equal([7000, 7001, 7002, 7003, 7004, 7006, 7007, 7008, 7009]);
    });

    it('reserve() marks an explicit port so the range skips it', async () => {
      const allocator = new PortAllocator('8000:8002');
      expect(allocator.reserve(8000)).to.equal(true);
      expect(allocator.reserve(8000)).to.equal(false);
      expect((await allocator.acquire(async (p) => p)).port).to.equal(8001);
      expect(allocator.includes(8002)).to.equal(false);
    });
  });
});
