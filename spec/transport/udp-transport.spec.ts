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
  describe('"connected socket": a transport made for one peer', () => {
    let own: UdpTransport;
    afterEach(async () => own?.close());
    const sent = (from: dgram.Socket, dg: Buffer, port: number) => new Promise<void>((resolve) => from.send(dg, port, '127.0.0.1', () => resolve()));

    it('connects its socket: sends reach the peer, datagrams from any other source never arrive', async () => {
      own = await UdpTransport.create({ peer: { address: '127.0.0.1', port: bmc.address().port } });
      expect(own.peer).to.deep.equal({ address: '127.0.0.1', port: bmc.address().port });
      const got: Buffer[] = [];
      own.register(endpoint(bmc.address().port, 9, false, got));
      own.send(Buffer.from('to the peer'), bmc.address().port, '127.0.0.1');
      const [msg] = (await once(bmc, 'message')) as [Buffer];
      expect(msg.toString()).to.equal('to the peer');
      // Loopback queues a datagram inside the sender's send call: the foreign one is sent (and would be queued) first.
      await sent(other, encodeV20({ payloadType: PayloadType.SOL, sessionId: 9, sequence: 1, payload: Buffer.from([1]) }), own.localPort);
      await sent(bmc, encodeV20({ payloadType: PayloadType.SOL, sessionId: 9, sequence: 2, payload: Buffer.from([2]) }), own.localPort);
      while (own.stats.received < 1) await new Promise((r) => setImmediate(r));
      expect(got).to.have.length(1);
      expect(own.stats.received).to.equal(1);
      expect(own.stats.dropped.foreignAddress).to.equal(0);
    });

    it('goes unconnected for good, on the same local port, once a datagram goes to another port (a BMC whose SOL port differs)', async () => {
      own = await UdpTransport.create({ peer: { address: '127.0.0.1', port: bmc.address().port } });
      const localPort = own.localPort;
      own.send(Buffer.from('elsewhere'), other.address().port, '127.0.0.1');
      const [msg, rinfo] = (await once(other, 'message')) as [Buffer, dgram.RemoteInfo];
      expect(msg.toString()).to.equal('elsewhere');
      expect(own.peer).to.equal(undefined);
      // The same local port (a Linux disconnect() would have unbound it): the BMC answers the port it knows.
      expect(rinfo.port).to.equal(localPort);
      expect(own.localPort).to.equal(localPort);
      own.send(Buffer.from('still to the peer'), bmc.address().port, '127.0.0.1');
      expect(((await once(bmc, 'message')) as [Buffer])[0].toString()).to.equal('still to the peer');
      await sent(other, encodeV20({ payloadType: PayloadType.SOL, sessionId: 9, sequence: 1, payload: Buffer.from([1]) }), own.localPort);
      while (own.stats.received < 1) await new Promise((r) => setImmediate(r));
      expect(own.stats.dropped.unknownSession).to.equal(1);
    });
  });
});
