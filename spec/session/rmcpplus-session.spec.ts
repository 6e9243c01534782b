/**
 * IpmiSession, the driver: its events are typed (this file compiles under strict with no implicit any), it
 * rejects bad input before any network I/O, and a host name that does not resolve is IPMI_ERR_UNREACHABLE.
 * Its behaviour over UDP is proven by spec/interop/session-vs-*.spec.ts; the state machine's by the specs next
 * to this one.
 */
import { expect } from 'chai';
import { IpmiSession, type IpmiSessionEvents } from '../../lib/session/rmcpplus-session.js';
import { IpmiError } from '../../lib/errors.js';

/** Compile-time checks: `reason` is IpmiError | undefined, not any; unknown events and wrong listeners fail. */
export function typedEvents(session: IpmiSession): void {
  session.on('close', (reason) => {
    const r: IpmiError | undefined = reason;
    void r?.code;
  });
  session.once('close', (reason) => void reason?.inferred);
  const listener = (reason: IpmiError | undefined) => void reason;
  session.off('close', listener);
  // @ts-expect-error a close listener takes an IpmiError, not a string
  session.on('close', (reason: string) => void reason);
  const args: IpmiSessionEvents['close'] = [undefined];
  void args;
}

describe('session/rmcpplus-session (the driver)', () => {
  it('rejects bad options with IPMI_ERR_BAD_ARGUMENT before any I/O', async () => {
    const err = await IpmiSession.open({ host: '', username: 'a', password: 'b' }).catch((e: unknown) => e);
    expect(err).to.be.instanceOf(IpmiError);
    expect((err as IpmiError).code).to.equal('IPMI_ERR_BAD_ARGUMENT');
  });

  it('an aborted signal rejects at once with IPMI_ERR_ABORTED', async () => {
    const err = await IpmiSession.open({ host: '127.0.0.1', username: 'a', password: 'b', signal: AbortSignal.abort() }).catch((e: unknown) => e);
    expect((err as IpmiError).code).to.equal('IPMI_ERR_ABORTED');
  });

  it('a host name that does not resolve is IPMI_ERR_UNREACHABLE', async () => {
    const err = await IpmiSession.open({ host: 'no-such-bmc.invalid', username: 'a', password: 'b' }).catch((e: unknown) => e);
    expect((err as IpmiError).code).to.equal('IPMI_ERR_UNREACHABLE');
  });
});
