import { DEFAULT_CONFIG } from '../core/config.js';
import { InvalidOptionError, PluginAnswerError, PluginError, PluginTimeoutError, QTasksError, shownValue } from '../core/errors.js';
import { raceTimeout } from '../core/timing.js';
import type { AddPluginOptions, TaskPlugin } from './plugin.js';
import { TRIGGERS, isTriggerName, type PluginComponent, type TriggerEvent, type TriggerName } from './triggers.js';

/** The components that fire triggers: what `component` may name. */
const COMPONENTS: ReadonlySet<PluginComponent> = new Set(Object.values(TRIGGERS).map((spec) => spec.component));

interface Registration {
  plugin: string;
  owner: TaskPlugin;
  handler: (event: never) => unknown;
  /** Its promise answers are raced against `timeoutMs`: not for the built-in plugins (see addBuiltIn). */
  timed: boolean;
}

/**
 * Runs the plugins of one app. The contract is the same for every trigger: the handlers registered
 * for the trigger run first, then the global ones, each in registration order (the built-in
 * validation last of all); each sees the event with the answers before it applied. A handler
 * returns nothing (no change) or an object whose fields replace only those fields of the event. A
 * handler answering with a promise is waited for only up to `timeoutMs` (config.pluginTimeoutMs),
 * then fails with PluginTimeoutError.
 */
export class PluginRunner {
  constructor(readonly timeoutMs: number = DEFAULT_CONFIG.pluginTimeoutMs) {}

  private readonly specific = new Map<TriggerName, Registration[]>();
  private readonly global = new Map<TriggerName, Registration[]>();
  /** Built-in handlers that run after every other (see addBuiltInLast). */
  private readonly last = new Map<TriggerName, Registration[]>();
  /** Specific, global, then last, per trigger: what `trigger` walks. */
  private readonly ordered = new Map<TriggerName, Registration[]>();

  add(plugin: TaskPlugin, options: AddPluginOptions = {}): void {
    this.register(plugin, options, true);
  }

  /**
   * Adds one of the library's own plugins (validation, retry), global, with no timer on its
   * answers: its promise is the user's DTO validation, which every add of a task with DTO
   * parameters would otherwise pay a timer for.
   */
  addBuiltIn(plugin: TaskPlugin): void {
    this.register(plugin, {}, false);
  }

  /**
   * A built-in plugin whose handlers run after every other handler of their triggers, global ones
   * added later included: the validation plugin checks and converts the arguments as the others
   * left them, so what a plugin answers is what is checked at enqueue and what the task gets.
   */
  addBuiltInLast(plugin: TaskPlugin): void {
    this.register(plugin, {}, false, this.last);
  }

  /** `tier`: where its handlers go, when not where its options put them (see addBuiltInLast). */
  private register(plugin: TaskPlugin, options: AddPluginOptions, timed: boolean, tier?: Map<TriggerName, Registration[]>): void {
    const name = checkedPlugin(plugin, options);
    const handled = Object.keys(plugin.handlers);
    for (const trigger of [...handled, ...(options.triggers ?? [])]) {
      if (!isTriggerName(trigger)) throw new InvalidOptionError(`Plugin "${name}" names unknown trigger "${trigger}".`);
      if (options.component && TRIGGERS[trigger].component !== options.component) {
        if (options.triggers?.includes(trigger)) {
          throw new InvalidOptionError(
            `Plugin "${name}": trigger "${trigger}" belongs to component "${TRIGGERS[trigger].component}", not "${options.component}".`,
          );
        }
      }
    }
    const triggers = options.triggers ?? (handled as TriggerName[]).filter(
      (trigger) => !options.component || TRIGGERS[trigger].component === options.component,
    );
    const target = tier ?? (options.triggers ? this.specific : this.global);
    for (const trigger of triggers) {
      const handler = plugin.handlers[trigger] as Registration['handler'] | undefined;
      if (typeof handler !== 'function') {
        throw new InvalidOptionError(`Plugin "${name}" is registered for trigger "${trigger}" but has no handler for it.`);
      }
      const list = target.get(trigger) ?? [];
      list.push({ plugin: name, owner: plugin, handler: handler.bind(plugin.handlers), timed });
      target.set(trigger, list);
      this.ordered.set(trigger, [...(this.specific.get(trigger) ?? []), ...(this.global.get(trigger) ?? []), ...(this.last.get(trigger) ?? [])]);
    }
  }

