/**
 * The session's receive path under fire, over real UDP on loopback: an open IpmiSession with SOL active (against
 * the fake BMC, through a relay the client takes for its BMC) is bombarded from the BMC's own address and port
 * with random datagrams, mutated copies of everything the BMC sent, datagrams with the session's ID and random
 * contents, and (with the keys derived from the recorded handshake) correctly authenticated packets whose
 * payloads are garbage. No exception escapes, the drop counters account for the datagrams, and the session
 * stays usable: Get Device ID answers and SOL still echoes.
 */
import { expect } from 'chai';
import { randomBytes as cryptoRandom } from 'node:crypto';
import fc from 'fast-check';
import { FakeBmc } from '../../fixtures/fake-bmc/index.js';
import { IpmiSession } from '../../lib/session/rmcpplus-session.js';
import { activateSol } from '../../lib/sol/activate.js';
import { UdpTransport } from '../../lib/transport/udp-transport.js';
import { decodeV20, encodeV20, PayloadType, type SessionCrypto } from '../../lib/codec/rmcp.js';
import { ConfidentialityAlgorithm } from '../../lib/crypto/cipher-suites.js';
import { encodeSolPacket } from '../../lib/codec/sol-payload.js';
import { encodeResponse } from '../../lib/codec/ipmi-message.js';
import type { SolStream } from '../../lib/sol/sol-stream.js';
import { UdpRelay, until, sleep } from '../security/udp-relay.js';
import { caseCounter, mutatedFrom, reportCases, runs } from './fuzz-helpers.js';

const PASSWORD = 'fuzz-pass-1234';
const users = [{ name: 'admin', password: PASSWORD, privilege: 4 }];

function sum(o: Record<string, number>): number {
  return Object.values(o).reduce((a, b) => a + b, 0);
}

async function echo(sol: SolStream, text: string, seen: () => string): Promise<void> {
  sol.write(text);
  await until(() => seen().includes(text), 5000, `echo of ${JSON.stringify(text)}`);
}

/** Inject datagrams to the client in batches, waiting for the transport to have read each batch. */
async function bombard(relay: UdpRelay, transport: UdpTransport, datagrams: Buffer[]): Promise<void> {
  for (let i = 0; i < datagrams.length; i += 100) {
    const batch = datagrams.slice(i, i + 100);
    const before = transport.stats.received;
    await Promise.all(batch.map((d) => relay.inject(d)));
    // Loopback does not lose datagrams unless the receive buffer overflows; wait until they were read.
    await until(() => transport.stats.received >= before + batch.length, 5000, 'the transport to read the batch').catch(() => undefined);
  }
}

