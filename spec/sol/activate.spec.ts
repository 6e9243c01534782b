import { expect } from 'chai';
import {
  activateSol,
  chooseSolPort,
  chooseSolPorts,
  deactivateSol,
  solCharactersPerPacket,
  SOL_FALLBACK_CHARACTERS,
} from '../../lib/sol/activate.js';
import { Cmd } from '../../lib/codec/commands.js';
import { NetFn } from '../../lib/codec/ipmi-message.js';
import { IpmiError, isIpmiError } from '../../lib/errors.js';
import { SolSessionRegistry } from '../../lib/sol/sol-ownership.js';
import { ManualClock } from '../../lib/clock.js';
import { FakeSolBmc, FakeSolHost, activateOk, cc, until } from './fake-sol-host.js';

function instanceInfo(holder: number) {
  const data = Buffer.alloc(12);
  data.writeUInt32LE(holder >>> 0, 0);
  return { completionCode: 0, data };
}

/** A BMC whose payload is held by session `holder` until someone deactivates it. */
function heldBy(host: FakeSolHost, holder: number | undefined): void {
  let held = holder;
  host.responder = (c) => {
    if (c.cmd === Cmd.ACTIVATE_PAYLOAD) {
      if (held !== undefined && held !== host.bmcSessionId) return cc(0x80);
      held = host.bmcSessionId;
      return activateOk();
    }
    if (c.cmd === Cmd.DEACTIVATE_PAYLOAD) {
      if (held === undefined) return cc(0x80);
      held = undefined;
      return cc(0);
    }
    if (c.cmd === Cmd.GET_PAYLOAD_INSTANCE_INFO) return instanceInfo(held ?? 0);
    return cc(0xc1);
  };
}

async function rejection(p: Promise<unknown>): Promise<IpmiError> {
  try {
    const s = await p;
    (s as { destroy?: () => void }).destroy?.();
  } catch (err) {
    if (isIpmiError(err)) return err;
    throw err;
  }
  throw new Error('expected a rejection');
}