  /** True when some plugin handles the trigger (lets callers skip building costly events). */
  has(trigger: TriggerName): boolean {
    return this.ordered.has(trigger);
  }

  /** True when no plugin but `plugin` handles the trigger: no other handler can change its event. */
  handledOnlyBy(trigger: TriggerName, plugin: TaskPlugin): boolean {
    return (this.ordered.get(trigger) ?? []).every(({ owner }) => owner === plugin);
  }

  /**
   * Runs the trigger's handlers and resolves with the event as they left it. A handler that
   * throws rejects with PluginError naming plugin and trigger, except a QTasksError, which is a
   * deliberate refusal (a failed validation, say) and passes through as it is.
   */
  trigger<T extends TriggerName>(trigger: T, event: TriggerEvent<T>): Promise<TriggerEvent<T>> {
    // Not async: an async function would wrap fire's promise in one more (a promise turn more).
    try {
      return Promise.resolve(this.fire(trigger, event));
    } catch (error) {
      return Promise.reject(error);
    }
  }

  /**
   * Runs a trigger that tells of something already done (tasks enqueued), which a failing handler
   * can neither undo nor be allowed to hide from the other handlers: each handler runs in turn, and
   * each failure goes to `failed` with its plugin's name, the trigger and `about` (what the event
   * is about, the tasks' uuids, say) instead of to the caller: a caller passes one function for
   * every call and builds no closure. For informing triggers only (nothing to replace): every
   * handler sees the same event.
   */
  async inform<T extends TriggerName, A>(
    trigger: T,
    event: TriggerEvent<T>,
    failed: (plugin: string, trigger: T, error: unknown, about: A) => void,
    about: A,
  ): Promise<void> {
    for (const registration of this.ordered.get(trigger) ?? []) {
      const { plugin, handler } = registration;
      try {
        const answer = (handler as (event: TriggerEvent<T>) => unknown)(event);
        // Checked as any answer is: a field an informing trigger does not let replace is a failure.
        applied(plugin, trigger, event, isPending(answer) ? await this.answerOf(registration, trigger, answer) : answer);
      } catch (error) {
        failed(plugin, trigger, error, about);
      }
    }
  }

  /**
   * `trigger`, answering without a promise while every handler answers at once (throwing, not
   * rejecting, on a refusal). The enqueue path fires per task before the task can leave, and a
   * promise there would cost every add a turn of the event loop's microtask queue.
   */
  fire<T extends TriggerName>(trigger: T, event: TriggerEvent<T>): TriggerEvent<T> | Promise<TriggerEvent<T>> {
    const registrations = this.ordered.get(trigger);
    return registrations ? this.runFrom(trigger, registrations, 0, event) : event;
  }

  private runFrom<T extends TriggerName>(
    trigger: T,
    registrations: Registration[],
    first: number,
    event: TriggerEvent<T>,
  ): TriggerEvent<T> | Promise<TriggerEvent<T>> {
    let current = event;
    for (let index = first; index < registrations.length; index++) {
      const { plugin, handler } = registrations[index]!;
      let answer: unknown;
      let pending: boolean;
      try {
        answer = (handler as (event: TriggerEvent<T>) => unknown)(current);
        pending = isPending(answer);
      } catch (error) {
        throw handlerFailure(plugin, trigger, error);
      }
      if (pending) return this.runAfter(trigger, registrations, index, current, answer as PromiseLike<unknown>);
      current = applied(plugin, trigger, current, answer);
    }
    return current;
  }