describe('fuzz: session receive path over UDP', function () {
  this.timeout(120_000);
  after(() => reportCases('session receive fuzz done'));

  for (const suite of [17, 3, 11]) {
    describe(`cipher suite ${suite}`, () => {
      let bmc: FakeBmc;
      let relay: UdpRelay;
      let transport: UdpTransport;
      let session: IpmiSession;
      let sol: SolStream;
      let output = '';
      const uncaught: unknown[] = [];
      const onUncaught = (err: unknown) => uncaught.push(err);

      before(async () => {
        bmc = new FakeBmc({ users, sol: { host: 'echo' } });
        await bmc.listen();
        relay = await UdpRelay.start(bmc.port);
        transport = await UdpTransport.create();
        session = await IpmiSession.open({ host: '127.0.0.1', port: relay.port, username: 'admin', password: PASSWORD, cipherSuite: suite, transport, keepaliveMs: 0 });
        sol = await activateSol(session);
        sol.on('data', (d: Buffer) => (output += d.toString('latin1')));
        sol.on('error', (err) => uncaught.push(err));
        await echo(sol, 'before the storm\r', () => output);
        process.on('uncaughtException', onUncaught);
      });

      after(async () => {
        process.off('uncaughtException', onUncaught);
        await sol?.deactivate();
        await session?.close();
        await transport?.close();
        await relay?.close();
        await bmc?.close();
      });

      it('random and mutated datagrams from the BMC address are dropped and counted, the session stays usable', async () => {
        const sid = session.consoleSessionId;
        const captured = relay.recorded.filter((r) => r.direction === 'to-client').map((r) => r.bytes);
        const sidHeader = (rest: Uint8Array, ptype: number, seq: number) => {
          const h = Buffer.alloc(16);
          Buffer.from([0x06, 0x00, 0xff, 0x07, 0x06, ptype]).copy(h);
          h.writeUInt32LE(sid, 6);
          h.writeUInt32LE(seq >>> 0, 10);
          h.writeUInt16LE(rest.length, 14);
          return Buffer.concat([h, rest]);
        };
        const withSid = (b: Buffer) => {
          if (b.length < 10) return b;
          const out = Buffer.from(b);
          out.writeUInt32LE(sid, 6);
          return out;
        };
        const arb = fc.oneof(
          fc.uint8Array({ maxLength: 300 }).map((a) => Buffer.from(a)),
          mutatedFrom(captured),
          mutatedFrom(captured).map(withSid),
          fc
            .record({
              rest: fc.uint8Array({ maxLength: 200 }),
              ptype: fc.constantFrom(0x00, 0x01, 0x40, 0x41, 0x80, 0x81, 0xc0, 0xc1, 0x02, 0x42, 0x11, 0x13, 0x15, 0x3f),
              seq: fc.nat(),
            })
            .map(({ rest, ptype, seq }) => sidHeader(rest, ptype, seq)),
        );
        const datagrams = fc.sample(arb, { numRuns: runs(3000) });
        caseCounter.cases += datagrams.length;
        const before = { session: sum(session.stats.dropped), transport: sum(transport.stats.dropped), received: transport.stats.received };

        await bombard(relay, transport, datagrams);

        const arrived = transport.stats.received - before.received;
        const droppedSession = sum(session.stats.dropped) - before.session;
        const droppedTransport = sum(transport.stats.dropped) - before.transport;
        expect(arrived, 'datagrams read').to.be.at.least(datagrams.length * 0.95);
        expect(droppedSession, 'session drops').to.be.greaterThan(datagrams.length / 10);
        expect(droppedTransport, 'transport drops').to.be.greaterThan(datagrams.length / 10);
        // Every datagram is dropped somewhere (none is a valid packet of this session).
        expect(droppedSession + droppedTransport).to.be.at.least(arrived);
        expect(uncaught).to.deep.equal([]);
        expect(session.state).to.equal('active');

        const device = await session.getDeviceId();
        expect(device.productId).to.equal(0x5342);
        await echo(sol, 'after the storm\r', () => output);
        // Nothing was injected into the console: only what we typed came back.
        expect(output).to.equal('before the storm\rafter the storm\r');
      });

      it('correctly authenticated packets with garbage payloads are dropped or ignored, never thrown', async () => {
        // Re-sign the BMC's packets with our own sequence numbers from now on, so that forged packets can
        // use sequence numbers the session accepts without breaking the BMC's stream.
        const keys = relay.deriveKeys(Buffer.from(PASSWORD), undefined, session.consoleSessionId);
        const crypto: SessionCrypto = keys.crypto;
        const aes = crypto.confidentiality === ConfidentialityAlgorithm.AES_CBC_128;
        let seq = Math.max(...relay.inSession(PayloadType.IPMI).concat(relay.inSession(PayloadType.SOL)).map((r) => r.envelope!.sequence));
        const seal = (payloadType: number, payload: Buffer, s = ++seq) =>
          encodeV20({ payloadType, sessionId: keys.consoleSessionId, sequence: s, payload, authenticate: true, encrypt: aes, crypto, iv: cryptoRandom(16) });
        relay.toClient = (bytes, env) => {
          if (env?.format !== 'v2.0' || env.sessionId === 0) return undefined;
          const p = decodeV20(bytes, crypto, true);
          return seal(p.payloadType, p.payload);
        };
        const arb = fc.oneof(
          // IPMI payloads: random bytes, and responses with random commands and data
          fc.uint8Array({ maxLength: 120 }).map((a) => seal(PayloadType.IPMI, Buffer.from(a))),
          fc
            .record({ netFn: fc.nat({ max: 63 }), cmd: fc.nat({ max: 255 }), rqSeq: fc.nat({ max: 63 }), cc: fc.nat({ max: 255 }), data: fc.uint8Array({ maxLength: 40 }) })
            .map((r) => seal(PayloadType.IPMI, encodeResponse({ ...r, completionCode: r.cc, data: Buffer.from(r.data), rqAddr: 0x81, rsAddr: 0x20 }))),
          // SOL payloads that do not deactivate: junk ACKs and short/odd packets (no characters, so the
          // console output stays checkable)
          fc
            .record({ ack: fc.nat({ max: 15 }), count: fc.nat({ max: 255 }), flags: fc.nat({ max: 255 }).map((f) => f & ~0x10) })
            .map((r) => seal(PayloadType.SOL, encodeSolPacket({ sequence: 0, ackSequence: r.ack, acceptedCount: r.count, flags: r.flags, data: Buffer.alloc(0) }))),
          fc.uint8Array({ maxLength: 3 }).map((a) => seal(PayloadType.SOL, Buffer.from(a))),
          fc.uint8Array({ minLength: 260, maxLength: 400 }).map((a) => seal(PayloadType.SOL, Buffer.from(a))),
          // other payload types, authenticated
          fc.record({ t: fc.constantFrom(0x02, 0x10, 0x11, 0x13, 0x15, 0x20, 0x3f), a: fc.uint8Array({ maxLength: 60 }) }).map(({ t, a }) => seal(t, Buffer.from(a))),
        );
        const datagrams = fc.sample(arb, { numRuns: runs(1500) });
        caseCounter.cases += datagrams.length;
        const before = { unexpected: session.stats.dropped.unexpected, received: session.stats.received, solReceived: session.stats.solReceived };

        await bombard(relay, transport, datagrams);
        await sleep(50);

        expect(uncaught).to.deep.equal([]);
        expect(session.state).to.equal('active');
        expect(session.stats.received - before.received, 'authenticated packets accepted').to.be.at.least(datagrams.length * 0.9);
        expect(session.stats.dropped.unexpected - before.unexpected, 'IPMI responses nobody waited for, odd payload types').to.be.greaterThan(0);
        expect(sol.stats.malformed, 'SOL payloads too short or too long').to.be.greaterThan(0);
        expect(sol.stats.unexpectedAcks, 'ACKs of nothing outstanding').to.be.greaterThan(0);

        const device = await session.getDeviceId();
        expect(device.productId).to.equal(0x5342);
        await echo(sol, 'still here\r', () => output);
        expect(output.endsWith('after the storm\rstill here\r')).to.equal(true);
        // (the relay keeps re-signing until the end: the BMC's own numbers are now behind the window)
      });
    });
  }
});