describe('activateSol', () => {
  it('sends Activate Payload with aux = encrypt/authenticate from the session | alerts deferred', async () => {
    const cases: [boolean, boolean, number][] = [
      [false, false, 0x04],
      [true, false, 0x44],
      [true, true, 0xc4],
    ];
    for (const [integrity, confidentiality, aux] of cases) {
      const host = new FakeSolHost();
      host.integrity = integrity;
      host.confidentiality = confidentiality;
      const stream = await activateSol(host, { instance: 3 });
      const req = host.requests[0]!;
      expect(req.netFn).to.equal(NetFn.APP);
      expect(req.cmd).to.equal(Cmd.ACTIVATE_PAYLOAD);
      expect([...req.data!]).to.deep.equal([0x01, 0x03, aux, 0, 0, 0]);
      expect(host.sent[0]!.options).to.deep.equal({ encrypt: confidentiality, authenticate: integrity, port: 623 });
      expect(stream.instance).to.equal(3);
      stream.destroy();
    }
  });

  it('carries characters end to end once active', async () => {
    const host = new FakeSolHost();
    const bmc = new FakeSolBmc(host);
    const stream = await activateSol(host);
    await new Promise<void>((resolve) => stream.write('root\r', () => resolve()));
    expect(bmc.received.toString()).to.equal('root\r');
    stream.destroy();
  });

  it('rejects bad options before sending anything', async () => {
    const host = new FakeSolHost();
    for (const bad of [{ instance: 0 }, { instance: 16 }, { retransmitIntervalMs: 0 }, { maxRetransmits: -1 }]) {
      const err = await rejection(activateSol(host, bad));
      expect(err.code, JSON.stringify(bad)).to.equal('IPMI_ERR_BAD_ARGUMENT');
    }
    expect(host.requests).to.have.length(0);
  });

  describe('completion codes', () => {
    const table: [number, string, RegExp][] = [
      [0x80, 'IPMI_ERR_SOL_IN_USE', /already active on another session/],
      [0x81, 'IPMI_ERR_SOL_DISABLED', /disabled/],
      [0x82, 'IPMI_ERR_SOL_LIMIT', /limit/],
      [0x83, 'IPMI_ERR_SOL_ENCRYPTION', /cannot activate SOL with encryption/],
      [0x84, 'IPMI_ERR_SOL_ENCRYPTION', /requires SOL to be encrypted/],
      [0xd4, 'IPMI_ERR_COMPLETION_CODE', /insufficient privilege level/],
    ];
    for (const [code, errCode, text] of table) {
      it(`0x${code.toString(16)} -> ${errCode}`, async () => {
        const host = new FakeSolHost();
        host.responder = () => cc(code);
        const err = await rejection(activateSol(host));
        expect(err.code).to.equal(errCode);
        expect(err.completionCode).to.equal(code);
        expect(err.message).to.match(text);
        expect(host.requests).to.have.length(1); // no steal, no second try
      });
    }

    it('a response too short to decode is IPMI_ERR_PROTOCOL', async () => {
      const host = new FakeSolHost();
      host.responder = () => ({ completionCode: 0, data: Buffer.alloc(4) });
      expect((await rejection(activateSol(host))).code).to.equal('IPMI_ERR_PROTOCOL');
    });
  });

  describe('steal', () => {
    it('0x80: Deactivate Payload for the same instance, then Activate once more', async () => {
      const host = new FakeSolHost();
      let activations = 0;
      host.responder = (c) => (c.cmd === Cmd.ACTIVATE_PAYLOAD ? (++activations === 1 ? cc(0x80) : activateOk()) : cc(0));
      const stream = await activateSol(host, { instance: 2, steal: true });
      expect(host.requests.map((r) => [r.cmd, r.data![1]])).to.deep.equal([
        [Cmd.ACTIVATE_PAYLOAD, 2],
        [Cmd.DEACTIVATE_PAYLOAD, 2],
        [Cmd.ACTIVATE_PAYLOAD, 2],
      ]);
      stream.destroy();
    });

    it('deactivates even when the BMC then says the payload was not active (0x80 to Deactivate)', async () => {
      const host = new FakeSolHost();
      let activations = 0;
      host.responder = (c) => (c.cmd === Cmd.ACTIVATE_PAYLOAD ? (++activations === 1 ? cc(0x80) : activateOk()) : cc(0x80));
      const stream = await activateSol(host, { steal: true });
      expect(host.requests.map((r) => r.cmd)).to.deep.equal([Cmd.ACTIVATE_PAYLOAD, Cmd.DEACTIVATE_PAYLOAD, Cmd.ACTIVATE_PAYLOAD]);
      stream.destroy();
    });

    it('gives up after one more try with IPMI_ERR_SOL_IN_USE', async () => {
      const host = new FakeSolHost();
      host.responder = (c) => (c.cmd === Cmd.ACTIVATE_PAYLOAD ? cc(0x80) : cc(0));
      const err = await rejection(activateSol(host, { steal: true }));
      expect(err.code).to.equal('IPMI_ERR_SOL_IN_USE');
      expect(err.message).to.match(/still active/);
      expect(host.requests).to.have.length(3);
    });

    it('a Deactivate refused with another code fails the steal with that code', async () => {
      const host = new FakeSolHost();
      host.responder = (c) => (c.cmd === Cmd.ACTIVATE_PAYLOAD ? cc(0x80) : cc(0xd4));
      const err = await rejection(activateSol(host, { steal: true }));
      expect(err.code).to.equal('IPMI_ERR_COMPLETION_CODE');
      expect(err.completionCode).to.equal(0xd4);
    });
  });

  describe("steal policy: 'never' | 'own' | 'always' (C3)", () => {
    const bmc = '127.0.0.1:623';

    it("'own' takes the payload back from a session this process opened (our stale session)", async () => {
      const registry = new SolSessionRegistry();
      registry.add(bmc, 0x0a); // our earlier session, gone without deactivating
      const host = new FakeSolHost();
      heldBy(host, 0x0a);
      const stream = await activateSol(host, { steal: 'own', ownSessions: registry, ownershipCheckMs: 0 });
      expect(host.requests.map((r) => r.cmd)).to.deep.equal([
        Cmd.ACTIVATE_PAYLOAD,
        Cmd.GET_PAYLOAD_INSTANCE_INFO,
        Cmd.DEACTIVATE_PAYLOAD,
        Cmd.ACTIVATE_PAYLOAD,
      ]);
      expect(registry.has(bmc, host.bmcSessionId)).to.equal(true); // the new holder is ours too
      await stream.deactivate();
      expect(registry.has(bmc, host.bmcSessionId)).to.equal(false); // released cleanly: holds nothing
    });

    it("'own' never takes it from a session we did not open: IPMI_ERR_SOL_IN_USE naming the holder, no Deactivate", async () => {
      const registry = new SolSessionRegistry();
      registry.add('127.0.0.2:623', 0x0a); // the same session ID on another BMC is not this one
      const host = new FakeSolHost();
      heldBy(host, 0x0a);
      const err = await rejection(activateSol(host, { steal: 'own', ownSessions: registry }));
      expect(err.code).to.equal('IPMI_ERR_SOL_IN_USE');
      expect(err.inferred).to.equal(false);
      expect(err.message).to.match(/held by BMC session 0xa, which this process did not open/);
      expect(host.requests.map((r) => r.cmd)).to.deep.equal([Cmd.ACTIVATE_PAYLOAD, Cmd.GET_PAYLOAD_INSTANCE_INFO]);
    });

    it("'own' with a BMC that cannot say who holds it: IPMI_ERR_SOL_IN_USE, nothing taken", async () => {
      const host = new FakeSolHost();
      host.responder = (c) => (c.cmd === Cmd.ACTIVATE_PAYLOAD ? cc(0x80) : cc(0xc1));
      const err = await rejection(activateSol(host, { steal: 'own', ownSessions: new SolSessionRegistry() }));
      expect(err.code).to.equal('IPMI_ERR_SOL_IN_USE');
      expect(err.message).to.match(/does not say which/);
      expect(host.requests.filter((r) => r.cmd === Cmd.DEACTIVATE_PAYLOAD)).to.have.length(0);
    });

    it("'always' (and true) takes it from anyone; 'never' (and false, the default) from no one", async () => {
      for (const steal of ['always', true] as const) {
        const host = new FakeSolHost();
        heldBy(host, 0x0a);
        const stream = await activateSol(host, { steal, ownSessions: new SolSessionRegistry(), ownershipCheckMs: 0 });
        expect(host.requests.map((r) => r.cmd)).to.deep.equal([Cmd.ACTIVATE_PAYLOAD, Cmd.DEACTIVATE_PAYLOAD, Cmd.ACTIVATE_PAYLOAD]);
        stream.destroy();
      }
      for (const steal of ['never', false, undefined] as const) {
        const host = new FakeSolHost();
        heldBy(host, 0x0a);
        const err = await rejection(activateSol(host, { steal, ownSessions: new SolSessionRegistry() }));
        expect(err.code).to.equal('IPMI_ERR_SOL_IN_USE');
        expect(host.requests).to.have.length(1);
      }
    });

    it('rejects an unknown policy before sending anything', async () => {
      const host = new FakeSolHost();
      const err = await rejection(activateSol(host, { steal: 'sometimes' as 'own' }));
      expect(err.code).to.equal('IPMI_ERR_BAD_ARGUMENT');
      expect(host.requests).to.have.length(0);
    });

    it('remembers the session before Activate (a lost answer may still have activated it); forgets it on a refusal', async () => {
      const registry = new SolSessionRegistry();
      const host = new FakeSolHost();
      host.responder = (c) => {
        if (c.cmd === Cmd.ACTIVATE_PAYLOAD) expect(registry.has(bmc, host.bmcSessionId)).to.equal(true);
        return cc(0x81);
      };
      const err = await rejection(activateSol(host, { ownSessions: registry }));
      expect(err.code).to.equal('IPMI_ERR_SOL_DISABLED');
      expect(registry.size).to.equal(0);
    });
  });

  describe('payload size', () => {
    it('characters a packet: inbound payload size - 4 when 5..259, else the fallback', () => {
      const table: [number, number][] = [
        [0, SOL_FALLBACK_CHARACTERS],
        [4, SOL_FALLBACK_CHARACTERS],
        [5, 1],
        [36, 32],
        [259, 255],
        [260, SOL_FALLBACK_CHARACTERS],
        [0x0400, SOL_FALLBACK_CHARACTERS],
        [16384, SOL_FALLBACK_CHARACTERS],
        [0xffff, SOL_FALLBACK_CHARACTERS],
      ];
      for (const [size, chars] of table) expect(solCharactersPerPacket(size), `size ${size}`).to.equal(chars);
      expect(solCharactersPerPacket(100, { ignoreSolPayloadSize: true })).to.equal(SOL_FALLBACK_CHARACTERS);
    });

    it('the stream uses it: a 16384-byte payload size sends 32 characters a packet', async () => {
      const host = new FakeSolHost();
      const bmc = new FakeSolBmc(host);
      host.responder = (c) => (c.cmd === Cmd.ACTIVATE_PAYLOAD ? activateOk({ inboundPayloadSize: 16384 }) : cc(0));
      const stream = await activateSol(host);
      expect(stream.maxOutboundChars).to.equal(32);
      await new Promise<void>((resolve) => stream.write(Buffer.alloc(100, 0x61), () => resolve()));
      const sizes = bmc.packets.filter((p) => p.data.length > 0).map((p) => p.data.length);
      expect(sizes).to.deep.equal([32, 32, 32, 4]);
      stream.destroy();
    });
  });

  describe('port', () => {
    it('auto: the session port first; a plausible other reported port as the alternate', () => {
      const table: [reported: number, session: number, chosen: number, alternate: number | undefined, why: string][] = [
        [623, 623, 623, undefined, 'the usual case'],
        [0, 623, 623, undefined, 'port 0 is no port'],
        [0x6f02, 623, 623, undefined, 'byte-swapped 623 (Supermicro X8DTH)'],
        [623, 40623, 40623, 623, 'BMC behind a port forward reports its own port'],
        [1623, 623, 623, 1623, 'the BMC may serve SOL on another port: probed second'],
        [1623, 40623, 40623, 1623, 'another port, even behind a forward'],
        [(40623 >> 8) | ((40623 & 0xff) << 8), 40623, 40623, undefined, 'byte-swapped session port'],
      ];
      for (const [reported, session, chosen, alternate, why] of table) {
        expect(chooseSolPorts(reported, session), why).to.deep.equal(alternate === undefined ? { port: chosen } : { port: chosen, alternate });
        expect(chooseSolPort(reported, session), why).to.equal(chosen);
      }
    });

    it('auto: moves to the reported port when the priming packet goes unanswered on the session port', async () => {
      const host = new FakeSolHost();
      host.port = 623;
      host.responder = (c) => (c.cmd === Cmd.ACTIVATE_PAYLOAD ? activateOk({ port: 1623 }) : cc(0));
      const clock = new ManualClock();
      const stream = await activateSol(host, { retransmitIntervalMs: 10, clock });
      expect(stream.port).to.equal(623);
      clock.advance(10); // the priming packet's second transmission, still on 623
      expect(host.sent.map((s) => s.options.port)).to.deep.equal([623, 623]);
      clock.advance(10); // unanswered twice: probe the reported port
      expect(host.sent.map((s) => s.options.port)).to.deep.equal([623, 623, 1623]);
      expect(stream.port).to.equal(1623);
      const onSession = host.sent.filter((s) => s.options.port === 623);
      expect(onSession.length).to.be.greaterThan(0);
      // the same priming packet, sequence 15, on both ports
      expect(host.sent.every((s) => s.payload[0] === 15)).to.equal(true);
      stream.destroy();
    });

    it('auto: silent on both ports (a loss burst, a NAT), SOL comes back to the session port', async () => {
      const host = new FakeSolHost();
      host.port = 40623;
      host.responder = (c) => (c.cmd === Cmd.ACTIVATE_PAYLOAD ? activateOk({ port: 623 }) : cc(0));
      const clock = new ManualClock();
      const stream = await activateSol(host, { retransmitIntervalMs: 10, ownershipCheckMs: 0, clock });
      clock.advance(20);
      expect(stream.port).to.equal(623);
      // the probe on 623 goes unanswered too: back to 40623, where data then goes
      clock.advance(20);
      expect(host.sent.map((s) => s.options.port)).to.deep.equal([40623, 40623, 623, 623]);
      expect(stream.port).to.equal(40623);
      clock.advance(10); // this BMC ACKs no empty packet: go on without the priming ACK
      stream.write('x');
      await until(() => host.sent.some((s) => s.payload.length > 4), 2000);
      expect(host.sent.filter((s) => s.payload.length > 4).every((s) => s.options.port === 40623)).to.equal(true);
      stream.destroy();
    });

    it("'session' and 'reported' do as they say ('reported' still refuses port 0)", () => {
      expect(chooseSolPort(1623, 623, 'session')).to.equal(623);
      expect(chooseSolPort(623, 40623, 'reported')).to.equal(623);
      expect(chooseSolPort(0x6f02, 623, 'reported')).to.equal(0x6f02);
      expect(chooseSolPort(0, 40623, 'reported')).to.equal(40623);
    });

    it('the stream sends to the chosen port', async () => {
      const host = new FakeSolHost();
      host.port = 40623;
      host.responder = (c) => (c.cmd === Cmd.ACTIVATE_PAYLOAD ? activateOk({ port: 623 }) : cc(0));
      const stream = await activateSol(host);
      await until(() => host.sent.length > 0);
      expect(stream.port).to.equal(40623);
      expect(host.sent.every((s) => s.options.port === 40623)).to.equal(true);
      stream.destroy();
      const host2 = new FakeSolHost();
      host2.responder = (c) => (c.cmd === Cmd.ACTIVATE_PAYLOAD ? activateOk({ port: 1623 }) : cc(0));
      const stream2 = await activateSol(host2, { solPort: 'session' });
      expect(stream2.port).to.equal(623);
      stream2.destroy();
    });
  });
});

describe('deactivateSol', () => {
  it('true when it was active, false for 0x80 (already inactive), IPMI_ERR_COMPLETION_CODE otherwise', async () => {
    const host = new FakeSolHost();
    host.responder = () => cc(0);
    expect(await deactivateSol(host, 4)).to.equal(true);
    expect([...host.requests[0]!.data!]).to.deep.equal([0x01, 0x04, 0, 0, 0, 0]);
    host.responder = () => cc(0x80);
    expect(await deactivateSol(host)).to.equal(false);
    host.responder = () => cc(0xc1);
    const err = await rejection(deactivateSol(host));
    expect(err.code).to.equal('IPMI_ERR_COMPLETION_CODE');
    expect(err.message).to.match(/invalid command/);
  });
});
