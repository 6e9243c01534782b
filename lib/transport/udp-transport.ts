/**
 * One UDP socket carrying many RMCP+ sessions (a conductor runs hundreds). Datagrams are dispatched by the
 * RMCP+ session ID in the header (the console's own session ID, section 13.6) and checked against the address
 * the session talks to; pre-session datagrams (session ID 0, IPMI v1.5 packets) go to the sessions still in
 * their handshake with that address. Anything else is counted and dropped; nothing thrown here reaches the
 * socket's 'message' handler's caller.
 */
import dgram from 'node:dgram';
import { randomBytes } from 'node:crypto';
import { isIP } from 'node:net';
import createDebug from 'debug';
import { peekEnvelope, MAX_DATAGRAM, type RmcpEnvelope } from '../codec/rmcp.js';
import { IpmiError } from '../errors.js';

const debug = createDebug('ipmi:rmcp');

export interface TransportStats {
  received: number;
  sent: number;
  dropped: { malformed: number; oversized: number; unknownSession: number; foreignAddress: number };
}

/** A session's view of the transport: its address, its console session ID and a delivery callback. */
export interface TransportEndpoint {
  readonly address: string; // numeric IP, normalized
  /** Ports this session accepts datagrams from (the session port, plus the SOL port if it differs). */
  readonly ports: Set<number>;
  consoleSessionId: number;
  /** True while the handshake runs: the endpoint then also gets session-ID-0 datagrams from its address. */
  preSession: boolean;
  deliver(datagram: Buffer, envelope: RmcpEnvelope, fromPort: number): void;
  /** Told when a datagram with this endpoint's session ID came from another address or port (and was dropped). */
  foreign?(): void;
}

export interface UdpTransportOptions {
  /** Local address to bind; default '0.0.0.0' for udp4, '::' for udp6. */
  bindAddress?: string;
  type?: 'udp4' | 'udp6';
  /** Kernel receive buffer in bytes, for many consoles on one socket. */
  recvBufferSize?: number;
  /**
   * The one peer of a transport made for one session (numeric address, normalized, and UDP port): the socket is
   * `connect()`ed to it (see "connected socket" at UdpTransport.send). Not for a transport shared by sessions.
   */
  peer?: { address: string; port: number };
}

function sendLogger(address: string, port: number): (err: Error | null) => void {
  return (err) => {
    if (err) debug('send to %s:%d failed: %s', address, port, err.message);
  };
}

export function normalizeAddress(address: string): string {
  return address.startsWith('::ffff:') && isIP(address.slice(7)) === 4 ? address.slice(7) : address;
}

export class UdpTransport {
  readonly type: 'udp4' | 'udp6';
  readonly stats: TransportStats = {
    received: 0,
    sent: 0,
    dropped: { malformed: 0, oversized: 0, unknownSession: 0, foreignAddress: 0 },
  };
  private socket: dgram.Socket;
  private readonly bySessionId = new Map<number, TransportEndpoint>();
  private readonly byAddress = new Map<string, Set<TransportEndpoint>>();
  private closed = false;
  private closing: Promise<void> | undefined;
  /** Where the socket is connected (see send), until a datagram goes elsewhere. */
  #peer: { address: string; port: number } | undefined;
  readonly #bindAddress: string;
  #localPort: number;
  /** Datagrams sent while the connected socket is replaced by an unconnected one (see #unconnect). */
  #held: [datagram: Buffer, port: number, address: string][] | undefined;

  private constructor(socket: dgram.Socket, type: 'udp4' | 'udp6', bindAddress: string, peer: { address: string; port: number } | undefined) {
    this.socket = socket;
    this.type = type;
    this.#bindAddress = bindAddress;
    this.#localPort = socket.address().port;
    this.#peer = peer;
    this.#attach(socket);
  }

