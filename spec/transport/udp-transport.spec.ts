import { expect } from 'chai';
import dgram from 'node:dgram';
import { once } from 'node:events';
import { UdpTransport, type TransportEndpoint } from '../../lib/transport/udp-transport.js';
import { encodeV15, encodeV20, PayloadType } from '../../lib/codec/rmcp.js';

async function bmcSocket(): Promise<dgram.Socket> {
  const s = dgram.createSocket('udp4');
  s.bind(0, '127.0.0.1');
  await once(s, 'listening');
  return s;
}

function endpoint(port: number, consoleSessionId: number, preSession: boolean, got: Buffer[]): TransportEndpoint {
  return { address: '127.0.0.1', ports: new Set([port]), consoleSessionId, preSession, deliver: (d) => got.push(d) };
}


describe('transport/udp-transport', () => {
  let transport: UdpTransport;
  let bmc: dgram.Socket;
  let other: dgram.Socket;
  beforeEach(async () => {
    transport = await UdpTransport.create();
    bmc = await bmcSocket();
    other = await bmcSocket();
  });
  afterEach(async () => {
    await transport.close();
    bmc.close();
    other.close();
  });

  const send = (from: dgram.Socket, dg: Buffer) => from.send(dg, transport.localPort, '127.0.0.1');
  /**
   * Wait until the transport has read `n` datagrams in all (loopback delivers every one). Dispatch is synchronous
   * with the read, so what a datagram caused is final once it is counted: no fixed sleep.
   */
  const received = async (n: number) => {
    while (transport.stats.received < n) await new Promise((r) => setImmediate(r));
  };

  it('dispatches in-session datagrams by session ID among many sessions on one socket', async () => {
    const got: Buffer[][] = [];
    for (let i = 1; i <= 50; i++) transport.register(endpoint(bmc.address().port, i, false, (got[i] = [])));
    for (let i = 1; i <= 50; i++) send(bmc, encodeV20({ payloadType: PayloadType.SOL, sessionId: i, sequence: i, payload: Buffer.from([i]) }));
    await received(50);
    for (let i = 1; i <= 50; i++) expect(got[i], `session ${i}`).to.have.length(1);
  });

  it('counts and drops datagrams from another port, for an unknown session, and garbage', async () => {
    const got: Buffer[] = [];
    transport.register(endpoint(bmc.address().port, 7, false, got));
    send(other, encodeV20({ payloadType: PayloadType.IPMI, sessionId: 7, sequence: 1, payload: Buffer.alloc(8) }));
    send(bmc, encodeV20({ payloadType: PayloadType.IPMI, sessionId: 8, sequence: 1, payload: Buffer.alloc(8) }));
    send(bmc, Buffer.from('not rmcp at all'));
    send(bmc, Buffer.alloc(0));
    await received(4);
    expect(got).to.have.length(0);
    expect(transport.stats.dropped).to.include({ foreignAddress: 1, unknownSession: 1, malformed: 2 });
  });

  it('gives pre-session datagrams (session ID 0, IPMI v1.5) only to endpoints in their handshake', async () => {
    const handshaking: Buffer[] = [];
    const active: Buffer[] = [];
    transport.register(endpoint(bmc.address().port, 1, true, handshaking));
    transport.register(endpoint(bmc.address().port, 2, false, active));
    send(bmc, encodeV20({ payloadType: PayloadType.RAKP2, sessionId: 0, sequence: 0, payload: Buffer.alloc(40) }));
    send(bmc, encodeV15({ payload: Buffer.alloc(8) }));
    await received(2);
    expect(handshaking).to.have.length(2);
    expect(active).to.have.length(0);
  });

  it('survives a handler that throws', async () => {
    transport.register({ address: '127.0.0.1', ports: new Set([bmc.address().port]), consoleSessionId: 3, preSession: false, deliver: () => { throw new Error('boom'); } });
    send(bmc, encodeV20({ payloadType: PayloadType.SOL, sessionId: 3, sequence: 1, payload: Buffer.alloc(4) }));
    await received(1);
    expect(transport.stats.dropped.malformed).to.equal(1);
  });

  it('allocates distinct non-zero console session IDs', () => {
    const ids = new Set<number>();
    for (let i = 0; i < 1000; i++) {
      const id = transport.allocateSessionId();
      expect(id).to.not.equal(0);
      ids.add(id);
      transport.register(endpoint(1, id, false, []));
    }
    expect(ids.size).to.equal(1000);
  });
});