  /** The rest of a trigger whose handler at `index` answered with a promise. */
  private async runAfter<T extends TriggerName>(
    trigger: T,
    registrations: Registration[],
    index: number,
    event: TriggerEvent<T>,
    pending: PromiseLike<unknown>,
  ): Promise<TriggerEvent<T>> {
    const registration = registrations[index]!;
    const { plugin } = registration;
    let answer: unknown;
    try {
      answer = await this.answerOf(registration, trigger, pending);
    } catch (error) {
      throw handlerFailure(plugin, trigger, error);
    }
    return this.runFrom(trigger, registrations, index + 1, applied(plugin, trigger, event, answer));
  }

  /**
   * A handler's pending answer, or PluginTimeoutError once `timeoutMs` pass: a handler that never
   * answers (an HTTP call with no timeout) must not hold an add, a get or a stop for ever. Its late
   * answer or failure is dropped. Only a promise gets a timer: a synchronous answer costs nothing.
   * The timer is unref'd: a guard on a wait, it should not by itself keep the process alive.
   */
  private answerOf({ plugin, timed }: Registration, trigger: TriggerName, pending: PromiseLike<unknown>): Promise<unknown> {
    const ms = this.timeoutMs;
    // A Node timer of Infinity would fire at once.
    if (!timed || ms === Number.POSITIVE_INFINITY) return Promise.resolve(pending);
    const timedOut = () => {
      throw new PluginTimeoutError(plugin, trigger, ms);
    };
    return raceTimeout(Promise.resolve(pending), ms, timedOut, true);
  }
}

function isPending(answer: unknown): answer is PromiseLike<unknown> {
  return typeof (answer as PromiseLike<unknown> | null)?.then === 'function';
}

function handlerFailure(plugin: string, trigger: TriggerName, error: unknown): unknown {
  return error instanceof QTasksError ? error : new PluginError(plugin, trigger, error);
}

/** The event with a handler's answer applied: nothing (no change) or the fields it replaces. */
function applied<T extends TriggerName>(plugin: string, trigger: T, event: TriggerEvent<T>, answer: unknown): TriggerEvent<T> {
  if (answer === undefined || answer === null) return event;
  return { ...event, ...checkedAnswer(plugin, trigger, answer as object) };
}

/**
 * The plugin's name, once plugin and options have the shape `add` reads (from plain JavaScript, a
 * null or a string there would end in a TypeError naming neither).
 */
function checkedPlugin(plugin: TaskPlugin, options: AddPluginOptions): string {
  if (typeof plugin !== 'object' || plugin === null) {
    throw new InvalidOptionError(`A plugin must be an object with handlers by trigger name, got ${shownValue(plugin)}.`);
  }
  const name = plugin.name ?? plugin.constructor?.name ?? 'anonymous plugin';
  if (typeof plugin.handlers !== 'object' || plugin.handlers === null || Array.isArray(plugin.handlers)) {
    throw new InvalidOptionError(`Plugin "${name}" needs \`handlers\`, an object of handlers by trigger name, got ${shownValue(plugin.handlers)}.`);
  }
  if (typeof options !== 'object' || options === null) {
    throw new InvalidOptionError(`The options of plugin "${name}" must be an object, got ${shownValue(options)}.`);
  }
  if (options.triggers !== undefined && !Array.isArray(options.triggers)) {
    throw new InvalidOptionError(`triggers of plugin "${name}" must be a list of trigger names, got ${shownValue(options.triggers)}.`);
  }
  if (options.component !== undefined && !COMPONENTS.has(options.component)) {
    throw new InvalidOptionError(
      `component of plugin "${name}" must be one of ${[...COMPONENTS].join(', ')}, got ${shownValue(options.component)}.`,
    );
  }
  return name;
}

function checkedAnswer(plugin: string, trigger: TriggerName, answer: object): object {
  const replaceable: readonly string[] = TRIGGERS[trigger].replaces;
  if (typeof answer !== 'object' || Array.isArray(answer)) {
    throw new PluginAnswerError(plugin, trigger, `a ${Array.isArray(answer) ? 'list' : typeof answer}`, replaceable);
  }
  const extra = Object.keys(answer).filter((key) => !replaceable.includes(key));
  if (extra.length > 0) throw new PluginAnswerError(plugin, trigger, `field(s) it may not replace: ${extra.join(', ')}`, replaceable);
  return answer;
}