  #attach(socket: dgram.Socket): void {
    socket.on('message', (msg, rinfo) => this.onMessage(msg, rinfo));
    socket.on('error', (err) => debug('socket error %s', err.message));
  }

  static async create(options: UdpTransportOptions = {}): Promise<UdpTransport> {
    const type = options.type ?? (options.bindAddress && isIP(options.bindAddress) === 6 ? 'udp6' : 'udp4');
    const socket = dgram.createSocket({ type, reuseAddr: false });
    const bindAddress = options.bindAddress ?? (type === 'udp6' ? '::' : '0.0.0.0');
    await new Promise<void>((resolve, reject) => {
      const onError = (err: Error) => reject(new IpmiError('IPMI_ERR_SOCKET', `cannot bind a UDP socket: ${err.message}`, { cause: err }));
      socket.once('error', onError);
      socket.bind({ address: bindAddress, port: 0 }, () => {
        socket.off('error', onError);
        resolve();
      });
    });
    if (options.peer) {
      const { address, port } = options.peer;
      await new Promise<void>((resolve, reject) => {
        const onError = (err: Error) => reject(new IpmiError('IPMI_ERR_SOCKET', `cannot connect a UDP socket to ${address}:${port}: ${err.message}`, { cause: err }));
        socket.once('error', onError);
        socket.connect(port, address, () => {
          socket.off('error', onError);
          resolve();
        });
      });
    }
    if (options.recvBufferSize) {
      try {
        socket.setRecvBufferSize(options.recvBufferSize);
      } catch (err) {
        debug('cannot set receive buffer: %s', (err as Error).message);
      }
    }
    return new UdpTransport(socket, type, bindAddress, options.peer ? { ...options.peer } : undefined);
  }

  /** The peer the socket is connected to (a transport made for one session), or undefined. */
  get peer(): { address: string; port: number } | undefined {
    return this.#peer ? { ...this.#peer } : undefined;
  }

  get localPort(): number {
    return this.#localPort;
  }

  get sessionCount(): number {
    return this.bySessionId.size + [...this.byAddress.values()].reduce((n, s) => n + [...s].filter((e) => e.consoleSessionId === 0).length, 0);
  }

  /** A console session ID (section 13.17: chosen by the console, non-zero) that no endpoint here uses. */
  allocateSessionId(): number {
    for (;;) {
      const id = randomBytes(4).readUInt32LE();
      if (id !== 0 && !this.bySessionId.has(id)) return id;
    }
  }

  register(endpoint: TransportEndpoint): void {
    if (this.closed) throw new IpmiError('IPMI_ERR_SOCKET', 'the UDP transport is closed');
    let set = this.byAddress.get(endpoint.address);
    if (!set) this.byAddress.set(endpoint.address, (set = new Set()));
    set.add(endpoint);
    if (endpoint.consoleSessionId !== 0) this.bySessionId.set(endpoint.consoleSessionId, endpoint);
  }

  /** Call when an endpoint changes its console session ID (a handshake restart picks a new one). */
  rekey(endpoint: TransportEndpoint, oldId: number): void {
    if (this.bySessionId.get(oldId) === endpoint) this.bySessionId.delete(oldId);
    if (endpoint.consoleSessionId !== 0) this.bySessionId.set(endpoint.consoleSessionId, endpoint);
  }

  unregister(endpoint: TransportEndpoint): void {
    if (this.bySessionId.get(endpoint.consoleSessionId) === endpoint) this.bySessionId.delete(endpoint.consoleSessionId);
    const set = this.byAddress.get(endpoint.address);
    if (set) {
      set.delete(endpoint);
      if (set.size === 0) this.byAddress.delete(endpoint.address);
    }
  }

  /**
   * Put a datagram on the wire. Send errors on UDP are transient (ICMP unreachable, ENOBUFS): the retransmit
   * timers recover, so nothing waits for the result.
   *
   * Mechanism "connected socket" (issue 12, per-packet send cost): a transport made for one session (`peer`) has
   * its socket `connect()`ed, and a datagram to that peer is sent without a destination. node:dgram then skips
   * the per-datagram address lookup (a `dns.lookup` of the literal whose answer arrives on the next tick) and
   * sends at once, inside the call: the SOL ACK leaves before the bridge writes the characters to TCP. The kernel
   * also drops datagrams from any other source before they reach us. A datagram to another port (a BMC whose SOL
   * port differs) moves the transport to an unconnected socket on the same local port for good (#unconnect).
   *
   * Mechanism "no send callback" (issue 12, per-packet closures): node:dgram queues a completion callback to the
   * next tick even when the datagram left at once; none is passed unless `ipmi:rmcp` is enabled, when a closure
   * keeps the address and port for the log line. Micro-bench, 20000 sends of 60 bytes, this machine: about 6 to
   * 14 us a send unconnected with a callback, 5 to 6 us connected without one.
   */
  send(datagram: Buffer, port: number, address: string): void {
    if (this.closed) return;
    this.stats.sent++;
    const peer = this.#peer;
    if (peer !== undefined) {
      if (port === peer.port && address === peer.address) {
        if (debug.enabled) this.socket.send(datagram, sendLogger(address, port));
        else this.socket.send(datagram);
        return;
      }
      this.#unconnect();
    }
    if (this.#held) this.#held.push([datagram, port, address]);
    else if (debug.enabled) this.socket.send(datagram, port, address, sendLogger(address, port));
    else this.socket.send(datagram, port, address);
  }

  /**
   * The connected socket cannot send elsewhere, and disconnecting it would lose its port (Linux unbinds a UDP
   * socket bound to port 0 on disconnect, and the BMC answers the port it knows): it is replaced by an
   * unconnected socket bound to the same local port. Datagrams sent meanwhile wait in `#held`; datagrams that
   * reached the old socket and were not read are lost (the BMC retransmits). If the port was taken in between,
   * any port.
   */
  #unconnect(): void {
    debug('datagram to another port: leaving the socket connected to %s:%d', this.#peer?.address, this.#peer?.port);
    this.#peer = undefined;
    this.#held = [];
    this.socket.close();
    const bind = (port: number): void => {
      const next = dgram.createSocket({ type: this.type, reuseAddr: false });
      this.socket = next;
      this.#attach(next);
      next.once('error', () => {
        if (port !== 0 && this.socket === next && !this.closed) {
          next.close();
          bind(0);
        }
      });
      next.bind({ address: this.#bindAddress, port }, () => {
        this.#localPort = next.address().port;
        const held = this.#held ?? [];
        this.#held = undefined;
        if (this.closed) return;
        for (const [datagram, toPort, toAddress] of held) next.send(datagram, toPort, toAddress);
      });
    };
    bind(this.#localPort);
  }

  private onMessage(msg: Buffer, rinfo: dgram.RemoteInfo): void {
    this.stats.received++;
    if (msg.length > MAX_DATAGRAM) {
      this.stats.dropped.oversized++;
      return;
    }
    let envelope: RmcpEnvelope;
    try {
      envelope = peekEnvelope(msg);
    } catch {
      this.stats.dropped.malformed++;
      return;
    }
    const address = normalizeAddress(rinfo.address);
    try {
      if (envelope.format === 'v2.0' && envelope.sessionId !== 0) {
        const endpoint = this.bySessionId.get(envelope.sessionId);
        if (!endpoint) {
          this.stats.dropped.unknownSession++;
          return;
        }
        if (endpoint.address !== address || !endpoint.ports.has(rinfo.port)) {
          this.stats.dropped.foreignAddress++;
          endpoint.foreign?.();
          return;
        }
        endpoint.deliver(msg, envelope, rinfo.port);
        return;
      }
      const set = this.byAddress.get(address);
      let delivered = false;
      if (set) {
        for (const endpoint of set) {
          if (endpoint.preSession && endpoint.ports.has(rinfo.port)) {
            endpoint.deliver(msg, envelope, rinfo.port);
            delivered = true;
          }
        }
      }
      if (!delivered) {
        if (set) this.stats.dropped.unknownSession++;
        else this.stats.dropped.foreignAddress++;
      }
    } catch (err) {
      // A session's handler must never throw; if one does, count it as malformed input rather than crash.
      this.stats.dropped.malformed++;
      debug('handler threw: %s', (err as Error).message);
    }
  }

  async close(): Promise<void> {
    if (this.closing) return this.closing;
    this.closed = true;
    this.closing = new Promise<void>((resolve) => this.socket.close(() => resolve()));
    return this.closing;
  }
}
