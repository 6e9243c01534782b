/**
 * The listener: one net.Server (or tls.Server) per node, the one URL Nova knows. It binds, hands every accepted
 * socket to `onConnection` paused (the bridge decides when to read), and closes. It owns no console state.
 */
import net from 'node:net';
import tls from 'node:tls';
import createDebug from 'debug';
import { IpmiError } from '../errors.js';
import { checkNumber, consoleUrl, formatHostPort, type ConsoleTlsOptions } from './bridge-settings.js';
import { toIpmiError } from './console-supervisor.js';

const debug = createDebug('ipmi:bridge');

/** Sockets per bridge (client, waiting, being closed); Node drops connections beyond it at accept. */
export const MAX_CONNECTIONS = 32;

export interface ListenerEvents {
  /** a socket was accepted, paused */
  onConnection(socket: net.Socket): void;
  /** the server failed while listening */
  onError(error: IpmiError): void;
}

export class ConsoleListener {
  readonly host: string;
  readonly #server: net.Server;
  readonly #tls: boolean;
  readonly #requestedPort: number;
  #port = 0;
  #listening = false;
  #attempt: Promise<number> | undefined;

  constructor(host: string, port: number, tlsOptions: ConsoleTlsOptions | undefined, events: ListenerEvents, label: () => string) {
    this.host = host;
    this.#requestedPort = port;
    this.#tls = tlsOptions !== undefined;
    if (tlsOptions !== undefined) {
      // The TLS handshake needs the socket flowing; the bridge pauses the decrypted socket itself.
      this.#server = tls.createServer(tlsOptions, (socket) => {
        socket.pause();
        events.onConnection(socket);
      });
      this.#server.on('tlsClientError', (error) => debug('%s TLS handshake failed: %s', label(), error.message));
    } else {
      this.#server = net.createServer({ pauseOnConnect: true }, (socket) => events.onConnection(socket));
    }
    this.#server.maxConnections = MAX_CONNECTIONS;
    this.#server.on('error', (error) => {
      if (this.#listening) events.onError(toIpmiError(error, 'IPMI_ERR_SOCKET', `Console listener ${this.url} failed`));
    });
  }

  /** The bound port (0 before listen()). */
  get port(): number {
    return this.#port;
  }

  get listening(): boolean {
    return this.#listening;
  }

  /** tcp://host:port (IPv6 in brackets); the requested port before listen(). */
  get url(): string {
    return consoleUrl(this.host, this.#port || this.#requestedPort, this.#tls ? 'tls' : 'tcp');
  }

  /**
   * Bind; resolves with the bound port. Rejects with IPMI_ERR_SOCKET whose `cause` is the system error
   * (EADDRINUSE...); after a rejection it may be called again; while one is under way or once listening, it
   * returns that one's result.
   */
  listen(port: number = this.#requestedPort): Promise<number> {
    if (this.#attempt) return this.#attempt;
    const attempt = this.#bind(port);
    this.#attempt = attempt;
    attempt.catch(() => {
      if (this.#attempt === attempt) this.#attempt = undefined;
    });
    return attempt;
  }

  async #bind(port: number): Promise<number> {
    checkNumber('port', port, 0, 65535);
    await new Promise<void>((resolve, reject) => {
      const onError = (error: Error): void => {
        this.#server.off('listening', onListening);
        reject(toIpmiError(error, 'IPMI_ERR_SOCKET', `Cannot listen on ${formatHostPort(this.host, port)}`));
      };
      const onListening = (): void => {
        this.#server.off('error', onError);
        resolve();
      };
      this.#server.once('error', onError);
      this.#server.once('listening', onListening);
      this.#server.listen({ host: this.host, port });
    });
    const address = this.#server.address();
    this.#port = typeof address === 'object' && address !== null ? address.port : port;
    this.#listening = true;
    return this.#port;
  }

  /** Stop listening (sockets already accepted are the bridge's). */
  close(): Promise<void> {
    if (!this.#listening) return Promise.resolve();
    this.#listening = false;
    return new Promise((resolve) => this.#server.close(() => resolve()));
  }
}
