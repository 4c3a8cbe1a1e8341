/**
 * A route with its circuit breaker and last probe result, plus the bookkeeping that turns
 * circuit transitions into events (`route_opened`, `route_closed`).
 */
import type { Clock } from '../core/clock.js';
import { ReauthRequiredError } from '../core/errors.js';
import type { Logger } from '../core/logger.js';
import { needsHuman, type ConnectionState, type EventSink, type NewEvent, type TokenSource } from '../core/types.js';
import type { CircuitOptions, CircuitSnapshot, CircuitTransition } from './circuit.js';
import { CircuitBreaker } from './circuit.js';
import type { RouteError } from './errors.js';
import type { ReadRoute, RouteKind, SendRoute } from './routes/types.js';

/** Connection states in which a token cannot be had until a human acts. */
const CONN_REASON = 'connection ';

export type Direction = 'send' | 'read';

export interface RouteHealth {
  mailbox: string;
  direction: Direction;
  route: string;
  kind: RouteKind;
  connection: string | null;
  /** Result of the last probe (null: not probed yet). */
  ok: boolean | null;
  circuit: CircuitSnapshot;
  checkedAt: number | null;
  note?: string;
  error?: string;
}

export interface SlotDeps {
  mailbox: string;
  clock: Clock;
  tokens: TokenSource;
  events: EventSink;
  logger: Logger;
  circuit?: CircuitOptions;
}

export async function emitSafe(events: EventSink, logger: Logger, e: NewEvent): Promise<void> {
  try {
    await events.emit(e);
  } catch (err) {
    logger.warn('event sink failed', { type: e.type, error: err instanceof Error ? err.message : String(err) });
  }
}

export class RouteSlot<R extends SendRoute | ReadRoute> {
  readonly circuit: CircuitBreaker;
  private lastProbe: { ok: boolean; at: number; note?: string; error?: string } | null = null;
  private waiting = false;

  constructor(
    readonly route: R,
    readonly direction: Direction,
    private readonly d: SlotDeps,
  ) {
    this.circuit = new CircuitBreaker(d.clock, d.circuit);
  }

  get id(): string {
    return this.route.id;
  }

  /**
   * Align the circuit with what the keeper knows, without network I/O: a connection that
   * needs a human opens the circuit; one that healed lets the next attempt through.
   */
  async sync(): Promise<void> {
    const conn = this.route.connection;
    if (!conn || !this.d.tokens.stateOf) return;
    let state: ConnectionState | null;
    try {
      state = await this.d.tokens.stateOf(conn);
    } catch {
      return;
    }
    const wasWaiting = this.waiting;
    this.waiting = state !== null && needsHuman(state);
    if (state && needsHuman(state)) {
      await this.onTransition(this.circuit.forceOpen(`${CONN_REASON}${state}`), `connection "${conn}" is ${state}`);
    } else if (
      state &&
      this.circuit.state === 'open' &&
      // Healed since the last look: also when the circuit had opened on the provider's refusal
      // before the keeper knew the grant was dead.
      (wasWaiting || this.circuit.snapshot().reason?.startsWith(CONN_REASON))
    ) {
      this.circuit.halfOpenNow();
    }
  }

  /** The route's connection needed a human at the last {@link sync}. */
  get awaitingHuman(): boolean {
    return this.waiting;
  }

  async recordSuccess(): Promise<void> {
    await this.onTransition(this.circuit.recordSuccess(), 'succeeded');
  }

  async recordFailure(e: RouteError): Promise<void> {
    // The keeper said a human must act: open for that reason, so `sync()` lets the next attempt
    // through the moment the connection heals instead of waiting out the cool-down.
    if (e.cause instanceof ReauthRequiredError)
      await this.onTransition(this.circuit.forceOpen(`${CONN_REASON}${e.cause.diagnosis.id}`), e.message);
    else if (e.kind === 'auth') {
      await this.onTransition(this.circuit.recordAuthFailure(e.message), e.message);
      await this.recheckConnection();
    } else if (e.kind === 'transient') this.circuit.recordTransient(e.retryAfterMs);
  }

  /**
   * The server refused a token the keeper holds as valid (revoked before its expiry): have the
   * keeper refresh now, so a dead grant is diagnosed and the human asked at once rather than
   * when the token would have expired. At most once per circuit opening, as failures are.
   */
  private async recheckConnection(): Promise<void> {
    const conn = this.route.connection;
    if (!conn || !this.d.tokens.forceRefresh) return;
    try {
      await this.d.tokens.forceRefresh(conn);
    } catch (err) {
      this.d.logger.info('mail route: connection re-checked after a refused token', {
        mailbox: this.d.mailbox,
        route: this.id,
        error: err instanceof Error ? err.message : String(err),
      });
    }
    await this.sync();
  }

  setProbe(ok: boolean, extra: { note?: string; error?: string } = {}): void {
    this.lastProbe = { ok, at: this.d.clock.now(), ...extra };
  }

  health(): RouteHealth {
    const h: RouteHealth = {
      mailbox: this.d.mailbox,
      direction: this.direction,
      route: this.route.id,
      kind: this.route.kind,
      connection: this.route.connection ?? null,
      ok: this.lastProbe?.ok ?? null,
      circuit: this.circuit.snapshot(),
      checkedAt: this.lastProbe?.at ?? null,
    };
    if (this.lastProbe?.note) h.note = this.lastProbe.note;
    if (this.lastProbe?.error) h.error = this.lastProbe.error;
    return h;
  }

  private async onTransition(t: CircuitTransition, why: string): Promise<void> {
    if (t !== 'opened' && t !== 'closed') return;
    const opened = t === 'opened';
    this.d.logger[opened ? 'warn' : 'info'](`mail route ${opened ? 'opened' : 'closed'}`, {
      mailbox: this.d.mailbox,
      route: this.id,
      direction: this.direction,
      why,
    });
    await emitSafe(this.d.events, this.d.logger, {
      type: opened ? 'route_opened' : 'route_closed',
      connection: this.route.connection ?? null,
      message: opened
        ? `Mailbox "${this.d.mailbox}" ${this.direction} route ${this.id} opened: ${why}`
        : `Mailbox "${this.d.mailbox}" ${this.direction} route ${this.id} is healthy again`,
      data: { mailbox: this.d.mailbox, route: this.id, direction: this.direction, ...(opened ? { why } : {}) },
    });
  }
}
