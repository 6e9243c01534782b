/**
 * Typed events: an EventEmitter that knows its events. `on`/`once`/`off`/`emit`/`listenerCount` accept only the
 * declared event names and type each listener's arguments, so under `strict`
 * `bridge.on('state', (state, previous) => ...)` needs no annotation and a misspelt event does not compile.
 * Pure typing over Node's own generic EventEmitter (@types/node >= 20.11): no runtime cost, still an
 * EventEmitter for `events.once()` / `events.on()`.
 *
 *   interface DoorEvents { open: [by: string]; close: [] }
 *   class Door extends TypedEventEmitter<DoorEvents> {}
 */
import { EventEmitter } from 'node:events';

/** Event name -> the tuple of its listener's arguments. */
export type EventArgs<T> = { [K in keyof T]: unknown[] };

export class TypedEventEmitter<T extends EventArgs<T>> extends EventEmitter<T> {}
